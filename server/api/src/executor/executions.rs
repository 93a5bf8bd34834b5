//! Executions: create (ad-hoc run), list (newest first, filters, cursor), get, cancel, delete, and the
//! output notebook.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nbgate_scheduler::{
    Execution, ExecutionFilter, ExecutionStatus, MAX_PAGE, Page, SchedulerHandle,
};

use super::dto::{CreateExecution, DeleteExecutionQuery, ExecutionDto, ListExecutions, PageDto};
use super::values::values_object;
use super::{ExecutorError, JsonBody, QueryParams, created};
use crate::AppState;
use crate::routes::Route;

/// Page size when the request names none.
pub(crate) const DEFAULT_PAGE: usize = 50;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::POST, "/api/executions", create),
        Route::new(Method::GET, "/api/executions", list),
        Route::new(Method::GET, "/api/executions/{id}", get),
        Route::new(Method::DELETE, "/api/executions/{id}", delete),
        Route::new(Method::POST, "/api/executions/{id}/cancel", cancel),
        Route::new(Method::GET, "/api/executions/{id}/notebook", notebook),
    ]
}

pub(super) fn location(id: &str) -> String {
    format!("/api/executions/{id}")
}

async fn create(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<CreateExecution>,
) -> Result<Response, ExecutorError> {
    let scheduler = state.scheduler()?;
    let execution = scheduler.create_execution(request.into_domain()?).await?;
    Ok(created(
        location(&execution.id),
        ExecutionDto::from(execution),
    ))
}

async fn list(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ListExecutions>,
) -> Result<Json<PageDto<ExecutionDto>>, ExecutorError> {
    let scheduler = state.scheduler()?;
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => Some(ExecutionStatus::parse(text).ok_or_else(|| {
            let known: Vec<&str> = ExecutionStatus::ALL.iter().map(|s| s.as_str()).collect();
            ExecutorError::BadRequest(format!(
                "unknown status {text:?}; use one of {}",
                known.join(", ")
            ))
        })?),
    };
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ExecutorError::BadRequest(format!(
            "limit must be 1 to {MAX_PAGE}, got {limit}"
        )));
    }
    // A schedule by id or by name; an unknown one is a 404, not an empty page.
    let schedule = match query.schedule.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(key) => Some(scheduler.get_schedule(key).await?.id),
    };
    let filter = ExecutionFilter { schedule, status };
    let cursor = query.cursor.as_deref().filter(|c| !c.is_empty());
    let page = match query.run_id.as_deref().filter(|r| !r.is_empty()) {
        None => scheduler.list_executions(filter, limit, cursor).await?,
        Some(run_id) => chain_page(scheduler, run_id, &filter, limit, cursor).await?,
    };
    // The page's values in one query, not one per execution.
    let ids = page.items.iter().map(|e| e.id.clone()).collect();
    let mut values = scheduler.values_of_executions(ids).await?;
    let items = page
        .items
        .into_iter()
        .map(|execution| {
            let recorded = values.remove(&execution.id).unwrap_or_default();
            ExecutionDto::from(execution).with_values(values_object(recorded))
        })
        .collect();
    Ok(Json(PageDto {
        items,
        next_cursor: page.next_cursor,
    }))
}

/// `?run_id=`: the chain's executions, oldest first, on one page (the other filters apply).
async fn chain_page(
    scheduler: &SchedulerHandle,
    run_id: &str,
    filter: &ExecutionFilter,
    limit: usize,
    cursor: Option<&str>,
) -> Result<Page<Execution>, ExecutorError> {
    if cursor.is_some() {
        return Err(ExecutorError::BadRequest(
            "run_id lists a chain on one page: give no cursor with it".into(),
        ));
    }
    let items: Vec<Execution> = (scheduler.run_executions(run_id).await?)
        .into_iter()
        .filter(|e| filter.schedule.is_none() || e.schedule_id == filter.schedule)
        .filter(|e| filter.status.is_none_or(|status| e.status == status))
        .take(limit)
        .collect();
    Ok(Page {
        items,
        next_cursor: None,
    })
}

async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ExecutionDto>, ExecutorError> {
    let scheduler = state.scheduler()?;
    let execution = scheduler.get_execution(&id).await?;
    let values = scheduler.execution_values(&id).await?;
    Ok(Json(
        ExecutionDto::from(execution)
            .with_outputs(super::outputs::of_execution(&state, &id).await?)
            .with_values(values_object(values)),
    ))
}

/// 202: a running execution is being stopped (it ends `cancelled`); 200 when it is already over
/// (a queued one is cancelled at once).
async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ExecutorError> {
    let execution = state.scheduler()?.cancel_execution(&id).await?;
    let status = if execution.status.is_terminal() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(ExecutionDto::from(execution))).into_response())
}

async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<DeleteExecutionQuery>,
) -> Result<StatusCode, ExecutorError> {
    state
        .scheduler()?
        .delete_execution(&id, query.delete_file)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The output notebook as it stands (written after every cell), `application/x-ipynb+json`.
async fn notebook(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ExecutorError> {
    let scheduler = state.scheduler()?;
    let execution = scheduler.get_execution(&id).await?;
    let path = scheduler.output_file(&id).await?;
    let bytes = match tokio::fs::read(&path).await {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(ExecutorError::NoOutput {
                id,
                status: execution.status.to_string(),
            });
        }
        Err(source) => {
            return Err(nbgate_scheduler::SchedulerError::Io {
                action: "read",
                path,
                source,
            }
            .into());
        }
    };
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().replace('"', ""))
        .unwrap_or_else(|| format!("{}.ipynb", execution.name));
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ipynb+json".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

//! Schedules: create, list, get (by id or name), edit, delete, run now, pause, resume, re-snapshot
//! (and `preview.rs`'s preview).
//! Every schedule carries `next_run`, `description` and its newest execution.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nbgate_scheduler::{
    ExecutionFilter, ExecutionSummary, MAX_SCHEDULE_PAGE, Schedule, SchedulerHandle,
    schedule_cursor_name,
};

use super::dto::{
    CreateSchedule, DeleteScheduleQuery, ExecutionDto, ListSchedules, PatchSchedule, RunNow,
    ScheduleDto,
};
use super::executions::location as execution_location;
use super::{ExecutorError, JsonBody, OptionalJson, QueryParams, created};
use crate::AppState;
use crate::routes::Route;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::POST, "/api/schedules", create),
        Route::new(
            Method::POST,
            "/api/schedules/preview",
            super::preview::preview,
        ),
        Route::new(Method::GET, "/api/schedules", list),
        Route::new(Method::GET, "/api/schedules/{id}", get),
        Route::new(Method::PATCH, "/api/schedules/{id}", update),
        Route::new(Method::DELETE, "/api/schedules/{id}", delete),
        Route::new(Method::POST, "/api/schedules/{id}/run", run),
        Route::new(Method::POST, "/api/schedules/{id}/pause", pause),
        Route::new(Method::POST, "/api/schedules/{id}/resume", resume),
        Route::new(Method::POST, "/api/schedules/{id}/snapshot", snapshot),
    ]
}

/// The schedule with its newest execution.
pub(super) async fn dto(
    scheduler: &SchedulerHandle,
    schedule: Schedule,
) -> Result<ScheduleDto, ExecutorError> {
    let filter = ExecutionFilter {
        schedule: Some(schedule.id.clone()),
        status: None,
    };
    let latest = scheduler.list_executions(filter, 1, None).await?;
    let latest = latest.items.into_iter().next().map(ExecutionSummary::from);
    Ok(ScheduleDto::new(schedule, latest))
}

async fn create(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<CreateSchedule>,
) -> Result<Response, ExecutorError> {
    let scheduler = state.scheduler()?;
    let schedule = scheduler.create_schedule(request.into_domain()?).await?;
    let location = format!("/api/schedules/{}", schedule.id);
    Ok(created(location, ScheduleDto::new(schedule, None)))
}

/// Page size when the request names none.
const DEFAULT_PAGE: usize = 100;

/// By name, a page at a time (`limit`, `cursor`), each with its newest execution in short.
async fn list(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ListSchedules>,
) -> Result<Response, ExecutorError> {
    let executor = state.executor()?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_SCHEDULE_PAGE).contains(&limit) {
        return Err(ExecutorError::BadRequest(format!(
            "limit must be 1 to {MAX_SCHEDULE_PAGE}, got {limit}"
        )));
    }
    let cursor = query.cursor.as_deref().filter(|c| !c.is_empty());
    let page = (executor.scheduler)
        .list_schedules_with_latest(limit, cursor)
        .await?;
    let after = cursor.map(schedule_cursor_name).transpose()?;
    // Up to 10,000 schedules (10 MB of JSON): written on the blocking pool, not on the threads
    // that serve every other request.
    let items = executor.schedule_items.clone();
    let body = tokio::task::spawn_blocking(move || items.write_page(page, after.as_deref()))
        .await
        .map_err(|error| ExecutorError::Internal(format!("listing schedules: {error}")))??;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ScheduleDto>, ExecutorError> {
    let scheduler = state.scheduler()?;
    let schedule = scheduler.get_schedule(&id).await?;
    let freshness = scheduler.schedule_freshness(&schedule.id).await?;
    Ok(Json(
        dto(scheduler, schedule)
            .await?
            .with_freshness(freshness.into()),
    ))
}

async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<PatchSchedule>,
) -> Result<Json<ScheduleDto>, ExecutorError> {
    let scheduler = state.scheduler()?;
    let schedule = scheduler.update_schedule(&id, patch.into_domain()?).await?;
    Ok(Json(dto(scheduler, schedule).await?))
}

/// Deletes the schedule; `?executions=keep` (the default) keeps its executions and their output
/// notebooks, unlinked, `?executions=delete` deletes both. Its queued and running executions are
/// cancelled either way. One that others run after is refused (409 naming them) unless
/// `?cascade=true`, which deletes them first.
async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<DeleteScheduleQuery>,
) -> Result<StatusCode, ExecutorError> {
    let history = query.history().map_err(ExecutorError::BadRequest)?;
    let executor = state.executor()?;
    (executor.scheduler)
        .delete_schedule_cascade(&id, history, query.cascade)
        .await?;
    executor.schedule_items.forget(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// Queues a run now; `{"parameters": {…}}` overrides the schedule's own for this run. 201 + the
/// execution.
async fn run(
    State(state): State<AppState>,
    Path(id): Path<String>,
    OptionalJson(request): OptionalJson<RunNow>,
) -> Result<Response, ExecutorError> {
    let execution = state.scheduler()?.run_now(&id, request.parameters).await?;
    Ok(created(
        execution_location(&execution.id),
        ExecutionDto::from(execution),
    ))
}

async fn pause(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ScheduleDto>, ExecutorError> {
    let scheduler = state.scheduler()?;
    let schedule = scheduler.pause_schedule(&id).await?;
    Ok(Json(dto(scheduler, schedule).await?))
}

async fn resume(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ScheduleDto>, ExecutorError> {
    let scheduler = state.scheduler()?;
    let schedule = scheduler.resume_schedule(&id).await?;
    Ok(Json(dto(scheduler, schedule).await?))
}

/// Copies the notebook again into the schedule's snapshot (input `snapshot`).
async fn snapshot(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ScheduleDto>, ExecutorError> {
    let scheduler = state.scheduler()?;
    let schedule = scheduler.snapshot_schedule(&id).await?;
    Ok(Json(dto(scheduler, schedule).await?))
}

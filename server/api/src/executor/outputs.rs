//! Output files: an execution's recorded outputs (`GET /api/executions/{id}/outputs`, also under
//! `outputs` in `GET /api/executions/{id}`) and the first rows of one of them
//! (`GET /api/executions/{id}/outputs/preview?path=P&limit=N`). Only a recorded path is read, and
//! only under the root (the scheduler resolves and confines it).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Method;
use nbgate_scheduler::outputs::MAX_PREVIEW_ROWS;
use nbgate_scheduler::{Column, Freshness, OutputFile, Preview};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::dto::time;
use super::{ExecutorError, QueryParams};
use crate::AppState;
use crate::routes::Route;

/// Rows a preview answers when the request names no `limit`.
pub(crate) const DEFAULT_PREVIEW_ROWS: usize = 50;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/api/executions/{id}/outputs", list),
        Route::new(Method::GET, "/api/executions/{id}/outputs/preview", preview),
    ]
}

/// One recorded output file.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = OutputFile)]
pub struct OutputFileDto {
    /// Relative to the root directory.
    pub path: String,
    pub bytes: u64,
    /// When it was last written.
    pub modified: String,
    pub sha256: String,
    /// Data rows of a CSV, TSV or JSON lines file (header excluded); null for other files.
    pub rows: Option<u64>,
    /// A table's columns; null for other files.
    pub columns: Option<Vec<ColumnDto>>,
}

/// A table's column.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = Column)]
pub struct ColumnDto {
    pub name: String,
    /// Inferred from the first rows: `integer`, `float`, `boolean`, `string`, or for JSON lines also
    /// `object`, `array`, `null`.
    #[serde(rename = "type")]
    pub kind: String,
}

impl From<Column> for ColumnDto {
    fn from(column: Column) -> Self {
        ColumnDto {
            name: column.name,
            kind: column.kind,
        }
    }
}

fn columns(columns: Vec<Column>) -> Vec<ColumnDto> {
    columns.into_iter().map(ColumnDto::from).collect()
}

impl From<OutputFile> for OutputFileDto {
    fn from(file: OutputFile) -> Self {
        OutputFileDto {
            path: file.path,
            bytes: file.bytes,
            modified: time(file.modified),
            sha256: file.sha256,
            rows: file.rows,
            columns: file.columns.map(columns),
        }
    }
}

/// A schedule's `freshness`: whether its outputs are up to date.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = Freshness)]
pub struct FreshnessDto {
    /// When its newest successful run ended.
    pub last_success: Option<String>,
    /// When its newest recorded output was written.
    pub last_output_at: Option<String>,
    /// No successful run (with outputs, if it declares some) ended within `stale_after`.
    pub stale: bool,
}

impl From<Freshness> for FreshnessDto {
    fn from(freshness: Freshness) -> Self {
        FreshnessDto {
            last_success: freshness.last_success.map(time),
            last_output_at: freshness.last_output_at.map(time),
            stale: freshness.stale,
        }
    }
}

/// An execution's recorded output files.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = OutputFiles)]
pub struct OutputsDto {
    /// By path.
    pub outputs: Vec<OutputFileDto>,
}

async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<OutputsDto>, ExecutorError> {
    let scheduler = state.scheduler()?;
    scheduler.get_execution(&id).await?;
    let outputs = scheduler.execution_outputs(&id).await?;
    Ok(Json(OutputsDto {
        outputs: outputs.into_iter().map(OutputFileDto::from).collect(),
    }))
}

/// An execution's recorded outputs, for `GET /api/executions/{id}`.
pub(crate) async fn of_execution(
    state: &AppState,
    id: &str,
) -> Result<Vec<OutputFileDto>, ExecutorError> {
    let outputs = state.scheduler()?.execution_outputs(id).await?;
    Ok(outputs.into_iter().map(OutputFileDto::from).collect())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PreviewQuery {
    /// One of the execution's recorded outputs (its `path`).
    #[param(required = true)]
    path: Option<String>,
    /// Rows, 1 to 1000 (default 50).
    limit: Option<usize>,
}

/// The first rows of a recorded output table.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = Preview)]
pub struct PreviewDto {
    /// Name and type (inferred from these rows) of each column.
    pub columns: Vec<ColumnDto>,
    /// Each row's values, in the columns' order.
    pub rows: Vec<Vec<Value>>,
}

impl From<Preview> for PreviewDto {
    fn from(preview: Preview) -> Self {
        PreviewDto {
            columns: columns(preview.columns),
            rows: preview.rows,
        }
    }
}

async fn preview(
    State(state): State<AppState>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<PreviewQuery>,
) -> Result<Json<PreviewDto>, ExecutorError> {
    let scheduler = state.scheduler()?;
    let Some(path) = query.path.filter(|path| !path.is_empty()) else {
        return Err(ExecutorError::BadRequest(
            "give `path`, one of the execution's recorded outputs (GET /api/executions/{id}/outputs)"
                .into(),
        ));
    };
    let limit = query.limit.unwrap_or(DEFAULT_PREVIEW_ROWS);
    if !(1..=MAX_PREVIEW_ROWS).contains(&limit) {
        return Err(ExecutorError::BadRequest(format!(
            "limit must be 1 to {MAX_PREVIEW_ROWS}, got {limit}"
        )));
    }
    let preview = scheduler.preview_output(&id, &path, limit).await?;
    Ok(Json(preview.into()))
}

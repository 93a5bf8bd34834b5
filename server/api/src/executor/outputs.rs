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
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OutputFileDto {
    path: String,
    bytes: u64,
    modified: String,
    sha256: String,
    rows: Option<u64>,
    columns: Option<Vec<Column>>,
}

impl From<OutputFile> for OutputFileDto {
    fn from(file: OutputFile) -> Self {
        OutputFileDto {
            path: file.path,
            bytes: file.bytes,
            modified: time(file.modified),
            sha256: file.sha256,
            rows: file.rows,
            columns: file.columns,
        }
    }
}

/// A schedule's `freshness`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FreshnessDto {
    last_success: Option<String>,
    last_output_at: Option<String>,
    stale: bool,
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

#[derive(Debug, Serialize)]
struct OutputsDto {
    outputs: Vec<OutputFileDto>,
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

#[derive(Debug, Deserialize)]
struct PreviewQuery {
    path: Option<String>,
    limit: Option<usize>,
}

#[derive(Debug, Serialize)]
struct PreviewDto {
    columns: Vec<Column>,
    rows: Vec<Vec<Value>>,
}

impl From<Preview> for PreviewDto {
    fn from(preview: Preview) -> Self {
        PreviewDto {
            columns: preview.columns,
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

// The OpenAPI document's parts for these routes and fields (`openapi.rs` joins them in).

fn schema_ref(name: &str) -> Value {
    serde_json::json!({"$ref": format!("#/components/schemas/{name}")})
}

fn answers(mut responses: Value) -> Value {
    let error = |description: &str| {
        serde_json::json!({"description": description,
            "content": {"application/json": {"schema": schema_ref("Error")}}})
    };
    responses["401"] = serde_json::json!({"description": "No token, or the wrong one."});
    responses["503"] = error("The server is stopping, or runs without the scheduler.");
    for (code, text) in [
        ("400", "Invalid request; the message says what to fix."),
        (
            "404",
            "No such execution, or the path is not one of its recorded outputs.",
        ),
        ("422", "The output is not a table (CSV, TSV or JSON lines)."),
    ] {
        if responses.get(code).is_some() {
            responses[code] = error(text);
        }
    }
    responses
}

fn id_param() -> Value {
    serde_json::json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}})
}

/// `GET /api/executions/{id}/outputs` in the OpenAPI document.
pub(super) fn list_path() -> Value {
    serde_json::json!({"get": {
        "summary": "The files its run created or changed that its `outputs` patterns match",
        "parameters": [id_param()],
        "responses": answers(serde_json::json!({
            "200": {"description": "`{\"outputs\": [file, …]}`, by path.",
                "content": {"application/json": {"schema": schema_ref("OutputFiles")}}},
            "404": {},
        })),
    }})
}

/// `GET /api/executions/{id}/outputs/preview` in the OpenAPI document.
pub(super) fn preview_path() -> Value {
    serde_json::json!({"get": {
        "summary": "The first rows of a recorded output table (CSV, TSV, JSON lines)",
        "parameters": [id_param(),
            {"name": "path", "in": "query", "required": true, "schema": {"type": "string"},
             "description": "One of the execution's recorded outputs (its `path`)."},
            {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer"},
             "description": "Rows, 1 to 1000 (default 50)."}],
        "responses": answers(serde_json::json!({
            "200": {"description": "Columns (name, type inferred from these rows) and rows of values.",
                "content": {"application/json": {"schema": schema_ref("Preview")}}},
            "400": {}, "404": {}, "422": {},
        })),
    }})
}

/// Adds the output files' schemas, and their fields to executions' and schedules'.
pub(super) fn add_schemas(mut schemas: Value) -> Value {
    use serde_json::json;
    let time = json!({"type": "string", "format": "date-time", "nullable": true});
    let patterns = json!({"type": "array", "items": {"type": "string"}, "description": "Glob \
        patterns, relative to the notebook's folder (the kernel's working directory), of the files \
        a run writes (`output/day=*/predictions.csv`); no absolute paths, no `..`. The matching \
        files a run created or changed are recorded when it ends, however it ends."});
    let stale_after = json!({"type": "number", "nullable": true, "description": "Seconds: the \
        schedule is `stale` when no successful run (with outputs, if it declares some) ended \
        within it. Default: twice the schedule's period."});
    schemas["OutputFile"] = json!({"type": "object", "properties": {
        "path": {"type": "string", "description": "Relative to the root directory."},
        "bytes": {"type": "integer"}, "modified": time, "sha256": {"type": "string"},
        "rows": {"type": "integer", "nullable": true, "description": "Data rows of a CSV, TSV or \
            JSON lines file (header excluded); null for other files."},
        "columns": {"type": "array", "nullable": true, "items": schema_ref("Column")}}});
    schemas["Column"] = json!({"type": "object", "properties": {"name": {"type": "string"},
        "type": {"type": "string", "description": "Inferred from the first rows.",
            "enum": ["integer", "float", "boolean", "string", "object", "array", "null"]}}});
    schemas["OutputFiles"] = json!({"type": "object", "properties": {
        "outputs": {"type": "array", "items": schema_ref("OutputFile")}}});
    schemas["Preview"] = json!({"type": "object", "properties": {
        "columns": {"type": "array", "items": schema_ref("Column")},
        "rows": {"type": "array", "items": {"type": "array", "items": {}}}}});
    schemas["CreateExecution"]["properties"]["outputs"] = patterns.clone();
    schemas["Execution"]["properties"]["output_patterns"] = patterns.clone();
    schemas["Execution"]["properties"]["outputs"] = json!({"type": "array",
        "items": schema_ref("OutputFile"), "description": "Only in `GET /api/executions/{id}`: \
        the files its run created or changed that its `output_patterns` match."});
    for name in ["CreateSchedule", "PatchSchedule", "Schedule"] {
        if schemas.get(name).is_some() {
            schemas[name]["properties"]["outputs"] = patterns.clone();
            schemas[name]["properties"]["stale_after"] = stale_after.clone();
        }
    }
    schemas["Schedule"]["properties"]["freshness"] = json!({"type": "object",
        "description": "Only in `GET /api/schedules/{id}`.", "properties": {
            "last_success": time, "last_output_at": time, "stale": {"type": "boolean"}}});
    schemas
}

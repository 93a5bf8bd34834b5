//! Pipelines beyond the schedule's own fields (`after`, `parameters_from`, `fire_time_parameter`
//! are in `dto.rs`): backfill a schedule over a date range, sweep its parameters over a grid and
//! read the sweep back as a table, rerun an ended execution (its chain's dependants run again
//! after it). A chain's executions are `GET /api/executions?run_id=` (`executions.rs`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::Response;
use nbgate_scheduler::pipeline::SweepRow;
use nbgate_scheduler::{ExecutionStatus, ParameterValues};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::dto::{ExecutionDto, opt_time};
use super::executions::location as execution_location;
use super::openapi::ExecutionStatusSchema;
use super::values::values_object;
use super::{ExecutorError, JsonBody, created};
use crate::AppState;
use crate::routes::Route;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::POST, "/api/schedules/{id}/backfill", backfill),
        Route::new(Method::POST, "/api/schedules/{id}/sweep", sweep),
        Route::new(Method::GET, "/api/sweeps/{id}", get_sweep),
        Route::new(Method::POST, "/api/executions/{id}/rerun", rerun),
    ]
}

/// `POST /api/schedules/{id}/backfill`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Backfill {
    /// The first day (`YYYY-MM-DD`, from its start in the schedule's zone) or an RFC 3339 time.
    #[schema(example = "2026-11-01")]
    from: String,
    /// The last day (to its end, inclusive) or an RFC 3339 time.
    #[schema(example = "2026-11-07")]
    to: String,
    /// The schedules that run after this one run after each backfilled execution too.
    #[serde(default)]
    downstream: bool,
}

/// `POST /api/schedules/{id}/sweep`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateSweep {
    /// Parameter name → the values to try (a non-empty list each); one execution per
    /// combination, at most 1000, the schedule's other parameters as they are.
    #[schema(value_type = Map<String, Vec<Value>>,
        example = json!({"LABEL_BUY_COUNT": [2, 3, 4], "DATA_DAY_RANGE": [30, 60]}))]
    grid: Map<String, Value>,
}

/// The executions a backfill or a sweep queued, in fire-time (or grid) order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = Queued)]
pub struct QueuedDto {
    /// The sweep's id (sweeps only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep_id: Option<String>,
    pub executions: Vec<ExecutionDto>,
}

/// A sweep as a comparison table: one row per execution.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = Sweep)]
pub struct SweepDto {
    pub sweep_id: String,
    pub schedule_id: Option<String>,
    pub schedule_name: Option<String>,
    /// The parameters whose values differ between rows (the grid's), in name order.
    pub varied: Vec<String>,
    /// Oldest first (the grid's order).
    pub rows: Vec<SweepRowDto>,
}

/// One execution of a sweep.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = SweepRow)]
pub struct SweepRowDto {
    pub execution_id: String,
    pub name: String,
    #[schema(value_type = ExecutionStatusSchema)]
    pub status: ExecutionStatus,
    /// Why it ended so, in words.
    pub reason: Option<String>,
    /// Every parameter it ran with.
    #[schema(value_type = Map<String, Value>)]
    pub parameters: ParameterValues,
    /// What it recorded (as `Execution.values`).
    #[schema(value_type = Map<String, Value>)]
    pub values: Map<String, Value>,
    pub ended_at: Option<String>,
}

impl SweepDto {
    fn new(sweep_id: String, rows: Vec<SweepRow>) -> SweepDto {
        let first = rows.first().map(|row| &row.execution);
        let (schedule_id, schedule_name) = first
            .map(|e| (e.schedule_id.clone(), e.schedule_name.clone()))
            .unwrap_or_default();
        let mut seen: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
        for row in &rows {
            for (name, value) in &row.execution.parameters {
                seen.entry(name).or_default().push(value);
            }
        }
        let varied = seen
            .into_iter()
            .filter(|(_, values)| {
                values.len() < rows.len() || values.windows(2).any(|w| w[0] != w[1])
            })
            .map(|(name, _)| name.to_owned())
            .collect();
        let rows = rows
            .into_iter()
            .map(|SweepRow { execution, values }| SweepRowDto {
                execution_id: execution.id,
                name: execution.name,
                status: execution.status,
                reason: execution.reason,
                parameters: execution.parameters,
                values: values_object(values),
                ended_at: opt_time(execution.ended_at),
            })
            .collect();
        SweepDto {
            sweep_id,
            schedule_id,
            schedule_name,
            varied,
            rows,
        }
    }
}

/// One execution per fire time of the schedule's recurrence in the range, each with its
/// `fire_time` (and `fire_time_parameter`); they run `max_concurrent` at a time. 201.
async fn backfill(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<Backfill>,
) -> Result<Response, ExecutorError> {
    let scheduler = state.scheduler()?;
    let made = scheduler
        .backfill(&id, &request.from, &request.to, request.downstream)
        .await?;
    let location = format!("/api/executions?schedule={id}");
    Ok(created(
        location,
        QueuedDto {
            sweep_id: None,
            executions: made.into_iter().map(ExecutionDto::from).collect(),
        },
    ))
}

/// One execution per combination of the grid's values, sharing a sweep id. 201, `Location` the
/// sweep's table.
async fn sweep(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<CreateSweep>,
) -> Result<Response, ExecutorError> {
    let scheduler = state.scheduler()?;
    let (sweep_id, made) = scheduler.sweep(&id, request.grid).await?;
    Ok(created(
        format!("/api/sweeps/{sweep_id}"),
        QueuedDto {
            sweep_id: Some(sweep_id),
            executions: made.into_iter().map(ExecutionDto::from).collect(),
        },
    ))
}

async fn get_sweep(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SweepDto>, ExecutorError> {
    let rows = state.scheduler()?.sweep_rows(&id).await?;
    Ok(Json(SweepDto::new(id, rows)))
}

/// Runs an ended execution again with the same parameters and input notebook. 201.
async fn rerun(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ExecutorError> {
    let execution = state.scheduler()?.rerun(&id).await?;
    Ok(created(
        execution_location(&execution.id),
        ExecutionDto::from(execution),
    ))
}

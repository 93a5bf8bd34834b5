//! Recorded values: an execution's (`values` of `GET /api/executions[/{id}]`) and a schedule's across
//! its runs, `GET /api/schedules/{id}/values[?name=N][&limit=K]`.
//!
//! A value is given as the notebook recorded it: the JSON value (numbers exact) for scrapbook's
//! `json` encoder and papermill's `record`, a string for the `text` encoder, and for any other
//! encoder (`pandas`, `arrow`, `display`, …) `{"encoder": E, "summary": S}`, S being the text/plain
//! rendering published with it (`display=True`) or null.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Method;
use nbgate_scheduler::ExecutionStatus;
use nbgate_scheduler::values::RecordedValue;
use nbgate_scheduler::values::{MAX_SERIES_RUNS, ValuePoint};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::dto::{opt_time, time};
use super::openapi::ExecutionStatusSchema;
use super::{ExecutorError, QueryParams};
use crate::AppState;
use crate::routes::Route;

pub(super) fn routes() -> Vec<Route> {
    vec![Route::new(
        Method::GET,
        "/api/schedules/{id}/values",
        schedule_values,
    )]
}

/// `{name: value}` of recorded values.
pub(super) fn values_object(values: Vec<(String, RecordedValue)>) -> Map<String, Value> {
    values
        .into_iter()
        .map(|(name, value)| (name, value.to_json()))
        .collect()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SeriesQuery {
    /// Only this value (default: every recorded name).
    name: Option<String>,
    /// The newest K runs that recorded one, 1 to 10000 (default 10000).
    limit: Option<usize>,
}

/// One run's value of a recorded name.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = ValuePoint)]
pub struct PointDto {
    pub execution_id: String,
    pub fire_time: Option<String>,
    pub created_at: String,
    #[schema(value_type = ExecutionStatusSchema)]
    pub status: ExecutionStatus,
    /// As the notebook recorded it (see `Execution.values`).
    #[schema(value_type = Value)]
    pub value: Value,
}

/// A schedule's recorded values across its runs.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = ValueSeries)]
pub struct SeriesDto {
    /// name → points, oldest execution first; names in the order they first appear.
    #[schema(value_type = HashMap<String, Vec<PointDto>>)]
    pub series: Map<String, Value>,
}

async fn schedule_values(
    State(state): State<AppState>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<SeriesQuery>,
) -> Result<Json<SeriesDto>, ExecutorError> {
    let scheduler = state.scheduler()?;
    if let Some(limit) = query.limit
        && !(1..=MAX_SERIES_RUNS).contains(&limit)
    {
        return Err(ExecutorError::BadRequest(format!(
            "limit must be 1 to {MAX_SERIES_RUNS}, got {limit}"
        )));
    }
    let name = query.name.as_deref().filter(|name| !name.is_empty());
    let points = scheduler.value_series(&id, name, query.limit).await?;
    Ok(Json(SeriesDto {
        series: series(points),
    }))
}

/// Points grouped by name, names in the order they first appear.
fn series(points: Vec<ValuePoint>) -> Map<String, Value> {
    let mut series: Map<String, Value> = Map::new();
    for point in points {
        let dto = PointDto {
            execution_id: point.execution_id,
            fire_time: opt_time(point.fire_time),
            created_at: time(point.created_at),
            status: point.status,
            value: point.value.to_json(),
        };
        let entry = series
            .entry(point.name)
            .or_insert_with(|| Value::Array(Vec::new()));
        if let (Value::Array(list), Ok(dto)) = (entry, serde_json::to_value(dto)) {
            list.push(dto);
        }
    }
    series
}

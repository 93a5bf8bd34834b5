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
use nbgate_scheduler::values::RecordedValue;
use nbgate_scheduler::values::{MAX_SERIES_RUNS, ValuePoint};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::dto::{opt_time, time};
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

#[derive(Debug, Deserialize)]
struct SeriesQuery {
    name: Option<String>,
    limit: Option<usize>,
}

#[derive(Debug, Serialize)]
struct PointDto {
    execution_id: String,
    fire_time: Option<String>,
    created_at: String,
    status: &'static str,
    value: Value,
}

#[derive(Debug, Serialize)]
struct SeriesDto {
    /// name → points, oldest execution first.
    series: Map<String, Value>,
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
            status: point.status.as_str(),
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

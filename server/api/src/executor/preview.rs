//! `POST /api/schedules/preview`: the fields of a schedule checked by the scheduler's own rules (the
//! ones creating it runs), its recurrence in words and its next runs in its zone; nothing is stored.
//! The body is `POST /api/schedules`'s, any part of it: each field given is read and checked on its
//! own, so one of the wrong type is reported at that field, not as a refused body.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use nbgate_scheduler::{ScheduleSpec, ValidationError};
use serde_json::{Map, Value};

use super::dto::{CreateSchedule, SchedulePreviewDto, SchedulePreviewQuery};
use super::{ExecutorError, JsonBody, QueryParams};
use crate::AppState;

/// Next runs listed without `?count`, and the most a request may ask for.
const DEFAULT_COUNT: usize = 5;
const MAX_COUNT: usize = 50;

/// Values for `POST /api/schedules`'s required fields, so that a field can be read without them;
/// they are never checked (the scheduler checks only the fields given).
fn stand_ins(recurrence: bool) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("name".into(), "preview".into());
    body.insert("notebook".into(), "preview.ipynb".into());
    if !recurrence {
        body.insert("every".into(), "1h".into());
    }
    body
}

/// Reads `fields` over the stand-ins as a creation's body: `Err` with serde's words when the shape
/// is wrong (a value of the wrong type, an unknown field), with the API's when a value is invalid.
fn read(fields: &Map<String, Value>) -> Result<ScheduleSpec, Refused> {
    let recurrence = ["cron", "every", "after"]
        .iter()
        .any(|field| fields.contains_key(*field));
    let mut body = stand_ins(recurrence);
    body.extend(fields.clone());
    let request: CreateSchedule = serde_json::from_value(Value::Object(body))
        .map_err(|error| Refused::Shape(plain_types(&error.to_string())))?;
    request
        .into_domain()
        .map_err(|error| Refused::Invalid(error.to_string()))
}

enum Refused {
    Shape(String),
    Invalid(String),
}

/// serde's Rust type names in words a user reads.
fn plain_types(message: &str) -> String {
    message
        .replace("expected u32", "expected a whole number")
        .replace("expected usize", "expected a whole number")
        .replace("expected f64", "expected a number")
}

pub(super) async fn preview(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<SchedulePreviewQuery>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Json<SchedulePreviewDto>, ExecutorError> {
    let scheduler = state.scheduler()?;
    let count = query.count.unwrap_or(DEFAULT_COUNT);
    if !(1..=MAX_COUNT).contains(&count) {
        return Err(ValidationError::OutOfRange {
            field: "count",
            constraint: "1 to 50",
            value: count.to_string(),
        }
        .into());
    }
    // Each field alone: its type, then what the API layer checks (seconds, cron xor every).
    let mut errors = BTreeMap::new();
    let mut good = Map::new();
    for (field, value) in body {
        let alone = Map::from_iter([(field.clone(), value.clone())]);
        match read(&alone) {
            Ok(_) => {
                good.insert(field, value);
            }
            Err(Refused::Shape(message)) => {
                errors.insert(field.clone(), format!("{field}: {message}"));
            }
            Err(Refused::Invalid(message)) => {
                errors.insert(field, message);
            }
        }
    }
    // Together: only `cron`, `every` and `after` given together can fail now.
    let spec = match read(&good) {
        Ok(spec) => spec,
        Err(Refused::Shape(message) | Refused::Invalid(message)) => {
            for field in ["cron", "every", "after"] {
                if good.remove(field).is_some() {
                    errors.insert(field.to_owned(), message.clone());
                }
            }
            match read(&good) {
                Ok(spec) => spec,
                Err(Refused::Shape(message) | Refused::Invalid(message)) => {
                    return Err(ExecutorError::BadRequest(message));
                }
            }
        }
    };
    let given: Vec<&str> = good.keys().map(String::as_str).collect();
    let preview = scheduler.preview_schedule(&spec, &given, count).await?;
    Ok(Json(SchedulePreviewDto::new(preview, errors)))
}

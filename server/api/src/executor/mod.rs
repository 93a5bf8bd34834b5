//! The executor API (DESIGN.md §3): executions, schedules, environments, notebook parameters, live
//! progress as server-sent events, the OpenAPI document and Prometheus metrics, over the scheduler.
//!
//! # Map
//! - [`routes`]: this API's rows of the route table (the token, CORS and tracing come with the table).
//! - [`Executor`]: what the handlers need besides [`AppState`]'s gateway parts — the
//!   [`SchedulerHandle`], a token that ends event streams when the server stops, the metrics.
//! - `dto`: request and response bodies; `error`: [`SchedulerError`](nbgate_scheduler::SchedulerError)
//!   → `{"message"}` + status.
//! - `executions`, `schedules`, `environments`: the handlers; `events`: one execution's SSE; `feed`:
//!   `/api/events`, every execution's and schedule's changes on one SSE stream; `metrics`: `/metrics`;
//!   `values`: recorded values (an execution's, a schedule's series);
//!   `outputs`: an execution's recorded output files and previews of them;
//!   `preview`: a schedule's fields checked, its description and next runs, nothing stored;
//!   `compare`: what differs between two executions;
//!   `pipelines`: backfill, sweeps and their tables, rerun; `schedule_items`: what a schedule
//!   listing wrote for each schedule, reused while its stored row is unchanged;
//!   `openapi`: `/api/openapi.json`, derived from the DTOs (tests keep it, the table and the
//!   frontend's generated copy in step).
//! - [`wire`]: the response DTOs, for clients that read answers (`nbgate executions|schedules`).
//!
//! Without a scheduler (the Kernel Gateway alone) every route here answers 503.

mod compare;
mod dto;
mod environments;
mod error;
mod events;
mod executions;
mod feed;
mod machine_types;
mod metrics;
mod openapi;
mod outputs;
mod pipelines;
mod preview;
mod schedule_items;
mod schedules;
mod values;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use nbgate_scheduler::SchedulerHandle;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::AppState;
use crate::routes::Route;
use error::ExecutorError;
pub use openapi::{document as openapi_document, document_json as openapi_json};

/// The response bodies as types, for clients: what the server writes, read back the same way.
pub mod wire {
    pub use super::compare::{CellChangeDto, ComparisonDto, OutputChangeDto, OutputSideDto};
    pub use super::dto::{
        AfterDto, EnvironmentDto, ErrorDto, ExecutionDto, ExecutionSummaryDto,
        NotebookParametersDto, NotifyDto, PageDto, ParameterDto, ProgressDto, ScheduleDto,
    };
    pub use super::machine_types::MachineTypeDto;
    pub use super::outputs::{ColumnDto, FreshnessDto, OutputFileDto, OutputsDto, PreviewDto};
    pub use super::pipelines::{QueuedDto, SweepDto, SweepRowDto};
    pub use super::values::{PointDto, SeriesDto};

    /// Reads an answer's JSON into its type.
    pub fn from_json<T: serde::de::DeserializeOwned>(
        answer: serde_json::Value,
    ) -> serde_json::Result<T> {
        serde_json::from_value(answer)
    }
}

/// The executor API's rows of the route table.
pub fn routes() -> Vec<Route> {
    [
        environments::routes(),
        machine_types::routes(),
        executions::routes(),
        events::routes(),
        feed::routes(),
        schedules::routes(),
        pipelines::routes(),
        outputs::routes(),
        compare::routes(),
        values::routes(),
        openapi::routes(),
        metrics::routes(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The scheduler and what the executor API keeps beside it. Cheap to clone.
#[derive(Clone)]
pub struct Executor {
    pub scheduler: SchedulerHandle,
    /// Cancelled when the server stops: open event streams end so the HTTP drain can finish.
    stopping: CancellationToken,
    metrics: Arc<metrics::Metrics>,
    /// What `GET /api/schedules` wrote for each schedule, while its row is unchanged.
    schedule_items: Arc<schedule_items::ScheduleItems>,
}

impl AppState {
    /// Serves the executor API from `scheduler`. Event streams (and the metrics' event reader) end
    /// when `stopping` is cancelled: cancel it when the server starts to drain. Call inside a runtime.
    pub fn with_scheduler(
        mut self,
        scheduler: SchedulerHandle,
        stopping: CancellationToken,
    ) -> Self {
        let metrics = metrics::Metrics::start(scheduler.clone(), stopping.clone());
        self.executor = Some(Executor {
            scheduler,
            stopping,
            metrics,
            schedule_items: Arc::default(),
        });
        self
    }

    pub(crate) fn executor(&self) -> Result<&Executor, ExecutorError> {
        self.executor.as_ref().ok_or(ExecutorError::Disabled)
    }

    pub(crate) fn scheduler(&self) -> Result<&SchedulerHandle, ExecutorError> {
        Ok(&self.executor()?.scheduler)
    }
}

/// A JSON body with the executor API's errors: 415 without `Content-Type: application/json`, 400 for
/// bad JSON, 422 for JSON of the wrong shape (unknown field, wrong type, an array where an object
/// belongs), 413 when too large.
pub(crate) struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ExecutorError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(request.headers()) {
            return Err(ExecutorError::Body {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                message: "Expected request with `Content-Type: application/json`".into(),
            });
        }
        let bytes = body_bytes(request, state).await?;
        not_an_array(&bytes)?;
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(ExecutorError::Body {
                status: rejection.status(),
                message: rejection.body_text(),
            }),
        }
    }
}

/// `application/json` or `application/<anything>+json`, parameters aside (as axum's `Json`).
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|subtype| subtype.ends_with("+json"))
}

async fn body_bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ExecutorError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| ExecutorError::Body {
            status: rejection.status(),
            message: rejection.body_text(),
        })
}

/// serde reads a struct from a JSON array too (fields by position); the API takes objects only.
/// (Broken JSON is left to the parser, which names the syntax error.)
fn not_an_array(bytes: &[u8]) -> Result<(), ExecutorError> {
    let array = bytes.trim_ascii_start().first() == Some(&b'[')
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
    if array {
        Err(ExecutorError::Body {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: "the body must be a JSON object, not an array".into(),
        })
    } else {
        Ok(())
    }
}

/// A body that may be empty (then `T::default()`); when present it must be JSON of `T`'s shape.
pub(crate) struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ExecutorError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(request, state).await?;
        if bytes.trim_ascii().is_empty() {
            return Ok(OptionalJson(T::default()));
        }
        not_an_array(&bytes)?;
        serde_json::from_slice(&bytes)
            .map(OptionalJson)
            .map_err(|error| ExecutorError::Body {
                status: if error.is_data() {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    StatusCode::BAD_REQUEST
                },
                message: format!("invalid JSON body: {error}"),
            })
    }
}

/// A query string with the executor API's errors (400 with serde's words).
pub(crate) struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ExecutorError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(QueryParams(value)),
            Err(rejection) => Err(ExecutorError::BadRequest(rejection.body_text())),
        }
    }
}

pub(crate) use crate::error::created;

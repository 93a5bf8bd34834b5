//! The executor API's one error type and its one mapping to responses: `{"message": …}` with a precise
//! 4xx for every user mistake; a 5xx says only that the server failed, the details go to the log.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nbgate_scheduler::{SchedulerError, ValidationError};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ExecutorError {
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    /// A malformed query or body.
    #[error("{0}")]
    BadRequest(String),
    /// A body axum could not read as the JSON asked for (its status: 400, 413, 415 or 422).
    #[error("{message}")]
    Body { status: StatusCode, message: String },
    #[error("execution {id:?} has no output notebook yet (it is {status})")]
    NoOutput { id: String, status: String },
    #[error("the executor API is not enabled on this server")]
    Disabled,
}

impl From<ValidationError> for ExecutorError {
    fn from(error: ValidationError) -> Self {
        ExecutorError::Scheduler(error.into())
    }
}

impl ExecutorError {
    pub fn status(&self) -> StatusCode {
        match self {
            ExecutorError::Scheduler(error) => match error {
                SchedulerError::Validation(ValidationError::InvalidCursor { .. }) => {
                    StatusCode::BAD_REQUEST
                }
                SchedulerError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
                SchedulerError::NotFound { .. } => StatusCode::NOT_FOUND,
                SchedulerError::WrongState { .. } | SchedulerError::HasDependants { .. } => {
                    StatusCode::CONFLICT
                }
                SchedulerError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
                SchedulerError::Store(_) | SchedulerError::Io { .. } => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            },
            ExecutorError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ExecutorError::Body { status, .. } => *status,
            ExecutorError::NoOutput { .. } => StatusCode::NOT_FOUND,
            ExecutorError::Disabled => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for ExecutorError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "executor API request failed");
            "internal server error (details are in the server log)".to_owned()
        } else {
            self.to_string()
        };
        (status, axum::Json(json!({"message": message}))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn reply(error: ExecutorError) -> (StatusCode, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, serde_json::from_slice(&bytes).expect("json"))
    }

    #[tokio::test]
    async fn each_scheduler_error_has_its_status_and_message() {
        let cases: Vec<(SchedulerError, u16, &str)> = vec![
            (
                ValidationError::InvalidTimezone {
                    timezone: "Mars/Base".into(),
                }
                .into(),
                422,
                "unknown time zone \"Mars/Base\": use an IANA name such as Europe/Paris or UTC",
            ),
            (
                ValidationError::InvalidCursor { cursor: "x".into() }.into(),
                400,
                "invalid cursor \"x\"",
            ),
            (
                SchedulerError::NotFound {
                    kind: "execution",
                    id: "abc".into(),
                },
                404,
                "execution \"abc\" not found",
            ),
            (
                SchedulerError::WrongState {
                    id: "abc".into(),
                    status: "succeeded".into(),
                    action: "cancel",
                },
                409,
                "execution \"abc\" is succeeded: cancel is not possible",
            ),
            (
                SchedulerError::ShuttingDown,
                503,
                "the scheduler is shutting down",
            ),
            (
                SchedulerError::Io {
                    action: "read",
                    path: "/secret/path".into(),
                    source: std::io::Error::other("disk on fire"),
                },
                500,
                "internal server error (details are in the server log)",
            ),
        ];
        for (error, status, message) in cases {
            let (got_status, json) = reply(error.into()).await;
            assert_eq!(got_status.as_u16(), status, "{json}");
            assert_eq!(json, json!({"message": message}));
        }
    }
}

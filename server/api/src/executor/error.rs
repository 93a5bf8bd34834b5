//! The executor API's errors are the HTTP layer's one error type, [`ApiError`](crate::ApiError), with
//! its one mapping (statuses, hidden 5xx details); this API's rows of the route table write them as
//! `{"message": …}` ([`executor_body`](crate::error::executor_body)).

/// The name the executor API's handlers use for [`ApiError`](crate::ApiError).
pub(crate) type ExecutorError = crate::ApiError;

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use nbgate_scheduler::{SchedulerError, ValidationError};
    use serde_json::json;

    use super::*;

    async fn reply(error: ExecutorError) -> (StatusCode, serde_json::Value) {
        let response = crate::error::executor_body(error.into_response()).await;
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

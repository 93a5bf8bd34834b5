//! The one error type of the HTTP layer and its one mapping to responses: a status for every error
//! (a precise 4xx for every user mistake) and the message the client sees. A 5xx other than 503 is
//! logged with its details and answered without them.
//!
//! Two APIs share it and keep their own bodies: the Kernel Gateway's routes answer as KG does,
//! `{"reason": <HTTP reason>, "message": …}` ("Unknown server error" for a hidden 5xx); the executor
//! API's routes answer `{"message": …}` (see [`executor_body`], applied to that API's rows of the
//! route table). Which body is a property of the route, not of the error.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nbgate_kernel::KernelError;
use nbgate_scheduler::{SchedulerError, ValidationError};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No token, or the wrong one.
    #[error("")]
    Unauthorized,
    /// An unknown path (KG's catch-all answers with an empty message).
    #[error("{0}")]
    NotFound(String),
    #[error("Kernel does not exist: {id}")]
    KernelNotFound { id: String },
    #[error("Session not found: {id}")]
    SessionNotFound { id: String },
    #[error("Kernel spec {name} not found; available: {}", list(.available))]
    KernelSpecNotFound {
        name: String,
        available: Vec<String>,
    },
    #[error("{0}")]
    BadRequest(String),
    /// A body that could not be read: too large (413), or cut off (400).
    #[error("{message}")]
    Body { status: StatusCode, message: String },
    /// `max_kernels` reached (counting kernels still starting).
    #[error("Resource Limit: at most {max} kernels may run")]
    ResourceLimit { max: usize },
    /// A cross-origin WebSocket from an origin that is not allowed.
    #[error("Cross origin requests from {origin} are not allowed")]
    ForbiddenOrigin { origin: String },
    #[error("")]
    MethodNotAllowed,
    /// The gateway is stopping and starts no more kernels.
    #[error("the gateway is shutting down")]
    ShuttingDown,
    /// A kernel failed to start, interrupt or restart: a remote gateway's failure is shown (502), any
    /// other cause is logged.
    #[error("kernel operation failed: {0}")]
    Kernel(#[from] KernelError),
    #[error("{0}")]
    Internal(String),
    /// The executor API's: the scheduler refused or failed.
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    #[error("execution {id:?} has no output notebook yet (it is {status})")]
    NoOutput { id: String, status: String },
    /// An executor API route on a server without a scheduler (the Kernel Gateway alone).
    #[error("the executor API is not enabled on this server")]
    Disabled,
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        ApiError::Scheduler(error.into())
    }
}

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::BytesRejection) -> Self {
        ApiError::Body {
            status: rejection.status(),
            message: rejection.body_text(),
        }
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_)
            | ApiError::KernelNotFound { .. }
            | ApiError::SessionNotFound { .. }
            | ApiError::KernelSpecNotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Body { status, .. } => *status,
            ApiError::ResourceLimit { .. } | ApiError::ForbiddenOrigin { .. } => {
                StatusCode::FORBIDDEN
            }
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::ShuttingDown | ApiError::Disabled => StatusCode::SERVICE_UNAVAILABLE,
            // The remote gateway refused or could not be reached: its URL and answer are what the
            // client needs to act on, so they are shown (a 502 is not nbgate's own failure).
            ApiError::Kernel(
                KernelError::GatewayUnreachable { .. }
                | KernelError::Gateway { .. }
                | KernelError::GatewayChannels { .. },
            ) => StatusCode::BAD_GATEWAY,
            ApiError::Kernel(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::NoOutput { .. } => StatusCode::NOT_FOUND,
            ApiError::Scheduler(error) => match error {
                SchedulerError::Validation(ValidationError::InvalidCursor { .. }) => {
                    StatusCode::BAD_REQUEST
                }
                SchedulerError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
                SchedulerError::NotFound { .. } => StatusCode::NOT_FOUND,
                SchedulerError::WrongState { .. } | SchedulerError::HasDependants { .. } => {
                    StatusCode::CONFLICT
                }
                SchedulerError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
                // A PostgreSQL store that is down or restarting: the pool reconnects meanwhile.
                SchedulerError::Store(nbgate_scheduler::StoreError::Unavailable(_)) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                SchedulerError::Store(_) | SchedulerError::Io { .. } => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            },
        }
    }
}

/// What an error response says, kept on the response so that a route's API can write its own body.
#[derive(Clone)]
struct Reply {
    /// `None`: a server error whose details went to the log only.
    message: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let shown_as_is = matches!(
            status,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::BAD_GATEWAY
        );
        let message = if status.is_server_error() && !shown_as_is {
            tracing::error!(error = %self, "request failed");
            None
        } else {
            Some(self.to_string())
        };
        let reason = status.canonical_reason().unwrap_or("Error");
        let shown = message.as_deref().unwrap_or("Unknown server error");
        let mut response = (
            status,
            axum::Json(json!({"reason": reason, "message": shown})),
        )
            .into_response();
        response.extensions_mut().insert(Reply { message });
        response
    }
}

/// The executor API's body for an [`ApiError`]: `{"message": …}`; other responses pass unchanged.
pub(crate) async fn executor_body(mut response: Response) -> Response {
    let Some(Reply { message }) = response.extensions_mut().remove::<Reply>() else {
        return response;
    };
    let message = message
        .unwrap_or_else(|| "internal server error (details are in the server log)".to_owned());
    (response.status(), axum::Json(json!({"message": message}))).into_response()
}

/// 201 with `Location` and the JSON body, as both APIs answer a creation.
pub(crate) fn created(location: impl Into<String>, body: impl serde::Serialize) -> Response {
    (
        StatusCode::CREATED,
        [(axum::http::header::LOCATION, location.into())],
        axum::Json(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(error: ApiError) -> (StatusCode, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, serde_json::from_slice(&bytes).expect("json"))
    }

    #[tokio::test]
    async fn a_gateway_that_cannot_be_reached_is_a_502_naming_it() {
        let error = KernelError::GatewayUnreachable {
            url: "http://eg.example:8888".into(),
            reason: "connection refused".into(),
        };
        let (status, json) = body(ApiError::Kernel(error)).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert_eq!(
            json["message"],
            "kernel operation failed: gateway http://eg.example:8888 is unreachable: connection refused"
        );
        let (status, json) = body(ApiError::Internal("disk on fire".into())).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(json["message"], "Unknown server error");
    }

    #[tokio::test]
    async fn shapes_follow_kernel_gateway() {
        let (status, json) = body(ApiError::KernelNotFound { id: "abc".into() }).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            json,
            json!({"reason": "Not Found", "message": "Kernel does not exist: abc"})
        );
        let (status, json) = body(ApiError::Unauthorized).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(json, json!({"reason": "Unauthorized", "message": ""}));
        let (status, json) = body(ApiError::KernelSpecNotFound {
            name: "nope".into(),
            available: vec!["python3".into(), "r".into()],
        })
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            json["message"],
            "Kernel spec nope not found; available: python3, r"
        );
    }

    /// Through the app: the same error type, each API's body (the dialect follows the route).
    #[tokio::test]
    async fn each_api_answers_in_its_own_body() {
        use tower::ServiceExt as _;
        let state = crate::AppState::new(crate::Config::new("t", std::env::temp_dir()));
        let call = |uri: &'static str| {
            let request = axum::http::Request::get(uri)
                .header("authorization", "token t")
                .body(axum::body::Body::empty())
                .expect("request");
            let app = crate::app(state.clone());
            async move {
                let response = app.oneshot(request).await.expect("infallible");
                let status = response.status();
                let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                    .await
                    .expect("body");
                let json: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
                (status, json)
            }
        };
        let (status, json) = call("/api/executions").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            json,
            json!({"message": "the executor API is not enabled on this server"})
        );
        let (status, json) = call("/api/kernels/nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            json,
            json!({"reason": "Not Found", "message": "Kernel does not exist: nope"})
        );
    }

    #[tokio::test]
    async fn server_errors_are_not_detailed() {
        let (status, json) = body(ApiError::Internal("secret path /x".into())).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            json,
            json!({"reason": "Internal Server Error", "message": "Unknown server error"})
        );
    }
}

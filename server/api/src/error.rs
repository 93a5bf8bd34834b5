//! The one error type of the HTTP layer and its one mapping to responses: Kernel Gateway's
//! `{"reason": <HTTP reason>, "message": <what went wrong>}` with a precise 4xx for every user mistake.
//! A 5xx says only "Unknown server error"; its details go to the log.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
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
    /// A kernel failed to start, interrupt or restart; the cause is logged.
    #[error("kernel operation failed: {0}")]
    Kernel(#[from] nbgate_kernel::KernelError),
    #[error("{0}")]
    Internal(String),
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
            ApiError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Kernel(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(error = %self, "request failed");
            "Unknown server error".to_owned()
        } else {
            self.to_string()
        };
        let reason = status.canonical_reason().unwrap_or("Error");
        (
            status,
            axum::Json(json!({"reason": reason, "message": message})),
        )
            .into_response()
    }
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

//! `/api/kernels`: list, start (201 + `Location`), model, delete (204), interrupt (204), restart (200).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value};

use crate::error::created;
use crate::routes::Route;
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/api/kernels", list),
        Route::new(Method::POST, "/api/kernels", start),
        Route::new(Method::GET, "/api/kernels/{id}", get),
        Route::new(Method::DELETE, "/api/kernels/{id}", delete),
        Route::new(Method::POST, "/api/kernels/{id}/interrupt", interrupt),
        Route::new(Method::POST, "/api/kernels/{id}/restart", restart),
    ]
}

/// A JSON object body; empty means `{}`. Anything else is a 400 naming the problem.
pub(crate) fn object_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        )),
        Err(error) => Err(ApiError::BadRequest(format!("invalid JSON body: {error}"))),
    }
}

/// The optional string field `key` (a 400 if present with another type).
pub(crate) fn string_field<'a>(
    body: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(ApiError::BadRequest(format!("{key} must be a string"))),
    }
}

async fn list(State(state): State<AppState>) -> Json<Vec<Value>> {
    Json(state.kernels.list().iter().map(|k| k.model()).collect())
}

async fn start(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = object_body(&body?)?;
    let name = string_field(&body, "name")?.filter(|name| !name.is_empty());
    let entry = state
        .kernels
        .create(name, body.get("env"), body.get("path"))
        .await?;
    Ok(created(
        format!("/api/kernels/{}", entry.id()),
        entry.model(),
    ))
}

async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.kernels.get(&id)?.model()))
}

async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.kernels.delete(&id).await?;
    state.sessions.forget_kernel(&id);
    Ok(StatusCode::NO_CONTENT)
}

async fn interrupt(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.kernels.get(&id)?.kernel.interrupt().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn restart(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let entry = state.kernels.get(&id)?;
    entry.kernel.restart().await?;
    // The supervisor sees `Restarted` a moment later; the answer already reports the restarted kernel.
    entry.record(|activity| {
        activity.execution_state = "idle".into();
        activity.last_activity = crate::registry::now();
    });
    Ok(Json(entry.model()))
}

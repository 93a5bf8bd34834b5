//! Kernel Gateway's sessions: `{"id", "notebook": {"path"}, "kernel": <kernel model>}`. Creating one
//! always starts a new kernel (`kernel.name`, `kernel.env`); deleting one shuts its kernel down. A
//! session whose kernel is gone (deleted, culled) is gone too.

use std::collections::BTreeMap;
use std::sync::Mutex;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::error::created;
use crate::kernels::{object_body, string_field};
use crate::routes::Route;
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/api/sessions", list),
        Route::new(Method::POST, "/api/sessions", create),
        Route::new(Method::GET, "/api/sessions/{id}", get),
        Route::new(Method::PATCH, "/api/sessions/{id}", update),
        Route::new(Method::DELETE, "/api/sessions/{id}", delete),
    ]
}

#[derive(Debug, Clone)]
struct Session {
    path: String,
    kernel_id: String,
}

/// Session id → its notebook path and kernel.
#[derive(Default)]
pub(crate) struct SessionStore {
    sessions: Mutex<BTreeMap<String, Session>>,
}

impl SessionStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Session>> {
        nbgate_kernel::sync::lock(&self.sessions)
    }

    /// Drops the sessions of a kernel that is gone.
    pub(crate) fn forget_kernel(&self, kernel_id: &str) {
        self.lock()
            .retain(|_, session| session.kernel_id != kernel_id);
    }
}

fn model(state: &AppState, id: &str, session: &Session) -> Option<Value> {
    let kernel = state.kernels.get(&session.kernel_id).ok()?;
    Some(json!({"id": id, "notebook": {"path": session.path}, "kernel": kernel.model()}))
}

fn find(state: &AppState, id: &str) -> Result<(Session, Value), ApiError> {
    let session = state.sessions.lock().get(id).cloned();
    let not_found = || ApiError::SessionNotFound { id: id.to_owned() };
    let session = session.ok_or_else(not_found)?;
    match model(state, id, &session) {
        Some(model) => Ok((session, model)),
        None => {
            state.sessions.forget_kernel(&session.kernel_id);
            Err(not_found())
        }
    }
}

async fn list(State(state): State<AppState>) -> Json<Vec<Value>> {
    let sessions = state.sessions.lock().clone();
    Json(
        sessions
            .iter()
            .filter_map(|(id, session)| model(&state, id, session))
            .collect(),
    )
}

/// The notebook path: `path`, or the legacy `notebook.path`.
fn path_of(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    if let Some(path) = string_field(body, "path")? {
        return Ok(Some(path.to_owned()));
    }
    match body.get("notebook") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(notebook)) => Ok(string_field(notebook, "path")?.map(str::to_owned)),
        Some(_) => Err(ApiError::BadRequest("notebook must be an object".into())),
    }
}

async fn create(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = object_body(&body?)?;
    let path = path_of(&body)?.unwrap_or_default();
    let kernel = match body.get("kernel") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(kernel)) => kernel.clone(),
        Some(_) => return Err(ApiError::BadRequest("kernel must be an object".into())),
    };
    let name = string_field(&kernel, "name")?.filter(|name| !name.is_empty());
    let entry = state.kernels.create(name, kernel.get("env"), None).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let session = Session {
        path,
        kernel_id: entry.id().to_owned(),
    };
    state.sessions.lock().insert(id.clone(), session.clone());
    let model = json!({"id": id, "notebook": {"path": session.path}, "kernel": entry.model()});
    Ok(created(format!("/api/sessions/{id}"), model))
}

async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(find(&state, &id)?.1))
}

async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = object_body(&body?)?;
    let (mut session, _) = find(&state, &id)?;
    if let Some(path) = path_of(&body)? {
        session.path = path;
    }
    if let Some(Value::Object(kernel)) = body.get("kernel")
        && let Some(kernel_id) = string_field(kernel, "id")?
    {
        state.kernels.get(kernel_id)?;
        session.kernel_id = kernel_id.to_owned();
    }
    state.sessions.lock().insert(id.clone(), session);
    Ok(Json(find(&state, &id)?.1))
}

async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (session, _) = find(&state, &id)?;
    state.sessions.lock().remove(&id);
    state.kernels.delete(&session.kernel_id).await?;
    state.sessions.forget_kernel(&session.kernel_id);
    Ok(StatusCode::NO_CONTENT)
}

//! `GET /api/environments` (kernelspecs as choices) and `POST /api/notebooks/parameters` (a notebook's
//! parameters cell, for the Execute dialog's form).

use axum::Json;
use axum::extract::State;
use axum::http::Method;

use super::dto::{EnvironmentDto, NotebookParametersDto, NotebookPath};
use super::{ExecutorError, JsonBody};
use crate::AppState;
use crate::routes::Route;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/api/environments", list),
        Route::new(Method::POST, "/api/notebooks/parameters", parameters),
    ]
}

async fn list(State(state): State<AppState>) -> Result<Json<Vec<EnvironmentDto>>, ExecutorError> {
    let environments = match &state.config.gateway {
        Some(gateway) => crate::remote_specs::environments(gateway).await?,
        None => state.scheduler()?.environments().await,
    };
    Ok(Json(
        environments.into_iter().map(EnvironmentDto::from).collect(),
    ))
}

async fn parameters(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<NotebookPath>,
) -> Result<Json<NotebookParametersDto>, ExecutorError> {
    let found = state
        .scheduler()?
        .notebook_parameters(&request.path)
        .await?;
    Ok(Json(found.into()))
}

//! `GET /api` (the version, as KG answers it) and `GET /api/health`.

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use serde_json::{Value, json};

use crate::AppState;
use crate::routes::Route;

pub(crate) fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/api", version),
        Route::new(Method::GET, "/api/health", health),
    ]
}

const VERSION: &str = env!("CARGO_PKG_VERSION");

async fn version() -> Json<Value> {
    Json(json!({"version": VERSION, "gateway_version": format!("nbgate {VERSION}")}))
}

async fn health(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": VERSION,
        "kernels": state.kernels.len(),
        "pooled": state.kernels.pooled(),
    }))
}

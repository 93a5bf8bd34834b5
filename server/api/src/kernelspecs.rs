//! Kernelspecs as KG serves them: `GET /api/kernelspecs`, `GET /api/kernelspecs/{name}` and the
//! resource files (`GET /kernelspecs/{name}/{file}`: logos, `kernel.js`, `kernel.css`). Specs are read
//! from disk on every request, as Jupyter does, so a newly installed kernel shows up without a restart.

use std::path::Path;

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::{Method, header};
use axum::response::IntoResponse;
use nbgate_kernel::{KernelError, KernelSpec};
use serde_json::{Map, Value, json};

use crate::routes::Route;
use crate::{ApiError, AppState, Config};

pub(crate) fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/api/kernelspecs", list),
        Route::new(Method::GET, "/api/kernelspecs/{name}", one),
        Route::new(Method::GET, "/kernelspecs/{name}/{file}", resource),
    ]
}

async fn list(State(state): State<AppState>) -> Json<Value> {
    let specs: Map<String, Value> = state
        .config
        .specs
        .list()
        .iter()
        .map(|spec| (spec.name.clone(), model(spec)))
        .collect();
    Json(json!({"default": state.config.default_kernel_name(), "kernelspecs": specs}))
}

async fn one(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(model(&find(&state, &name)?)))
}

fn find(state: &AppState, name: &str) -> Result<KernelSpec, ApiError> {
    find_in(&state.config, name)
}

/// The spec named `name`, or a 404 that lists the available names.
pub(crate) fn find_in(config: &Config, name: &str) -> Result<KernelSpec, ApiError> {
    config.specs.find(name).map_err(|error| match error {
        KernelError::KernelNotFound {
            name, available, ..
        } => ApiError::KernelSpecNotFound { name, available },
        KernelError::InvalidName { name } => ApiError::KernelSpecNotFound {
            name,
            available: config.specs.list().into_iter().map(|s| s.name).collect(),
        },
        other => ApiError::BadRequest(format!("kernelspec {name}: {other}")),
    })
}

/// `{name, spec, resources}`: the spec with jupyter_client's defaults filled in, and resource URLs.
pub(crate) fn model(spec: &KernelSpec) -> Value {
    let mut body = spec.raw.as_object().cloned().unwrap_or_default();
    body.entry("env").or_insert_with(|| json!({}));
    body.entry("language")
        .or_insert_with(|| json!(spec.language));
    body.entry("interrupt_mode")
        .or_insert_with(|| json!("signal"));
    body.entry("metadata").or_insert_with(|| json!({}));
    json!({"name": spec.name, "spec": body, "resources": resources(spec)})
}

fn resources(spec: &KernelSpec) -> Map<String, Value> {
    let mut resources = Map::new();
    let Ok(entries) = std::fs::read_dir(&spec.resource_dir) else {
        return resources;
    };
    let mut files: Vec<String> = entries
        .flatten()
        .filter(|entry| entry.path().is_file())
        .filter_map(|entry| entry.file_name().to_str().map(str::to_owned))
        .collect();
    files.sort();
    for file in files {
        let url = format!("/kernelspecs/{}/{file}", spec.name);
        if file == "kernel.js" || file == "kernel.css" {
            resources.insert(file, json!(url));
        } else if file.starts_with("logo-") {
            let key = Path::new(&file)
                .file_stem()
                .and_then(|stem| stem.to_str())
                .unwrap_or(&file)
                .to_owned();
            resources.insert(key, json!(url));
        }
    }
    resources
}

async fn resource(
    State(state): State<AppState>,
    UrlPath((name, file)): UrlPath<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let spec = find(&state, &name)?;
    let missing = || ApiError::NotFound(format!("{name}/{file} not found"));
    if file.starts_with('.') || file.contains(['/', '\\']) || file == "kernel.json" {
        return Err(missing());
    }
    let bytes = tokio::fs::read(spec.resource_dir.join(&file))
        .await
        .map_err(|_| missing())?;
    let extension = Path::new(&file)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("");
    let content_type = match extension {
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
    let cache = if extension == "png" {
        "max-age=2592000"
    } else {
        "no-cache"
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, cache),
        ],
        bytes,
    ))
}

//! Kernelspecs as KG serves them: `GET /api/kernelspecs`, `GET /api/kernelspecs/{name}` and the
//! resource files (`GET /kernelspecs/{name}/{file}`: logos, `kernel.js`, `kernel.css`).
//!
//! The specs come from the kernel crate's read ([`KernelSpecs::current`]: kept while the
//! modification times of the `kernels` directories, each spec's directory and its `kernel.json` are
//! unchanged, checked on the blocking pool), so a newly installed, removed or edited kernel shows
//! up on the next request, without a restart, as Jupyter's per-request scan does, but without
//! reading and parsing every `kernel.json` each time. Their KG models are made once per read.

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use nbgate_kernel::sync::lock;
use nbgate_kernel::{KernelError, KernelSpec, KernelSpecs};
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

async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if let Some(gateway) = &state.config.gateway {
        return Ok(Json(crate::remote_specs::list(gateway).await?));
    }
    let read = state.specs.current(&state.config.specs).await;
    let specs: Map<String, Value> = read
        .specs
        .iter()
        .map(|(spec, model)| (spec.name.clone(), model.clone()))
        .collect();
    Ok(Json(
        json!({"default": state.config.default_kernel_name(), "kernelspecs": specs}),
    ))
}

async fn one(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    if let Some(gateway) = &state.config.gateway {
        return Ok(Json(crate::remote_specs::one(gateway, &name).await?));
    }
    let read = state.specs.current(&state.config.specs).await;
    match read.model(&name) {
        Some(model) => Ok(Json(model.clone())),
        None => Ok(Json(model(&find_in(&state.config, &name).await?))),
    }
}

/// The spec named `name` from the last read; errors (unknown, invalid or broken) come from
/// [`find_in`].
async fn find(state: &AppState, name: &str) -> Result<KernelSpec, ApiError> {
    let read = state.specs.current(&state.config.specs).await;
    match read.spec(name) {
        Some(spec) => Ok(spec.clone()),
        None => find_in(&state.config, name).await,
    }
}

/// The KG models of the kernelspecs as last read ([`KernelSpecs::current`], shared with the
/// scheduler and the executor), made again only when that read changes.
#[derive(Debug, Clone, Default)]
pub(crate) struct SpecCache(Arc<Mutex<Option<Arc<SpecsRead>>>>);

/// One read's specs, each with its KG model.
#[derive(Debug)]
pub(crate) struct SpecsRead {
    /// The read the models were made from.
    read: Arc<nbgate_kernel::kernelspec::SpecsRead>,
    /// The valid specs by name, each with its KG model.
    specs: Vec<(KernelSpec, Value)>,
}

impl SpecCache {
    /// The specs as they are on disk now, with their models (resource files listed on the
    /// blocking pool when the read is new).
    pub(crate) async fn current(&self, specs: &KernelSpecs) -> Arc<SpecsRead> {
        let read = specs.current().await;
        let cached = lock(&self.0).clone();
        if let Some(models) = cached.filter(|models| Arc::ptr_eq(&models.read, &read)) {
            return models;
        }
        let models = tokio::task::spawn_blocking(move || {
            let specs = (read.specs().iter())
                .map(|spec| (spec.clone(), model(spec)))
                .collect();
            Arc::new(SpecsRead { read, specs })
        })
        .await;
        match models {
            Ok(models) => {
                *lock(&self.0) = Some(Arc::clone(&models));
                models
            }
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }
}

impl SpecsRead {
    fn spec(&self, name: &str) -> Option<&KernelSpec> {
        let name = name.to_ascii_lowercase();
        self.specs
            .iter()
            .map(|(spec, _)| spec)
            .find(|spec| spec.name == name)
    }

    fn model(&self, name: &str) -> Option<&Value> {
        let name = name.to_ascii_lowercase();
        self.specs
            .iter()
            .find(|(spec, _)| spec.name == name)
            .map(|(_, model)| model)
    }
}

/// The spec named `name` (from the current read; off the async threads), or a 404 that lists the
/// available names.
pub(crate) async fn find_in(config: &Config, name: &str) -> Result<KernelSpec, ApiError> {
    match config.specs.find_current(name).await {
        Ok(spec) => Ok(spec),
        Err(KernelError::KernelNotFound {
            name, available, ..
        }) => Err(ApiError::KernelSpecNotFound { name, available }),
        Err(KernelError::InvalidName { name }) => Err(ApiError::KernelSpecNotFound {
            name,
            available: config.specs.names_current().await,
        }),
        Err(other) => Err(ApiError::BadRequest(format!("kernelspec {name}: {other}"))),
    }
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
) -> Result<Response, ApiError> {
    if let Some(gateway) = &state.config.gateway {
        return crate::remote_specs::resource(gateway, &name, &file).await;
    }
    let spec = find(&state, &name).await?;
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
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use std::fs::{self, File};
    use std::time::{Duration, SystemTime};

    use super::*;

    fn install(kernels: &Path, name: &str, display: &str) {
        let dir = kernels.join(name);
        fs::create_dir_all(&dir).expect("mkdir");
        let spec = json!({"argv": ["k", "-f", "{connection_file}"], "display_name": display,
            "language": "x"});
        fs::write(dir.join("kernel.json"), spec.to_string()).expect("write");
    }

    /// Sets every modification time under `kernels` to one moment long ago, as for old specs.
    fn age(kernels: &Path) {
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let set = |path: &Path| {
            File::open(path)
                .and_then(|file| file.set_modified(old))
                .expect("set mtime");
        };
        for entry in fs::read_dir(kernels).expect("read").flatten() {
            set(&entry.path().join("kernel.json"));
            set(&entry.path());
        }
        set(kernels);
    }

    fn names(read: &SpecsRead) -> Vec<(String, String)> {
        read.specs
            .iter()
            .map(|(spec, model)| {
                let display = model["spec"]["display_name"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                (spec.name.clone(), display)
            })
            .collect()
    }

    #[tokio::test]
    async fn a_newly_installed_kernelspec_appears_and_an_unchanged_one_is_not_read_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kernels = dir.path().join("kernels");
        install(&kernels, "one", "One");
        age(&kernels);
        let specs = KernelSpecs::with_dirs(vec![kernels.clone()]);
        let cache = SpecCache::default();
        let first = cache.current(&specs).await;
        assert_eq!(names(&first), [("one".into(), "One".into())]);

        // Rewritten with its old times kept: nothing a change moves, so the read is reused.
        install(&kernels, "one", "Renamed");
        age(&kernels);
        let second = cache.current(&specs).await;
        assert!(
            Arc::ptr_eq(&first, &second),
            "read again with nothing changed"
        );

        // A new kernel moves the directory's time: read again, both listed.
        install(&kernels, "two", "Two");
        let third = cache.current(&specs).await;
        assert_eq!(
            names(&third),
            [
                ("one".into(), "Renamed".into()),
                ("two".into(), "Two".into())
            ]
        );
        assert_eq!(
            third.spec("TWO").map(|spec| spec.name.as_str()),
            Some("two")
        );

        // Removed: gone on the next request.
        fs::remove_dir_all(kernels.join("one")).expect("remove");
        let fourth = cache.current(&specs).await;
        assert_eq!(names(&fourth), [("two".into(), "Two".into())]);
    }
}

//! Kernelspecs as KG serves them: `GET /api/kernelspecs`, `GET /api/kernelspecs/{name}` and the
//! resource files (`GET /kernelspecs/{name}/{file}`: logos, `kernel.js`, `kernel.css`).
//!
//! The specs are read once and kept ([`SpecCache`]) while nothing they were read from changed: each
//! request compares the modification times of the `kernels` directories, each spec's directory and
//! its `kernel.json` (a few `stat`s on the blocking pool) with those of the last read, so a newly
//! installed, removed or edited kernel shows up on the next request, without a restart, as Jupyter's
//! per-request scan does, but without reading and parsing every `kernel.json` each time.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::{Method, header};
use axum::response::IntoResponse;
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

async fn list(State(state): State<AppState>) -> Json<Value> {
    let read = state.specs.current(&state.config.specs).await;
    let specs: Map<String, Value> = read
        .specs
        .iter()
        .map(|(spec, model)| (spec.name.clone(), model.clone()))
        .collect();
    Json(json!({"default": state.config.default_kernel_name(), "kernelspecs": specs}))
}

async fn one(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let read = state.specs.current(&state.config.specs).await;
    match read.model(&name) {
        Some(model) => Ok(Json(model.clone())),
        None => Ok(Json(model(&find_in(&state.config, &name)?))),
    }
}

/// The spec named `name` from the last read; errors (unknown, invalid or broken) come from
/// [`find_in`].
async fn find(state: &AppState, name: &str) -> Result<KernelSpec, ApiError> {
    let read = state.specs.current(&state.config.specs).await;
    match read.spec(name) {
        Some(spec) => Ok(spec.clone()),
        None => find_in(&state.config, name),
    }
}

/// The kernelspecs as last read, shared by every request while their files are unchanged.
#[derive(Debug, Clone, Default)]
pub(crate) struct SpecCache(Arc<Mutex<Option<Arc<SpecsRead>>>>);

/// A modification time observed: `None` for a path that did not exist.
type Stamp = (PathBuf, Option<SystemTime>);

/// One read of every kernelspec.
#[derive(Debug)]
pub(crate) struct SpecsRead {
    /// The directories read (a changed configuration is a miss).
    dirs: Vec<PathBuf>,
    stamps: Vec<Stamp>,
    /// A stamp was too recent to trust: a change within the filesystem's time resolution would not
    /// move it, so the next request reads again.
    unsure: bool,
    /// The valid specs by name, each with its KG model.
    specs: Vec<(KernelSpec, Value)>,
}

/// How close to the read a modification time must be to be distrusted (coarse timestamps).
const RECENT: Duration = Duration::from_secs(2);

impl SpecCache {
    /// The specs as they are on disk now: the last read if nothing changed since, else a new read.
    pub(crate) async fn current(&self, specs: &KernelSpecs) -> Arc<SpecsRead> {
        let cached = lock(&self.0).clone();
        let specs = specs.clone();
        let read = tokio::task::spawn_blocking(move || match cached {
            Some(read) if read.still_valid(&specs) => read,
            _ => Arc::new(SpecsRead::read(&specs)),
        })
        .await;
        match read {
            Ok(read) => {
                *lock(&self.0) = Some(Arc::clone(&read));
                read
            }
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }
}

impl SpecsRead {
    fn read(specs: &KernelSpecs) -> Self {
        let now = SystemTime::now();
        // Stamps first: a change during the read moves a stamp, and the next request reads again.
        let stamps = stamps(specs);
        let unsure = stamps.iter().any(|(_, time)| {
            time.is_some_and(|time| now.duration_since(time).map_or(true, |age| age < RECENT))
        });
        let specs_read = specs
            .list()
            .into_iter()
            .map(|spec| {
                let model = model(&spec);
                (spec, model)
            })
            .collect();
        Self {
            dirs: specs.dirs().to_vec(),
            stamps,
            unsure,
            specs: specs_read,
        }
    }

    fn still_valid(&self, specs: &KernelSpecs) -> bool {
        !self.unsure && self.dirs == specs.dirs() && self.stamps == stamps(specs)
    }

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

/// The modification times a change of any spec moves: each `kernels` directory (a spec added or
/// removed), each entry's directory (a resource file added or removed, a file replaced) and its
/// `kernel.json` (edited in place).
fn stamps(specs: &KernelSpecs) -> Vec<Stamp> {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let mut stamps = Vec::new();
    for dir in specs.dirs() {
        stamps.push((dir.clone(), modified(dir)));
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut entries: Vec<PathBuf> = entries.flatten().map(|entry| entry.path()).collect();
        entries.sort();
        for entry in entries {
            let spec = entry.join("kernel.json");
            stamps.push((spec.clone(), modified(&spec)));
            stamps.push((entry.clone(), modified(&entry)));
        }
    }
    stamps
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
    ))
}

#[cfg(test)]
mod tests {
    use std::fs::{self, File};

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

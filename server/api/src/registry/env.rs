//! A kernel's environment and working directory as Kernel Gateway builds them from a `POST
//! /api/kernels` body.
//!
//! - Without `env` the kernel inherits the gateway's environment.
//! - With `env` (an object of strings) the environment is rebuilt: the gateway's `PATH`, the gateway
//!   variables named in `env_process_whitelist`, the client's `KERNEL_*` variables and those named in
//!   `env_whitelist`; anything else the client sent is dropped.
//! - Either way the gateway's token never passes (no variable of [`nbgate_kernel::SECRET_VARS`], nor
//!   any variable holding the token's value) and `KERNEL_GATEWAY=1` is forced. The kernelspec's `env` is
//!   applied on top by the kernel crate.
//! - `KERNEL_WORKING_DIR` (else `path`) picks the working directory, confined to the root directory.
//! - `KERNEL_LAUNCH_TIMEOUT` (seconds) bounds the start.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::{ApiError, Config};

/// Client variables that only shape the launch; a warm pool kernel can serve a request carrying them.
const LAUNCH_ONLY: [&str; 2] = ["KERNEL_LAUNCH_TIMEOUT", "KERNEL_WORKING_DIR"];

/// Where and how to start a kernel for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelLaunch {
    pub env: BTreeMap<String, String>,
    pub cwd: PathBuf,
    pub start_timeout: Duration,
    /// True when nothing in the request asks for more than a warm pool kernel has.
    pub pool_compatible: bool,
}

/// The environment for a kernel started without a client `env`: the gateway's, minus the secret.
pub fn inherited_env(
    config: &Config,
    process: impl Iterator<Item = (String, String)>,
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = process.collect();
    finish(config, &mut env);
    env
}

fn finish(config: &Config, env: &mut BTreeMap<String, String>) {
    env.retain(|name, value| {
        !nbgate_kernel::is_secret(name)
            && (config.token.is_empty() || value.as_str() != config.token)
    });
    env.insert("KERNEL_GATEWAY".into(), "1".into());
}

/// Builds the launch from a request's `env` and `path` fields.
pub fn launch_for(
    config: &Config,
    env: Option<&Value>,
    path: Option<&Value>,
    process: impl Iterator<Item = (String, String)>,
) -> Result<KernelLaunch, ApiError> {
    let client = match env {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(strings(map)?),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "env must be an object of strings".into(),
            ));
        }
    };
    let root = &config.root_dir;
    let mut cwd = root.clone();
    if let Some(path) = path.filter(|p| !p.is_null()) {
        let Some(path) = path.as_str() else {
            return Err(ApiError::BadRequest("path must be a string".into()));
        };
        cwd = dir_for_path(root, path)?;
    }
    let mut start_timeout = config.start_timeout;
    let mut pool_compatible = path.is_none_or(Value::is_null);
    let env = match client {
        None => inherited_env(config, process),
        Some(client) => {
            let process: BTreeMap<String, String> = process.collect();
            let mut env = BTreeMap::new();
            if let Some(path) = process.get("PATH") {
                env.insert("PATH".to_owned(), path.clone());
            }
            for name in &config.env_process_whitelist {
                if let Some(value) = process.get(name) {
                    env.insert(name.clone(), value.clone());
                }
            }
            for (name, value) in client {
                if name.starts_with("KERNEL_") || config.env_whitelist.contains(&name) {
                    if !LAUNCH_ONLY.contains(&name.as_str()) && name != "KERNEL_GATEWAY" {
                        pool_compatible = false;
                    }
                    env.insert(name, value);
                }
            }
            // Pool kernels inherit the gateway's environment; a rebuilt one differs only in what it
            // lacks, which a kernel cannot miss.
            if let Some(dir) = env.get("KERNEL_WORKING_DIR") {
                match working_dir(root, dir) {
                    Some(dir) => cwd = dir,
                    None => tracing::info!(dir = %dir, root = %root.display(),
                        "KERNEL_WORKING_DIR is not a directory inside the root; using the root"),
                }
            }
            if let Some(seconds) = env.get("KERNEL_LAUNCH_TIMEOUT") {
                match seconds.trim().parse::<f64>() {
                    Ok(s) if s.is_finite() && s > 0.0 => {
                        start_timeout = Duration::from_secs_f64(s.min(3600.0));
                    }
                    _ => {
                        return Err(ApiError::BadRequest(format!(
                            "KERNEL_LAUNCH_TIMEOUT must be a number of seconds, not {seconds:?}"
                        )));
                    }
                }
            }
            finish(config, &mut env);
            env
        }
    };
    if cwd != *root {
        pool_compatible = false;
    }
    Ok(KernelLaunch {
        env,
        cwd,
        start_timeout,
        pool_compatible,
    })
}

fn strings(map: &Map<String, Value>) -> Result<BTreeMap<String, String>, ApiError> {
    map.iter()
        .map(|(name, value)| match value {
            Value::String(text) if !text.contains('\0') && !name.contains(['=', '\0']) => {
                Ok((name.clone(), text.clone()))
            }
            _ => Err(ApiError::BadRequest(format!(
                "env values must be strings (without NUL) and names without '=': {name:?}"
            ))),
        })
        .collect()
}

/// `KERNEL_WORKING_DIR` resolved inside the root: relative to it, or absolute below it; `None` when it
/// is elsewhere or not a directory (a client on another machine sends its own paths).
fn working_dir(root: &Path, dir: &str) -> Option<PathBuf> {
    let root = root.canonicalize().ok()?;
    let candidate = Path::new(dir);
    let candidate = if candidate.is_absolute() {
        candidate.to_path_buf()
    } else {
        root.join(candidate)
    };
    let resolved = candidate.canonicalize().ok()?;
    (resolved.starts_with(&root) && resolved.is_dir()).then_some(resolved)
}

/// jupyter_server's `cwd_for_path`: the request's `path` (relative to the root) or its nearest existing
/// parent directory. A path leaving the root is a 400.
fn dir_for_path(root: &Path, path: &str) -> Result<PathBuf, ApiError> {
    let relative = Path::new(path.trim_start_matches('/'));
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(ApiError::BadRequest(format!(
            "path {path:?} must stay inside the root directory"
        )));
    }
    let mut dir = root.join(relative);
    while !dir.is_dir() {
        if !dir.pop() {
            return Ok(root.to_path_buf());
        }
    }
    let root_real = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    match dir.canonicalize() {
        Ok(real) if real.starts_with(&root_real) => Ok(real),
        _ => Err(ApiError::BadRequest(format!(
            "path {path:?} must stay inside the root directory"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(root: &Path) -> Config {
        let mut config = Config::new("s3cret", root.to_path_buf());
        config.env_whitelist = vec!["ALLOWED".into()];
        config.env_process_whitelist = vec!["HOMEISH".into()];
        config
    }

    fn process() -> impl Iterator<Item = (String, String)> {
        [
            ("PATH", "/bin"),
            ("HOMEISH", "/h"),
            ("OTHER", "x"),
            ("NBGATE_TOKEN", "s3cret"),
            ("SNEAKY", "s3cret"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    }

    #[test]
    fn without_env_the_gateway_env_is_inherited_minus_the_token() {
        let root = tempfile::tempdir().expect("tmp");
        let launch = launch_for(&config(root.path()), None, None, process()).expect("ok");
        assert_eq!(launch.env.get("OTHER").map(String::as_str), Some("x"));
        assert!(!launch.env.contains_key("NBGATE_TOKEN"));
        assert!(!launch.env.contains_key("SNEAKY"));
        assert_eq!(launch.env["KERNEL_GATEWAY"], "1");
        assert!(launch.pool_compatible);
    }

    #[test]
    fn with_env_it_is_rebuilt_from_the_allow_lists() {
        let root = tempfile::tempdir().expect("tmp");
        let env =
            json!({"KERNEL_FOO": "x", "NOT_ALLOWED": "y", "ALLOWED": "z", "KERNEL_GATEWAY": "0"});
        let launch = launch_for(&config(root.path()), Some(&env), None, process()).expect("ok");
        let names: Vec<&str> = launch.env.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            ["ALLOWED", "HOMEISH", "KERNEL_FOO", "KERNEL_GATEWAY", "PATH"]
        );
        assert_eq!(launch.env["KERNEL_GATEWAY"], "1");
        assert!(!launch.pool_compatible, "KERNEL_FOO must reach the kernel");
    }

    #[test]
    fn bad_env_types_are_400s() {
        let root = tempfile::tempdir().expect("tmp");
        for env in [json!([1]), json!("x"), json!({"KERNEL_X": 1})] {
            let error =
                launch_for(&config(root.path()), Some(&env), None, process()).expect_err("bad env");
            assert_eq!(error.status(), axum::http::StatusCode::BAD_REQUEST, "{env}");
        }
    }

    #[test]
    fn working_dir_is_confined_to_the_root() {
        let root = tempfile::tempdir().expect("tmp");
        std::fs::create_dir(root.path().join("sub")).expect("mkdir");
        let config = config(root.path());
        let real = root.path().canonicalize().expect("real");
        let inside = json!({"KERNEL_WORKING_DIR": real.join("sub").display().to_string()});
        let launch = launch_for(&config, Some(&inside), None, process()).expect("ok");
        assert_eq!(launch.cwd, real.join("sub"));
        assert!(!launch.pool_compatible);
        let outside = json!({"KERNEL_WORKING_DIR": "/", "KERNEL_LAUNCH_TIMEOUT": "40"});
        let launch = launch_for(&config, Some(&outside), None, process()).expect("ok");
        assert_eq!(launch.cwd, root.path());
        assert_eq!(launch.start_timeout, Duration::from_secs(40));
        assert!(
            launch.pool_compatible,
            "only launch settings were asked for"
        );
        let launch =
            launch_for(&config, None, Some(&json!("sub/nb.ipynb")), process()).expect("ok");
        assert_eq!(launch.cwd, real.join("sub"));
        let error = launch_for(&config, None, Some(&json!("../x")), process()).expect_err("escape");
        assert_eq!(error.status(), axum::http::StatusCode::BAD_REQUEST);
    }
}

//! Kernelspecs: discovery in Jupyter's directories, `kernel.json` parsing, and the command line a spec
//! resolves to (argv substitutions, the spec's own Python, `${VAR}` in its env).
//!
//! Discovery follows jupyter_client: the directories are, in order, every `JUPYTER_PATH` entry, the user
//! data dir (`JUPYTER_DATA_DIR`, else `$XDG_DATA_HOME/jupyter`, else `~/.local/share/jupyter`), the
//! environment prefixes (`VIRTUAL_ENV`, `CONDA_PREFIX`), then the system dirs; each holds
//! `kernels/<name>/kernel.json`. The first directory holding a name wins. Names are lower-cased (lookups are
//! case-insensitive) and restricted to `[A-Za-z0-9._-]`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::error::{KernelError, Result};

mod cache;
pub use cache::SpecsRead;

/// How a kernel wants to be interrupted (`interrupt_mode` in kernel.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InterruptMode {
    /// SIGINT to the kernel's process group (the default).
    #[default]
    Signal,
    /// An `interrupt_request` on the control channel.
    Message,
}

/// One kernelspec: a `kernel.json` and the directory it lives in.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelSpec {
    /// The lower-cased directory name.
    pub name: String,
    /// The directory holding `kernel.json` (and logos): `{resource_dir}`.
    pub resource_dir: PathBuf,
    pub argv: Vec<String>,
    pub display_name: String,
    pub language: String,
    pub interrupt_mode: InterruptMode,
    /// Extra environment for the kernel; values may use `${VAR}`.
    pub env: BTreeMap<String, String>,
    /// `metadata`, or `{}`.
    pub metadata: Value,
    /// The whole kernel.json as read, for the Kernel Gateway API.
    pub raw: Value,
}

#[derive(Deserialize)]
struct KernelJson {
    argv: Vec<String>,
    display_name: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    interrupt_mode: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    metadata: Option<Value>,
}

/// True for names Jupyter accepts: `[A-Za-z0-9._-]+`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl KernelSpec {
    /// Reads `<resource_dir>/kernel.json`; errors name the file.
    pub fn load(name: &str, resource_dir: &Path) -> Result<Self> {
        let path = resource_dir.join("kernel.json");
        let bad = |reason: String| KernelError::BadSpec {
            path: path.clone(),
            reason,
        };
        let text = fs::read(&path).map_err(|source| KernelError::Io {
            action: "reading",
            path: path.clone(),
            source,
        })?;
        let raw: Value = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
        let json: KernelJson =
            serde_json::from_value(raw.clone()).map_err(|e| bad(e.to_string()))?;
        if json.argv.is_empty() {
            return Err(bad("argv is empty".into()));
        }
        let interrupt_mode = match json.interrupt_mode.as_deref() {
            None | Some("signal") => InterruptMode::Signal,
            Some("message") => InterruptMode::Message,
            Some(other) => {
                return Err(bad(format!(
                    "interrupt_mode {other:?} is neither \"signal\" nor \"message\""
                )));
            }
        };
        let metadata = match json.metadata {
            None | Some(Value::Null) => Value::Object(Default::default()),
            Some(Value::Object(map)) => Value::Object(map),
            Some(_) => return Err(bad("metadata is not an object".into())),
        };
        Ok(Self {
            name: name.to_ascii_lowercase(),
            resource_dir: resource_dir.to_owned(),
            argv: json.argv,
            display_name: json.display_name,
            language: json.language,
            interrupt_mode,
            env: json.env,
            metadata,
            raw,
        })
    }

    /// The environment prefix that owns this spec: `<prefix>` for a spec in
    /// `<prefix>/share/jupyter/kernels/<name>`.
    pub fn owning_prefix(&self) -> Option<PathBuf> {
        let kernels = self.resource_dir.parent()?;
        let jupyter = kernels.parent()?;
        let share = jupyter.parent()?;
        let named = |p: &Path, n: &str| p.file_name().is_some_and(|f| f == n);
        (named(kernels, "kernels") && named(jupyter, "jupyter") && named(share, "share"))
            .then(|| share.parent().map(Path::to_path_buf))
            .flatten()
    }

    /// True when the spec runs ipykernel (its argv names the module).
    pub fn is_ipykernel(&self) -> bool {
        self.argv
            .iter()
            .any(|arg| arg == "ipykernel_launcher" || arg == "ipykernel")
    }

    /// True when the kernel binds ports itself when given port 0 and writes them back to the connection
    /// file, like ipykernel: ipykernel specs, nbgate's test kernel, or any spec whose metadata says
    /// `"nbgate": {"connection_file_ports": "kernel"}` (`"preselected"` forces the other way).
    pub fn binds_own_ports(&self) -> bool {
        match self
            .metadata
            .pointer("/nbgate/connection_file_ports")
            .and_then(Value::as_str)
        {
            Some("kernel") => return true,
            Some("preselected") => return false,
            _ => {}
        }
        self.is_ipykernel()
            || Path::new(&self.argv[0])
                .file_name()
                .is_some_and(|name| name == "nbgate-testkernel")
    }

    /// The command line and environment to start this kernel, resolved against `vars` (the environment
    /// the kernel will inherit, used for `${VAR}`, `PATH` and the fallback `{prefix}`).
    pub fn resolve(
        &self,
        connection_file: &Path,
        vars: &BTreeMap<String, String>,
    ) -> ResolvedCommand {
        let prefix = self
            .owning_prefix()
            .or_else(|| {
                env_prefixes(&|name| vars.get(name).cloned())
                    .into_iter()
                    .next()
            })
            .unwrap_or_else(|| PathBuf::from("/usr"));
        let substitutions = [
            ("connection_file", connection_file.display().to_string()),
            ("resource_dir", self.resource_dir.display().to_string()),
            ("prefix", prefix.display().to_string()),
        ];
        let mut argv: Vec<String> = self
            .argv
            .iter()
            .map(|arg| substitute_braces(arg, &substitutions))
            .collect();
        if is_python_name(&argv[0]) {
            argv[0] = self.resolve_python(&argv[0], vars.get("PATH").map(String::as_str));
        }
        if self.is_ipykernel() {
            // As nbclient does: no history database in anybody's IPYTHONDIR.
            argv.push("--HistoryManager.hist_file=:memory:".into());
        }
        let env = self
            .env
            .iter()
            .map(|(name, value)| (name.clone(), substitute_vars(value, vars)))
            .collect();
        ResolvedCommand { argv, env }
    }

    /// `python`/`python3`/`pythonX.Y` → the interpreter of the environment owning the spec, else the
    /// first match on `path`, else the name unchanged (spawning then fails with the name in the error).
    fn resolve_python(&self, name: &str, path: Option<&str>) -> String {
        if let Some(prefix) = self.owning_prefix() {
            for candidate in [name, "python3"] {
                let bin = prefix.join("bin").join(candidate);
                if bin.is_file() {
                    return bin.display().to_string();
                }
            }
        }
        path.into_iter()
            .flat_map(|path| path.split(':'))
            .filter(|dir| !dir.is_empty())
            .map(|dir| Path::new(dir).join(name))
            .find(|bin| bin.is_file())
            .map_or_else(|| name.to_owned(), |bin| bin.display().to_string())
    }
}

/// A kernelspec's command line and extra environment, substitutions done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedCommand {
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
}

fn is_python_name(arg: &str) -> bool {
    let Some(version) = arg.strip_prefix("python") else {
        return false;
    };
    version.is_empty()
        || version
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
            && version.split('.').count() <= 2
}

/// `{name}` → value for the known names; anything else is left as written (as jupyter_client does).
fn substitute_braces(arg: &str, substitutions: &[(&str, String)]) -> String {
    let mut out = arg.to_owned();
    for (name, value) in substitutions {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// `${VAR}` → the variable's value; unknown variables stay as written (`string.Template.safe_substitute`).
fn substitute_vars(value: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) if is_var_name(&after[..end]) => {
                match vars.get(&after[..end]) {
                    Some(found) => out.push_str(found),
                    None => out.push_str(&rest[start..start + 3 + end]),
                }
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_var_name(name: &str) -> bool {
    !name.is_empty()
        && !name.as_bytes()[0].is_ascii_digit()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn env_prefixes(var: &dyn Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    ["VIRTUAL_ENV", "CONDA_PREFIX"]
        .into_iter()
        .filter_map(var)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .collect()
}

/// The kernelspec directories, in search order, and the last read of their specs (shared by
/// clones; [`KernelSpecs::current`]).
#[derive(Debug, Clone)]
pub struct KernelSpecs {
    dirs: Vec<PathBuf>,
    cache: cache::SpecCache,
}

impl PartialEq for KernelSpecs {
    fn eq(&self, other: &Self) -> bool {
        self.dirs == other.dirs
    }
}

impl Eq for KernelSpecs {}

impl KernelSpecs {
    /// Jupyter's search path as this process's environment defines it.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Jupyter's search path as `var` (an environment lookup) defines it.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let mut roots: Vec<PathBuf> = Vec::new();
        if let Some(path) = var("JUPYTER_PATH") {
            roots.extend(path.split(':').filter(|p| !p.is_empty()).map(PathBuf::from));
        }
        let user = var("JUPYTER_DATA_DIR")
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                var("XDG_DATA_HOME")
                    .filter(|dir| !dir.is_empty())
                    .map(|dir| Path::new(&dir).join("jupyter"))
            })
            .or_else(|| var("HOME").map(|home| Path::new(&home).join(".local/share/jupyter")));
        let env: Vec<PathBuf> = env_prefixes(&var)
            .into_iter()
            .map(|prefix| prefix.join("share/jupyter"))
            .collect();
        let prefer_env = var("JUPYTER_PREFER_ENV_PATH").is_some_and(|v| {
            !matches!(
                v.to_ascii_lowercase().as_str(),
                "" | "0" | "false" | "no" | "off"
            )
        });
        if prefer_env {
            roots.extend(env.iter().cloned());
            roots.extend(user);
        } else {
            roots.extend(user);
            roots.extend(env.iter().cloned());
        }
        roots.push("/usr/local/share/jupyter".into());
        roots.push("/usr/share/jupyter".into());
        Self::with_dirs(roots.into_iter().map(|root| root.join("kernels")).collect())
    }

    /// Exactly these `kernels` directories, in this order (duplicates dropped).
    pub fn with_dirs(dirs: Vec<PathBuf>) -> Self {
        let mut unique = Vec::with_capacity(dirs.len());
        for dir in dirs {
            if !unique.contains(&dir) {
                unique.push(dir);
            }
        }
        Self {
            dirs: unique,
            cache: cache::SpecCache::default(),
        }
    }

    /// The directories searched, in order.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Every valid spec name → its directory, first directory winning.
    fn names(&self) -> BTreeMap<String, PathBuf> {
        let mut found = BTreeMap::new();
        for dir in &self.dirs {
            let Ok(entries) = fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                let path = entry.path();
                if !is_valid_name(&name) || !path.join("kernel.json").is_file() {
                    continue;
                }
                found.entry(name.to_ascii_lowercase()).or_insert(path);
            }
        }
        found
    }

    /// Every spec, by name. A spec whose kernel.json is broken is logged and left out, as Jupyter does.
    pub fn list(&self) -> Vec<KernelSpec> {
        self.names()
            .into_iter()
            .filter_map(|(name, dir)| match KernelSpec::load(&name, &dir) {
                Ok(spec) => Some(spec),
                Err(error) => {
                    tracing::warn!(%error, "skipping broken kernelspec");
                    None
                }
            })
            .collect()
    }

    /// The spec named `name` (case-insensitive).
    pub fn find(&self, name: &str) -> Result<KernelSpec> {
        if !is_valid_name(name) {
            return Err(KernelError::InvalidName { name: name.into() });
        }
        let names = self.names();
        match names.get(&name.to_ascii_lowercase()) {
            Some(dir) => KernelSpec::load(name, dir),
            None => Err(KernelError::KernelNotFound {
                name: name.into(),
                available: names.into_keys().collect(),
                searched: self.dirs.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write_spec(dir: &Path, name: &str, spec: Value) -> PathBuf {
        let spec_dir = dir.join(name);
        fs::create_dir_all(&spec_dir).expect("mkdir");
        fs::write(spec_dir.join("kernel.json"), spec.to_string()).expect("write");
        spec_dir
    }

    fn simple(display: &str) -> Value {
        json!({"argv": ["k", "-f", "{connection_file}"], "display_name": display, "language": "x"})
    }

    #[test]
    fn search_order_follows_jupyter() {
        let vars = BTreeMap::from([
            ("JUPYTER_PATH", "/a:/b"),
            ("JUPYTER_DATA_DIR", "/data"),
            ("VIRTUAL_ENV", "/venv"),
            ("CONDA_PREFIX", "/conda"),
            ("HOME", "/home/u"),
        ]);
        let specs = KernelSpecs::from_vars(|name| vars.get(name).map(|v| v.to_string()));
        let expected: Vec<PathBuf> = [
            "/a/kernels",
            "/b/kernels",
            "/data/kernels",
            "/venv/share/jupyter/kernels",
            "/conda/share/jupyter/kernels",
            "/usr/local/share/jupyter/kernels",
            "/usr/share/jupyter/kernels",
        ]
        .into_iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(specs.dirs(), expected.as_slice());

        let home_only = KernelSpecs::from_vars(|name| (name == "HOME").then(|| "/home/u".into()));
        assert_eq!(
            home_only.dirs()[0],
            PathBuf::from("/home/u/.local/share/jupyter/kernels")
        );

        let prefer_env = KernelSpecs::from_vars(|name| match name {
            "JUPYTER_PREFER_ENV_PATH" => Some("1".into()),
            "VIRTUAL_ENV" => Some("/venv".into()),
            "JUPYTER_DATA_DIR" => Some("/data".into()),
            _ => None,
        });
        assert_eq!(
            prefer_env.dirs()[0],
            PathBuf::from("/venv/share/jupyter/kernels")
        );
        assert_eq!(prefer_env.dirs()[1], PathBuf::from("/data/kernels"));
    }

    #[test]
    fn first_directory_wins_and_names_are_case_insensitive() {
        let tmp = tempfile::tempdir().expect("tmp");
        let first = tmp.path().join("first");
        let second = tmp.path().join("second");
        write_spec(&first, "MyKernel", simple("first"));
        write_spec(&second, "mykernel", simple("second"));
        write_spec(&second, "other", simple("other"));
        write_spec(&second, "bad name", simple("invalid name, skipped"));
        let specs = KernelSpecs::with_dirs(vec![first.clone(), second]);

        let found = specs.find("MYKERNEL").expect("found case-insensitively");
        assert_eq!(found.display_name, "first");
        assert_eq!(found.name, "mykernel");
        assert_eq!(found.resource_dir, first.join("MyKernel"));
        let names: Vec<String> = specs.list().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["mykernel", "other"]);
    }

    #[test]
    fn unknown_name_lists_what_exists_and_where_it_looked() {
        let tmp = tempfile::tempdir().expect("tmp");
        write_spec(tmp.path(), "python3", simple("Python"));
        let specs = KernelSpecs::with_dirs(vec![tmp.path().into(), "/nowhere/kernels".into()]);
        let error = specs.find("julia").expect_err("no such kernel");
        let text = error.to_string();
        assert!(text.contains("\"julia\""), "{text}");
        assert!(text.contains("available: python3"), "{text}");
        assert!(text.contains("/nowhere/kernels"), "{text}");
        assert!(text.contains(&tmp.path().display().to_string()), "{text}");
        assert!(matches!(
            specs.find("../etc"),
            Err(KernelError::InvalidName { .. })
        ));
    }

    #[test]
    fn broken_kernel_json_errors_name_the_file() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("broken");
        fs::create_dir_all(&dir).expect("mkdir");
        fs::write(dir.join("kernel.json"), "{\"argv\": [}").expect("write");
        let error = KernelSpec::load("broken", &dir).expect_err("bad json");
        assert!(
            error
                .to_string()
                .contains(&dir.join("kernel.json").display().to_string()),
            "{error}"
        );
        let dir = write_spec(
            tmp.path(),
            "mode",
            json!({"argv": ["k"], "display_name": "d", "interrupt_mode": "shout"}),
        );
        let error = KernelSpec::load("mode", &dir).expect_err("bad mode");
        assert!(error.to_string().contains("shout"), "{error}");
        // Broken specs are left out of the listing rather than failing it.
        assert!(
            KernelSpecs::with_dirs(vec![tmp.path().into()])
                .list()
                .is_empty()
        );
    }

    #[test]
    fn spec_fields_are_parsed_and_raw_is_kept() {
        let tmp = tempfile::tempdir().expect("tmp");
        let raw = json!({
            "argv": ["k"], "display_name": "D", "language": "python", "interrupt_mode": "message",
            "env": {"A": "1"}, "metadata": {"debugger": true}, "kernel_protocol_version": "5.5"
        });
        let dir = write_spec(tmp.path(), "k", raw.clone());
        let spec = KernelSpec::load("k", &dir).expect("valid");
        assert_eq!(spec.interrupt_mode, InterruptMode::Message);
        assert_eq!(spec.env.get("A").map(String::as_str), Some("1"));
        assert_eq!(spec.metadata, json!({"debugger": true}));
        assert_eq!(spec.raw, raw);
    }

    #[test]
    fn argv_and_env_substitutions() {
        let tmp = tempfile::tempdir().expect("tmp");
        let kernels = tmp.path().join("share/jupyter/kernels");
        let dir = write_spec(
            &kernels,
            "py",
            json!({
                "argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}",
                         "--res={resource_dir}", "--prefix={prefix}", "{unknown}"],
                "display_name": "Py",
                "env": {"GREETING": "hello ${USER_NAME}!", "KEEP": "${NOT_SET} $PLAIN ${"}
            }),
        );
        let bin = tmp.path().join("bin");
        fs::create_dir_all(&bin).expect("mkdir");
        fs::write(bin.join("python3"), "").expect("fake python3");
        let spec = KernelSpec::load("py", &dir).expect("valid");
        assert_eq!(spec.owning_prefix().as_deref(), Some(tmp.path()));

        let vars = BTreeMap::from([("USER_NAME".to_string(), "ada".to_string())]);
        let resolved = spec.resolve(Path::new("/run/k.json"), &vars);
        assert_eq!(
            resolved.argv,
            [
                bin.join("python3").display().to_string(),
                "-m".into(),
                "ipykernel_launcher".into(),
                "-f".into(),
                "/run/k.json".into(),
                format!("--res={}", dir.display()),
                format!("--prefix={}", tmp.path().display()),
                "{unknown}".into(),
                "--HistoryManager.hist_file=:memory:".into(),
            ]
        );
        assert_eq!(resolved.env["GREETING"], "hello ada!");
        assert_eq!(resolved.env["KEEP"], "${NOT_SET} $PLAIN ${");
    }

    #[test]
    fn python_outside_a_prefix_comes_from_path() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = write_spec(
            &tmp.path().join("kernels"),
            "py",
            json!({"argv": ["python3.11", "-c", "pass"], "display_name": "Py"}),
        );
        let spec = KernelSpec::load("py", &dir).expect("valid");
        assert_eq!(spec.owning_prefix(), None);
        assert!(!spec.is_ipykernel());

        let bin = tmp.path().join("somebin");
        fs::create_dir_all(&bin).expect("mkdir");
        fs::write(bin.join("python3.11"), "").expect("fake python");
        let vars = BTreeMap::from([("PATH".to_string(), format!("/nope:{}", bin.display()))]);
        let resolved = spec.resolve(Path::new("/c.json"), &vars);
        assert_eq!(
            resolved.argv[0],
            bin.join("python3.11").display().to_string()
        );
        assert_eq!(
            resolved.argv.len(),
            3,
            "no ipykernel flags for a non-ipykernel spec"
        );

        let resolved = spec.resolve(Path::new("/c.json"), &BTreeMap::new());
        assert_eq!(
            resolved.argv[0], "python3.11",
            "left for the spawn error to name"
        );
    }

    #[test]
    fn python_names() {
        for name in ["python", "python3", "python3.11"] {
            assert!(is_python_name(name), "{name}");
        }
        for name in [
            "pythonw",
            "python3.",
            "python3.11.2",
            "ipython",
            "/usr/bin/python3",
        ] {
            assert!(!is_python_name(name), "{name}");
        }
    }

    #[test]
    fn port_binding_mode() {
        let tmp = tempfile::tempdir().expect("tmp");
        let load = |name: &str, spec: Value| {
            KernelSpec::load(name, &write_spec(tmp.path(), name, spec)).expect("valid")
        };
        assert!(
            load(
                "ipy",
                json!({"argv": ["python", "-m", "ipykernel_launcher"], "display_name": "d"})
            )
            .binds_own_ports()
        );
        assert!(
            load(
                "tk",
                json!({"argv": ["/x/nbgate-testkernel"], "display_name": "d"})
            )
            .binds_own_ports()
        );
        assert!(
            !load("r", json!({"argv": ["R", "--slave"], "display_name": "d"})).binds_own_ports()
        );
        assert!(
            load(
                "opt",
                json!({"argv": ["R"], "display_name": "d",
            "metadata": {"nbgate": {"connection_file_ports": "kernel"}}})
            )
            .binds_own_ports()
        );
        assert!(
            !load(
                "optout",
                json!({"argv": ["/x/nbgate-testkernel"], "display_name": "d",
            "metadata": {"nbgate": {"connection_file_ports": "preselected"}}})
            )
            .binds_own_ports()
        );
    }
}

//! Launching a kernel process: the connection file, the ports, the environment, and waiting for the
//! kernel to have bound its sockets.
//!
//! Ports without a race (wire notes §5.1): a kernel that binds its own ports (ipykernel, the test kernel)
//! is given port 0 and rewrites the connection file with the ports it bound, after binding every socket, so
//! the rewrite doubles as "ready to connect". Other kernels get ports picked by binding listeners that are
//! dropped *before* the spawn (a child briefly inheriting a listening socket makes connects fail with
//! ECONNRESET); the small window left is covered by retrying connects.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jupyter_protocol::ConnectionInfo;
use jupyter_protocol::connection_info::Transport;
use nbgate_protocol::{read_connection_file, write_connection_file};
use tokio::time::Instant;

use crate::error::{KernelError, Result};
use crate::kernelspec::KernelSpec;
use crate::limits::{Confinement, KernelLimits, THREAD_VARS, format_memory};
use crate::process::{KernelProcess, SpawnSpec};

/// How long a kernel may take from spawn to answering `kernel_info`, by default (as nbclient).
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long each shutdown step (request, then SIGTERM) may take before the next one, by default.
pub const DEFAULT_SHUTDOWN_STEP: Duration = Duration::from_millis(2500);
/// The heartbeat period, also the time a ping may take before the kernel counts as unresponsive.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(1);
/// How often the connection file is read while waiting for the kernel to write its ports.
const PORT_POLL: Duration = Duration::from_millis(5);

/// How to start a kernel.
#[derive(Debug, Clone)]
pub struct LaunchOptions {
    /// Variables for the kernel, over nbgate's own environment (or alone, without `inherit_env`). The
    /// kernelspec's `env` is applied on top, with `${VAR}` resolved against these.
    pub env: BTreeMap<String, String>,
    /// Whether the kernel inherits nbgate's environment (default true, as jupyter_client).
    pub inherit_env: bool,
    /// The kernel's working directory (default: nbgate's).
    pub cwd: Option<PathBuf>,
    /// Spawn → ready, including the wait for ports and `kernel_info_reply`.
    pub start_timeout: Duration,
    /// Each step of a graceful shutdown (after `shutdown_request`, after SIGTERM).
    pub shutdown_step: Duration,
    pub heartbeat: Duration,
    /// Where connection files go. Default: `JUPYTER_RUNTIME_DIR` (from `env`, then nbgate's environment),
    /// else `$XDG_RUNTIME_DIR/nbgate`, else `<tmp>/nbgate-<uid>`.
    pub runtime_dir: Option<PathBuf>,
    /// Start standard ipykernel kernels by forking a pre-imported Python (the `zygote` module) instead of
    /// spawning an interpreter: ≈0.5 s less CPU per kernel. Default false; anything that cannot be forked
    /// is spawned.
    pub fork_server: bool,
    /// CPU and memory limits of a local kernel (a machine type's); a kernel with limits is spawned,
    /// never forked, and fails to start when a limit cannot be applied.
    pub limits: KernelLimits,
}

impl Default for LaunchOptions {
    fn default() -> Self {
        Self {
            env: BTreeMap::new(),
            inherit_env: true,
            cwd: None,
            start_timeout: DEFAULT_START_TIMEOUT,
            shutdown_step: DEFAULT_SHUTDOWN_STEP,
            heartbeat: DEFAULT_HEARTBEAT,
            runtime_dir: None,
            fork_server: false,
            limits: KernelLimits::default(),
        }
    }
}

impl LaunchOptions {
    /// The environment the kernel starts from, before its kernelspec's `env`.
    fn base_env(&self) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = if self.inherit_env {
            std::env::vars().collect()
        } else {
            BTreeMap::new()
        };
        env.extend(self.env.clone());
        env
    }

    /// The runtime directory, created (mode 0700) if missing.
    pub fn runtime_dir(&self) -> Result<PathBuf> {
        let dir = match &self.runtime_dir {
            Some(dir) => dir.clone(),
            None => self
                .env
                .get("JUPYTER_RUNTIME_DIR")
                .cloned()
                .or_else(|| std::env::var("JUPYTER_RUNTIME_DIR").ok())
                .filter(|dir| !dir.is_empty())
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var("XDG_RUNTIME_DIR")
                        .ok()
                        .filter(|dir| !dir.is_empty())
                        .map(|dir| Path::new(&dir).join("nbgate"))
                })
                .unwrap_or_else(|| {
                    // SAFETY: getuid cannot fail.
                    let uid = unsafe { libc::getuid() };
                    std::env::temp_dir().join(format!("nbgate-{uid}"))
                }),
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|source| KernelError::Io {
                action: "creating the runtime directory",
                path: dir.clone(),
                source,
            })?;
        Ok(dir)
    }
}

/// What a launch is for: the kernel's identity and key stay the same across restarts.
pub(crate) struct LaunchPlan<'a> {
    pub spec: &'a KernelSpec,
    pub options: &'a LaunchOptions,
    pub connection_file: &'a Path,
    pub key: &'a str,
    pub deadline: Instant,
}

/// A spawned kernel whose sockets are bound (or, for preselected ports, about to be).
pub(crate) struct Launched {
    pub process: KernelProcess,
    pub info: ConnectionInfo,
}

pub(crate) async fn launch(plan: &LaunchPlan<'_>) -> Result<Launched> {
    let spec = plan.spec;
    let own_ports = spec.binds_own_ports();
    let ports = if own_ports {
        [0; 5]
    } else {
        free_ports().map_err(|source| KernelError::Io {
            action: "picking free ports on",
            path: "127.0.0.1".into(),
            source,
        })?
    };
    let info = ConnectionInfo {
        ip: "127.0.0.1".into(),
        transport: Transport::TCP,
        shell_port: ports[0],
        iopub_port: ports[1],
        stdin_port: ports[2],
        control_port: ports[3],
        hb_port: ports[4],
        key: plan.key.into(),
        signature_scheme: "hmac-sha256".into(),
        kernel_name: Some(spec.name.clone()),
    };
    write_connection_file(plan.connection_file, &info)?;

    let mut command = kernel_command(spec, plan.options, plan.connection_file)?;
    let limits = &plan.options.limits;
    if !limits.is_none() {
        let confinement = Confinement::prepare(limits).map_err(|reason| KernelError::Limits {
            name: spec.name.clone(),
            limit: describe_limits(limits),
            reason,
        })?;
        command.confinement = Some(std::sync::Arc::new(confinement));
    }
    let program = command.argv[0].clone();
    tracing::debug!(kernel = %spec.name, argv = ?command.argv, fork_server = plan.options.fork_server, ?limits, "starting kernel");
    // A forked kernel would inherit the fork server's CPUs and cgroup: a kernel with limits is spawned.
    let forked = if plan.options.fork_server && limits.is_none() {
        crate::zygote::fork(&command, &plan.connection_file.with_extension("output")).await
    } else {
        None
    };
    let process = match forked {
        Some(process) => process,
        None => KernelProcess::spawn(command)
            .await
            .map_err(|source| KernelError::Spawn {
                name: spec.name.clone(),
                program,
                source,
            })?,
    };

    let info = if own_ports {
        wait_for_ports(plan, &process).await?
    } else {
        info
    };
    Ok(Launched { process, info })
}

/// `2 CPUs and a memory limit of 1 GiB`, for errors.
fn describe_limits(limits: &KernelLimits) -> String {
    let cpus = limits.cpus.map(|cpus| format!("{cpus} CPU(s)"));
    let memory = limits
        .memory
        .map(|bytes| format!("a memory limit of {}", format_memory(bytes)));
    [cpus, memory]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" and ")
}

/// Starts, in the background, the fork server that kernels of `spec` started with `options` would use
/// (when `options.fork_server` is set and the spec runs ipykernel), so that the first of them does not wait
/// for it to import ipykernel.
pub fn prestart_fork_server(spec: &KernelSpec, options: &LaunchOptions) {
    if !options.fork_server {
        return;
    }
    match kernel_command(spec, options, Path::new("kernel.json")) {
        Ok(command) => crate::zygote::prestart(&command),
        Err(error) => tracing::warn!(%error, "cannot prepare the kernel fork server"),
    }
}

/// The kernel's command line and complete environment: nbgate's (unless not inherited), then the
/// caller's, then the spec's (`${VAR}` resolved), then what nbgate adds: no debugger noise, ipykernel's
/// parent poller, and a private IPython directory unless `IPYTHONDIR` is already set.
fn kernel_command(
    spec: &KernelSpec,
    options: &LaunchOptions,
    connection_file: &Path,
) -> Result<SpawnSpec> {
    let mut env = options.base_env();
    let command = spec.resolve(connection_file, &env);
    env.extend(command.env);
    // Thread pools sized for the CPUs the kernel is pinned to, unless the caller chose.
    if let Some(cpus) = options.limits.cpus {
        for var in THREAD_VARS {
            if !options.env.contains_key(var) {
                env.insert(var.into(), cpus.to_string());
            }
        }
    }
    env.entry("PYDEVD_DISABLE_FILE_VALIDATION".into())
        .or_insert_with(|| "1".into());
    // ipykernel's parent poller: a second guard that the kernel exits when nbgate does.
    env.insert("JPY_PARENT_PID".into(), std::process::id().to_string());
    if !env.contains_key("IPYTHONDIR") {
        let private = options.runtime_dir()?.join("nbgate-ipython");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&private)
            .map_err(|source| KernelError::Io {
                action: "creating the kernels' IPython directory",
                path: private.clone(),
                source,
            })?;
        env.insert("IPYTHONDIR".into(), private.display().to_string());
    }
    Ok(SpawnSpec {
        argv: command.argv,
        env,
        cwd: options.cwd.clone(),
        confinement: None,
    })
}

/// Waits for the kernel to rewrite the connection file with the ports it bound.
async fn wait_for_ports(plan: &LaunchPlan<'_>, process: &KernelProcess) -> Result<ConnectionInfo> {
    let mut poll = tokio::time::interval(PORT_POLL);
    let exit = process.exit_watch();
    loop {
        tokio::select! {
            _ = poll.tick() => {}
            status = crate::process::wait_exit(exit.clone()) => {
                return Err(KernelError::DiedDuringStart {
                    name: plan.spec.name.clone(),
                    status,
                    stderr: process.stderr_tail(),
                });
            }
            () = tokio::time::sleep_until(plan.deadline) => {
                return Err(KernelError::StartTimeout {
                    name: plan.spec.name.clone(),
                    timeout: plan.options.start_timeout,
                    stage: "waiting for the kernel to write its ports to the connection file",
                    stderr: process.stderr_tail(),
                });
            }
        }
        // A half-written file fails to parse: read again at the next tick.
        if let Ok(info) = read_connection_file(plan.connection_file) {
            let ports = [
                info.shell_port,
                info.iopub_port,
                info.stdin_port,
                info.control_port,
                info.hb_port,
            ];
            if ports.iter().all(|port| *port != 0) {
                return Ok(info);
            }
        }
    }
}

/// Five free TCP ports on 127.0.0.1. The listeners are closed on return, before any spawn.
fn free_ports() -> std::io::Result<[u16; 5]> {
    let listeners = (0..5)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut ports = [0u16; 5];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener.local_addr()?.port();
    }
    Ok(ports)
}

/// Removes a connection file and, for IPC, the socket files named after it.
pub(crate) fn remove_connection_files(connection_file: &Path, info: Option<&ConnectionInfo>) {
    let _ = std::fs::remove_file(connection_file);
    if let Some(info) = info.filter(|info| info.transport == Transport::IPC) {
        for port in [
            info.shell_port,
            info.iopub_port,
            info.stdin_port,
            info.control_port,
            info.hb_port,
        ] {
            let _ = std::fs::remove_file(format!("{}-{port}", info.ip));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_and_released() {
        let ports = free_ports().expect("ports");
        let mut unique = ports.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 5);
        for port in ports {
            TcpListener::bind(("127.0.0.1", port)).expect("released before return");
        }
    }

    #[test]
    fn kernel_environment_layers_and_private_ipython_dir() {
        let tmp = tempfile::tempdir().expect("tmp");
        let spec_dir = tmp.path().join("spec");
        std::fs::create_dir_all(&spec_dir).expect("mkdir");
        std::fs::write(
            spec_dir.join("kernel.json"),
            r#"{"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Py", "env": {"WHO": "${CALLER}-spec", "OVERRIDE": "spec"}}"#,
        )
        .expect("write");
        let spec = KernelSpec::load("py", &spec_dir).expect("spec");
        let runtime = tmp.path().join("rt");
        let mut options = LaunchOptions {
            env: BTreeMap::from([
                ("CALLER".into(), "caller".into()),
                ("OVERRIDE".into(), "caller".into()),
            ]),
            inherit_env: false,
            runtime_dir: Some(runtime.clone()),
            cwd: Some(tmp.path().into()),
            ..LaunchOptions::default()
        };
        let command = kernel_command(&spec, &options, Path::new("/rt/k.json")).expect("command");
        assert_eq!(command.env["WHO"], "caller-spec");
        assert_eq!(
            command.env["OVERRIDE"], "spec",
            "the spec's env wins, as in jupyter_client"
        );
        assert_eq!(command.env["PYDEVD_DISABLE_FILE_VALIDATION"], "1");
        assert_eq!(
            command.env["JPY_PARENT_PID"],
            std::process::id().to_string()
        );
        let private = runtime.join("nbgate-ipython");
        assert_eq!(command.env["IPYTHONDIR"], private.display().to_string());
        assert!(private.is_dir());
        assert!(!command.env.contains_key("HOME"), "nothing inherited");
        assert_eq!(
            command.argv.last().map(String::as_str),
            Some("--HistoryManager.hist_file=:memory:")
        );
        assert_eq!(command.cwd.as_deref(), Some(tmp.path()));

        options.env.insert("IPYTHONDIR".into(), "/chosen".into());
        let command = kernel_command(&spec, &options, Path::new("/rt/k.json")).expect("command");
        assert_eq!(
            command.env["IPYTHONDIR"], "/chosen",
            "the caller's choice stands"
        );
    }

    #[test]
    fn runtime_dir_prefers_the_caller_env_and_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = tempfile::tempdir().expect("tmp");
        let wanted = tmp.path().join("rt");
        let options = LaunchOptions {
            env: BTreeMap::from([("JUPYTER_RUNTIME_DIR".into(), wanted.display().to_string())]),
            ..LaunchOptions::default()
        };
        assert_eq!(options.runtime_dir().expect("created"), wanted);
        let mode = std::fs::metadata(&wanted)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}

//! `nbgate serve`: the Kernel Gateway API and the executor API (with its scheduler) on one port.
//!
//! Prints `nbgate serve listening on http://IP:PORT/?token=T` once bound and once the scheduler has
//! started (tests start it with `--port 0` and read the port from that line), then serves until SIGINT
//! or SIGTERM. Shutdown order: event streams end and the HTTP server drains (stopping every gateway
//! kernel), then the scheduler stops (running executions are interrupted, keep their partial output and
//! end `failed`, to be retried at the next start if attempts remain) and is waited for.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use clap::Args;
use nbgate_api::{AppState, Config, CorsConfig, CullPolicy};
use nbgate_kernel::KernelLocation::{self, Gateway};
use nbgate_kernel::KernelSpecs;
use nbgate_scheduler::{ExecutorRunner, Scheduler, SchedulerConfig};
use tokio_util::sync::CancellationToken;

use crate::Failure;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to bind (loopback unless told otherwise).
    #[arg(long, env = "NBGATE_IP", default_value = "127.0.0.1")]
    pub ip: IpAddr,
    /// Port to bind (0: any free port).
    #[arg(long, env = "NBGATE_PORT", default_value_t = 8888)]
    pub port: u16,
    #[command(flatten)]
    pub machine_types: crate::machine_types_args::MachineTypesFile,
    /// The token clients must send (`Authorization: token T` or `?token=T`); generated if not given.
    #[arg(long, env = "NBGATE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Kernels' working directories stay inside this directory (default: the current one).
    #[arg(long = "root-dir", env = "NBGATE_ROOT_DIR", value_name = "DIR")]
    pub root_dir: Option<PathBuf>,
    /// Where nbgate keeps its state: the executions store (SQLite) and schedule snapshots
    /// (default: `<root-dir>/.nbgate`, so the state travels with the notebooks).
    #[arg(long = "data-dir", env = "NBGATE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The store of schedules and executions: `sqlite:PATH` (default: `<data-dir>/nbgate.sqlite3`) or
    /// `postgres://USER@HOST[:PORT]/DATABASE` (one database shared by several replicas).
    #[arg(long, env = "NBGATE_STORE", value_name = "URL", hide_env_values = true)]
    pub store: Option<nbgate_scheduler::StoreUrl>,
    /// This process's name among the replicas sharing a PostgreSQL store, recorded on the executions
    /// it starts; at start it recovers only its own (default: `host:pid`, new at each start).
    #[arg(long = "replica-id", env = "NBGATE_REPLICA_ID", value_name = "ID")]
    pub replica_id: Option<String>,
    /// With a PostgreSQL store: how long a running execution's lease lasts unrenewed. Each replica
    /// renews its own every third of it; once one expires (its replica killed or cut off), any
    /// replica ends that execution `failed` ("replica X lost") and retries it by its policy.
    #[arg(
        long = "lease-timeout",
        env = "NBGATE_LEASE_TIMEOUT",
        value_name = "SECONDS",
        default_value = "30",
        value_parser = lease_timeout
    )]
    pub lease_timeout: std::time::Duration,
    /// Executions running at once (default: the number of cores); more wait `queued`.
    #[arg(
        long = "max-concurrent-executions",
        env = "NBGATE_MAX_CONCURRENT_EXECUTIONS",
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub max_concurrent_executions: Option<u32>,
    /// At most this many kernels (kernels still starting count); more → 403.
    #[arg(long = "max-kernels", env = "NBGATE_MAX_KERNELS", value_name = "N")]
    pub max_kernels: Option<usize>,
    /// Shut down kernels idle for longer than this many seconds (0: never).
    #[arg(
        long = "cull-idle-timeout",
        env = "NBGATE_CULL_IDLE_TIMEOUT",
        value_name = "S",
        default_value_t = 0.0
    )]
    pub cull_idle_timeout: f64,
    /// How often to look for idle kernels, in seconds.
    #[arg(
        long = "cull-interval",
        env = "NBGATE_CULL_INTERVAL",
        value_name = "S",
        default_value_t = 300.0
    )]
    pub cull_interval: f64,
    /// Cull kernels that have WebSocket connections too.
    #[arg(long = "cull-connected", env = "NBGATE_CULL_CONNECTED")]
    pub cull_connected: bool,
    /// Cull busy kernels too.
    #[arg(long = "cull-busy", env = "NBGATE_CULL_BUSY")]
    pub cull_busy: bool,
    /// Keep this many warm kernels of each prespawned kernelspec to serve new kernel requests.
    #[arg(long, env = "NBGATE_PRESPAWN", value_name = "N", default_value_t = 0)]
    pub prespawn: usize,
    /// Kernelspecs to prespawn (default: the default kernel).
    #[arg(
        long = "prespawn-kernel",
        env = "NBGATE_PRESPAWN_KERNELS",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    pub prespawn_kernels: Vec<String>,
    /// The kernelspec for requests that name none (default: python3).
    #[arg(
        long = "default-kernel",
        env = "NBGATE_DEFAULT_KERNEL",
        value_name = "NAME"
    )]
    pub default_kernel: Option<String>,
    /// CORS: allowed origin(s), comma-separated, or `*`. No CORS headers without it.
    #[arg(
        long = "allow-origin",
        env = "NBGATE_ALLOW_ORIGIN",
        value_name = "ORIGIN"
    )]
    pub allow_origin: Option<String>,
    /// CORS: allowed methods (default: as requested).
    #[arg(long = "allow-methods", env = "NBGATE_ALLOW_METHODS")]
    pub allow_methods: Option<String>,
    /// CORS: allowed headers (default: as requested).
    #[arg(long = "allow-headers", env = "NBGATE_ALLOW_HEADERS")]
    pub allow_headers: Option<String>,
    /// CORS: allow credentials.
    #[arg(long = "allow-credentials", env = "NBGATE_ALLOW_CREDENTIALS")]
    pub allow_credentials: bool,
    /// CORS: headers exposed to scripts.
    #[arg(long = "expose-headers", env = "NBGATE_EXPOSE_HEADERS")]
    pub expose_headers: Option<String>,
    /// CORS: preflight cache time in seconds.
    #[arg(long = "max-age", env = "NBGATE_MAX_AGE", value_name = "S")]
    pub max_age: Option<u64>,
    /// Client `env` names passed to kernels besides KERNEL_* (comma-separated).
    #[arg(
        long = "env-whitelist",
        env = "NBGATE_ENV_WHITELIST",
        value_delimiter = ','
    )]
    pub env_whitelist: Vec<String>,
    /// nbgate's own variables passed to kernels when the client sends `env` (comma-separated).
    #[arg(
        long = "env-process-whitelist",
        env = "NBGATE_ENV_PROCESS_WHITELIST",
        value_delimiter = ','
    )]
    pub env_process_whitelist: Vec<String>,
    /// WebSocket ping period in seconds (0: no pings).
    #[arg(
        long = "ws-ping-interval",
        env = "NBGATE_WS_PING_INTERVAL",
        value_name = "S",
        default_value_t = 30.0
    )]
    pub ws_ping_interval: f64,
    /// Give up on a kernel (a gateway kernel or an execution's) that is not ready after this many
    /// seconds.
    #[arg(
        long = "start-timeout",
        env = "NBGATE_START_TIMEOUT",
        value_name = "S",
        default_value_t = 60.0
    )]
    pub start_timeout: f64,
    /// Spawn every ipykernel kernel as its own interpreter instead of forking it from a Python that has
    /// imported ipykernel once (the fork server saves ≈0.5 s of CPU per kernel start).
    #[arg(long = "no-fork-server", env = "NBGATE_NO_FORK_SERVER")]
    pub no_fork_server: bool,
    /// Executions keep at most this many bytes of output per cell, then a note (0 keeps everything).
    #[arg(
        long = "max-output-bytes",
        env = "NBGATE_MAX_OUTPUT_BYTES",
        value_name = "BYTES",
        default_value_t = nbgate_executor::run::DEFAULT_MAX_OUTPUT_BYTES
    )]
    pub max_output_bytes: usize,
    #[command(flatten)]
    pub gateway: crate::cli::GatewayArgs,
}

fn seconds(name: &str, value: f64) -> Result<Duration, Failure> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        Failure::usage(format!(
            "--{name} must be a number of seconds ≥ 0, not {value}"
        ))
    })
}

fn config(args: ServeArgs, token: String) -> Result<Config, Failure> {
    let root_dir = match args.root_dir {
        Some(dir) => dir,
        None => std::env::current_dir().map_err(|error| {
            Failure::usage(format!("cannot read the current directory: {error}"))
        })?,
    };
    let root_dir = root_dir
        .canonicalize()
        .map_err(|error| Failure::usage(format!("--root-dir {}: {error}", root_dir.display())))?;
    if let Some(dir) = &args.data_dir {
        std::fs::create_dir_all(dir)
            .map_err(|error| Failure::usage(format!("--data-dir {}: {error}", dir.display())))?;
    }
    let mut config = Config::new(token, root_dir);
    let idle = seconds("cull-idle-timeout", args.cull_idle_timeout)?;
    config.cull = CullPolicy {
        idle_timeout: (!idle.is_zero()).then_some(idle),
        interval: seconds("cull-interval", args.cull_interval)?.max(Duration::from_millis(100)),
        connected: args.cull_connected,
        busy: args.cull_busy,
    };
    config.max_kernels = args.max_kernels;
    config.prespawn = args.prespawn;
    config.prespawn_kernels = args.prespawn_kernels;
    config.default_kernel = args.default_kernel;
    config.env_whitelist = args.env_whitelist;
    config.env_process_whitelist = args.env_process_whitelist;
    config.cors = CorsConfig {
        allow_origin: args.allow_origin,
        allow_methods: args.allow_methods,
        allow_headers: args.allow_headers,
        allow_credentials: args.allow_credentials,
        expose_headers: args.expose_headers,
        max_age: args.max_age.map(Duration::from_secs),
    };
    let ping = seconds("ws-ping-interval", args.ws_ping_interval)?;
    config.ws_ping_interval = (!ping.is_zero()).then_some(ping);
    config.start_timeout = seconds("start-timeout", args.start_timeout)?;
    config.fork_server = !args.no_fork_server;
    if let Gateway(gateway) = args.gateway.location()? {
        config.gateway = Some(gateway);
    }
    let local = config.gateway.is_none();
    if let Some(name) = config.default_kernel.as_ref().filter(|_| local) {
        config
            .specs
            .find(name)
            .map_err(|error| Failure::usage(format!("--default-kernel: {error}")))?;
    }
    Ok(config)
}

/// Starts the default kernel's fork servers now, so that the first kernels do not wait for them to import
/// ipykernel. Kernels of other interpreters start theirs when first needed.
fn prestart_fork_server(config: &Config) {
    let Ok(spec) = config.specs.find(config.default_kernel_name()) else {
        return;
    };
    // A kernel requested without `env` (and an execution's) has nbgate's environment; one requested with
    // `env` only PATH, KERNEL_* and the allow-listed variables. They may differ in what Python reads at
    // start-up (PYTHON*, LANG, LC_*), which takes a fork server each (one when they agree).
    for client_env in [None, Some(serde_json::json!({}))] {
        let Ok(launch) = nbgate_api::registry::env::launch_for(
            config,
            client_env.as_ref(),
            None,
            std::env::vars(),
        ) else {
            continue;
        };
        let options = nbgate_kernel::LaunchOptions {
            env: launch.env,
            inherit_env: false,
            cwd: Some(launch.cwd),
            fork_server: true,
            ..nbgate_kernel::LaunchOptions::default()
        };
        nbgate_kernel::prestart_fork_server(&spec, &options);
    }
}

fn generated_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Resolves on the first SIGINT or SIGTERM.
async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(error) => {
            tracing::warn!(%error, "cannot watch SIGTERM; stopping on SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// `--lease-timeout`: a positive number of seconds (fractions allowed), at most a day.
fn lease_timeout(text: &str) -> Result<std::time::Duration, String> {
    match text.trim().parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= 86_400.0 => {
            Ok(std::time::Duration::from_secs_f64(seconds))
        }
        _ => Err(format!(
            "{text:?} is not a lease timeout: give seconds, more than 0 and at most 86400"
        )),
    }
}

pub async fn serve(args: ServeArgs) -> Result<(), Failure> {
    let token = args
        .token
        .clone()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(generated_token);
    let (ip, port) = (args.ip, args.port);
    let machine_types = args.machine_types.load(&args.gateway.location()?)?;
    let (data_dir, concurrency) = (args.data_dir.clone(), args.max_concurrent_executions);
    let (store, replica_id) = (args.store.clone(), args.replica_id.clone());
    let lease_timeout = args.lease_timeout;
    let max_output_bytes = (args.max_output_bytes > 0).then_some(args.max_output_bytes);
    let config = config(args, token.clone())?;
    let data_dir = data_dir.unwrap_or_else(|| config.root_dir.join(".nbgate"));
    let listener = tokio::net::TcpListener::bind((ip, port))
        .await
        .map_err(|error| Failure::run(format!("cannot listen on {ip}:{port}: {error}")))?;
    let address = listener
        .local_addr()
        .map_err(|error| Failure::run(format!("cannot read the bound address: {error}")))?;
    let host = match address.ip() {
        IpAddr::V6(ip) => format!("[{ip}]"),
        IpAddr::V4(ip) => ip.to_string(),
    };
    let mut scheduler_config = SchedulerConfig::new(&config.root_dir, &data_dir);
    scheduler_config.store = store;
    scheduler_config.lease_timeout = lease_timeout;
    if let Some(id) = replica_id.filter(|id| !id.trim().is_empty()) {
        scheduler_config.replica_id = id;
    }
    // With a gateway, kernelspecs are the gateway's: none here to check executions against.
    let (specs, location) = match &config.gateway {
        Some(gateway) => (KernelSpecs::with_dirs(Vec::new()), Gateway(gateway.clone())),
        None => (config.specs.clone(), KernelLocation::Local),
    };
    scheduler_config.runner = Arc::new(
        ExecutorRunner::new(specs)
            .with_fork_server(config.fork_server)
            .with_start_timeout(config.start_timeout)
            .with_max_output_bytes(max_output_bytes)
            .with_location(location),
    );
    if config.fork_server && config.gateway.is_none() {
        prestart_fork_server(&config);
    }
    if let Some(n) = concurrency {
        scheduler_config.concurrency = n as usize;
    }
    scheduler_config.machine_types = machine_types;
    let scheduler_shutdown = CancellationToken::new();
    let scheduler = Scheduler::start(scheduler_config, scheduler_shutdown.clone())
        .await
        .map_err(|error| Failure::run(format!("cannot start the scheduler: {error}")))?;
    println!(
        "nbgate serve listening on http://{host}:{}/?token={token}",
        address.port()
    );
    let stopping = CancellationToken::new();
    let state = AppState::new(config).with_scheduler(scheduler.clone(), stopping.clone());
    let shutdown = async move {
        terminated().await;
        // Open event streams end, so the drain does not wait for executions to finish.
        stopping.cancel();
    };
    let served = nbgate_api::run(listener, state, shutdown).await;
    tracing::info!("stopping the scheduler");
    scheduler_shutdown.cancel();
    scheduler.stopped().await;
    served.map_err(|error| Failure::run(format!("server failed: {error}")))?;
    eprintln!("nbgate serve: stopped");
    Ok(())
}

//! The HTTP layer: Jupyter Kernel Gateway's `jupyter-websocket` API (REST + the WebSocket bridge), the
//! token, CORS, and the one mapping from errors to HTTP. The only crate that knows HTTP.
//!
//! # Map
//! - [`app`] builds the router from [`route_table`]: one table per resource, concatenated in one place,
//!   with one auth layer over all of it (so a new route cannot skip the token), CORS when configured,
//!   tracing, and KG's JSON 404/405.
//! - [`run`]: serves a listener until the shutdown future resolves, then stops every kernel (mini-redis
//!   shape: every task is accounted for).
//! - `auth`: `Authorization: token T` or `?token=T`, constant-time; OPTIONS passes without a token.
//! - `trace`: request spans with the method and path only (the query may hold the token).
//! - `error`: [`ApiError`], the one error type and its one mapping to a status and a message (a
//!   precise 4xx; 5xx details only in the log), written as KG's `{"reason", "message"}`, or as
//!   `{"message"}` on the executor API's rows of the table; `created()`, both APIs' 201.
//! - `routes`: [`Route`], one row of the route table.
//! - `meta`: `GET /api`, `GET /api/health`.
//! - `kernelspecs`: `GET /api/kernelspecs[/{name}]`, `GET /kernelspecs/{name}/{file}`; the specs
//!   read once and kept until their files change.
//! - `kernels`: `GET|POST /api/kernels`, `GET|DELETE /api/kernels/{id}`, interrupt, restart.
//! - `sessions`: KG's session model (`/api/sessions`), each session owning a kernel.
//! - `registry`: [`KernelRegistry`], the kernels the gateway runs and their model fields (activity,
//!   execution state from iopub, connections), `max_kernels`, the environment rules, auto-restart,
//!   culling and the prespawn pool.
//! - `ws`: `GET /api/kernels/{id}/channels`: legacy JSON (+ binary buffers) and
//!   `v1.kernel.websocket.jupyter.org` frames; one session per `session_id` with its own kernel client.
//! - [`executor`]: the executor API (executions, schedules, environments, events, OpenAPI,
//!   metrics) over the scheduler's `SchedulerHandle`.
//!
//! # The executor seam
//! The executor API is one more module with a `routes()` table, added to [`route_table`]: it gets the
//! token, CORS, the error mapping (in its `{"message"}` body) and shutdown from the table.
//!
//! # Invariants
//! - Every route in [`route_table`] requires the token (OPTIONS preflight aside).
//! - No lock is held across `.await`: the registry's maps are std mutexes held to copy handles.
//! - Kernel messages are forwarded from their raw parts; nothing a kernel sends is re-serialised.
//! - The gateway's token never reaches a kernel's environment.

mod auth;
mod error;
pub mod executor;
mod kernels;
mod kernelspecs;
mod meta;
pub mod registry;
mod remote_specs;
mod routes;
mod sessions;
mod trace;
mod ws;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use nbgate_kernel::KernelSpecs;
use tokio::net::TcpListener;

pub use error::ApiError;
pub use registry::{CullPolicy, KernelRegistry};
pub use routes::Route;

/// How long a WebSocket session keeps its kernel client and buffers messages after its last
/// connection closed, waiting for the same `session_id` to come back.
pub const DEFAULT_SESSION_LINGER: Duration = Duration::from_secs(60);

/// CORS response headers, set only when `allow_origin` is (as KG's `KG_ALLOW_*`).
#[derive(Debug, Clone, Default)]
pub struct CorsConfig {
    pub allow_origin: Option<String>,
    pub allow_methods: Option<String>,
    pub allow_headers: Option<String>,
    pub allow_credentials: bool,
    pub expose_headers: Option<String>,
    pub max_age: Option<Duration>,
}

/// Everything the gateway is told at start.
#[derive(Debug, Clone)]
pub struct Config {
    /// The token every request must carry; empty means no authentication.
    pub token: String,
    /// Kernels' working directories are confined to this directory.
    pub root_dir: PathBuf,
    pub specs: KernelSpecs,
    /// The kernelspec for requests that name none (else `python3`).
    pub default_kernel: Option<String>,
    pub max_kernels: Option<usize>,
    pub cull: CullPolicy,
    /// Warm kernels kept per kernelspec named in `prespawn_kernels` (default: the default kernel).
    pub prespawn: usize,
    pub prespawn_kernels: Vec<String>,
    /// Client `env` names allowed besides `KERNEL_*` (KG's `env_whitelist`).
    pub env_whitelist: Vec<String>,
    /// Gateway variables passed on when the client sends `env` (KG's `env_process_whitelist`).
    pub env_process_whitelist: Vec<String>,
    pub cors: CorsConfig,
    /// WebSocket ping period (`None`: no pings).
    pub ws_ping_interval: Option<Duration>,
    pub session_linger: Duration,
    /// Consecutive unexpected deaths after which a kernel is left dead.
    pub restart_limit: u32,
    pub start_timeout: Duration,
    /// Fork ipykernel kernels from a pre-imported Python (`nbgate_kernel::LaunchOptions::fork_server`).
    pub fork_server: bool,
    /// Start kernels on this Kernel Gateway-compatible server, from its kernelspecs (`--gateway-url`).
    pub gateway: Option<nbgate_kernel::Gateway>,
}

impl Config {
    /// Defaults for a gateway over `root_dir` with Jupyter's kernelspecs.
    pub fn new(token: impl Into<String>, root_dir: PathBuf) -> Self {
        Self {
            token: token.into(),
            root_dir,
            specs: KernelSpecs::from_env(),
            default_kernel: None,
            max_kernels: None,
            cull: CullPolicy::default(),
            prespawn: 0,
            prespawn_kernels: Vec::new(),
            env_whitelist: Vec::new(),
            env_process_whitelist: Vec::new(),
            cors: CorsConfig::default(),
            ws_ping_interval: Some(Duration::from_secs(30)),
            session_linger: DEFAULT_SESSION_LINGER,
            restart_limit: 5,
            start_timeout: nbgate_kernel::DEFAULT_START_TIMEOUT,
            fork_server: false,
            gateway: None,
        }
    }

    /// The kernelspec name used when a request names none.
    pub fn default_kernel_name(&self) -> &str {
        self.default_kernel.as_deref().unwrap_or("python3")
    }
}

/// What every handler sees: the configuration and the kernels. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub kernels: Arc<KernelRegistry>,
    /// The executor API's scheduler (`None`: the Kernel Gateway alone; see [`AppState::with_scheduler`]).
    pub executor: Option<executor::Executor>,
    pub(crate) sessions: Arc<sessions::SessionStore>,
    /// The kernelspecs as last read from `config.specs`, until their files change.
    pub(crate) specs: kernelspecs::SpecCache,
}

impl AppState {
    pub fn new(config: Config) -> Self {
        let config = Arc::new(config);
        Self {
            kernels: KernelRegistry::new(config.clone()),
            sessions: Arc::default(),
            specs: kernelspecs::SpecCache::default(),
            executor: None,
            config,
        }
    }
}

/// Every route the gateway answers, in one table: what [`app`] serves and what the auth tests walk.
pub fn route_table() -> Vec<Route> {
    [
        meta::routes(),
        kernelspecs::routes(),
        kernels::routes(),
        ws::routes(),
        sessions::routes(),
        executor::routes()
            .into_iter()
            .map(|route| route.map_response(error::executor_body))
            .collect(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The whole HTTP application; tests drive it with `tower::ServiceExt::oneshot`.
pub fn app(state: AppState) -> Router {
    let router = routes::into_router(route_table())
        .fallback(|| async { ApiError::NotFound(String::new()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });
    let router = router
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .with_state(state.clone());
    let router = match auth::cors_layer(&state.config.cors) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router.layer(trace::layer())
}

/// Serves `listener` until `shutdown` resolves: stops accepting, shuts every kernel down (which closes
/// their WebSockets), waits for open requests, and returns once nothing is left running.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    state.kernels.start_background();
    let listener = listener.tap_io(|tcp| {
        // Small messages both ways (execute round trips): Nagle + delayed ACK would add ~40 ms.
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "cannot set TCP_NODELAY");
        }
    });
    let kernels = state.kernels.clone();
    let state_kernels = state.kernels.clone();
    let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel();
    let served = axum::serve(listener, app(state))
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: stopping every kernel");
            // Kernels stop concurrently with the drain, so their WebSockets close and the drain ends.
            tokio::spawn(async move {
                kernels.shutdown_all().await;
                let _ = stopped_tx.send(());
            });
        })
        .await;
    let _ = stopped_rx.await;
    // Whatever a request started while the drain ran.
    state_kernels.shutdown_all().await;
    served
}

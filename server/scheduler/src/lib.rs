//! nbgate-scheduler: schedules and executions, and the only code that talks to the store.
//!
//! Map of the crate:
//! - [`model`]: domain types — [`Schedule`]/[`ScheduleSpec`], [`Execution`] and its statuses, policies.
//! - [`timing`] (+ `describe`): cron and friendly intervals in IANA time zones, next-run math across
//!   DST, catch-up selection, descriptions in words. Pure.
//! - [`store`]: the [`Store`] interface (one call = one transaction) and its SQLite implementation
//!   (WAL, embedded migrations); [`store::Db`] runs calls on the blocking pool.
//! - `engine`: the loop — fire due schedules (a batch of them decided in one store call and recorded in
//!   one transaction; a schedule's rows are written only if its next fire is still the one they were
//!   decided from, so no fire time is handled twice), start queued executions within the global and per-schedule limits, sleep until the next
//!   deadline or a wake-up. Never polls. Also recovery at start.
//! - `leases` (replicas sharing a PostgreSQL store): the heartbeat renewing this replica's leases,
//!   and the ending (`failed`, "replica X lost", retried) of executions whose lease expired.
//! - `worker`: one execution from `running` to its end — input hash, executor run, run timeout,
//!   outcome → status, retries with back-off, retention, notification hand-off.
//! - `service` + `schedules`: [`SchedulerHandle`], what the API calls.
//! - [`notify`]: webhooks on their own task; [`events`]: the live-progress broadcast (`replicas`:
//!   shared with the other replicas of a PostgreSQL store, LISTEN/NOTIFY); [`lateness`]:
//!   how late fires were recorded (a histogram for `/metrics`).
//! - [`outputs`]: the files a run writes (`outputs` glob patterns), recorded after it with their hash
//!   and, for tables, rows and columns; previews; a schedule's freshness.
//! - [`values`]: recorded values, stored as a run goes; a schedule's values as series.
//! - [`expect`]: `expect` rules on recorded values and outputs, evaluated after a successful run.
//! - [`compare`]: two executions' differing parameters, values, output files and cells.
//! - [`pipeline`]: schedules that run after others (fan-in, chains sharing a `run_id`, skips),
//!   values passed as parameters, fire times injected, backfill, sweeps, rerun.
//! - [`paths`], [`validate`]: what users submit, checked; [`clock`]: the one place time is read.
//!
//! Absent on purpose: HTTP (the `api` crate maps [`SchedulerError`] to status codes).
//!
//! Shutdown policy: on the shutdown token the loop stops firing and starting executions; running
//! executions are interrupted (the executor interrupts, then shuts the kernel down and kills it),
//! keep their partial output and end `failed` ("nbgate stopped during the run"), with a retry queued
//! if attempts remain — the same outcome as a crash followed by a restart. Queued executions stay
//! queued for the next start. Undelivered webhooks are recorded as such. [`SchedulerHandle::stopped`]
//! resolves when every task has ended.

pub mod clock;
pub mod compare;
mod context;
mod describe;
mod engine;
pub mod error;
pub mod events;
pub mod expect;
pub mod lateness;
mod leases;
mod machine;
pub mod model;
pub mod notify;
pub mod outputs;
pub mod paths;
pub mod pipeline;
mod replicas;
pub mod runner;
mod schedules;
mod service;
pub mod store;
pub mod timing;
pub mod validate;
pub mod values;
mod worker;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nbgate_kernel::{KernelSpecs, MachineTypes};
use tokio_util::sync::CancellationToken;

pub use clock::{Clock, SystemClock, TokioClock};
pub use error::{Result, SchedulerError, StoreError, ValidationError};
pub use events::{
    Change, EventKind, ExecutionEvent, Feed, Received, ScheduleChange, ScheduleEvent, Subscription,
};
pub use lateness::{FireLateness, LATENESS_BUCKETS};
pub use model::*;
pub use outputs::{Column, Freshness, OutputFile, Preview};
pub use runner::{ExecutorRunner, RunJob, Runner};
pub use schedules::schedule_cursor_name;
pub use service::{MAX_PAGE, MAX_SCHEDULE_PAGE, SchedulerHandle};
pub use store::{PostgresStore, SqliteStore, Store, StoreUrl, StoredSchedule};

/// The database file in the data directory.
pub const DATABASE_FILE: &str = "nbgate.sqlite3";

/// How to start a scheduler.
pub struct SchedulerConfig {
    /// Notebooks and outputs live under it.
    pub root_dir: PathBuf,
    /// The snapshots, and the SQLite store unless `store` says otherwise.
    pub data_dir: PathBuf,
    /// The store (`--store`); `None`: SQLite at `<data_dir>/nbgate.sqlite3`.
    pub store: Option<StoreUrl>,
    /// This process among the replicas sharing the store (`--replica-id`; default `host:pid`),
    /// recorded on the executions it starts.
    pub replica_id: String,
    /// Executions running at once (default: the number of cores).
    pub concurrency: usize,
    pub clock: Arc<dyn Clock>,
    /// Runs notebooks (default: the executor on the kernelspecs of the environment).
    pub runner: Arc<dyn Runner>,
    /// Variables given to kernels over nbgate's own environment.
    pub kernel_env: BTreeMap<String, String>,
    /// The machine types executions and schedules choose from (`--machine-types`); none by default.
    pub machine_types: MachineTypes,
    /// On a shared (PostgreSQL) store, how long a running execution's lease lasts unrenewed
    /// (`--lease-timeout`, default [`DEFAULT_LEASE_TIMEOUT`]): a replica that stops renewing its
    /// leases (killed, cut off) has its executions ended `failed` ("replica X lost") and retried by
    /// another within about this long.
    pub lease_timeout: Duration,
}

/// `--lease-timeout`'s default.
pub const DEFAULT_LEASE_TIMEOUT: Duration = Duration::from_secs(30);

impl SchedulerConfig {
    pub fn new(root_dir: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> SchedulerConfig {
        SchedulerConfig {
            root_dir: root_dir.into(),
            data_dir: data_dir.into(),
            store: None,
            replica_id: default_replica_id(),
            concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            clock: Arc::new(SystemClock),
            runner: Arc::new(ExecutorRunner::new(KernelSpecs::from_env())),
            kernel_env: BTreeMap::new(),
            machine_types: MachineTypes::default(),
            lease_timeout: DEFAULT_LEASE_TIMEOUT,
        }
    }
}

/// `host:pid`: unique among running replicas, new at each start.
pub fn default_replica_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_default();
    let host = if host.is_empty() {
        "localhost".into()
    } else {
        host
    };
    format!("{host}:{}", std::process::id())
}

/// The scheduler service.
pub struct Scheduler;

impl Scheduler {
    /// Opens the store (migrating it), recovers executions a previous process left running, and starts
    /// the loop and the notifier. Everything stops when `shutdown` is cancelled; await
    /// [`SchedulerHandle::stopped`] after that.
    pub async fn start(
        config: SchedulerConfig,
        shutdown: CancellationToken,
    ) -> Result<SchedulerHandle> {
        let root = config.root_dir.canonicalize().map_err(|error| {
            SchedulerError::io("open the root directory", &config.root_dir, error)
        })?;
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|error| SchedulerError::io("create", &config.data_dir, error))?;
        let url = (config.store.clone())
            .unwrap_or_else(|| StoreUrl::Sqlite(config.data_dir.join(DATABASE_FILE)));
        let store = tokio::task::spawn_blocking(move || url.open())
            .await
            .map_err(|_| StoreError::Task)??;
        let db = store::Db::new(store);
        let (notifier, queue) = tokio::sync::mpsc::unbounded_channel();
        let ctx = Arc::new(context::Ctx::new(
            db.clone(),
            config.clock,
            root,
            config.data_dir,
            config.runner,
            config.kernel_env,
            config.machine_types,
            config.concurrency.max(1),
            context::Replica {
                id: config.replica_id,
                shared: matches!(config.store, Some(StoreUrl::Postgres(_))),
                lease_timeout: config.lease_timeout,
            },
            notifier,
            shutdown.clone(),
        ));
        // First, so that the other replicas hear of what recovery ends too.
        if let Some(StoreUrl::Postgres(url)) = &config.store {
            replicas::start(&ctx, url).await?;
        }
        let recovered = engine::recover(&ctx).await?;
        pipeline::recover(&ctx).await?;
        if recovered > 0 {
            tracing::warn!(
                recovered,
                "executions left running by a previous process marked failed"
            );
        }
        ctx.tasks.spawn(notify::run_notifier(
            queue,
            db,
            ctx.events.clone(),
            shutdown.clone(),
        ));
        ctx.tasks.spawn(engine::run_loop(ctx.clone()));
        if ctx.replica.shared {
            ctx.tasks.spawn(leases::run(ctx.clone()));
        }
        ctx.tasks.close();
        Ok(SchedulerHandle { ctx })
    }
}

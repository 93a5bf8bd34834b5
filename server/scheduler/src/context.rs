//! What the loop, the workers and the service share, and the helpers that build executions.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::Clock;
use crate::error::StoreError;
use crate::events::Events;
use crate::lateness::LatenessRecorder;
use crate::model::{Execution, ExecutionStatus, RunConfig};
use crate::notify::Delivery;
use crate::runner::Runner;
use crate::store::{Db, Store};

/// Why a running execution was stopped by someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopCause {
    /// `cancel_execution`: ends `cancelled`, no retry.
    User,
    /// Shutdown: ends `failed` ("nbgate stopped during the run"), retried at the next start.
    Shutdown,
    /// Its lease was found expired and ended by a replica (this one was cut off from the store):
    /// the end is that replica's, this run stops.
    LeaseLost,
    /// Its schedule was deleted: ends `cancelled` ([`crate::model::SCHEDULE_DELETED`]), no retry.
    ScheduleDeleted,
}

pub(crate) struct Running {
    pub schedule_id: Option<String>,
    /// Its machine type, for the type's `max_concurrent`.
    pub machine_type: Option<String>,
    pub cancel: CancellationToken,
    pub cause: Option<StopCause>,
    /// Delete the output file once the run has stopped, if its row is gone by then (its schedule
    /// was deleted with [`crate::RunHistory::Delete`]): the run's last save would recreate it.
    pub delete_output: bool,
}

pub(crate) struct Ctx {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    /// Canonical root directory.
    pub root: PathBuf,
    pub data_dir: PathBuf,
    pub runner: Arc<dyn Runner>,
    pub kernel_env: BTreeMap<String, String>,
    pub machine_types: nbgate_kernel::MachineTypes,
    pub concurrency: usize,
    /// Who this process is among the replicas sharing the store, and whether it shares it (a
    /// PostgreSQL store): then recovery at start takes only this replica's executions.
    pub replica: Replica,
    pub events: Events,
    /// Wakes the loop: the store changed or a worker finished.
    pub wake: Notify,
    /// Held from choosing a new execution's unique name until its row is in the store, so executions
    /// created at once never share a name (and an output file).
    pub naming: tokio::sync::Mutex<()>,
    /// How late recorded fires were (`/metrics`).
    pub lateness: LatenessRecorder,
    running: Mutex<HashMap<String, Running>>,
    pub notifier: mpsc::UnboundedSender<Delivery>,
    pub tasks: TaskTracker,
    pub shutdown: CancellationToken,
}

/// This process among the replicas of a store.
pub(crate) struct Replica {
    pub id: String,
    /// Whether other replicas may use the store (PostgreSQL): then its running executions are
    /// leased, the leases renewed, and expired leases of any replica ended (`leases`).
    pub shared: bool,
    /// How long a lease lasts unrenewed (`--lease-timeout`).
    pub lease_timeout: Duration,
}

pub(crate) const STOPPED_DURING_RUN: &str = "nbgate stopped during the run";

/// The longest wait between two tries of a write while the store is unavailable.
pub(crate) const UNAVAILABLE_BACKOFF_MAX: Duration = Duration::from_secs(5);

impl Ctx {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        root: PathBuf,
        data_dir: PathBuf,
        runner: Arc<dyn Runner>,
        kernel_env: BTreeMap<String, String>,
        machine_types: nbgate_kernel::MachineTypes,
        concurrency: usize,
        replica: Replica,
        notifier: mpsc::UnboundedSender<Delivery>,
        shutdown: CancellationToken,
    ) -> Ctx {
        Ctx {
            db,
            clock,
            root,
            data_dir,
            runner,
            kernel_env,
            machine_types,
            concurrency,
            replica,
            events: Events::new(),
            wake: Notify::new(),
            naming: tokio::sync::Mutex::new(()),
            lateness: LatenessRecorder::default(),
            running: Mutex::new(HashMap::new()),
            notifier,
            tasks: TaskTracker::new(),
            shutdown,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn running(&self) -> MutexGuard<'_, HashMap<String, Running>> {
        nbgate_kernel::sync::lock(&self.running)
    }

    pub fn snapshot_path(&self, schedule_id: &str) -> PathBuf {
        self.data_dir
            .join("snapshots")
            .join(format!("{schedule_id}.ipynb"))
    }

    /// `call` on the store; while the store is unavailable (a PostgreSQL server restarted or out of
    /// reach), again after a back-off (0.1 s doubling to [`UNAVAILABLE_BACKOFF_MAX`]) until it
    /// answers, so what a run produced (its end, values, output files) is written once the store is
    /// back; the caller keeps it in memory meanwhile. Gives up only on shutdown (the execution is then
    /// recovered as after a crash) and on other errors. `call` must be idempotent: a commit whose
    /// answer was lost is repeated.
    pub async fn store_until_written<R, F>(&self, what: &str, call: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: Fn(&dyn Store) -> Result<R, StoreError> + Send + Sync + 'static,
    {
        let call = Arc::new(call);
        let mut backoff = Duration::from_millis(100);
        loop {
            let attempt = call.clone();
            match self.db.call(move |store| attempt(store)).await {
                Err(StoreError::Unavailable(reason)) if !self.shutdown.is_cancelled() => {
                    tracing::warn!(%reason, ?backoff, "the store is unavailable: {what} again after a back-off");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = self.shutdown.cancelled() => {}
                    }
                    backoff = (backoff * 2).min(UNAVAILABLE_BACKOFF_MAX);
                }
                other => return other,
            }
        }
    }

    /// A name not yet used by an execution: `base`, else `base_2`, `base_3`…
    pub async fn unique_name(&self, base: String, taken: &[String]) -> Result<String, StoreError> {
        let taken = taken.to_vec();
        self.db
            .call(move |store| unique_name(store, base, |name| taken.iter().any(|t| t == name)))
            .await
    }
}

/// `base`, or `base_2`, `base_3`… : the first name neither in the store nor `taken`.
pub(crate) fn unique_name(
    store: &dyn Store,
    base: String,
    taken: impl Fn(&str) -> bool,
) -> Result<String, StoreError> {
    let mut candidate = base.clone();
    for n in 2.. {
        if !taken(&candidate) && !store.execution_name_exists(&candidate)? {
            break;
        }
        candidate = format!("{base}_{n}");
    }
    Ok(candidate)
}

/// `<prefix>_at_YYYY_MM_DD_HH_MM_SS` with `at` in UTC, whatever the schedule's time zone: names with
/// one prefix (and so the files in one output folder) sort in time order, across DST changes too.
/// `at` is the fire time of a scheduled fire, the creation time of a run now or a one-off run.
pub(crate) fn execution_name(prefix: &str, at: DateTime<Utc>) -> String {
    format!("{prefix}_at_{}", at.format("%Y_%m_%d_%H_%M_%S"))
}

/// `<output_dir>/<folder>/<name>.ipynb`, relative to the root.
pub(crate) fn output_path(output_dir: &str, folder: &str, name: &str) -> String {
    Path::new(output_dir.trim_end_matches('/'))
        .join(folder)
        .join(format!("{name}.ipynb"))
        .display()
        .to_string()
}

pub(crate) fn content_hash(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The fields every new execution starts with.
pub(crate) struct Draft {
    pub name: String,
    pub schedule_id: Option<String>,
    pub schedule_name: Option<String>,
    pub notebook: String,
    pub parameters: crate::model::ParameterValues,
    pub kernel: Option<String>,
    pub machine_type: Option<String>,
    pub max_attempts: u32,
    pub fire_time: Option<DateTime<Utc>>,
    pub output_path: String,
    pub run: RunConfig,
}

impl Draft {
    /// Queued at `now`; the first of its chain (`run_id` its own id) until told otherwise.
    pub fn queued(self, now: DateTime<Utc>) -> Execution {
        let id = uuid::Uuid::new_v4().to_string();
        Execution {
            run_id: Some(id.clone()),
            sweep_id: None,
            kernel_location: None,
            gateway_kernel_id: None,
            replica: None,
            id,
            name: self.name,
            schedule_id: self.schedule_id,
            schedule_name: self.schedule_name,
            notebook: self.notebook,
            status: ExecutionStatus::Queued,
            reason: None,
            parameters: self.parameters,
            kernel: self.kernel,
            machine_type: self.machine_type,
            input_hash: None,
            attempt: 1,
            max_attempts: self.max_attempts,
            first_attempt_id: None,
            fire_time: self.fire_time,
            created_at: now,
            ready_at: now,
            started_at: None,
            ended_at: None,
            progress: None,
            error: None,
            output_path: self.output_path,
            notify_error: None,
            run: self.run,
        }
    }
}

/// The next attempt of a failed execution, ready after its back-off.
pub(crate) fn retry_of(failed: &Execution, now: DateTime<Utc>) -> Execution {
    let attempt = failed.attempt + 1;
    let base = match failed.name.rsplit_once("_attempt_") {
        Some((base, _)) if failed.attempt > 1 => base.to_owned(),
        _ => failed.name.clone(),
    };
    let name = format!("{base}_attempt_{attempt}");
    let output_path = Path::new(&failed.output_path)
        .with_file_name(format!("{name}.ipynb"))
        .display()
        .to_string();
    let factor = 2u32.saturating_pow(failed.attempt - 1);
    let delay = failed.run.retry_delay.saturating_mul(factor);
    Execution {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        status: ExecutionStatus::Queued,
        reason: None,
        input_hash: None,
        attempt,
        first_attempt_id: Some(
            failed
                .first_attempt_id
                .clone()
                .unwrap_or_else(|| failed.id.clone()),
        ),
        created_at: now,
        ready_at: now + chrono::Duration::from_std(delay).unwrap_or_default(),
        started_at: None,
        ended_at: None,
        progress: None,
        error: None,
        output_path,
        notify_error: None,
        kernel_location: None,
        gateway_kernel_id: None,
        replica: None,
        ..failed.clone()
    }
}

//! The store: the source of truth for schedules and executions. [`Store`] is the crate's own interface
//! (synchronous, one call = one transaction); [`SqliteStore`] implements it on an embedded SQLite
//! database in WAL mode. The SQL sticks to what PostgreSQL also accepts (integers for times in
//! milliseconds, TEXT for JSON, no AUTOINCREMENT, no upserts), so a PostgreSQL store can follow.
//! [`Db`] runs calls on tokio's blocking pool so no SQLite call blocks the runtime.

mod migrations;
mod outputs;
mod pipeline;
mod postgres;
mod replicas;
mod rows;
mod sqlite;
mod url;
mod values;

use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use self::pipeline::{ChainEnd, ChainStep, Grouping};
pub use self::postgres::PostgresStore;
pub(crate) use self::postgres::listen;
pub use self::replicas::{Claim, ClaimPage, Replicas, lost_reason};
pub use self::rows::StoredSchedule;
pub use self::sqlite::SqliteStore;
pub use self::url::{StoreUrl, redacted};
use crate::error::StoreError;
use crate::model::{
    CellProgress, Execution, ExecutionFilter, ExecutionStatus, ExecutionSummary, RunHistory,
    Schedule,
};
use crate::outputs::{OutputFile, OutputTimes};
use crate::values::ValuePoint;
use nbgate_executor::values::RecordedValue;

pub type StoreResult<T> = Result<T, StoreError>;

/// What the scheduler needs from a store. Every method is atomic. [`Replicas`] holds what several
/// replicas sharing it need (claims, leases).
pub trait Store: Replicas + Send + Sync + 'static {
    /// Inserts a schedule; [`StoreError::NameTaken`] if its name is used.
    fn insert_schedule(&self, schedule: &Schedule) -> StoreResult<()>;
    /// Replaces a schedule's spec and state; false if it is gone.
    fn update_schedule(&self, schedule: &Schedule) -> StoreResult<bool>;
    fn get_schedule(&self, id: &str) -> StoreResult<Option<Schedule>>;
    fn get_schedule_by_name(&self, name: &str) -> StoreResult<Option<Schedule>>;
    /// All schedules by name.
    fn list_schedules(&self) -> StoreResult<Vec<Schedule>>;
    /// Up to `limit` schedules by name, those named after `after` (all from the first without it),
    /// each with its newest execution in short, in one query; the schedules as stored, unparsed.
    fn list_schedules_with_latest(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(StoredSchedule, Option<ExecutionSummary>)>>;
    /// Deletes a schedule; `None` if there is none. [`RunHistory::Delete`] deletes its executions;
    /// [`RunHistory::Keep`] cancels its queued ones (ended `now`) and unlinks them all, recording the
    /// schedule's name on them. Returns its executions as they were before.
    fn delete_schedule(
        &self,
        id: &str,
        history: RunHistory,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<Execution>>>;
    /// The earliest next fire of an active schedule.
    fn next_fire(&self) -> StoreResult<Option<DateTime<Utc>>>;
    /// Active schedules whose next fire is at or before `now`, earliest first.
    fn due_schedules(&self, now: DateTime<Utc>, limit: usize) -> StoreResult<Vec<Schedule>>;
    /// Records the fires of several schedules in one transaction. For each, if its next fire is still
    /// `expected`: inserts its executions and sets `next_fire` and `last_fire`; otherwise (paused,
    /// edited or already fired meanwhile) writes nothing for it, so a fire time is never handled
    /// twice. A first attempt of a fire time its schedule has recorded already (its `next_fire`
    /// moved back to it by an edit on a replica whose clock is behind) is not kept. Returns, in
    /// order, whether each was recorded, and the executions not kept.
    fn record_fire_batch(&self, batch: &[Fires]) -> StoreResult<FiresRecorded>;
    /// [`Store::record_fire_batch`] for one schedule.
    fn record_fires(
        &self,
        schedule_id: &str,
        expected: DateTime<Utc>,
        next_fire: Option<DateTime<Utc>>,
        last_fire: Option<DateTime<Utc>>,
        executions: &[Execution],
    ) -> StoreResult<bool> {
        let fires = Fires {
            schedule_id: schedule_id.into(),
            expected,
            next_fire,
            last_fire,
            executions: executions.to_vec(),
        };
        Ok(self.record_fire_batch(&[fires])?.recorded.first() == Some(&true))
    }

    /// Inserts an execution (its listing position comes after every existing one).
    fn insert_execution(&self, execution: &Execution) -> StoreResult<()>;
    fn get_execution(&self, id: &str) -> StoreResult<Option<Execution>>;
    /// Newest first, strictly before the position `before` when given, with each one's position.
    fn list_executions(
        &self,
        filter: &ExecutionFilter,
        limit: usize,
        before: Option<i64>,
    ) -> StoreResult<Vec<(i64, Execution)>>;
    /// Queued executions ready at `now`, oldest first, after the position `after` when given, with
    /// each one's position.
    fn ready_executions(
        &self,
        now: DateTime<Utc>,
        after: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<(i64, Execution)>>;
    /// The earliest `ready_at` after `now` of a queued execution (a retry waiting for its back-off).
    fn next_ready_after(&self, now: DateTime<Utc>) -> StoreResult<Option<DateTime<Utc>>>;
    /// Executions of a schedule that are queued or running.
    fn active_count(&self, schedule_id: &str) -> StoreResult<u32>;
    fn executions_with_status(&self, status: ExecutionStatus) -> StoreResult<Vec<Execution>>;
    /// Executions of a schedule, newest first.
    fn schedule_executions(&self, schedule_id: &str) -> StoreResult<Vec<Execution>>;
    /// Writes `execution` if its stored status is still `expected`.
    fn update_execution_if(
        &self,
        execution: &Execution,
        expected: ExecutionStatus,
    ) -> StoreResult<bool>;
    /// Writes `execution` and inserts `retry` in one transaction, if the stored status is `expected`.
    fn finish_execution(
        &self,
        execution: &Execution,
        expected: ExecutionStatus,
        retry: Option<&Execution>,
    ) -> StoreResult<bool>;
    fn set_progress(&self, id: &str, progress: CellProgress) -> StoreResult<()>;
    /// Records where a running execution's kernel runs (`"local"` or a gateway's URL) and the
    /// gateway's id of it. This default rewrites the row if it is still running.
    fn set_kernel_location(
        &self,
        id: &str,
        location: &str,
        gateway_kernel_id: Option<&str>,
    ) -> StoreResult<()> {
        if let Some(mut execution) = self.get_execution(id)? {
            execution.kernel_location = Some(location.to_owned());
            execution.gateway_kernel_id = gateway_kernel_id.map(str::to_owned);
            self.update_execution_if(&execution, ExecutionStatus::Running)?;
        }
        Ok(())
    }
    fn set_notify_error(&self, id: &str, error: Option<&str>) -> StoreResult<()>;
    fn delete_execution(&self, id: &str) -> StoreResult<bool>;
    /// Whether an execution has this name.
    fn execution_name_exists(&self, name: &str) -> StoreResult<bool>;

    /// Records values an execution recorded, in order (a name recorded again keeps the last value);
    /// nothing if the execution is gone.
    fn record_values(
        &self,
        execution_id: &str,
        values: &[(String, RecordedValue)],
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// An execution's values, in the order their names were first recorded.
    fn execution_values(&self, execution_id: &str) -> StoreResult<Vec<(String, RecordedValue)>>;
    /// The values of several executions (a listing's page) in one query: `(execution id, name,
    /// value)`, each execution's in recording order.
    fn values_of_executions(
        &self,
        execution_ids: &[String],
    ) -> StoreResult<Vec<(String, String, RecordedValue)>>;
    /// The values of a schedule's newest `limit` executions that recorded one (named `name` when
    /// given), oldest execution first.
    fn value_series(
        &self,
        schedule_id: &str,
        name: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<ValuePoint>>;

    /// Records an execution's output files, replacing those recorded before.
    fn record_outputs(&self, execution_id: &str, files: &[OutputFile]) -> StoreResult<()>;
    /// An execution's recorded output files, by path.
    fn execution_outputs(&self, execution_id: &str) -> StoreResult<Vec<OutputFile>>;
    /// A schedule's latest success and output times, for its freshness.
    fn output_times(&self, schedule_id: &str) -> StoreResult<OutputTimes>;

    /// Pipelines: records an upstream's end for a dependant and, once all its upstreams have
    /// ended, inserts what `decide` makes of their ends (see [`ChainStep`]). One transaction.
    fn chain_end(
        &self,
        downstream_id: &str,
        end: &ChainEnd,
        required: &[String],
        context: &[ChainEnd],
        decide: &mut dyn FnMut(&[ChainEnd]) -> Option<Execution>,
        now: DateTime<Utc>,
    ) -> StoreResult<ChainStep>;
    /// Whether an upstream execution's end was offered to the dependant already.
    fn chain_end_handled(&self, downstream_id: &str, execution_id: &str) -> StoreResult<bool>;
    /// Inserts several executions in one transaction (a backfill, a sweep).
    fn insert_executions(&self, executions: &[Execution]) -> StoreResult<()>;
    /// The executions of a chain (`run_id`) or a sweep, oldest first.
    fn grouped_executions(&self, grouping: Grouping, id: &str) -> StoreResult<Vec<Execution>>;
}

/// What one schedule's fire (or catch-up) writes: see [`Store::record_fire_batch`].
#[derive(Debug, Clone)]
pub struct Fires {
    pub schedule_id: String,
    /// The schedule's `next_fire` this was decided from.
    pub expected: DateTime<Utc>,
    pub next_fire: Option<DateTime<Utc>>,
    /// `None` keeps the stored one.
    pub last_fire: Option<DateTime<Utc>>,
    pub executions: Vec<Execution>,
}

/// What [`Store::record_fire_batch`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiresRecorded {
    /// In the batch's order, whether each schedule's fires were recorded.
    pub recorded: Vec<bool>,
    /// The ids of executions of recorded fires that were not kept: repeats of a fire time.
    pub repeats: Vec<String>,
}

/// A cheap handle that runs store calls on the blocking pool.
#[derive(Clone)]
pub struct Db(Arc<dyn Store>);

impl Db {
    pub fn new(store: Arc<dyn Store>) -> Db {
        Db(store)
    }

    pub async fn call<R, F>(&self, call: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&dyn Store) -> StoreResult<R> + Send + 'static,
    {
        let store = self.0.clone();
        tokio::task::spawn_blocking(move || call(&*store))
            .await
            .map_err(|_| StoreError::Task)?
    }
}

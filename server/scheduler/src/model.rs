//! Domain types: schedules, executions, their policies and statuses. HTTP DTOs are the API's business;
//! `Serialize` is derived where it spares the API a copy, and the store keeps a schedule's spec as JSON.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Parameter values by name, as typed JSON.
pub type ParameterValues = Map<String, Value>;

/// How often a schedule fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recurrence {
    /// A cron expression of 5 fields (minute first) or 6 (seconds first), in the schedule's time zone.
    Cron(String),
    /// A friendly interval ("15m", "every 2 hours"), kept as written; fires at multiples of it since
    /// the Unix epoch, so "every 15 minutes" fires at :00, :15, :30, :45.
    Every(String),
    /// Not by time: once every listed upstream schedule has ended as `on` says (see
    /// [`crate::pipeline`]).
    After(After),
}

/// The trigger of a schedule that runs after others (fan-in: all of them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct After {
    /// Upstream schedule names.
    pub schedules: Vec<String>,
    pub on: AfterOn,
}

/// How each upstream must have ended for its dependant to fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterOn {
    /// Succeeded; a failed or skipped upstream records the dependant `skipped` with the reason.
    #[default]
    Success,
    /// Failed (or timed out, or was cancelled); otherwise the dependant does not fire.
    Failure,
    /// Ran to any end; a skipped upstream records the dependant `skipped`.
    Completion,
}

impl AfterOn {
    pub fn as_str(self) -> &'static str {
        match self {
            AfterOn::Success => "success",
            AfterOn::Failure => "failure",
            AfterOn::Completion => "completion",
        }
    }
}

/// Where a schedule reads its notebook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputMode {
    /// A copy taken at creation (and on the re-snapshot action) in the data directory.
    #[default]
    Snapshot,
    /// The file under the root directory, read at each run.
    Live,
}

/// What a fire does when `max_concurrent` executions of its schedule are already queued or running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// Record the fire as `skipped`, with the reason.
    #[default]
    Skip,
    /// Queue it; it starts when one ends.
    Queue,
}

/// What happens to fire times missed while nbgate was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Catchup {
    /// Drop them.
    Skip,
    /// Run once, for the latest missed fire time.
    #[default]
    Once,
    /// Run each of them (at most [`crate::timing::MAX_CATCHUP`]).
    All,
}

/// A webhook called when an execution of the schedule ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notify {
    /// `http://host[:port]/path` (https needs a local forwarding proxy; see `notify`).
    pub url: String,
    pub on_failure: bool,
    pub on_success: bool,
}

/// Everything a user chooses about a schedule: what `create_schedule` takes and `update_schedule` edits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    pub name: String,
    /// Path relative to the root directory.
    pub notebook: String,
    pub parameters: ParameterValues,
    /// Accept parameters without a `parameters` cell to check them against.
    pub allow_undeclared_parameters: bool,
    /// Kernelspec name; `None`: the notebook's.
    pub kernel: Option<String>,
    pub recurrence: Recurrence,
    /// IANA time zone name.
    pub timezone: String,
    pub paused: bool,
    pub input: InputMode,
    pub max_concurrent: u32,
    pub overlap: Overlap,
    pub catchup: Catchup,
    /// Attempts after the first.
    pub retries: u32,
    /// Delay before the first retry; doubled for each further one.
    #[serde(with = "millis")]
    pub retry_delay: Duration,
    #[serde(with = "opt_millis")]
    pub timeout: Option<Duration>,
    #[serde(with = "opt_millis")]
    pub cell_timeout: Option<Duration>,
    pub notify: Option<Notify>,
    /// Folder under the root for outputs (default `executions`).
    pub output_dir: String,
    /// Keep the last N executions (and their files); `None` keeps all.
    pub retention: Option<u32>,
    /// Glob patterns, relative to the kernel's working directory, of the files a run writes
    /// (recorded after each run: see [`crate::outputs`]).
    #[serde(default)]
    pub outputs: Vec<String>,
    /// Outputs older than this are stale; `None`: twice the schedule's period.
    #[serde(default, with = "opt_millis")]
    pub stale_after: Option<Duration>,
    /// Rules on what a run records (see [`crate::expect`]).
    #[serde(default)]
    pub expect: Vec<String>,
    /// Parameter name → `UPSTREAM.values.NAME`, `UPSTREAM.parameters.NAME` or `fire_time`, resolved
    /// when a run starts (see [`crate::pipeline`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters_from: BTreeMap<String, String>,
    /// The parameter that receives each run's fire time (run now: the time it was asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fire_time_parameter: Option<String>,
    /// strftime format of that fire time, in the schedule's time zone (default `%Y-%m-%d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fire_time_format: Option<String>,
    /// The machine type its executions run on (`nbgate serve --machine-types`); `None` when no types
    /// are configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_type: Option<String>,
}

impl ScheduleSpec {
    /// A spec with the defaults for everything but what has none.
    pub fn new(name: &str, notebook: &str, recurrence: Recurrence, timezone: &str) -> Self {
        ScheduleSpec {
            name: name.into(),
            notebook: notebook.into(),
            parameters: Map::new(),
            allow_undeclared_parameters: false,
            kernel: None,
            recurrence,
            timezone: timezone.into(),
            paused: false,
            input: InputMode::Snapshot,
            max_concurrent: 1,
            overlap: Overlap::Skip,
            catchup: Catchup::Once,
            retries: 0,
            retry_delay: Duration::from_secs(60),
            timeout: None,
            cell_timeout: None,
            notify: None,
            output_dir: DEFAULT_OUTPUT_DIR.into(),
            retention: None,
            outputs: Vec::new(),
            stale_after: None,
            expect: Vec::new(),
            parameters_from: BTreeMap::new(),
            fire_time_parameter: None,
            fire_time_format: None,
            machine_type: None,
        }
    }
}

pub const DEFAULT_OUTPUT_DIR: &str = "executions";

/// A change to a schedule: each `Some` replaces the field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchedulePatch {
    pub name: Option<String>,
    pub notebook: Option<String>,
    pub parameters: Option<ParameterValues>,
    pub allow_undeclared_parameters: Option<bool>,
    pub kernel: Option<Option<String>>,
    pub recurrence: Option<Recurrence>,
    pub timezone: Option<String>,
    pub paused: Option<bool>,
    pub input: Option<InputMode>,
    pub max_concurrent: Option<u32>,
    pub overlap: Option<Overlap>,
    pub catchup: Option<Catchup>,
    pub retries: Option<u32>,
    pub retry_delay: Option<Duration>,
    pub timeout: Option<Option<Duration>>,
    pub cell_timeout: Option<Option<Duration>>,
    pub notify: Option<Option<Notify>>,
    pub output_dir: Option<String>,
    pub retention: Option<Option<u32>>,
    pub outputs: Option<Vec<String>>,
    pub stale_after: Option<Option<Duration>>,
    pub expect: Option<Vec<String>>,
    pub parameters_from: Option<BTreeMap<String, String>>,
    pub fire_time_parameter: Option<Option<String>>,
    pub fire_time_format: Option<Option<String>>,
    /// `Some(None)`: back to the default machine type.
    pub machine_type: Option<Option<String>>,
}

/// A schedule as stored, with what the scheduler derives from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Schedule {
    pub id: String,
    #[serde(flatten)]
    pub spec: ScheduleSpec,
    /// The next fire time; `None` when paused.
    pub next_run: Option<DateTime<Utc>>,
    /// The latest fire time handled (fired, skipped or dropped by the catch-up policy).
    pub last_fire: Option<DateTime<Utc>>,
    /// "Every day at 10:00 (Asia/Tokyo)".
    pub description: String,
    /// Content hash of the snapshot (input `snapshot`).
    pub snapshot_hash: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The life of an execution: `queued → running → succeeded | failed | cancelled | timed_out`, or
/// `skipped` for a fire dropped by the overlap policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    TimedOut,
    Skipped,
}

impl ExecutionStatus {
    pub const ALL: [ExecutionStatus; 7] = [
        ExecutionStatus::Queued,
        ExecutionStatus::Running,
        ExecutionStatus::Succeeded,
        ExecutionStatus::Failed,
        ExecutionStatus::Cancelled,
        ExecutionStatus::TimedOut,
        ExecutionStatus::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Queued => "queued",
            ExecutionStatus::Running => "running",
            ExecutionStatus::Succeeded => "succeeded",
            ExecutionStatus::Failed => "failed",
            ExecutionStatus::Cancelled => "cancelled",
            ExecutionStatus::TimedOut => "timed_out",
            ExecutionStatus::Skipped => "skipped",
        }
    }

    pub fn parse(text: &str) -> Option<ExecutionStatus> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, ExecutionStatus::Queued | ExecutionStatus::Running)
    }
}

impl fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a failed execution failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionError {
    /// 0-based index of the cell in the user's notebook (the injected-parameters cell not counted).
    pub cell_index: Option<usize>,
    pub ename: String,
    pub evalue: String,
    pub traceback: Vec<String>,
}

/// Cell n of m as the user's notebook counts them (the injected-parameters cell not counted): `cell`
/// is the 0-based index of the cell running (or last run), `total` the notebook's cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellProgress {
    pub cell: usize,
    pub total: usize,
}

/// One run of a notebook, scheduled or ad hoc. Each retry is its own execution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Execution {
    pub id: String,
    /// `<schedule or notebook stem>_at_YYYY_MM_DD_HH_MM_SS` in UTC (see `context::execution_name`),
    /// `_attempt_N` for retries.
    pub name: String,
    /// Its schedule; `None` for a one-off run, and for every execution of a schedule deleted with
    /// [`RunHistory::Keep`].
    pub schedule_id: Option<String>,
    /// Its schedule's name: the current one while the schedule exists, the last one once the schedule
    /// was deleted with [`RunHistory::Keep`]; `None` for a one-off run.
    pub schedule_name: Option<String>,
    /// The notebook path relative to the root, as given.
    pub notebook: String,
    pub status: ExecutionStatus,
    /// Why it was skipped, failed without a cell error, or was cancelled.
    pub reason: Option<String>,
    pub parameters: ParameterValues,
    pub kernel: Option<String>,
    /// The machine type it runs on (`None`: no machine types were configured).
    pub machine_type: Option<String>,
    /// SHA-256 of the notebook bytes the run read (set when it starts).
    pub input_hash: Option<String>,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// 1 + retries.
    pub max_attempts: u32,
    /// The first attempt's id, for retries.
    pub first_attempt_id: Option<String>,
    /// The fire time this execution belongs to (scheduled fires only).
    pub fire_time: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Not started before this (retry back-off).
    pub ready_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub progress: Option<CellProgress>,
    pub error: Option<ExecutionError>,
    /// The output notebook, relative to the root.
    pub output_path: String,
    /// The last failed webhook delivery, if any.
    pub notify_error: Option<String>,
    pub run: RunConfig,
    /// The chain it belongs to: the id of the chain's first execution (its own id for a first one).
    pub run_id: Option<String>,
    /// The sweep that made it (`POST /api/schedules/{id}/sweep`).
    pub sweep_id: Option<String>,
    /// Where its kernel runs or ran: `"local"` or the gateway's URL (set when the run starts).
    pub kernel_location: Option<String>,
    /// The gateway's id of its kernel, once a gateway started it.
    pub gateway_kernel_id: Option<String>,
    /// The replica (`nbgate serve --replica-id`) that started it.
    pub replica: Option<String>,
}

/// An execution in short, as a schedule listing carries its newest: what a list shows of it, read
/// without its parameters, run configuration and the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionSummary {
    pub id: String,
    pub name: String,
    pub status: ExecutionStatus,
    pub reason: Option<String>,
    pub fire_time: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub progress: Option<CellProgress>,
    pub error: Option<ExecutionError>,
}

impl From<Execution> for ExecutionSummary {
    fn from(e: Execution) -> Self {
        ExecutionSummary {
            id: e.id,
            name: e.name,
            status: e.status,
            reason: e.reason,
            fire_time: e.fire_time,
            created_at: e.created_at,
            started_at: e.started_at,
            ended_at: e.ended_at,
            progress: e.progress,
            error: e.error,
        }
    }
}

/// What deleting a schedule does with its executions (the API's `?executions=keep|delete`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunHistory {
    /// Keep them and their output files, listed as before but no longer linked to a schedule
    /// (`schedule_id` `None`, `schedule_name` kept). Queued ones end `cancelled` and running ones
    /// are cancelled (keeping their partial output), with the reason "its schedule was deleted".
    #[default]
    Keep,
    /// Delete them and their output files (running ones are cancelled; their file is deleted when
    /// the run has stopped).
    Delete,
}

/// Why queued and running executions of a schedule deleted with [`RunHistory::Keep`] ended.
pub const SCHEDULE_DELETED: &str = "its schedule was deleted";

/// How an execution runs, fixed when it is created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    #[serde(with = "opt_millis")]
    pub timeout: Option<Duration>,
    #[serde(with = "opt_millis")]
    pub cell_timeout: Option<Duration>,
    #[serde(with = "millis")]
    pub retry_delay: Duration,
    /// Read the schedule's snapshot instead of the live notebook.
    pub snapshot: bool,
    /// Glob patterns of the files the run writes, relative to the kernel's working directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    /// Rules on what the run records (see [`crate::expect`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect: Vec<String>,
    /// Parameters resolved when the run starts, and what its end triggers (see [`crate::pipeline`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<PipelineRun>,
}

/// An execution's part in a pipeline, fixed when it is created.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineRun {
    /// Upstream schedule name → the execution of it this one follows.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub upstreams: BTreeMap<String, String>,
    /// Parameter name → reference (the schedule's `parameters_from`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters_from: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fire_time_parameter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fire_time_format: Option<String>,
    /// The schedule's time zone (for the fire time's format).
    #[serde(default)]
    pub timezone: String,
    /// Set once the references are resolved into `parameters` (a retry or rerun keeps them).
    #[serde(default)]
    pub resolved: bool,
    /// Its end does not fire the schedule's dependants (backfill without `downstream`, sweeps).
    #[serde(default)]
    pub no_downstream: bool,
}

/// An ad-hoc run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewExecution {
    pub notebook: String,
    pub parameters: ParameterValues,
    pub allow_undeclared_parameters: bool,
    pub kernel: Option<String>,
    pub timeout: Option<Duration>,
    pub cell_timeout: Option<Duration>,
    /// Default `executions`.
    pub output_dir: Option<String>,
    pub retries: u32,
    pub retry_delay: Option<Duration>,
    /// Glob patterns of the files the run writes, relative to the kernel's working directory.
    pub outputs: Vec<String>,
    /// Rules on what the run records (see [`crate::expect`]).
    pub expect: Vec<String>,
    /// The machine type to run on; `None`: the default type.
    pub machine_type: Option<String>,
}

/// Which executions to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecutionFilter {
    /// A schedule id.
    pub schedule: Option<String>,
    pub status: Option<ExecutionStatus>,
}

/// One page of a newest-first listing; `next_cursor` fetches the following page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A kernelspec offered as a choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Environment {
    pub name: String,
    pub display_name: String,
    pub language: String,
}

/// A parameter of a notebook, for forms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParameterInfo {
    pub name: String,
    /// int, float, bool, str, list, dict, null or unknown.
    #[serde(rename = "type")]
    pub kind: String,
    /// The default as written in the cell.
    pub default: String,
    pub default_value: Option<Value>,
    pub help: String,
}

/// What `notebook_parameters` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotebookParameters {
    pub language: Option<String>,
    pub kernel: Option<String>,
    /// `None` when the notebook has no `parameters` cell.
    pub parameters: Option<Vec<ParameterInfo>>,
}

pub(crate) mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(value.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

pub(crate) mod opt_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => s.serialize_some(&(duration.as_millis() as u64)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

//! One error enum for the crate, and the validation errors the API maps to 4xx. Each variant carries the
//! facts a user needs to fix the request.

use std::path::PathBuf;

/// A request that cannot be accepted as given (the API answers 422, or 400 for malformed input).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValidationError {
    #[error("invalid name {name:?}: use 1 to 128 characters among a-z, 0-9 and _")]
    InvalidName { name: String },
    #[error("a schedule named {name:?} already exists")]
    NameTaken { name: String },
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath { path: String, reason: String },
    #[error("notebook {path:?} not found under the root directory")]
    NotebookNotFound { path: String },
    #[error("notebook {path:?} cannot be read: {reason}")]
    UnreadableNotebook { path: String, reason: String },
    #[error("invalid cron expression {expression:?}: {reason}")]
    InvalidCron { expression: String, reason: String },
    #[error("invalid interval {interval:?}: {reason}")]
    InvalidInterval { interval: String, reason: String },
    #[error("give exactly one of `cron` and `every`")]
    RecurrenceRequired,
    /// A parameter name that is not an identifier (it would be pasted into code).
    #[error("{0}")]
    InvalidParameterName(String),
    #[error("unknown time zone {timezone:?}: use an IANA name such as Europe/Paris or UTC")]
    InvalidTimezone { timezone: String },
    #[error("unknown parameters {unknown:?}; the notebook's parameters cell declares {known:?}")]
    UnknownParameters {
        unknown: Vec<String>,
        known: Vec<String>,
    },
    #[error(
        "the notebook has no cell tagged `parameters`, so {given:?} cannot be checked; tag one or \
         set allow_undeclared_parameters"
    )]
    NoParametersCell { given: Vec<String> },
    #[error(
        "parameter {name:?} must be {expected} (its default in the notebook is {default}), got {got}"
    )]
    WrongParameterType {
        name: String,
        expected: String,
        default: String,
        got: String,
    },
    #[error("unknown kernel {name:?}; available: {available:?}")]
    KernelNotFound {
        name: String,
        available: Vec<String>,
    },
    #[error("no kernel given and the notebook names none; available: {available:?}")]
    NoKernel { available: Vec<String> },
    #[error("{field} must be {constraint}, got {value}")]
    OutOfRange {
        field: &'static str,
        constraint: &'static str,
        value: String,
    },
    #[error("invalid webhook URL {url:?}: {reason}")]
    InvalidWebhook { url: String, reason: String },
    #[error("invalid output pattern {pattern:?}: {reason}")]
    InvalidOutputPattern { pattern: String, reason: String },
    #[error("invalid expectation {rule:?}: {reason}")]
    InvalidExpectation { rule: String, reason: String },
    #[error(
        "output {path:?} is not a table: a preview reads CSV, TSV, JSON lines and Parquet files"
    )]
    NotATable { path: String },
    #[error("output {path:?} cannot be previewed: {reason}")]
    UnreadableTable { path: String, reason: String },
    #[error("invalid cursor {cursor:?}")]
    InvalidCursor { cursor: String },
    /// `after`, `parameters_from`, `fire_time_parameter`, a backfill or a sweep that cannot be
    /// accepted (see `pipeline`); the message names the field and the problem.
    #[error("{field}: {reason}")]
    InvalidPipeline { field: String, reason: String },
    #[error("after: {} would make a cycle", cycle.join(" → "))]
    Cycle { cycle: Vec<String> },
    #[error(
        "unknown machine type {name:?}; {}",
        if known.is_empty() {
            "no machine types are configured (nbgate serve --machine-types FILE)".to_owned()
        } else {
            format!("known: {}", known.join(", "))
        }
    )]
    UnknownMachineType { name: String, known: Vec<String> },
    #[error("machine type {machine_type:?} does not run kernel {kernel:?}; it runs: {}", kernels.join(", "))]
    KernelNotOnMachineType {
        machine_type: String,
        kernel: String,
        kernels: Vec<String>,
    },
}

/// Everything the scheduler's service can answer with besides success.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error(transparent)]
    Validation(#[from] ValidationError),
    #[error("{kind} {id:?} not found")]
    NotFound { kind: &'static str, id: String },
    #[error("execution {id:?} is {status}: {action} is not possible")]
    WrongState {
        id: String,
        status: String,
        action: &'static str,
    },
    #[error("store error: {0}")]
    Store(#[from] StoreError),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the scheduler is shutting down")]
    ShuttingDown,
    #[error(
        "schedule {name:?} runs before {dependants:?} (their `after`): delete or change them \
         first, or delete with cascade=true to delete them too"
    )]
    HasDependants {
        name: String,
        dependants: Vec<String>,
    },
}

/// A failure of the store itself (the API answers 500 and logs it).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A PostgreSQL error, with the server's message when it sent one.
    #[error("postgres: {0}")]
    Postgres(String),
    /// The PostgreSQL server cannot be reached (a pool that cannot connect, a lost connection).
    #[error("the PostgreSQL store is unavailable: {0}")]
    Unavailable(String),
    #[error("corrupt row in {table}: {reason}")]
    Corrupt { table: &'static str, reason: String },
    #[error("store migration {version} failed: {reason}")]
    Migration { version: u32, reason: String },
    #[error("the store task panicked or was cancelled")]
    Task,
    #[error("a schedule named {name:?} already exists")]
    NameTaken { name: String },
}

impl SchedulerError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        SchedulerError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = SchedulerError> = std::result::Result<T, E>;

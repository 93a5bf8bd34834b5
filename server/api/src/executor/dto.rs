//! The executor API's request and response bodies (DESIGN.md §3 field names). Domain types stay in the
//! scheduler; this file is the only place that knows their JSON shape on the wire. Times are RFC 3339
//! (UTC, milliseconds), durations are seconds as numbers.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use nbgate_scheduler::{
    Catchup, CellProgress, Environment, Execution, ExecutionError, InputMode, NewExecution,
    NotebookParameters, Notify, Overlap, ParameterInfo, ParameterValues, Recurrence, RunHistory,
    Schedule, SchedulePatch, ScheduleSpec, ValidationError,
};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

pub(crate) fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) fn opt_time(at: Option<DateTime<Utc>>) -> Option<String> {
    at.map(time)
}

fn secs(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

/// Seconds from a request: a positive, finite number.
fn duration(field: &'static str, seconds: f64) -> Result<Duration, ValidationError> {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|duration| !duration.is_zero())
        .ok_or(ValidationError::OutOfRange {
            field,
            constraint: "a positive number of seconds",
            value: seconds.to_string(),
        })
}

fn opt_duration(
    field: &'static str,
    seconds: Option<f64>,
) -> Result<Option<Duration>, ValidationError> {
    seconds.map(|s| duration(field, s)).transpose()
}

/// `Some(None)` for an explicit `null`, `None` for an absent field (PATCH semantics).
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// `cron` xor `every`.
fn recurrence(
    cron: Option<String>,
    every: Option<String>,
) -> Result<Option<Recurrence>, ValidationError> {
    match (cron, every) {
        (Some(_), Some(_)) => Err(ValidationError::RecurrenceRequired),
        (Some(cron), None) => Ok(Some(Recurrence::Cron(cron))),
        (None, Some(every)) => Ok(Some(Recurrence::Every(every))),
        (None, None) => Ok(None),
    }
}

// ---- requests ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotebookPath {
    pub path: String,
}

/// `POST /api/executions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateExecution {
    notebook: String,
    #[serde(default)]
    parameters: ParameterValues,
    #[serde(default)]
    allow_undeclared_parameters: bool,
    kernel: Option<String>,
    timeout: Option<f64>,
    cell_timeout: Option<f64>,
    output_dir: Option<String>,
    #[serde(default)]
    retries: u32,
    retry_delay: Option<f64>,
    /// Glob patterns of the files the run writes, relative to the notebook's folder.
    #[serde(default)]
    outputs: Vec<String>,
    /// Rules on what the run records (`accuracy >= 0.8`, `rows(GLOB) > 0`, `exists NAME`).
    #[serde(default)]
    expect: Vec<String>,
}

impl CreateExecution {
    pub fn into_domain(self) -> Result<NewExecution, ValidationError> {
        Ok(NewExecution {
            notebook: self.notebook,
            parameters: self.parameters,
            allow_undeclared_parameters: self.allow_undeclared_parameters,
            kernel: self.kernel,
            timeout: opt_duration("timeout", self.timeout)?,
            cell_timeout: opt_duration("cell_timeout", self.cell_timeout)?,
            output_dir: self.output_dir,
            retries: self.retries,
            retry_delay: opt_duration("retry_delay", self.retry_delay)?,
            outputs: self.outputs,
            expect: self.expect,
        })
    }
}

/// A webhook as clients send and see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotifyDto {
    url: String,
    #[serde(default = "yes")]
    on_failure: bool,
    #[serde(default)]
    on_success: bool,
}

fn yes() -> bool {
    true
}

impl From<NotifyDto> for Notify {
    fn from(dto: NotifyDto) -> Notify {
        Notify {
            url: dto.url,
            on_failure: dto.on_failure,
            on_success: dto.on_success,
        }
    }
}

impl From<Notify> for NotifyDto {
    fn from(notify: Notify) -> NotifyDto {
        NotifyDto {
            url: notify.url,
            on_failure: notify.on_failure,
            on_success: notify.on_success,
        }
    }
}

/// `POST /api/schedules`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateSchedule {
    name: String,
    notebook: String,
    #[serde(default)]
    parameters: ParameterValues,
    #[serde(default)]
    allow_undeclared_parameters: bool,
    kernel: Option<String>,
    cron: Option<String>,
    every: Option<String>,
    timezone: Option<String>,
    #[serde(default)]
    paused: bool,
    input: Option<InputMode>,
    max_concurrent: Option<u32>,
    overlap: Option<Overlap>,
    catchup: Option<Catchup>,
    retries: Option<u32>,
    retry_delay: Option<f64>,
    timeout: Option<f64>,
    cell_timeout: Option<f64>,
    notify: Option<NotifyDto>,
    output_dir: Option<String>,
    retention: Option<u32>,
    #[serde(default)]
    outputs: Vec<String>,
    stale_after: Option<f64>,
    #[serde(default)]
    expect: Vec<String>,
}

impl CreateSchedule {
    pub fn into_domain(self) -> Result<ScheduleSpec, ValidationError> {
        let recurrence =
            recurrence(self.cron, self.every)?.ok_or(ValidationError::RecurrenceRequired)?;
        let timezone = self.timezone.unwrap_or_else(|| "UTC".into());
        let mut spec = ScheduleSpec::new(&self.name, &self.notebook, recurrence, &timezone);
        spec.parameters = self.parameters;
        spec.allow_undeclared_parameters = self.allow_undeclared_parameters;
        spec.kernel = self.kernel;
        spec.paused = self.paused;
        spec.input = self.input.unwrap_or(spec.input);
        spec.max_concurrent = self.max_concurrent.unwrap_or(spec.max_concurrent);
        spec.overlap = self.overlap.unwrap_or(spec.overlap);
        spec.catchup = self.catchup.unwrap_or(spec.catchup);
        spec.retries = self.retries.unwrap_or(spec.retries);
        if let Some(delay) = self.retry_delay {
            spec.retry_delay = duration("retry_delay", delay)?;
        }
        spec.timeout = opt_duration("timeout", self.timeout)?;
        spec.cell_timeout = opt_duration("cell_timeout", self.cell_timeout)?;
        spec.notify = self.notify.map(Notify::from);
        if let Some(dir) = self.output_dir {
            spec.output_dir = dir;
        }
        spec.retention = self.retention;
        spec.outputs = self.outputs;
        spec.expect = self.expect;
        spec.stale_after = opt_duration("stale_after", self.stale_after)?;
        Ok(spec)
    }
}

/// `PATCH /api/schedules/{id}`: absent fields stay, `null` clears the optional ones.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchSchedule {
    name: Option<String>,
    notebook: Option<String>,
    parameters: Option<ParameterValues>,
    allow_undeclared_parameters: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    kernel: Option<Option<String>>,
    cron: Option<String>,
    every: Option<String>,
    timezone: Option<String>,
    paused: Option<bool>,
    input: Option<InputMode>,
    max_concurrent: Option<u32>,
    overlap: Option<Overlap>,
    catchup: Option<Catchup>,
    retries: Option<u32>,
    retry_delay: Option<f64>,
    #[serde(default, deserialize_with = "nullable")]
    timeout: Option<Option<f64>>,
    #[serde(default, deserialize_with = "nullable")]
    cell_timeout: Option<Option<f64>>,
    #[serde(default, deserialize_with = "nullable")]
    notify: Option<Option<NotifyDto>>,
    output_dir: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    retention: Option<Option<u32>>,
    outputs: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    stale_after: Option<Option<f64>>,
    expect: Option<Vec<String>>,
}

impl PatchSchedule {
    pub fn into_domain(self) -> Result<SchedulePatch, ValidationError> {
        Ok(SchedulePatch {
            name: self.name,
            notebook: self.notebook,
            parameters: self.parameters,
            allow_undeclared_parameters: self.allow_undeclared_parameters,
            kernel: self.kernel,
            recurrence: recurrence(self.cron, self.every)?,
            timezone: self.timezone,
            paused: self.paused,
            input: self.input,
            max_concurrent: self.max_concurrent,
            overlap: self.overlap,
            catchup: self.catchup,
            retries: self.retries,
            retry_delay: self
                .retry_delay
                .map(|s| duration("retry_delay", s))
                .transpose()?,
            timeout: self
                .timeout
                .map(|s| opt_duration("timeout", s))
                .transpose()?,
            cell_timeout: self
                .cell_timeout
                .map(|s| opt_duration("cell_timeout", s))
                .transpose()?,
            notify: self.notify.map(|notify| notify.map(Notify::from)),
            output_dir: self.output_dir,
            retention: self.retention,
            outputs: self.outputs,
            stale_after: self
                .stale_after
                .map(|s| opt_duration("stale_after", s))
                .transpose()?,
            expect: self.expect,
        })
    }
}

/// `POST /api/schedules/{id}/run`: optional parameter overrides.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunNow {
    #[serde(default)]
    pub parameters: ParameterValues,
}

/// `GET /api/executions` query (other query parameters, such as `token`, are ignored).
#[derive(Debug, Deserialize)]
pub(crate) struct ListExecutions {
    pub schedule: Option<String>,
    pub status: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// `DELETE /api/executions/{id}` query: `delete_file=true` deletes its output notebook too.
#[derive(Debug, Deserialize)]
pub(crate) struct DeleteExecutionQuery {
    #[serde(default, alias = "delete_files")]
    pub delete_file: bool,
}

/// `DELETE /api/schedules/{id}` query: `executions=keep` (the default) or `executions=delete`;
/// `delete_files=true`, the older spelling, still means `executions=delete`.
#[derive(Debug, Deserialize)]
pub(crate) struct DeleteScheduleQuery {
    executions: Option<HistoryChoice>,
    delete_files: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum HistoryChoice {
    Keep,
    Delete,
}

impl DeleteScheduleQuery {
    /// What to do with the schedule's executions; `Err` (a 400's message) for a `delete_files` that
    /// is not `true` or contradicts `executions`.
    pub fn history(&self) -> Result<RunHistory, String> {
        use HistoryChoice::{Delete, Keep};
        match (self.executions, self.delete_files) {
            (None | Some(Keep), None) => Ok(RunHistory::Keep),
            (None | Some(Delete), Some(true)) | (Some(Delete), None) => Ok(RunHistory::Delete),
            (_, Some(_)) => Err(
                "`delete_files` is replaced by `executions`: executions=keep keeps \
                 the schedule's executions and their output notebooks, executions=delete deletes \
                 both (delete_files=true alone still means executions=delete)"
                    .into(),
            ),
        }
    }
}

// ---- responses ----

#[derive(Debug, Serialize)]
pub(crate) struct EnvironmentDto {
    name: String,
    display_name: String,
    language: String,
}

impl From<Environment> for EnvironmentDto {
    fn from(env: Environment) -> Self {
        EnvironmentDto {
            name: env.name,
            display_name: env.display_name,
            language: env.language,
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct ParameterDto {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    default: String,
    default_value: Option<Value>,
    help: String,
}

impl From<ParameterInfo> for ParameterDto {
    fn from(info: ParameterInfo) -> Self {
        ParameterDto {
            name: info.name,
            kind: info.kind,
            default: info.default,
            default_value: info.default_value,
            help: info.help,
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct NotebookParametersDto {
    language: Option<String>,
    kernel: Option<String>,
    /// `null` when the notebook has no `parameters` cell.
    parameters: Option<Vec<ParameterDto>>,
}

impl From<NotebookParameters> for NotebookParametersDto {
    fn from(found: NotebookParameters) -> Self {
        NotebookParametersDto {
            language: found.language,
            kernel: found.kernel,
            parameters: found
                .parameters
                .map(|list| list.into_iter().map(ParameterDto::from).collect()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ProgressDto {
    /// 0-based index of the cell running (or last run) in the user's notebook, of `total` cells
    /// (the injected-parameters cell is not counted in either).
    cell: usize,
    total: usize,
}

impl From<CellProgress> for ProgressDto {
    fn from(progress: CellProgress) -> Self {
        ProgressDto {
            cell: progress.cell,
            total: progress.total,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ErrorDto {
    /// 0-based, in the user's notebook (the injected-parameters cell not counted).
    cell_index: Option<usize>,
    ename: String,
    evalue: String,
    traceback: Vec<String>,
}

impl From<ExecutionError> for ErrorDto {
    fn from(error: ExecutionError) -> Self {
        ErrorDto {
            cell_index: error.cell_index,
            ename: error.ename,
            evalue: error.evalue,
            traceback: error.traceback,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ExecutionDto {
    id: String,
    name: String,
    schedule_id: Option<String>,
    /// The schedule's name; kept when the schedule is deleted with its executions (`schedule_id`
    /// is then `null`); `null` for a one-off run.
    schedule_name: Option<String>,
    notebook: String,
    status: &'static str,
    reason: Option<String>,
    parameters: ParameterValues,
    kernel: Option<String>,
    input_hash: Option<String>,
    attempt: u32,
    max_attempts: u32,
    first_attempt_id: Option<String>,
    fire_time: Option<String>,
    created_at: String,
    ready_at: String,
    started_at: Option<String>,
    ended_at: Option<String>,
    /// Seconds from start to end, once ended.
    duration: Option<f64>,
    progress: Option<ProgressDto>,
    error: Option<ErrorDto>,
    output_path: String,
    notify_error: Option<String>,
    timeout: Option<f64>,
    cell_timeout: Option<f64>,
    retry_delay: f64,
    /// The `outputs` glob patterns it was given.
    output_patterns: Vec<String>,
    /// The `expect` rules it was given.
    expect: Vec<String>,
    /// Its recorded output files: only in `GET /api/executions/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    outputs: Option<Vec<super::outputs::OutputFileDto>>,
    /// Its recorded values, `{name: value}`: in `GET /api/executions/{id}` and the listing.
    #[serde(skip_serializing_if = "Option::is_none")]
    values: Option<serde_json::Map<String, Value>>,
}

impl ExecutionDto {
    /// With its recorded output files.
    pub fn with_outputs(mut self, outputs: Vec<super::outputs::OutputFileDto>) -> Self {
        self.outputs = Some(outputs);
        self
    }

    /// With its recorded values.
    pub fn with_values(mut self, values: serde_json::Map<String, Value>) -> Self {
        self.values = Some(values);
        self
    }
}

impl From<Execution> for ExecutionDto {
    fn from(e: Execution) -> Self {
        let duration = match (e.started_at, e.ended_at) {
            (Some(start), Some(end)) => Some((end - start).num_milliseconds().max(0) as f64 / 1e3),
            _ => None,
        };
        ExecutionDto {
            id: e.id,
            name: e.name,
            schedule_id: e.schedule_id,
            schedule_name: e.schedule_name,
            notebook: e.notebook,
            status: e.status.as_str(),
            reason: e.reason,
            parameters: e.parameters,
            kernel: e.kernel,
            input_hash: e.input_hash,
            attempt: e.attempt,
            max_attempts: e.max_attempts,
            first_attempt_id: e.first_attempt_id,
            fire_time: opt_time(e.fire_time),
            created_at: time(e.created_at),
            ready_at: time(e.ready_at),
            started_at: opt_time(e.started_at),
            ended_at: opt_time(e.ended_at),
            duration,
            progress: e.progress.map(ProgressDto::from),
            error: e.error.map(ErrorDto::from),
            output_path: e.output_path,
            notify_error: e.notify_error,
            timeout: e.run.timeout.map(secs),
            cell_timeout: e.run.cell_timeout.map(secs),
            retry_delay: secs(e.run.retry_delay),
            output_patterns: e.run.outputs,
            expect: e.run.expect,
            outputs: None,
            values: None,
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct ScheduleDto {
    id: String,
    name: String,
    notebook: String,
    parameters: ParameterValues,
    allow_undeclared_parameters: bool,
    kernel: Option<String>,
    cron: Option<String>,
    every: Option<String>,
    timezone: String,
    paused: bool,
    input: InputMode,
    max_concurrent: u32,
    overlap: Overlap,
    catchup: Catchup,
    retries: u32,
    retry_delay: f64,
    timeout: Option<f64>,
    cell_timeout: Option<f64>,
    notify: Option<NotifyDto>,
    output_dir: String,
    retention: Option<u32>,
    outputs: Vec<String>,
    stale_after: Option<f64>,
    expect: Vec<String>,
    /// Only in `GET /api/schedules/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    freshness: Option<super::outputs::FreshnessDto>,
    next_run: Option<String>,
    last_fire: Option<String>,
    /// "Every day at 10:00 (Asia/Tokyo)".
    description: String,
    snapshot_hash: Option<String>,
    created_at: String,
    updated_at: String,
    /// The newest execution of the schedule.
    last_execution: Option<ExecutionDto>,
}

impl ScheduleDto {
    pub fn new(schedule: Schedule, last_execution: Option<Execution>) -> Self {
        let spec = schedule.spec;
        let (cron, every) = match spec.recurrence {
            Recurrence::Cron(cron) => (Some(cron), None),
            Recurrence::Every(every) => (None, Some(every)),
        };
        ScheduleDto {
            id: schedule.id,
            name: spec.name,
            notebook: spec.notebook,
            parameters: spec.parameters,
            allow_undeclared_parameters: spec.allow_undeclared_parameters,
            kernel: spec.kernel,
            cron,
            every,
            timezone: spec.timezone,
            paused: spec.paused,
            input: spec.input,
            max_concurrent: spec.max_concurrent,
            overlap: spec.overlap,
            catchup: spec.catchup,
            retries: spec.retries,
            retry_delay: secs(spec.retry_delay),
            timeout: spec.timeout.map(secs),
            cell_timeout: spec.cell_timeout.map(secs),
            notify: spec.notify.map(NotifyDto::from),
            output_dir: spec.output_dir,
            retention: spec.retention,
            outputs: spec.outputs,
            stale_after: spec.stale_after.map(secs),
            expect: spec.expect,
            freshness: None,
            next_run: opt_time(schedule.next_run),
            last_fire: opt_time(schedule.last_fire),
            description: schedule.description,
            snapshot_hash: schedule.snapshot_hash,
            created_at: time(schedule.created_at),
            updated_at: time(schedule.updated_at),
            last_execution: last_execution.map(ExecutionDto::from),
        }
    }
}

impl ScheduleDto {
    /// With its outputs' freshness.
    pub fn with_freshness(mut self, freshness: super::outputs::FreshnessDto) -> Self {
        self.freshness = Some(freshness);
        self
    }
}

/// A newest-first page.
#[derive(Debug, Serialize)]
pub(crate) struct PageDto<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

//! The executor API's request and response bodies (DESIGN.md §3 field names). Domain types stay in the
//! scheduler; this file (with the few DTOs beside their handlers in `outputs.rs`, `values.rs` and
//! `compare.rs`) is the only place that knows their JSON shape on the wire: the OpenAPI document is
//! derived from these types (`ToSchema`, doc comments as descriptions), the frontend's TypeScript types
//! are generated from that document, and the CLI client reads answers into them. Times are RFC 3339
//! (UTC, milliseconds), durations are seconds as numbers.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use nbgate_scheduler::{
    After, AfterOn, Catchup, CellProgress, Environment, Execution, ExecutionError, ExecutionStatus,
    ExecutionSummary, InputMode, NewExecution, NotebookParameters, Notify, Overlap, ParameterInfo,
    ParameterValues, Recurrence, RunHistory, Schedule, SchedulePatch, ScheduleSpec,
    ValidationError,
};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::openapi::{
    AfterOnSchema, CatchupSchema, ExecutionStatusSchema, InputModeSchema, OverlapSchema,
};

pub(crate) fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) fn opt_time(at: Option<DateTime<Utc>>) -> Option<String> {
    at.map(time)
}

fn secs(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

/// Seconds from start to end, once ended.
fn duration_between(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> Option<f64> {
    let (start, end) = (start?, end?);
    Some((end - start).num_milliseconds().max(0) as f64 / 1e3)
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

/// `cron` xor `every` xor `after`.
fn recurrence(
    cron: Option<String>,
    every: Option<String>,
    after: Option<AfterDto>,
) -> Result<Option<Recurrence>, ValidationError> {
    match (cron, every, after) {
        (Some(_), Some(_), _) => Err(ValidationError::RecurrenceRequired),
        (Some(_), None, Some(_)) | (None, Some(_), Some(_)) => {
            Err(ValidationError::InvalidPipeline {
                field: "after".into(),
                reason: "a schedule runs after others or by time: give `after` without `cron` \
                         and `every`"
                    .into(),
            })
        }
        (Some(cron), None, None) => Ok(Some(Recurrence::Cron(cron))),
        (None, Some(every), None) => Ok(Some(Recurrence::Every(every))),
        (None, None, Some(after)) => Ok(Some(Recurrence::After(after.into()))),
        (None, None, None) => Ok(None),
    }
}

/// A schedule's `after` trigger: it runs once every listed schedule has ended as `on` says since
/// it last ran (fan-in), with no time of its own.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = After)]
pub struct AfterDto {
    /// The upstream schedules' names.
    #[schema(example = json!(["prepare_data"]))]
    pub schedules: Vec<String>,
    /// `success` (the default): each upstream succeeded, and an upstream that did not records this
    /// schedule's run `skipped` with the reason; `failure`: each failed (or timed out, or was
    /// cancelled), else nothing runs; `completion`: each ended, however.
    #[serde(default)]
    #[schema(value_type = AfterOnSchema)]
    pub on: AfterOn,
}

impl From<AfterDto> for After {
    fn from(dto: AfterDto) -> After {
        After {
            schedules: dto.schedules,
            on: dto.on,
        }
    }
}

impl From<After> for AfterDto {
    fn from(after: After) -> AfterDto {
        AfterDto {
            schedules: after.schedules,
            on: after.on,
        }
    }
}

// ---- requests ----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotebookPath {
    /// The notebook, relative to the root directory.
    pub path: String,
}

/// `POST /api/executions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateExecution {
    /// Relative to the root directory.
    #[schema(example = "reports/daily.ipynb")]
    notebook: String,
    /// Parameter values by name, as JSON (numbers exact).
    #[serde(default)]
    #[schema(value_type = Map<String, Value>)]
    parameters: ParameterValues,
    /// Accept parameters the notebook's parameters cell does not declare.
    #[serde(default)]
    allow_undeclared_parameters: bool,
    /// The kernelspec's name (default: the notebook's own).
    kernel: Option<String>,
    /// The machine type to run on (`GET /api/machine-types`; default: the default type). An unknown
    /// one is a 422 naming those that exist.
    #[schema(example = "cpu-4")]
    machine_type: Option<String>,
    /// Seconds for the whole run.
    timeout: Option<f64>,
    /// Seconds for any one cell.
    cell_timeout: Option<f64>,
    /// Where the output notebook goes, relative to the root directory.
    output_dir: Option<String>,
    /// Runs again after a failure, up to this many times.
    #[serde(default)]
    retries: u32,
    /// Seconds between a failure and its retry.
    retry_delay: Option<f64>,
    /// Glob patterns, relative to the notebook's folder (the kernel's working directory), of the
    /// files a run writes (`output/day=*/predictions.csv`); no absolute paths, no `..`. The matching
    /// files a run created or changed are recorded when it ends, however it ends.
    #[serde(default)]
    outputs: Vec<String>,
    /// Rules on what a run records, each `NAME OP NUMBER` on a recorded value (`accuracy >= 0.8`),
    /// `rows(GLOB) OP NUMBER` on the summed rows of the recorded outputs whose path (relative to the
    /// notebook's folder) matches GLOB, or `exists NAME`; OP one of `< <= > >= == !=`, numbers
    /// compared as 64-bit floats; at most 64. A rule that does not parse is a 422 naming it. After a
    /// run that otherwise succeeded, a rule that does not hold ends it `failed` with `error.ename`
    /// `ExpectationFailed` and an `evalue` naming each failing rule and its value
    /// (`accuracy >= 0.8: was 0.71`).
    #[serde(default)]
    #[schema(max_items = 64)]
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
            machine_type: self.machine_type,
        })
    }
}

/// A webhook as clients send and see it: a JSON POST when an execution of the schedule ends.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Notify)]
pub struct NotifyDto {
    pub url: String,
    /// Call it when a run fails.
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub on_failure: bool,
    /// Call it when a run succeeds.
    #[serde(default)]
    pub on_success: bool,
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

/// `POST /api/schedules`: exactly one of `cron`, `every` and `after`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateSchedule {
    /// Unique; lowercase letters, digits and `_`, 1 to 128.
    #[schema(pattern = "^[a-z0-9_]{1,128}$", example = "daily_report")]
    name: String,
    /// Relative to the root directory.
    #[schema(example = "reports/daily.ipynb")]
    notebook: String,
    /// Parameter values by name, as JSON (numbers exact).
    #[serde(default)]
    #[schema(value_type = Map<String, Value>)]
    parameters: ParameterValues,
    #[serde(default)]
    allow_undeclared_parameters: bool,
    kernel: Option<String>,
    /// The machine type its executions run on (default: the default type); editable.
    #[schema(example = "cpu-4")]
    machine_type: Option<String>,
    /// A cron expression of 5 fields (minute first) or 6 (seconds first), in `timezone`.
    #[schema(example = "0 10 * * 1-5")]
    cron: Option<String>,
    /// A friendly interval (`15m`, `every 2 hours`), at multiples of it since the Unix epoch.
    every: Option<String>,
    /// IANA name (default UTC).
    #[schema(example = "Asia/Tokyo")]
    timezone: Option<String>,
    #[serde(default)]
    paused: bool,
    #[schema(value_type = Option<InputModeSchema>)]
    input: Option<InputMode>,
    /// Executions of this schedule queued or running at once (default 1).
    #[schema(minimum = 1)]
    max_concurrent: Option<u32>,
    #[schema(value_type = Option<OverlapSchema>)]
    overlap: Option<Overlap>,
    #[schema(value_type = Option<CatchupSchema>)]
    catchup: Option<Catchup>,
    retries: Option<u32>,
    /// Seconds between a failure and its retry.
    retry_delay: Option<f64>,
    /// Seconds for a whole run.
    timeout: Option<f64>,
    /// Seconds for any one cell.
    cell_timeout: Option<f64>,
    notify: Option<NotifyDto>,
    /// Where output notebooks go, relative to the root directory.
    output_dir: Option<String>,
    /// Keep its last N executions (default: all).
    #[schema(minimum = 1)]
    retention: Option<u32>,
    /// Glob patterns, relative to the notebook's folder (the kernel's working directory), of the
    /// files a run writes (`output/day=*/predictions.csv`); no absolute paths, no `..`. The matching
    /// files a run created or changed are recorded when it ends, however it ends.
    #[serde(default)]
    outputs: Vec<String>,
    /// Seconds: the schedule is `stale` when no successful run (with outputs, if it declares some)
    /// ended within it. Default: twice the schedule's period.
    stale_after: Option<f64>,
    /// As in `CreateExecution`, for each run.
    #[serde(default)]
    #[schema(max_items = 64)]
    expect: Vec<String>,
    /// Run after other schedules instead of by time (then no `cron` or `every`).
    after: Option<AfterDto>,
    /// Parameter name → where its value comes from when a run starts: `UPSTREAM.values.NAME` (a
    /// value the upstream's run recorded, with its JSON type), `UPSTREAM.parameters.NAME` (a
    /// parameter it ran with) or `fire_time`. UPSTREAM must be in `after`, the parameter in the
    /// notebook's parameters cell (a 422 names what is wrong). A reference with no value at run
    /// time fails that run with the reason, never a default.
    #[serde(default)]
    #[schema(example = json!({"threshold": "prepare_data.values.accuracy"}))]
    parameters_from: BTreeMap<String, String>,
    /// The parameter that receives each run's fire time (a run now: the time it was asked for), as
    /// `fire_time_format` writes it in `timezone`.
    #[schema(example = "RUN_DATE")]
    fire_time_parameter: Option<String>,
    /// strftime format of the fire time (default `%Y-%m-%d`).
    #[schema(example = "%Y-%m-%d")]
    fire_time_format: Option<String>,
}

impl CreateSchedule {
    pub fn into_domain(self) -> Result<ScheduleSpec, ValidationError> {
        let recurrence = recurrence(self.cron, self.every, self.after)?
            .ok_or(ValidationError::RecurrenceRequired)?;
        let timezone = self.timezone.unwrap_or_else(|| "UTC".into());
        let mut spec = ScheduleSpec::new(&self.name, &self.notebook, recurrence, &timezone);
        spec.parameters = self.parameters;
        spec.allow_undeclared_parameters = self.allow_undeclared_parameters;
        spec.kernel = self.kernel;
        spec.machine_type = self.machine_type;
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
        spec.parameters_from = self.parameters_from;
        spec.fire_time_parameter = self.fire_time_parameter;
        spec.fire_time_format = self.fire_time_format;
        Ok(spec)
    }
}

/// `PATCH /api/schedules/{id}`: absent fields stay, `null` clears the optional ones.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchSchedule {
    #[schema(pattern = "^[a-z0-9_]{1,128}$")]
    name: Option<String>,
    notebook: Option<String>,
    #[schema(value_type = Option<Map<String, Value>>)]
    parameters: Option<ParameterValues>,
    allow_undeclared_parameters: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    kernel: Option<Option<String>>,
    /// Another machine type (`null`: the default type).
    #[serde(default, deserialize_with = "nullable")]
    machine_type: Option<Option<String>>,
    cron: Option<String>,
    every: Option<String>,
    timezone: Option<String>,
    paused: Option<bool>,
    #[schema(value_type = Option<InputModeSchema>)]
    input: Option<InputMode>,
    #[schema(minimum = 1)]
    max_concurrent: Option<u32>,
    #[schema(value_type = Option<OverlapSchema>)]
    overlap: Option<Overlap>,
    #[schema(value_type = Option<CatchupSchema>)]
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
    /// Run after these schedules from now on (replaces `cron` or `every`).
    after: Option<AfterDto>,
    /// Replaces them all (`{}` clears).
    parameters_from: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "nullable")]
    fire_time_parameter: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    fire_time_format: Option<Option<String>>,
}

impl PatchSchedule {
    pub fn into_domain(self) -> Result<SchedulePatch, ValidationError> {
        Ok(SchedulePatch {
            name: self.name,
            notebook: self.notebook,
            parameters: self.parameters,
            allow_undeclared_parameters: self.allow_undeclared_parameters,
            kernel: self.kernel,
            machine_type: self.machine_type,
            recurrence: recurrence(self.cron, self.every, self.after)?,
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
            parameters_from: self.parameters_from,
            fire_time_parameter: self.fire_time_parameter,
            fire_time_format: self.fire_time_format,
        })
    }
}

/// `POST /api/schedules/{id}/run`: optional parameter overrides.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunNow {
    /// Replace the schedule's values of these parameters for this run.
    #[serde(default)]
    #[schema(value_type = Map<String, Value>)]
    pub parameters: ParameterValues,
}

/// `POST /api/schedules/preview` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SchedulePreviewQuery {
    /// How many next runs to list, 1 to 50 (default 5).
    pub count: Option<usize>,
}

/// `GET /api/executions` query (other query parameters, such as `token`, are ignored).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListExecutions {
    /// A schedule id or name.
    pub schedule: Option<String>,
    /// Only this chain's executions (the `run_id` they share), oldest first, on one page (no
    /// cursor).
    pub run_id: Option<String>,
    /// Only executions with this status.
    #[param(value_type = Option<ExecutionStatusSchema>)]
    pub status: Option<String>,
    /// Page size, 1 to 1000 (default 50).
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// `GET /api/schedules` query (other query parameters, such as `token`, are ignored).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListSchedules {
    /// Page size, 1 to 10000 (default 100): `limit=10000` reads up to 10,000 schedules in one
    /// request.
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// `DELETE /api/executions/{id}` query: `delete_file=true` deletes its output notebook too.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeleteExecutionQuery {
    /// Delete its output notebook too (only a file under the root; a symbolic link is left alone).
    /// Default false: the file stays.
    #[serde(default, alias = "delete_files")]
    pub delete_file: bool,
}

/// `DELETE /api/schedules/{id}` query: `executions=keep` (the default) or `executions=delete`;
/// `delete_files=true`, the older spelling, still means `executions=delete`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeleteScheduleQuery {
    /// `keep` (the default): its executions stay listed with their output notebooks, `schedule_id`
    /// null and `schedule_name` kept. `delete`: they and their output notebooks are deleted. Either
    /// way its queued executions are cancelled and its running ones stopped (ending `cancelled`,
    /// reason "its schedule was deleted", with `keep`).
    #[param(inline)]
    executions: Option<HistoryChoice>,
    /// Deprecated: `delete_files=true` means `executions=delete`; any other use is a 400.
    delete_files: Option<bool>,
    /// Delete the schedules that run after it (and theirs) too; without it, deleting a schedule
    /// others run after is a 409 naming them.
    #[serde(default)]
    pub cascade: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
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

/// A kernelspec, offered as a choice.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = Environment)]
pub struct EnvironmentDto {
    /// The kernelspec's name (`kernel` in requests).
    pub name: String,
    pub display_name: String,
    pub language: String,
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

/// A parameter of a notebook's parameters cell.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = Parameter)]
pub struct ParameterDto {
    pub name: String,
    /// `int`, `float`, `bool`, `str`, `list`, `dict`, `null` or `unknown` (an expression).
    #[serde(rename = "type")]
    pub kind: String,
    /// The default as written in the cell.
    pub default: String,
    /// The default as JSON, when it is a literal.
    pub default_value: Option<Value>,
    /// The comment beside it.
    pub help: String,
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

/// A notebook's language, kernel and parameters cell.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = NotebookParameters)]
pub struct NotebookParametersDto {
    pub language: Option<String>,
    pub kernel: Option<String>,
    /// `null` when the notebook has no `parameters` cell.
    pub parameters: Option<Vec<ParameterDto>>,
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

/// Where a run is: cell `cell` of `total`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = Progress)]
pub struct ProgressDto {
    /// 0-based index of the cell running (or last run) in the user's notebook, of `total` cells
    /// (the injected-parameters cell is not counted in either).
    pub cell: usize,
    /// Cells of the user's notebook.
    pub total: usize,
}

impl From<CellProgress> for ProgressDto {
    fn from(progress: CellProgress) -> Self {
        ProgressDto {
            cell: progress.cell,
            total: progress.total,
        }
    }
}

/// Why a run failed: the exception a cell raised, or `ExpectationFailed` for unmet `expect` rules.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = ExecutionError)]
pub struct ErrorDto {
    /// 0-based, in the user's notebook (the injected-parameters cell not counted).
    pub cell_index: Option<usize>,
    pub ename: String,
    pub evalue: String,
    pub traceback: Vec<String>,
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

/// An execution: one run of a notebook, queued, running or ended.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = Execution)]
pub struct ExecutionDto {
    pub id: String,
    /// `<schedule name or notebook stem>_at_YYYY_MM_DD_HH_MM_SS`, the time in UTC (the fire time of a
    /// scheduled fire, else when it was created), `_2`… when taken, `_attempt_N` for retries: names,
    /// and the output files of one folder, sort in time order.
    #[schema(example = "daily_report_at_2026_11_29_10_00_00")]
    pub name: String,
    pub schedule_id: Option<String>,
    /// The schedule's name; kept when the schedule is deleted with its executions (`schedule_id`
    /// is then `null`); `null` for a one-off run.
    pub schedule_name: Option<String>,
    /// Relative to the root directory.
    pub notebook: String,
    #[schema(value_type = ExecutionStatusSchema)]
    pub status: ExecutionStatus,
    /// Why it ended so, or was skipped, in words.
    pub reason: Option<String>,
    /// The parameter values it ran with.
    #[schema(value_type = Map<String, Value>)]
    pub parameters: ParameterValues,
    pub kernel: Option<String>,
    /// The machine type it runs on (`null` when no machine types are configured).
    pub machine_type: Option<String>,
    /// SHA-256 of the notebook bytes the run read (set when it starts).
    pub input_hash: Option<String>,
    /// 1 for the first attempt, then 2… for retries, up to `max_attempts`.
    pub attempt: u32,
    pub max_attempts: u32,
    /// The id of the first attempt, on a retry.
    pub first_attempt_id: Option<String>,
    /// The schedule's fire time it stands for; `null` for a run not fired by a schedule.
    pub fire_time: Option<String>,
    pub created_at: String,
    /// When it may start (later than `created_at` for a retry waiting out its delay).
    pub ready_at: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    /// Seconds from start to end, once ended.
    pub duration: Option<f64>,
    pub progress: Option<ProgressDto>,
    pub error: Option<ErrorDto>,
    /// The output notebook, relative to the root directory.
    pub output_path: String,
    /// Why its webhook could not be delivered.
    pub notify_error: Option<String>,
    /// Seconds for the whole run.
    pub timeout: Option<f64>,
    /// Seconds for any one cell.
    pub cell_timeout: Option<f64>,
    /// Seconds between a failure and its retry.
    pub retry_delay: f64,
    /// The `outputs` glob patterns it was given.
    pub output_patterns: Vec<String>,
    /// The `expect` rules it was given.
    pub expect: Vec<String>,
    /// Its recorded output files (those its `output_patterns` match that its run created or
    /// changed): only in `GET /api/executions/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<super::outputs::OutputFileDto>>,
    /// Its recorded values, `{name: value}`: in `GET /api/executions/{id}` and the listing. What the
    /// notebook recorded (scrapbook's `glue`, papermill's `record`), in the order first recorded (a
    /// name recorded twice has its last value): the JSON value (scrapbook's `json` encoder,
    /// papermill's `record`; numbers exact), a string (`text` encoder), or for other encoders
    /// (`pandas`, `arrow`, `display`, …) `{"encoder", "summary"}`, the summary being the text/plain
    /// rendering published with it (`display=True`), else null.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<serde_json::Map<String, Value>>,
    /// Its chain: the id of the chain's first execution (its own id when it is the first); every
    /// execution a schedule's `after` made from it shares it (`GET /api/executions?run_id=`).
    pub run_id: Option<String>,
    /// The sweep that made it (`GET /api/sweeps/{id}`).
    #[serde(default)]
    pub sweep_id: Option<String>,
    /// Upstream schedule name → the id of its execution this one ran after.
    #[serde(default)]
    pub upstreams: BTreeMap<String, String>,
    /// Where its kernel runs or ran: `"local"`, or the URL of the gateway (`nbgate serve
    /// --gateway-url`) that started it; null before its run starts.
    #[serde(default)]
    pub kernel_location: Option<String>,
    /// The gateway's id of its kernel (`GET {kernel_location}/api/kernels/{id}`), once a gateway
    /// started it.
    #[serde(default)]
    pub gateway_kernel_id: Option<String>,
    /// The `nbgate serve` replica (`--replica-id`) that ran it; null before its run starts.
    #[serde(default)]
    pub replica: Option<String>,
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
        let duration = duration_between(e.started_at, e.ended_at);
        let upstreams = (e.run.pipeline.as_ref())
            .map(|pipeline| pipeline.upstreams.clone())
            .unwrap_or_default();
        ExecutionDto {
            id: e.id,
            name: e.name,
            schedule_id: e.schedule_id,
            schedule_name: e.schedule_name,
            notebook: e.notebook,
            status: e.status,
            reason: e.reason,
            parameters: e.parameters,
            kernel: e.kernel,
            machine_type: e.machine_type,
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
            run_id: e.run_id,
            sweep_id: e.sweep_id,
            upstreams,
            kernel_location: e.kernel_location,
            gateway_kernel_id: e.gateway_kernel_id,
            replica: e.replica,
        }
    }
}

/// A schedule: a notebook, its parameters and when to run it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = Schedule)]
pub struct ScheduleDto {
    pub id: String,
    #[schema(example = "daily_report")]
    pub name: String,
    /// Relative to the root directory.
    pub notebook: String,
    #[schema(value_type = Map<String, Value>)]
    pub parameters: ParameterValues,
    pub allow_undeclared_parameters: bool,
    pub kernel: Option<String>,
    /// The machine type its executions run on (`null` when no machine types are configured).
    #[serde(default)]
    pub machine_type: Option<String>,
    /// Its cron expression, or `null` when it runs `every` or `after`.
    pub cron: Option<String>,
    /// Its friendly interval, or `null` when it runs on `cron` or `after`.
    pub every: Option<String>,
    /// The schedules it runs after, or `null` when it runs by time.
    #[serde(default)]
    pub after: Option<AfterDto>,
    /// Parameter name → reference (`UPSTREAM.values.NAME`, `UPSTREAM.parameters.NAME`, `fire_time`).
    #[serde(default)]
    pub parameters_from: BTreeMap<String, String>,
    /// The parameter that receives each run's fire time.
    #[serde(default)]
    pub fire_time_parameter: Option<String>,
    /// Its strftime format (`null`: `%Y-%m-%d`).
    #[serde(default)]
    pub fire_time_format: Option<String>,
    /// IANA name.
    pub timezone: String,
    pub paused: bool,
    #[schema(value_type = InputModeSchema)]
    pub input: InputMode,
    pub max_concurrent: u32,
    #[schema(value_type = OverlapSchema)]
    pub overlap: Overlap,
    #[schema(value_type = CatchupSchema)]
    pub catchup: Catchup,
    pub retries: u32,
    /// Seconds.
    pub retry_delay: f64,
    /// Seconds.
    pub timeout: Option<f64>,
    /// Seconds.
    pub cell_timeout: Option<f64>,
    pub notify: Option<NotifyDto>,
    pub output_dir: String,
    pub retention: Option<u32>,
    /// Its `outputs` glob patterns.
    pub outputs: Vec<String>,
    /// Seconds (`null`: twice the schedule's period).
    pub stale_after: Option<f64>,
    /// Its `expect` rules.
    pub expect: Vec<String>,
    /// Only in `GET /api/schedules/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub freshness: Option<super::outputs::FreshnessDto>,
    pub next_run: Option<String>,
    pub last_fire: Option<String>,
    /// "Every day at 10:00 (Asia/Tokyo)".
    pub description: String,
    /// Content hash of its snapshot (input `snapshot`).
    pub snapshot_hash: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// The newest execution of the schedule, in short (`GET /api/executions/{id}` has the rest).
    pub last_execution: Option<ExecutionSummaryDto>,
}

/// An execution in short, as a schedule carries its newest.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = ExecutionSummary)]
pub struct ExecutionSummaryDto {
    pub id: String,
    pub name: String,
    #[schema(value_type = ExecutionStatusSchema)]
    pub status: ExecutionStatus,
    /// Why it ended so, or was skipped, in words; for a cell's exception
    /// `cell N: ename: evalue` (N 0-based).
    pub reason: Option<String>,
    pub fire_time: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    /// Seconds from start to end, once ended.
    pub duration: Option<f64>,
    pub progress: Option<ProgressDto>,
}

impl From<ExecutionSummary> for ExecutionSummaryDto {
    fn from(e: ExecutionSummary) -> Self {
        let reason = e.reason.or_else(|| {
            e.error.map(|error| match error.cell_index {
                Some(cell) => format!("cell {cell}: {}: {}", error.ename, error.evalue),
                None => format!("{}: {}", error.ename, error.evalue),
            })
        });
        ExecutionSummaryDto {
            id: e.id,
            name: e.name,
            status: e.status,
            reason,
            fire_time: opt_time(e.fire_time),
            created_at: time(e.created_at),
            started_at: opt_time(e.started_at),
            ended_at: opt_time(e.ended_at),
            duration: duration_between(e.started_at, e.ended_at),
            progress: e.progress.map(ProgressDto::from),
        }
    }
}

impl ScheduleDto {
    pub fn new(schedule: Schedule, last_execution: Option<ExecutionSummary>) -> Self {
        let spec = schedule.spec;
        let (cron, every, after) = match spec.recurrence {
            Recurrence::Cron(cron) => (Some(cron), None, None),
            Recurrence::Every(every) => (None, Some(every), None),
            Recurrence::After(after) => (None, None, Some(AfterDto::from(after))),
        };
        ScheduleDto {
            id: schedule.id,
            name: spec.name,
            notebook: spec.notebook,
            parameters: spec.parameters,
            allow_undeclared_parameters: spec.allow_undeclared_parameters,
            kernel: spec.kernel,
            machine_type: spec.machine_type,
            cron,
            every,
            after,
            parameters_from: spec.parameters_from,
            fire_time_parameter: spec.fire_time_parameter,
            fire_time_format: spec.fire_time_format,
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
            last_execution: last_execution.map(ExecutionSummaryDto::from),
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
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PageDto<T> {
    pub items: Vec<T>,
    /// Give it as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// `POST /api/schedules/preview`: a schedule as it would be, stored nowhere.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SchedulePreviewDto {
    /// No given field is wrong (submitting them would pass these checks).
    pub valid: bool,
    /// What is wrong, by field of the body (`cron`, `timezone`, `retries`, `notebook`, …), each
    /// message the one creating the schedule would answer.
    pub errors: std::collections::BTreeMap<String, String>,
    /// The recurrence in words with its zone ("Every weekday at 06:00 (Europe/Paris)"); `null`
    /// without a valid `cron` or `every` and `timezone`.
    pub description: Option<String>,
    /// Its next fire times after now, RFC 3339 with the offset of the schedule's zone at each.
    pub next_runs: Vec<String>,
}

impl SchedulePreviewDto {
    /// The scheduler's preview, with `errors` found in the body before it (a field of the wrong
    /// type, an unknown field) first.
    pub fn new(
        preview: nbgate_scheduler::validate::SchedulePreview,
        mut errors: std::collections::BTreeMap<String, String>,
    ) -> Self {
        for (field, error) in preview.errors {
            errors.entry(field.to_owned()).or_insert(error.to_string());
        }
        SchedulePreviewDto {
            valid: errors.is_empty(),
            errors,
            description: preview.description,
            next_runs: (preview.next_runs.iter())
                .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, false))
                .collect(),
        }
    }
}

//! Rows ↔ domain types: times as milliseconds since the epoch, JSON as TEXT.

use std::sync::LazyLock;

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Row;

use crate::error::StoreError;
use crate::model::{
    CellProgress, Execution, ExecutionError, ExecutionStatus, ExecutionSummary, RunConfig,
    Schedule, ScheduleSpec,
};
use crate::service::MAX_SCHEDULE_PAGE;
use crate::timing::Timing;

pub(crate) const SCHEDULE_COLUMNS: &str =
    "id, name, spec, paused, next_fire, last_fire, snapshot_hash, created_at, updated_at";

pub(crate) const EXECUTION_COLUMNS: &str = "id, name, schedule_id, notebook, status, reason, \
    parameters, kernel, input_hash, attempt, max_attempts, first_attempt_id, fire_time, created_at, \
    ready_at, started_at, ended_at, progress_cell, progress_total, error, output_path, notify_error, \
    run, schedule_name, run_id, sweep_id, kernel_location, gateway_kernel_id, machine_type, replica, seq";

/// [`EXECUTION_COLUMNS`] as read from `executions`: `schedule_name` is the schedule's current name
/// while the execution is linked to it, the stored one once the schedule was deleted.
pub(crate) const EXECUTION_SELECT: &str = "id, name, schedule_id, notebook, status, reason, \
    parameters, kernel, input_hash, attempt, max_attempts, first_attempt_id, fire_time, created_at, \
    ready_at, started_at, ended_at, progress_cell, progress_total, error, output_path, notify_error, \
    run, CASE WHEN schedule_id IS NULL THEN schedule_name \
    ELSE (SELECT s.name FROM schedules s WHERE s.id = executions.schedule_id) END, run_id, sweep_id, \
    kernel_location, gateway_kernel_id, machine_type, replica, seq";

/// What [`execution_summary`] reads of a schedule's newest execution (`e`), in order.
const SUMMARY_COLUMNS: [&str; 11] = [
    "id",
    "name",
    "status",
    "reason",
    "fire_time",
    "created_at",
    "started_at",
    "ended_at",
    "progress_cell",
    "progress_total",
    "error",
];

/// The select list of a schedule listing: [`SUMMARY_COLUMNS`] of its newest execution `e` (all
/// NULL without one), then [`SCHEDULE_COLUMNS`] of the schedule `s`, as
/// [`schedule_with_latest`] reads them.
pub(crate) fn schedules_with_latest_select() -> String {
    let execution = SUMMARY_COLUMNS.map(|column| format!("e.{column}"));
    let schedule = SCHEDULE_COLUMNS
        .split(", ")
        .map(|column| format!("s.{column}"));
    (execution.into_iter().chain(schedule))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A row of a schedule listing (see [`schedules_with_latest_select`]), its spec not parsed yet.
pub(crate) fn schedule_with_latest(
    row: &impl Columns,
) -> Result<(StoredSchedule, Option<ExecutionSummary>), StoreError> {
    let latest = match row.opt_text(0)? {
        Some(_) => Some(execution_summary(row)?),
        None => None,
    };
    Ok((stored_schedule_at(row, SUMMARY_COLUMNS.len())?, latest))
}

/// Room for a listing of up to `limit` rows, reserved at once (a page of schedules is up to
/// [`MAX_SCHEDULE_PAGE`] + 1 rows of several hundred bytes each).
pub(crate) fn listing_capacity(limit: usize) -> usize {
    limit.min(MAX_SCHEDULE_PAGE + 1)
}

fn execution_summary(row: &impl Columns) -> Result<ExecutionSummary, StoreError> {
    let status = row.text(2)?;
    let status = ExecutionStatus::parse(&status)
        .ok_or_else(|| corrupt("executions", format!("unknown status {status:?}")))?;
    Ok(ExecutionSummary {
        id: row.text(0)?,
        name: row.text(1)?,
        status,
        reason: row.opt_text(3)?,
        fire_time: row.opt_int(4)?.map(time),
        created_at: time(row.int(5)?),
        started_at: row.opt_int(6)?.map(time),
        ended_at: row.opt_int(7)?.map(time),
        progress: progress(row.opt_int(8)?, row.opt_int(9)?),
        error: match row.opt_text(10)? {
            Some(text) => Some(json("executions", &text)?),
            None => None,
        },
    })
}

fn progress(cell: Option<i64>, total: Option<i64>) -> Option<CellProgress> {
    match (cell, total) {
        (Some(cell), Some(total)) => Some(CellProgress {
            cell: cell as usize,
            total: total as usize,
        }),
        _ => None,
    }
}

pub(crate) fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

pub(crate) fn opt_millis(time: Option<DateTime<Utc>>) -> Option<i64> {
    time.map(millis)
}

fn time(value: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(value).single().unwrap_or_default()
}

fn corrupt(table: &'static str, reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        table,
        reason: reason.to_string(),
    }
}

fn json<T: serde::de::DeserializeOwned>(table: &'static str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|error| corrupt(table, error))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// A result row as both backends read it: a column by position, as text or as an integer (`None`
/// for NULL). rusqlite's rows and tokio-postgres's rows implement it, so one mapping reads both.
pub(crate) trait Columns {
    fn opt_text(&self, at: usize) -> Result<Option<String>, StoreError>;
    fn opt_int(&self, at: usize) -> Result<Option<i64>, StoreError>;

    fn text(&self, at: usize) -> Result<String, StoreError> {
        self.opt_text(at)?
            .ok_or_else(|| corrupt("a row", format!("column {at} is NULL")))
    }
    fn int(&self, at: usize) -> Result<i64, StoreError> {
        self.opt_int(at)?
            .ok_or_else(|| corrupt("a row", format!("column {at} is NULL")))
    }
}

impl Columns for Row<'_> {
    fn opt_text(&self, at: usize) -> Result<Option<String>, StoreError> {
        Ok(self.get(at)?)
    }
    fn opt_int(&self, at: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.get(at)?)
    }
}

/// The position of `column` in [`EXECUTION_COLUMNS`].
fn execution_column(column: &str) -> usize {
    EXECUTION_COLUMNS
        .split(", ")
        .position(|name| name.trim() == column)
        .unwrap_or(usize::MAX)
}

/// The positions in [`EXECUTION_COLUMNS`] of the columns [`execution`] reads by name, found once
/// (a listing reads thousands of rows).
struct NamedColumns {
    machine_type: usize,
    replica: usize,
    kernel_location: usize,
    gateway_kernel_id: usize,
    seq: usize,
}

static NAMED_COLUMNS: LazyLock<NamedColumns> = LazyLock::new(|| NamedColumns {
    machine_type: execution_column("machine_type"),
    replica: execution_column("replica"),
    kernel_location: execution_column("kernel_location"),
    gateway_kernel_id: execution_column("gateway_kernel_id"),
    seq: execution_column("seq"),
});

pub(crate) fn schedule(row: &impl Columns) -> Result<Schedule, StoreError> {
    schedule_at(row, 0)
}

/// A schedule read from [`SCHEDULE_COLUMNS`] starting at column `at`.
pub(crate) fn schedule_at(row: &impl Columns, at: usize) -> Result<Schedule, StoreError> {
    stored_schedule_at(row, at)?.parse()
}

/// [`SCHEDULE_COLUMNS`] from column `at` on, as stored.
fn stored_schedule_at(row: &impl Columns, at: usize) -> Result<StoredSchedule, StoreError> {
    Ok(StoredSchedule {
        id: row.text(at)?,
        name: row.text(at + 1)?,
        spec: row.text(at + 2)?,
        next_fire: row.opt_int(at + 4)?,
        last_fire: row.opt_int(at + 5)?,
        snapshot_hash: row.opt_text(at + 6)?,
        created_at: row.int(at + 7)?,
        updated_at: row.int(at + 8)?,
    })
}

/// A schedule's row as stored, its spec JSON not parsed: everything its [`Schedule`] is made of,
/// so two equal rows make equal schedules. A listing keeps what it wrote for a row and writes it
/// again only when the row differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSchedule {
    pub id: String,
    pub name: String,
    spec: String,
    next_fire: Option<i64>,
    last_fire: Option<i64>,
    snapshot_hash: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl StoredSchedule {
    /// The schedule: its spec parsed, its recurrence described.
    pub fn parse(&self) -> Result<Schedule, StoreError> {
        let spec: ScheduleSpec = json("schedules", &self.spec)?;
        let description = Timing::cached(&spec.recurrence, &spec.timezone)
            .map(|timing| timing.describe())
            .unwrap_or_default();
        Ok(Schedule {
            id: self.id.clone(),
            spec,
            next_run: self.next_fire.map(time),
            last_fire: self.last_fire.map(time),
            description,
            snapshot_hash: self.snapshot_hash.clone(),
            created_at: time(self.created_at),
            updated_at: time(self.updated_at),
        })
    }
}

/// An execution and its listing position.
pub(crate) fn execution(row: &impl Columns) -> Result<(i64, Execution), StoreError> {
    let status = row.text(4)?;
    let status = ExecutionStatus::parse(&status)
        .ok_or_else(|| corrupt("executions", format!("unknown status {status:?}")))?;
    let progress = progress(row.opt_int(17)?, row.opt_int(18)?);
    let error: Option<ExecutionError> = match row.opt_text(19)? {
        Some(text) => Some(json("executions", &text)?),
        None => None,
    };
    let run: RunConfig = json("executions", &row.text(22)?)?;
    let count = |at: usize| -> Result<u32, StoreError> {
        u32::try_from(row.int(at)?).map_err(|error| corrupt("executions", error))
    };
    let named = &*NAMED_COLUMNS;
    let execution = Execution {
        id: row.text(0)?,
        name: row.text(1)?,
        schedule_id: row.opt_text(2)?,
        schedule_name: row.opt_text(23)?,
        notebook: row.text(3)?,
        status,
        reason: row.opt_text(5)?,
        parameters: json("executions", &row.text(6)?)?,
        kernel: row.opt_text(7)?,
        machine_type: row.opt_text(named.machine_type)?,
        replica: row.opt_text(named.replica)?,
        input_hash: row.opt_text(8)?,
        attempt: count(9)?,
        max_attempts: count(10)?,
        first_attempt_id: row.opt_text(11)?,
        fire_time: row.opt_int(12)?.map(time),
        created_at: time(row.int(13)?),
        ready_at: time(row.int(14)?),
        started_at: row.opt_int(15)?.map(time),
        ended_at: row.opt_int(16)?.map(time),
        progress,
        error,
        output_path: row.text(20)?,
        notify_error: row.opt_text(21)?,
        run,
        run_id: row.opt_text(24)?,
        sweep_id: row.opt_text(25)?,
        kernel_location: row.opt_text(named.kernel_location)?,
        gateway_kernel_id: row.opt_text(named.gateway_kernel_id)?,
    };
    Ok((row.int(named.seq)?, execution))
}

/// The values of [`EXECUTION_COLUMNS`] but `seq`, in order.
pub(crate) fn execution_values(e: &Execution) -> Vec<rusqlite::types::Value> {
    use rusqlite::types::Value as V;
    let text = |value: &Option<String>| value.clone().map(V::Text).unwrap_or(V::Null);
    let int = |value: Option<i64>| value.map(V::Integer).unwrap_or(V::Null);
    vec![
        V::Text(e.id.clone()),
        V::Text(e.name.clone()),
        text(&e.schedule_id),
        V::Text(e.notebook.clone()),
        V::Text(e.status.as_str().into()),
        text(&e.reason),
        V::Text(to_json(&e.parameters)),
        text(&e.kernel),
        text(&e.input_hash),
        V::Integer(e.attempt.into()),
        V::Integer(e.max_attempts.into()),
        text(&e.first_attempt_id),
        int(opt_millis(e.fire_time)),
        V::Integer(millis(e.created_at)),
        V::Integer(millis(e.ready_at)),
        int(opt_millis(e.started_at)),
        int(opt_millis(e.ended_at)),
        int(e.progress.map(|p| p.cell as i64)),
        int(e.progress.map(|p| p.total as i64)),
        text(&e.error.as_ref().map(to_json)),
        V::Text(e.output_path.clone()),
        text(&e.notify_error),
        V::Text(to_json(&e.run)),
        text(&e.schedule_name),
        text(&e.run_id),
        text(&e.sweep_id),
        text(&e.kernel_location),
        text(&e.gateway_kernel_id),
        text(&e.machine_type),
        text(&e.replica),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_select_reads_the_stored_columns_in_order() {
        let select = EXECUTION_SELECT.replace(
            "CASE WHEN schedule_id IS NULL THEN schedule_name \
             ELSE (SELECT s.name FROM schedules s WHERE s.id = executions.schedule_id) END",
            "schedule_name",
        );
        assert_eq!(select, EXECUTION_COLUMNS);
    }

    #[test]
    fn the_columns_read_by_name_are_found() {
        let named = &*NAMED_COLUMNS;
        let count = EXECUTION_COLUMNS.split(", ").count();
        for at in [
            named.machine_type,
            named.replica,
            named.kernel_location,
            named.gateway_kernel_id,
        ] {
            assert!(at < count - 1, "{at} of {count}");
        }
        assert_eq!(named.seq, count - 1);
    }
}

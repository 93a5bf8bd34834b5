//! Rows ↔ domain types: times as milliseconds since the epoch, JSON as TEXT.

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Row;

use crate::error::StoreError;
use crate::model::{
    CellProgress, Execution, ExecutionError, ExecutionStatus, RunConfig, Schedule, ScheduleSpec,
};
use crate::timing::Timing;

pub(crate) const SCHEDULE_COLUMNS: &str =
    "id, name, spec, paused, next_fire, last_fire, snapshot_hash, created_at, updated_at";

pub(crate) const EXECUTION_COLUMNS: &str = "id, name, schedule_id, notebook, status, reason, \
    parameters, kernel, input_hash, attempt, max_attempts, first_attempt_id, fire_time, created_at, \
    ready_at, started_at, ended_at, progress_cell, progress_total, error, output_path, notify_error, \
    run, schedule_name, run_id, sweep_id, machine_type, seq";

/// [`EXECUTION_COLUMNS`] as read from `executions`: `schedule_name` is the schedule's current name
/// while the execution is linked to it, the stored one once the schedule was deleted.
pub(crate) const EXECUTION_SELECT: &str = "id, name, schedule_id, notebook, status, reason, \
    parameters, kernel, input_hash, attempt, max_attempts, first_attempt_id, fire_time, created_at, \
    ready_at, started_at, ended_at, progress_cell, progress_total, error, output_path, notify_error, \
    run, CASE WHEN schedule_id IS NULL THEN schedule_name \
    ELSE (SELECT s.name FROM schedules s WHERE s.id = executions.schedule_id) END, run_id, sweep_id, \
    machine_type, seq";

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

pub(crate) fn schedule(row: &Row<'_>) -> Result<Schedule, StoreError> {
    schedule_at(row, 0)
}

/// A schedule read from [`SCHEDULE_COLUMNS`] starting at column `at`.
pub(crate) fn schedule_at(row: &Row<'_>, at: usize) -> Result<Schedule, StoreError> {
    let spec: ScheduleSpec = json("schedules", &row.get::<_, String>(at + 2)?)?;
    let description = Timing::cached(&spec.recurrence, &spec.timezone)
        .map(|timing| timing.describe())
        .unwrap_or_default();
    Ok(Schedule {
        id: row.get(at)?,
        spec,
        next_run: row.get::<_, Option<i64>>(at + 4)?.map(time),
        last_fire: row.get::<_, Option<i64>>(at + 5)?.map(time),
        description,
        snapshot_hash: row.get(at + 6)?,
        created_at: time(row.get(at + 7)?),
        updated_at: time(row.get(at + 8)?),
    })
}

/// An execution and its listing position.
pub(crate) fn execution(row: &Row<'_>) -> Result<(i64, Execution), StoreError> {
    let status: String = row.get(4)?;
    let status = ExecutionStatus::parse(&status)
        .ok_or_else(|| corrupt("executions", format!("unknown status {status:?}")))?;
    let progress = match (
        row.get::<_, Option<i64>>(17)?,
        row.get::<_, Option<i64>>(18)?,
    ) {
        (Some(cell), Some(total)) => Some(CellProgress {
            cell: cell as usize,
            total: total as usize,
        }),
        _ => None,
    };
    let error: Option<ExecutionError> = match row.get::<_, Option<String>>(19)? {
        Some(text) => Some(json("executions", &text)?),
        None => None,
    };
    let run: RunConfig = json("executions", &row.get::<_, String>(22)?)?;
    let execution = Execution {
        id: row.get(0)?,
        name: row.get(1)?,
        schedule_id: row.get(2)?,
        schedule_name: row.get(23)?,
        notebook: row.get(3)?,
        status,
        reason: row.get(5)?,
        parameters: json("executions", &row.get::<_, String>(6)?)?,
        kernel: row.get(7)?,
        machine_type: row.get(26)?,
        input_hash: row.get(8)?,
        attempt: row.get(9)?,
        max_attempts: row.get(10)?,
        first_attempt_id: row.get(11)?,
        fire_time: row.get::<_, Option<i64>>(12)?.map(time),
        created_at: time(row.get(13)?),
        ready_at: time(row.get(14)?),
        started_at: row.get::<_, Option<i64>>(15)?.map(time),
        ended_at: row.get::<_, Option<i64>>(16)?.map(time),
        progress,
        error,
        output_path: row.get(20)?,
        notify_error: row.get(21)?,
        run,
        run_id: row.get(24)?,
        sweep_id: row.get(25)?,
    };
    Ok((row.get(27)?, execution))
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
        text(&e.machine_type),
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
}

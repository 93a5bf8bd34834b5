//! The `execution_values` table: the values each execution recorded (scrapbook's `glue`,
//! papermill's `record`), one row per name, deleted with its execution. A value is kept as its
//! encoder, its JSON text (`json` and `text` encoders: numbers keep their text, so they stay exact)
//! and a summary (other encoders). `position` keeps the order names were first recorded.

use chrono::{DateTime, TimeZone, Utc};
use nbgate_executor::values::RecordedValue;
use rusqlite::{Connection, Row, params, params_from_iter};

use super::StoreResult;
use super::rows::millis;
use crate::error::StoreError;
use crate::model::ExecutionStatus;
use crate::values::ValuePoint;

/// Migration step 5.
pub(crate) const MIGRATION: &str = "CREATE TABLE execution_values (
        execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        position INTEGER NOT NULL,
        encoder TEXT NOT NULL,
        value TEXT,
        summary TEXT,
        recorded_at BIGINT NOT NULL,
        PRIMARY KEY (execution_id, name)
    );";

/// Records `values` in order (a name already recorded gets the new value, keeping its position);
/// nothing when the execution is gone.
pub(crate) fn record(
    conn: &mut Connection,
    execution_id: &str,
    values: &[(String, RecordedValue)],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let tx = conn.transaction()?;
    let exists = tx
        .prepare_cached("SELECT COUNT(*) FROM executions WHERE id = ?1")?
        .query_row([execution_id], |row| row.get::<_, i64>(0))?
        > 0;
    if exists {
        for (name, value) in values {
            let (encoder, text, summary) = columns(value);
            let row = params![execution_id, name, encoder, text, summary, millis(now)];
            let updated = tx
                .prepare_cached(
                    "UPDATE execution_values SET encoder = ?3, value = ?4, summary = ?5, \
                     recorded_at = ?6 WHERE execution_id = ?1 AND name = ?2",
                )?
                .execute(row)?;
            if updated == 0 {
                tx.prepare_cached(
                    "INSERT INTO execution_values \
                     (execution_id, name, position, encoder, value, summary, recorded_at) \
                     SELECT ?1, ?2, COALESCE(MAX(position), -1) + 1, ?3, ?4, ?5, ?6 \
                     FROM execution_values WHERE execution_id = ?1",
                )?
                .execute(row)?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

/// An execution's values in the order their names were first recorded.
pub(crate) fn list(
    conn: &Connection,
    execution_id: &str,
) -> StoreResult<Vec<(String, RecordedValue)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, encoder, value, summary FROM execution_values \
         WHERE execution_id = ?1 ORDER BY position",
    )?;
    let mut rows = stmt.query([execution_id])?;
    let mut values = Vec::new();
    while let Some(row) = rows.next()? {
        values.push((row.get(0)?, value(row, 1)?));
    }
    Ok(values)
}

/// The values of each of `execution_ids` (a listing's page) in one query: `(execution id, name,
/// value)`, each execution's in recording order; executions that recorded nothing are absent.
pub(crate) fn of_executions(
    conn: &Connection,
    execution_ids: &[String],
) -> StoreResult<Vec<(String, String, RecordedValue)>> {
    if execution_ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders = (1..=execution_ids.len())
        .map(|n| format!("?{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT execution_id, name, encoder, value, summary FROM execution_values \
         WHERE execution_id IN ({placeholders}) ORDER BY execution_id, position"
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(params_from_iter(execution_ids))?;
    let mut values = Vec::new();
    while let Some(row) = rows.next()? {
        values.push((row.get(0)?, row.get(1)?, value(row, 2)?));
    }
    Ok(values)
}

/// The values of the newest `limit` executions of a schedule that recorded one (named `name`, when
/// given), oldest execution first, each execution's values in recording order.
pub(crate) fn series(
    conn: &Connection,
    schedule_id: &str,
    name: Option<&str>,
    limit: usize,
) -> StoreResult<Vec<ValuePoint>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let sql = match name {
        Some(_) => {
            "SELECT e.id, e.fire_time, e.created_at, e.status, v.name, v.encoder, v.value, v.summary \
             FROM execution_values v JOIN executions e ON e.id = v.execution_id \
             WHERE v.name = ?2 AND e.id IN (SELECT x.id FROM executions x \
                 WHERE x.schedule_id = ?1 AND EXISTS (SELECT 1 FROM execution_values y \
                     WHERE y.execution_id = x.id AND y.name = ?2) \
                 ORDER BY x.seq DESC LIMIT ?3) \
             ORDER BY e.seq, v.position"
        }
        None => {
            "SELECT e.id, e.fire_time, e.created_at, e.status, v.name, v.encoder, v.value, v.summary \
             FROM execution_values v JOIN executions e ON e.id = v.execution_id \
             WHERE e.id IN (SELECT x.id FROM executions x \
                 WHERE x.schedule_id = ?1 AND EXISTS (SELECT 1 FROM execution_values y \
                     WHERE y.execution_id = x.id) \
                 ORDER BY x.seq DESC LIMIT ?3) \
             ORDER BY e.seq, v.position"
        }
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params![schedule_id, name.unwrap_or(""), limit])?;
    let mut points = Vec::new();
    while let Some(row) = rows.next()? {
        let status: String = row.get(3)?;
        points.push(ValuePoint {
            execution_id: row.get(0)?,
            fire_time: row.get::<_, Option<i64>>(1)?.map(time),
            created_at: time(row.get(2)?),
            status: ExecutionStatus::parse(&status)
                .ok_or_else(|| corrupt(format!("unknown status {status:?}")))?,
            name: row.get(4)?,
            value: value(row, 5)?,
        });
    }
    Ok(points)
}

/// (encoder, JSON text, summary) of a value.
pub(crate) fn columns(value: &RecordedValue) -> (&str, Option<String>, Option<&str>) {
    match value {
        RecordedValue::Json(json) => ("json", Some(json.to_string()), None),
        RecordedValue::Text(text) => (
            "text",
            Some(serde_json::Value::String(text.clone()).to_string()),
            None,
        ),
        RecordedValue::Other { encoder, summary } => (encoder, None, summary.as_deref()),
    }
}

/// The value in columns `at` (encoder), `at + 1` (JSON text), `at + 2` (summary).
fn value(row: &Row<'_>, at: usize) -> StoreResult<RecordedValue> {
    decode(row.get(at)?, row.get(at + 1)?, row.get(at + 2)?)
}

/// A value from its (encoder, JSON text, summary) columns.
pub(crate) fn decode(
    encoder: String,
    text: Option<String>,
    summary: Option<String>,
) -> StoreResult<RecordedValue> {
    Ok(match text {
        None => RecordedValue::Other { encoder, summary },
        Some(text) => {
            let json: serde_json::Value =
                serde_json::from_str(&text).map_err(|error| corrupt(error.to_string()))?;
            match (encoder.as_str(), json) {
                ("text", serde_json::Value::String(text)) => RecordedValue::Text(text),
                (_, json) => RecordedValue::Json(json),
            }
        }
    })
}

fn time(value: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(value).single().unwrap_or_default()
}

fn corrupt(reason: String) -> StoreError {
    StoreError::Corrupt {
        table: "execution_values",
        reason,
    }
}

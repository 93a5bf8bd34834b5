//! The `execution_outputs` table: the files each execution's run created or changed (one row per
//! file, deleted with its execution), and the times a schedule's freshness is computed from.

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreResult;
use super::rows::millis;
use crate::error::StoreError;
use crate::outputs::{Column, OutputFile, OutputTimes};

/// Migration step 6.
pub(crate) const MIGRATION: &str = "CREATE TABLE execution_outputs (
        execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        bytes BIGINT NOT NULL,
        modified BIGINT NOT NULL,
        sha256 TEXT NOT NULL,
        row_count BIGINT,
        columns TEXT,
        PRIMARY KEY (execution_id, path)
    );";

fn time(value: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(value).single().unwrap_or_default()
}

pub(crate) fn record(
    conn: &mut Connection,
    execution_id: &str,
    files: &[OutputFile],
) -> StoreResult<()> {
    let tx = conn.transaction()?;
    tx.execute(
        "DELETE FROM execution_outputs WHERE execution_id = ?1",
        [execution_id],
    )?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO execution_outputs \
             (execution_id, path, bytes, modified, sha256, row_count, columns) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for file in files {
            let columns =
                match &file.columns {
                    Some(columns) => Some(serde_json::to_string(columns).map_err(|error| {
                        StoreError::Corrupt {
                            table: "execution_outputs",
                            reason: error.to_string(),
                        }
                    })?),
                    None => None,
                };
            insert.execute(params![
                execution_id,
                file.path,
                i64::try_from(file.bytes).unwrap_or(i64::MAX),
                millis(file.modified),
                file.sha256,
                file.rows
                    .map(|rows| i64::try_from(rows).unwrap_or(i64::MAX)),
                columns,
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

pub(crate) fn list(conn: &Connection, execution_id: &str) -> StoreResult<Vec<OutputFile>> {
    let mut stmt = conn.prepare_cached(
        "SELECT path, bytes, modified, sha256, row_count, columns FROM execution_outputs \
         WHERE execution_id = ?1 ORDER BY path",
    )?;
    let mut rows = stmt.query([execution_id])?;
    let mut files = Vec::new();
    while let Some(row) = rows.next()? {
        let columns: Option<String> = row.get(5)?;
        let columns = match columns {
            Some(text) => Some(serde_json::from_str::<Vec<Column>>(&text).map_err(|error| {
                StoreError::Corrupt {
                    table: "execution_outputs",
                    reason: error.to_string(),
                }
            })?),
            None => None,
        };
        files.push(OutputFile {
            path: row.get(0)?,
            bytes: row.get::<_, i64>(1)?.max(0) as u64,
            modified: time(row.get(2)?),
            sha256: row.get(3)?,
            rows: row.get::<_, Option<i64>>(4)?.map(|rows| rows.max(0) as u64),
            columns,
        });
    }
    Ok(files)
}

pub(crate) fn times(conn: &Connection, schedule_id: &str) -> StoreResult<OutputTimes> {
    let one = |sql: &str| -> StoreResult<Option<DateTime<Utc>>> {
        Ok(conn
            .prepare_cached(sql)?
            .query_row([schedule_id], |row| row.get::<_, Option<i64>>(0))
            .optional()?
            .flatten()
            .map(time))
    };
    Ok(OutputTimes {
        last_success: one("SELECT MAX(ended_at) FROM executions \
             WHERE schedule_id = ?1 AND status = 'succeeded'")?,
        last_success_with_outputs: one("SELECT MAX(e.ended_at) FROM executions e \
             WHERE e.schedule_id = ?1 AND e.status = 'succeeded' \
             AND EXISTS (SELECT 1 FROM execution_outputs o WHERE o.execution_id = e.id)")?,
        last_output_at: one("SELECT MAX(o.modified) FROM execution_outputs o \
             JOIN executions e ON e.id = o.execution_id WHERE e.schedule_id = ?1")?,
    })
}

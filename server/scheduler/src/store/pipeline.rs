//! Pipelines in the store: each execution's `run_id` (its chain) and `sweep_id` (columns of
//! `executions`), and the `pipeline_ends` table, where the end of an upstream execution waits for
//! the other upstreams of a dependant (fan-in). A row per (dependant, upstream execution) makes
//! handling an end idempotent: recovery after a crash may offer it again, and it is not run twice.

use chrono::{DateTime, Utc};
use rusqlite::types::Value as V;
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreResult;
use super::rows::{EXECUTION_SELECT, millis, opt_millis};
use super::sqlite::{insert_execution, next_seq, query_executions};
use crate::model::{Execution, ExecutionStatus};

/// Migration step 7.
pub(crate) const MIGRATION: &str = "ALTER TABLE executions ADD COLUMN run_id TEXT;
    ALTER TABLE executions ADD COLUMN sweep_id TEXT;
    CREATE INDEX executions_run ON executions (run_id, seq);
    CREATE INDEX executions_sweep ON executions (sweep_id, seq);
    CREATE TABLE pipeline_ends (
        downstream_id TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
        upstream TEXT NOT NULL,
        execution_id TEXT NOT NULL,
        status TEXT NOT NULL,
        run_id TEXT,
        fire_time BIGINT,
        consumed_by TEXT,
        recorded_at BIGINT NOT NULL,
        PRIMARY KEY (downstream_id, execution_id)
    );";

/// An upstream execution that ended, as its dependants see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainEnd {
    /// The upstream schedule's name.
    pub upstream: String,
    pub execution_id: String,
    pub status: ExecutionStatus,
    pub run_id: Option<String>,
    pub fire_time: Option<DateTime<Utc>>,
}

/// What offering an end to a dependant did.
#[derive(Debug, Clone, PartialEq)]
pub enum ChainStep {
    /// This end was handled before (recovery offered it again).
    AlreadyHandled,
    /// Other upstreams have not ended since the dependant last fired.
    Waiting,
    /// Every upstream has ended: the execution `decide` made (queued or skipped), if any.
    Decided(Option<Box<Execution>>),
}

/// Records `end` for the dependant `downstream_id` and, once each of `required` has an end not yet
/// used (the latest of each; `context` fills names with none), asks `decide` and inserts what it
/// makes, marking those ends used. One transaction.
pub(crate) fn chain_end(
    conn: &mut Connection,
    downstream_id: &str,
    end: &ChainEnd,
    required: &[String],
    context: &[ChainEnd],
    decide: &mut dyn FnMut(&[ChainEnd]) -> Option<Execution>,
    now: DateTime<Utc>,
) -> StoreResult<ChainStep> {
    let tx = conn.transaction()?;
    let seen = tx
        .prepare_cached(
            "SELECT 1 FROM pipeline_ends WHERE downstream_id = ?1 AND execution_id = ?2",
        )?
        .query_row([downstream_id, &end.execution_id], |_| Ok(()))
        .optional()?
        .is_some();
    if seen {
        return Ok(ChainStep::AlreadyHandled);
    }
    tx.prepare_cached(
        "INSERT INTO pipeline_ends (downstream_id, upstream, execution_id, status, run_id, \
         fire_time, consumed_by, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7)",
    )?
    .execute(params![
        downstream_id,
        end.upstream,
        end.execution_id,
        end.status.as_str(),
        end.run_id,
        opt_millis(end.fire_time),
        millis(now)
    ])?;
    let mut pending: Vec<ChainEnd> = Vec::new();
    {
        let mut stmt = tx.prepare_cached(
            "SELECT upstream, execution_id, status, run_id, fire_time FROM pipeline_ends \
             WHERE downstream_id = ?1 AND consumed_by IS NULL ORDER BY recorded_at, rowid",
        )?;
        let mut rows = stmt.query([downstream_id])?;
        while let Some(row) = rows.next()? {
            let status: String = row.get(2)?;
            let found = ChainEnd {
                upstream: row.get(0)?,
                execution_id: row.get(1)?,
                status: ExecutionStatus::parse(&status).unwrap_or(ExecutionStatus::Failed),
                run_id: row.get(3)?,
                fire_time: row
                    .get::<_, Option<i64>>(4)?
                    .and_then(|ms| chrono::TimeZone::timestamp_millis_opt(&Utc, ms).single()),
            };
            pending.push(found);
        }
    }
    let Some(ends) = latest_ends(&pending, required, context) else {
        tx.commit()?;
        return Ok(ChainStep::Waiting);
    };
    let made = decide(&ends);
    if let Some(execution) = &made {
        let seq = next_seq(&tx)?;
        insert_execution(&tx, execution, seq)?;
    }
    let used_by = made.as_ref().map_or("", |e| e.id.as_str());
    tx.prepare_cached(
        "UPDATE pipeline_ends SET consumed_by = ?1 WHERE downstream_id = ?2 AND consumed_by IS NULL",
    )?
    .execute([used_by, downstream_id])?;
    tx.commit()?;
    Ok(ChainStep::Decided(made.map(Box::new)))
}

/// The end each of `required` counts with: its latest waiting end (`pending`, oldest first), else
/// its end in `context`; `None` while one has neither.
pub(crate) fn latest_ends(
    pending: &[ChainEnd],
    required: &[String],
    context: &[ChainEnd],
) -> Option<Vec<ChainEnd>> {
    required
        .iter()
        .map(|name| {
            pending
                .iter()
                .rev()
                .find(|p| &p.upstream == name)
                .or_else(|| context.iter().find(|c| &c.upstream == name))
                .cloned()
        })
        .collect()
}

/// Whether the end of `execution_id` was offered to `downstream_id` already.
pub(crate) fn end_handled(
    conn: &Connection,
    downstream_id: &str,
    execution_id: &str,
) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM pipeline_ends WHERE downstream_id = ?1 AND execution_id = ?2",
        )?
        .query_row([downstream_id, execution_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Inserts executions in one transaction, in order.
pub(crate) fn insert_executions(
    conn: &mut Connection,
    executions: &[Execution],
) -> StoreResult<()> {
    let tx = conn.transaction()?;
    let first = next_seq(&tx)?;
    for (seq, execution) in (first..).zip(executions) {
        insert_execution(&tx, execution, seq)?;
    }
    tx.commit()?;
    Ok(())
}

/// The executions with this `run_id` (`column` `run_id`) or `sweep_id`, oldest first.
pub(crate) fn executions_by(
    conn: &Connection,
    column: Grouping,
    id: &str,
) -> StoreResult<Vec<Execution>> {
    let sql = match column {
        Grouping::Run => {
            format!("SELECT {EXECUTION_SELECT} FROM executions WHERE run_id = ?1 ORDER BY seq")
        }
        Grouping::Sweep => {
            format!("SELECT {EXECUTION_SELECT} FROM executions WHERE sweep_id = ?1 ORDER BY seq")
        }
    };
    let found = query_executions(conn, &sql, vec![V::Text(id.into())])?;
    Ok(found.into_iter().map(|(_, e)| e).collect())
}

/// Which group [`executions_by`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    Run,
    Sweep,
}

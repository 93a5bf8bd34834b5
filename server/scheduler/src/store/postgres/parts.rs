//! The PostgreSQL side of [`super::super::values`], [`super::super::outputs`] and
//! [`super::super::pipeline`]: the same tables and rules, in tokio-postgres calls.

use chrono::{DateTime, TimeZone, Utc};
use deadpool_postgres::{GenericClient, Object};
use nbgate_executor::values::RecordedValue;
use rusqlite::types::Value as V;

use super::{Param, insert_execution, next_seq, query};
use crate::error::StoreError;
use crate::model::{Execution, ExecutionStatus};
use crate::outputs::{Column, OutputFile, OutputTimes};
use crate::store::pipeline::latest_ends;
use crate::store::rows::{millis, opt_millis};
use crate::store::values::{columns, decode};
use crate::store::{ChainEnd, ChainStep, StoreResult};
use crate::values::ValuePoint;

fn time(value: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(value).single().unwrap_or_default()
}

fn opt_text(value: Option<&str>) -> Param {
    Param(value.map_or(V::Null, |text| V::Text(text.into())))
}

fn corrupt(table: &'static str, reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        table,
        reason: reason.to_string(),
    }
}

/// Records `values` in order (a name recorded again keeps its position); nothing when the
/// execution is gone.
pub(super) async fn record_values(
    client: &mut Object,
    execution_id: &str,
    values: &[(String, RecordedValue)],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let tx = client.transaction().await?;
    // The execution's row, locked: it is not deleted while its values are written.
    let exists = !tx
        .query(
            "SELECT 1 FROM executions WHERE id = $1 FOR SHARE",
            &[&execution_id],
        )
        .await?
        .is_empty();
    if exists {
        let update = tx
            .prepare_cached(
                "UPDATE execution_values SET encoder = $3, value = $4, summary = $5, \
                 recorded_at = $6 WHERE execution_id = $1 AND name = $2",
            )
            .await?;
        let insert = tx
            .prepare_cached(
                "INSERT INTO execution_values \
                 (execution_id, name, position, encoder, value, summary, recorded_at) \
                 SELECT $1::TEXT, $2::TEXT, COALESCE(MAX(position), -1) + 1, $3::TEXT, $4::TEXT, \
                 $5::TEXT, $6::BIGINT FROM execution_values WHERE execution_id = $1::TEXT",
            )
            .await?;
        for (name, value) in values {
            let (encoder, text, summary) = columns(value);
            let row: [&(dyn tokio_postgres::types::ToSql + Sync); 6] =
                [&execution_id, name, &encoder, &text, &summary, &millis(now)];
            if tx.execute(&update, &row).await? == 0 {
                tx.execute(&insert, &row).await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

/// `(execution id, name, value)` of each of `execution_ids`, each execution's in recording order.
pub(super) async fn values_of_executions(
    client: &impl GenericClient,
    execution_ids: &[String],
) -> StoreResult<Vec<(String, String, RecordedValue)>> {
    if execution_ids.is_empty() {
        return Ok(Vec::new());
    }
    let statement = client
        .prepare_cached(
            "SELECT execution_id, name, encoder, value, summary FROM execution_values \
             WHERE execution_id = ANY($1) ORDER BY execution_id, position",
        )
        .await?;
    let ids = execution_ids.to_vec();
    client
        .query(&statement, &[&ids])
        .await?
        .iter()
        .map(|row| {
            let value = decode(row.try_get(2)?, row.try_get(3)?, row.try_get(4)?)?;
            Ok((row.try_get(0)?, row.try_get(1)?, value))
        })
        .collect()
}

/// The values of a schedule's newest `limit` executions that recorded one (named `name` when
/// given), oldest execution first.
pub(super) async fn value_series(
    client: &impl GenericClient,
    schedule_id: &str,
    name: Option<&str>,
    limit: usize,
) -> StoreResult<Vec<ValuePoint>> {
    let limit = Param(V::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    let (sql, values) = match name {
        Some(name) => (
            "SELECT e.id, e.fire_time, e.created_at, e.status, v.name, v.encoder, v.value, v.summary \
             FROM execution_values v JOIN executions e ON e.id = v.execution_id \
             WHERE v.name = $2 AND e.id IN (SELECT x.id FROM executions x \
                 WHERE x.schedule_id = $1 AND EXISTS (SELECT 1 FROM execution_values y \
                     WHERE y.execution_id = x.id AND y.name = $2) \
                 ORDER BY x.seq DESC LIMIT $3) \
             ORDER BY e.seq, v.position",
            vec![opt_text(Some(schedule_id)), opt_text(Some(name)), limit],
        ),
        None => (
            "SELECT e.id, e.fire_time, e.created_at, e.status, v.name, v.encoder, v.value, v.summary \
             FROM execution_values v JOIN executions e ON e.id = v.execution_id \
             WHERE e.id IN (SELECT x.id FROM executions x \
                 WHERE x.schedule_id = $1 AND EXISTS (SELECT 1 FROM execution_values y \
                     WHERE y.execution_id = x.id) \
                 ORDER BY x.seq DESC LIMIT $2) \
             ORDER BY e.seq, v.position",
            vec![opt_text(Some(schedule_id)), limit],
        ),
    };
    query(client, sql, &values)
        .await?
        .iter()
        .map(|row| {
            let status: String = row.try_get(3)?;
            Ok(ValuePoint {
                execution_id: row.try_get(0)?,
                fire_time: row.try_get::<_, Option<i64>>(1)?.map(time),
                created_at: time(row.try_get(2)?),
                status: ExecutionStatus::parse(&status).ok_or_else(|| {
                    corrupt("execution_values", format!("unknown status {status:?}"))
                })?,
                name: row.try_get(4)?,
                value: decode(row.try_get(5)?, row.try_get(6)?, row.try_get(7)?)?,
            })
        })
        .collect()
}

/// Replaces an execution's recorded output files.
pub(super) async fn record_outputs(
    client: &mut Object,
    execution_id: &str,
    files: &[OutputFile],
) -> StoreResult<()> {
    let tx = client.transaction().await?;
    tx.execute(
        "DELETE FROM execution_outputs WHERE execution_id = $1",
        &[&execution_id],
    )
    .await?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO execution_outputs \
             (execution_id, path, bytes, modified, sha256, row_count, columns) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await?;
    for file in files {
        let columns = match &file.columns {
            Some(columns) => Some(
                serde_json::to_string(columns)
                    .map_err(|error| corrupt("execution_outputs", error))?,
            ),
            None => None,
        };
        let bytes = i64::try_from(file.bytes).unwrap_or(i64::MAX);
        let rows = file
            .rows
            .map(|rows| i64::try_from(rows).unwrap_or(i64::MAX));
        tx.execute(
            &insert,
            &[
                &execution_id,
                &file.path,
                &bytes,
                &millis(file.modified),
                &file.sha256,
                &rows,
                &columns,
            ],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn execution_outputs(
    client: &impl GenericClient,
    execution_id: &str,
) -> StoreResult<Vec<OutputFile>> {
    let statement = client
        .prepare_cached(
            "SELECT path, bytes, modified, sha256, row_count, columns FROM execution_outputs \
             WHERE execution_id = $1 ORDER BY path",
        )
        .await?;
    client
        .query(&statement, &[&execution_id])
        .await?
        .iter()
        .map(|row| {
            let columns = match row.try_get::<_, Option<String>>(5)? {
                Some(text) => Some(
                    serde_json::from_str::<Vec<Column>>(&text)
                        .map_err(|error| corrupt("execution_outputs", error))?,
                ),
                None => None,
            };
            Ok(OutputFile {
                path: row.try_get(0)?,
                bytes: row.try_get::<_, i64>(1)?.max(0) as u64,
                modified: time(row.try_get(2)?),
                sha256: row.try_get(3)?,
                rows: row
                    .try_get::<_, Option<i64>>(4)?
                    .map(|rows| rows.max(0) as u64),
                columns,
            })
        })
        .collect()
}

pub(super) async fn output_times(
    client: &impl GenericClient,
    schedule_id: &str,
) -> StoreResult<OutputTimes> {
    let row = client
        .query_one(
            "SELECT \
             (SELECT MAX(ended_at) FROM executions \
                 WHERE schedule_id = $1 AND status = 'succeeded'), \
             (SELECT MAX(e.ended_at) FROM executions e \
                 WHERE e.schedule_id = $1 AND e.status = 'succeeded' \
                 AND EXISTS (SELECT 1 FROM execution_outputs o WHERE o.execution_id = e.id)), \
             (SELECT MAX(o.modified) FROM execution_outputs o \
                 JOIN executions e ON e.id = o.execution_id WHERE e.schedule_id = $1)",
            &[&schedule_id],
        )
        .await?;
    let at = |i: usize| -> StoreResult<Option<DateTime<Utc>>> {
        Ok(row.try_get::<_, Option<i64>>(i)?.map(time))
    };
    Ok(OutputTimes {
        last_success: at(0)?,
        last_success_with_outputs: at(1)?,
        last_output_at: at(2)?,
    })
}

/// The arguments of [`chain_end`] but the decision.
pub(super) struct ChainCall<'a> {
    pub downstream_id: &'a str,
    pub end: &'a ChainEnd,
    pub required: &'a [String],
    pub context: &'a [ChainEnd],
    pub now: DateTime<Utc>,
}

/// [`crate::store::Store::chain_end`]: records the end, and once every upstream has one, inserts
/// what `decide` makes of them. The dependant's schedule row is locked first, so two replicas
/// offering ends of its upstreams at once decide one after the other.
pub(super) async fn chain_end(
    client: &mut Object,
    call: ChainCall<'_>,
    decide: &mut dyn FnMut(&[ChainEnd]) -> Option<Execution>,
) -> StoreResult<ChainStep> {
    let ChainCall {
        downstream_id,
        end,
        required,
        context,
        now,
    } = call;
    let tx = client.transaction().await?;
    tx.execute(
        "SELECT 1 FROM schedules WHERE id = $1 FOR UPDATE",
        &[&downstream_id],
    )
    .await?;
    let seen = !tx
        .query(
            "SELECT 1 FROM pipeline_ends WHERE downstream_id = $1 AND execution_id = $2",
            &[&downstream_id, &end.execution_id],
        )
        .await?
        .is_empty();
    if seen {
        return Ok(ChainStep::AlreadyHandled);
    }
    tx.execute(
        "INSERT INTO pipeline_ends (downstream_id, upstream, execution_id, status, run_id, \
         fire_time, consumed_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)",
        &[
            &downstream_id,
            &end.upstream,
            &end.execution_id,
            &end.status.as_str(),
            &end.run_id,
            &opt_millis(end.fire_time),
            &millis(now),
        ],
    )
    .await?;
    let mut pending: Vec<ChainEnd> = Vec::new();
    for row in tx
        .query(
            "SELECT upstream, execution_id, status, run_id, fire_time FROM pipeline_ends \
             WHERE downstream_id = $1 AND consumed_by IS NULL ORDER BY recorded_at, rowid",
            &[&downstream_id],
        )
        .await?
    {
        let status: String = row.try_get(2)?;
        let found = ChainEnd {
            upstream: row.try_get(0)?,
            execution_id: row.try_get(1)?,
            status: ExecutionStatus::parse(&status).unwrap_or(ExecutionStatus::Failed),
            run_id: row.try_get(3)?,
            fire_time: row.try_get::<_, Option<i64>>(4)?.map(time),
        };
        pending.push(found);
    }
    let Some(ends) = latest_ends(&pending, required, context) else {
        tx.commit().await?;
        return Ok(ChainStep::Waiting);
    };
    let made = decide(&ends);
    if let Some(execution) = &made {
        let seq = next_seq(&tx).await?;
        insert_execution(&tx, execution, seq).await?;
    }
    let used_by = made.as_ref().map_or("", |e| e.id.as_str());
    tx.execute(
        "UPDATE pipeline_ends SET consumed_by = $1 WHERE downstream_id = $2 AND consumed_by IS NULL",
        &[&used_by, &downstream_id],
    )
    .await?;
    tx.commit().await?;
    Ok(ChainStep::Decided(made.map(Box::new)))
}

//! [`Store`] on PostgreSQL, for several `nbgate serve` replicas sharing one database. tokio-postgres
//! with deadpool's pool, driven by a small runtime of the store's own: the [`Store`] trait is
//! synchronous (one call = one transaction, run on tokio's blocking pool by [`super::Db`]), so each
//! call blocks on its future there. The schema is the SQLite one, step for step
//! ([`super::migrations::MIGRATIONS`], plus [`extra`] where PostgreSQL needs more), applied under an
//! advisory lock so that replicas starting together migrate once. The SQL and the row mapping are
//! shared with SQLite where they can be ([`super::rows`], [`super::sqlite`]'s statements with `$N`
//! placeholders); what differs is written here and in [`parts`].
//!
//! Concurrency between replicas: a fire is recorded by a conditional update of its schedule's row
//! (`next_fire = expected`), which PostgreSQL re-checks after waiting for another replica's lock, so
//! one replica records it; a queued execution starts by a conditional update of its status, so one
//! replica runs it. Listing positions (`seq`) are taken under a transaction-scoped advisory lock, so
//! they grow in commit order and a worker's cursor never skips a row committed late.

pub mod listen;
mod parts;
mod replicas;
pub(crate) mod tls;

use std::error::Error as _;
use std::future::Future;
use std::time::Duration;

use bytes::BytesMut;
use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use rusqlite::types::Value as V;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::rows::{self, Columns, EXECUTION_SELECT, SCHEDULE_COLUMNS, millis, opt_millis};
use super::sqlite::{
    INSERT_EXECUTION, UPDATE_EXECUTION_IF, list_executions_query, schedule_values, updated_columns,
};
use super::{Fires, FiresRecorded, Store, StoreResult, StoredSchedule};
use crate::error::StoreError;
use crate::model::{
    CellProgress, Execution, ExecutionFilter, ExecutionStatus, ExecutionSummary, RunHistory,
    SCHEDULE_DELETED, Schedule,
};

/// Connections per replica: the worker, the loop, the API and the notifier at once, with room.
const POOL_SIZE: usize = 16;
/// How long a call waits for a connection (or to make one) before the store is unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Advisory lock keys (arbitrary, fixed): migrations, and listing positions.
const MIGRATION_LOCK: i64 = 0x6e62_6761_7465_0001;
const SEQ_LOCK: i64 = 0x6e62_6761_7465_0002;

pub struct PostgresStore {
    pool: Pool,
    /// Drives the connections; `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`, a unix socket directory as host
    /// percent-encoded, `?host=/dir`; TLS by `sslmode` and `sslrootcert`, [`tls`]) and applies the
    /// migrations.
    pub fn connect(url: &str) -> StoreResult<PostgresStore> {
        let target = tls::target(url)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("nbgate-postgres")
            .enable_all()
            .build()
            .map_err(|error| StoreError::Unavailable(format!("start its runtime: {error}")))?;
        let manager = Manager::from_config(
            target.config,
            target.tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        let store = PostgresStore {
            pool,
            runtime: Some(runtime),
        };
        store.block(store.migrate()).map_err(|error| match error {
            StoreError::Unavailable(reason) => {
                StoreError::Unavailable(format!("{}: {reason}", super::redacted(url)))
            }
            other => other,
        })?;
        Ok(store)
    }

    /// The schema version applied.
    pub fn schema_version(&self) -> StoreResult<u32> {
        self.block(async {
            let client = self.client().await?;
            let row = client
                .query_one(
                    "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations",
                    &[],
                )
                .await?;
            Ok(u32::try_from(row.get::<_, i64>(0)).unwrap_or(0))
        })
    }

    /// Runs `call` to its end on the store's runtime (from a blocking thread or a plain one).
    fn block<R>(&self, call: impl Future<Output = StoreResult<R>>) -> StoreResult<R> {
        match &self.runtime {
            Some(runtime) => runtime.block_on(call),
            None => Err(StoreError::Task),
        }
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.pool
            .get()
            .await
            .map_err(|error| StoreError::Unavailable(pool_error(&error)))
    }

    /// Every step of [`super::migrations::MIGRATIONS`] not applied yet, in one transaction under an
    /// advisory lock (PostgreSQL's DDL is transactional; replicas that start together wait here).
    async fn migrate(&self) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY,
                applied_at BIGINT NOT NULL
            );",
        )
        .await?;
        let applied: Vec<i32> = tx
            .query("SELECT version FROM schema_migrations", &[])
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        for (version, sql) in super::migrations::MIGRATIONS {
            if applied.contains(&(*version as i32)) {
                continue;
            }
            let failed = |error: tokio_postgres::Error| StoreError::Migration {
                version: *version,
                reason: describe(&error),
            };
            tx.batch_execute(sql).await.map_err(failed)?;
            if let Some(more) = extra(*version) {
                tx.batch_execute(more).await.map_err(failed)?;
            }
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                &[&(*version as i32), &millis(Utc::now())],
            )
            .await
            .map_err(failed)?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn schedules(&self, sql: &str, values: &[Param]) -> StoreResult<Vec<Schedule>> {
        let client = self.client().await?;
        let rows = query(&client, sql, values).await?;
        rows.iter().map(rows::schedule).collect()
    }

    async fn executions(&self, sql: &str, values: &[Param]) -> StoreResult<Vec<(i64, Execution)>> {
        let client = self.client().await?;
        executions(&client, sql, values).await
    }

    /// One statement outside a transaction; the number of rows it changed.
    async fn execute(&self, sql: &str, values: &[Param]) -> StoreResult<u64> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await?;
        Ok(client.execute(&statement, &refs(values)).await?)
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // The last handle may go inside an async task, where dropping a runtime would panic.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// What a migration step adds on PostgreSQL only.
fn extra(version: u32) -> Option<&'static str> {
    match version {
        // SQLite orders waiting ends by its implicit rowid; PostgreSQL has none.
        7 => Some("ALTER TABLE pipeline_ends ADD COLUMN rowid BIGSERIAL;"),
        _ => None,
    }
}

/// A value bound to a statement: the store's rusqlite values, written as the column's type asks
/// (an integer into INTEGER, BIGINT or BOOLEAN; NULL into anything).
#[derive(Debug, Clone)]
pub(super) struct Param(pub(super) V);

impl From<V> for Param {
    fn from(value: V) -> Param {
        Param(value)
    }
}

impl ToSql for Param {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            V::Null => Ok(IsNull::Yes),
            V::Integer(value) if *ty == Type::INT4 => i32::try_from(*value)?.to_sql(ty, out),
            V::Integer(value) if *ty == Type::INT2 => i16::try_from(*value)?.to_sql(ty, out),
            V::Integer(value) if *ty == Type::BOOL => (*value != 0).to_sql(ty, out),
            V::Integer(value) => value.to_sql(ty, out),
            V::Real(value) => value.to_sql(ty, out),
            V::Text(value) => value.to_sql(ty, out),
            V::Blob(value) => value.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn text(value: &str) -> Param {
    Param(V::Text(value.to_owned()))
}

fn int(value: i64) -> Param {
    Param(V::Integer(value))
}

fn opt_int(value: Option<i64>) -> Param {
    Param(value.map_or(V::Null, V::Integer))
}

fn limit(value: usize) -> Param {
    int(i64::try_from(value).unwrap_or(i64::MAX))
}

pub(super) fn refs(values: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    values
        .iter()
        .map(|value| value as &(dyn ToSql + Sync))
        .collect()
}

/// SQLite's `?N` placeholders as PostgreSQL's `$N` (the shared statements hold no other `?`).
fn dollars(sql: &str) -> String {
    sql.replace('?', "$")
}

impl Columns for tokio_postgres::Row {
    fn opt_text(&self, at: usize) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(at)?)
    }

    fn opt_int(&self, at: usize) -> Result<Option<i64>, StoreError> {
        let ty = self.columns().get(at).map(|column| column.type_().clone());
        Ok(match ty {
            Some(Type::INT4) => self.try_get::<_, Option<i32>>(at)?.map(i64::from),
            Some(Type::INT2) => self.try_get::<_, Option<i16>>(at)?.map(i64::from),
            Some(Type::BOOL) => self.try_get::<_, Option<bool>>(at)?.map(i64::from),
            _ => self.try_get(at)?,
        })
    }
}

impl From<tokio_postgres::Error> for StoreError {
    /// Unavailable: no answer, a closed connection, or the server saying it is going away or full
    /// (SQLSTATE classes 08 connection, 57 operator intervention, 53 insufficient resources).
    fn from(error: tokio_postgres::Error) -> StoreError {
        let class = error.code().map(|code| &code.code()[..2]);
        match error.as_db_error() {
            Some(_) if !matches!(class, Some("08" | "57" | "53")) && !error.is_closed() => {
                StoreError::Postgres(describe(&error))
            }
            _ => StoreError::Unavailable(describe(&error)),
        }
    }
}

/// The server's message (and detail) when it sent one, else the error and its cause.
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        },
        None => match error.source() {
            Some(source) => format!("{error}: {source}"),
            None => error.to_string(),
        },
    }
}

fn pool_error(error: &deadpool_postgres::PoolError) -> String {
    match error {
        deadpool_postgres::PoolError::Backend(error) => describe(error),
        other => other.to_string(),
    }
}

fn is_unique_violation(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}

pub(super) async fn query(
    client: &impl GenericClient,
    sql: &str,
    values: &[Param],
) -> StoreResult<Vec<tokio_postgres::Row>> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query(&statement, &refs(values)).await?)
}

pub(super) async fn executions(
    client: &impl GenericClient,
    sql: &str,
    values: &[Param],
) -> StoreResult<Vec<(i64, Execution)>> {
    query(client, sql, values)
        .await?
        .iter()
        .map(rows::execution)
        .collect()
}

/// The next listing position; holds the position lock until the transaction ends, so positions
/// grow in commit order across replicas.
pub(super) async fn next_seq(tx: &impl GenericClient) -> StoreResult<i64> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SEQ_LOCK])
        .await?;
    let row = tx
        .query_one(
            "SELECT (COALESCE(MAX(seq), 0) + 1)::BIGINT FROM executions",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

pub(super) async fn insert_execution(
    tx: &impl GenericClient,
    execution: &Execution,
    seq: i64,
) -> StoreResult<()> {
    let mut values: Vec<Param> = rows::execution_values(execution)
        .into_iter()
        .map(Param)
        .collect();
    values.push(int(seq));
    let statement = tx.prepare_cached(&dollars(&INSERT_EXECUTION)).await?;
    tx.execute(&statement, &refs(&values)).await?;
    Ok(())
}

async fn update_execution_if(
    tx: &impl GenericClient,
    execution: &Execution,
    expected: ExecutionStatus,
) -> StoreResult<bool> {
    let all = rows::execution_values(execution);
    let mut values = vec![text(&execution.id)];
    values.extend(updated_columns().map(|(i, _)| Param(all[i].clone())));
    values.push(text(expected.as_str()));
    let statement = tx.prepare_cached(&dollars(&UPDATE_EXECUTION_IF)).await?;
    Ok(tx.execute(&statement, &refs(&values)).await? == 1)
}

/// In `tx`: writes `execution` if its stored status is `expected` (else `None`) and inserts
/// `retry`, unless its schedule was deleted meanwhile (see SQLite's `finish_in`). Returns the retry
/// inserted.
async fn finish_in<'r>(
    tx: &impl GenericClient,
    execution: &Execution,
    expected: ExecutionStatus,
    retry: Option<&'r Execution>,
) -> StoreResult<Option<Option<&'r Execution>>> {
    if !update_execution_if(tx, execution, expected).await? {
        return Ok(None);
    }
    let unlinked: bool = tx
        .query_one(
            "SELECT schedule_id IS NULL AND schedule_name IS NOT NULL FROM executions WHERE id = $1",
            &[&execution.id],
        )
        .await?
        .get(0);
    let retry = retry.filter(|_| !unlinked);
    if let Some(retry) = retry {
        let seq = next_seq(tx).await?;
        insert_execution(tx, retry, seq).await?;
    }
    Ok(Some(retry))
}

fn schedule_params(schedule: &Schedule) -> Vec<Param> {
    schedule_values(schedule).into_iter().map(Param).collect()
}

fn time(value: Option<i64>) -> Option<DateTime<Utc>> {
    value.and_then(|ms| chrono::TimeZone::timestamp_millis_opt(&Utc, ms).single())
}

impl Store for PostgresStore {
    fn insert_schedule(&self, schedule: &Schedule) -> StoreResult<()> {
        self.block(async {
            let client = self.client().await?;
            let sql = format!(
                "INSERT INTO schedules ({SCHEDULE_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            );
            let statement = client.prepare_cached(&sql).await?;
            match client
                .execute(&statement, &refs(&schedule_params(schedule)))
                .await
            {
                Err(error) if is_unique_violation(&error) => Err(StoreError::NameTaken {
                    name: schedule.spec.name.clone(),
                }),
                other => other.map(drop).map_err(Into::into),
            }
        })
    }

    fn update_schedule(&self, schedule: &Schedule) -> StoreResult<bool> {
        self.block(async {
            let client = self.client().await?;
            let statement = client
                .prepare_cached(
                    "UPDATE schedules SET name = $2, spec = $3, paused = $4, next_fire = $5, \
                     last_fire = $6, snapshot_hash = $7, created_at = $8, updated_at = $9 \
                     WHERE id = $1",
                )
                .await?;
            match client
                .execute(&statement, &refs(&schedule_params(schedule)))
                .await
            {
                Err(error) if is_unique_violation(&error) => Err(StoreError::NameTaken {
                    name: schedule.spec.name.clone(),
                }),
                other => Ok(other? == 1),
            }
        })
    }

    fn get_schedule(&self, id: &str) -> StoreResult<Option<Schedule>> {
        let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = $1");
        Ok(self.block(self.schedules(&sql, &[text(id)]))?.pop())
    }

    fn get_schedule_by_name(&self, name: &str) -> StoreResult<Option<Schedule>> {
        let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE name = $1");
        Ok(self.block(self.schedules(&sql, &[text(name)]))?.pop())
    }

    fn list_schedules(&self) -> StoreResult<Vec<Schedule>> {
        let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules ORDER BY name");
        self.block(self.schedules(&sql, &[]))
    }

    fn list_schedules_with_latest(
        &self,
        after: Option<&str>,
        limit_to: usize,
    ) -> StoreResult<Vec<(StoredSchedule, Option<ExecutionSummary>)>> {
        // The newest execution from the (schedule_id, seq) index, one index search a schedule.
        // Names are never empty, so '' lists from the first.
        let sql = format!(
            "SELECT {} FROM schedules s LEFT JOIN LATERAL \
             (SELECT * FROM executions WHERE schedule_id = s.id ORDER BY seq DESC LIMIT 1) e \
             ON true WHERE s.name > COALESCE(CAST($1 AS TEXT), '') ORDER BY s.name LIMIT $2",
            rows::schedules_with_latest_select()
        );
        let after = Param(after.map_or(V::Null, |name| V::Text(name.into())));
        self.block(async {
            let client = self.client().await?;
            let found = query(&client, &sql, &[after, limit(limit_to)]).await?;
            found.iter().map(rows::schedule_with_latest).collect()
        })
    }

    fn delete_schedule(
        &self,
        id: &str,
        history: RunHistory,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<Execution>>> {
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            // The schedule's row first: a fire being recorded for it by another replica ends
            // before (or waits until after) this.
            tx.execute("SELECT 1 FROM schedules WHERE id = $1 FOR UPDATE", &[&id])
                .await?;
            let executions = executions(
                &tx,
                &format!("SELECT {EXECUTION_SELECT} FROM executions WHERE schedule_id = $1"),
                &[text(id)],
            )
            .await?;
            match history {
                RunHistory::Delete => {
                    tx.execute("DELETE FROM executions WHERE schedule_id = $1", &[&id])
                        .await?;
                }
                RunHistory::Keep => {
                    tx.execute(
                        "UPDATE executions SET status = 'cancelled', reason = $2, ended_at = $3 \
                         WHERE schedule_id = $1 AND status = 'queued'",
                        &[&id, &SCHEDULE_DELETED, &millis(now)],
                    )
                    .await?;
                    tx.execute(
                        "UPDATE executions SET schedule_id = NULL, \
                         schedule_name = (SELECT name FROM schedules WHERE id = $1) \
                         WHERE schedule_id = $1",
                        &[&id],
                    )
                    .await?;
                }
            }
            let deleted = tx
                .execute("DELETE FROM schedules WHERE id = $1", &[&id])
                .await?;
            tx.commit().await?;
            Ok((deleted == 1).then(|| executions.into_iter().map(|(_, e)| e).collect()))
        })
    }

    fn next_fire(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.block(async {
            let client = self.client().await?;
            let row = client
                .query_one("SELECT MIN(next_fire) FROM schedules WHERE paused = 0", &[])
                .await?;
            Ok(time(row.get(0)))
        })
    }

    fn due_schedules(&self, now: DateTime<Utc>, limit_to: usize) -> StoreResult<Vec<Schedule>> {
        let sql = format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE paused = 0 AND next_fire <= $1 \
             ORDER BY next_fire LIMIT $2"
        );
        self.block(self.schedules(&sql, &[int(millis(now)), limit(limit_to)]))
    }

    fn record_fire_batch(&self, batch: &[Fires]) -> StoreResult<FiresRecorded> {
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let mut recorded = Vec::with_capacity(batch.len());
            let mut seq = None;
            // The batch's schedules locked first, in id order as claims lock them: replicas
            // recording fires or claiming executions of one schedule take turns, never deadlock.
            let mut ids: Vec<&str> = batch.iter().map(|f| f.schedule_id.as_str()).collect();
            ids.sort_unstable();
            tx.execute(
                "SELECT 1 FROM schedules WHERE id = ANY($1) ORDER BY id FOR UPDATE",
                &[&ids],
            )
            .await?;
            let update = tx
                .prepare_cached(
                    "UPDATE schedules SET next_fire = $1, last_fire = COALESCE($2, last_fire) \
                     WHERE id = $3 AND next_fire = $4 AND paused = 0",
                )
                .await?;
            for fires in batch {
                // Another replica recording the same fire holds the row: this waits, then finds
                // `next_fire` moved and records nothing.
                let values = [
                    opt_int(opt_millis(fires.next_fire)),
                    opt_int(opt_millis(fires.last_fire)),
                    text(&fires.schedule_id),
                    int(millis(fires.expected)),
                ];
                let changed = tx.execute(&update, &refs(&values)).await?;
                recorded.push(changed == 1);
                if changed != 1 {
                    continue;
                }
                for execution in &fires.executions {
                    let next = match seq {
                        Some(next) => next,
                        None => next_seq(&tx).await?,
                    };
                    insert_execution(&tx, execution, next).await?;
                    seq = Some(next + 1);
                }
            }
            let mut repeats = Vec::new();
            if let Some(end) = seq {
                let count = batch.iter().zip(&recorded).filter(|(_, r)| **r);
                let first = end - count.map(|(f, _)| f.executions.len() as i64).sum::<i64>();
                let dropped =
                    (tx.query(&dollars(super::replicas::DROP_REFIRED), &[&first, &end])).await?;
                for row in dropped {
                    repeats.push(row.try_get(0)?);
                }
                (tx.execute(&dollars(super::replicas::MARK_FIRED), &[&first, &end])).await?;
            }
            tx.commit().await?;
            Ok(FiresRecorded { recorded, repeats })
        })
    }

    fn insert_execution(&self, execution: &Execution) -> StoreResult<()> {
        self.insert_executions(std::slice::from_ref(execution))
    }

    fn get_execution(&self, id: &str) -> StoreResult<Option<Execution>> {
        let sql = format!("SELECT {EXECUTION_SELECT} FROM executions WHERE id = $1");
        let found = self.block(self.executions(&sql, &[text(id)]))?;
        Ok(found.into_iter().next().map(|(_, e)| e))
    }

    fn list_executions(
        &self,
        filter: &ExecutionFilter,
        limit_to: usize,
        before: Option<i64>,
    ) -> StoreResult<Vec<(i64, Execution)>> {
        let (sql, values) = list_executions_query(filter, limit_to, before);
        let values: Vec<Param> = values.into_iter().map(Param).collect();
        self.block(self.executions(&dollars(&sql), &values))
    }

    fn ready_executions(
        &self,
        now: DateTime<Utc>,
        after: Option<i64>,
        limit_to: usize,
    ) -> StoreResult<Vec<(i64, Execution)>> {
        let sql = format!(
            "SELECT {EXECUTION_SELECT} FROM executions WHERE status = 'queued' AND ready_at <= $1 \
             AND seq > $2 ORDER BY seq LIMIT $3"
        );
        let values = [int(millis(now)), int(after.unwrap_or(0)), limit(limit_to)];
        self.block(self.executions(&sql, &values))
    }

    fn next_ready_after(&self, now: DateTime<Utc>) -> StoreResult<Option<DateTime<Utc>>> {
        self.block(async {
            let client = self.client().await?;
            let row = client
                .query_one(
                    "SELECT MIN(ready_at) FROM executions WHERE status = 'queued' AND ready_at > $1",
                    &[&millis(now)],
                )
                .await?;
            Ok(time(row.get(0)))
        })
    }

    fn active_count(&self, schedule_id: &str) -> StoreResult<u32> {
        self.block(async {
            let client = self.client().await?;
            let row = client
                .query_one(
                    "SELECT COUNT(*) FROM executions WHERE schedule_id = $1 \
                     AND status IN ('queued', 'running')",
                    &[&schedule_id],
                )
                .await?;
            Ok(u32::try_from(row.get::<_, i64>(0)).unwrap_or(u32::MAX))
        })
    }

    fn executions_with_status(&self, status: ExecutionStatus) -> StoreResult<Vec<Execution>> {
        let sql =
            format!("SELECT {EXECUTION_SELECT} FROM executions WHERE status = $1 ORDER BY seq");
        let found = self.block(self.executions(&sql, &[text(status.as_str())]))?;
        Ok(found.into_iter().map(|(_, e)| e).collect())
    }

    fn schedule_executions(&self, schedule_id: &str) -> StoreResult<Vec<Execution>> {
        let sql = format!(
            "SELECT {EXECUTION_SELECT} FROM executions WHERE schedule_id = $1 ORDER BY seq DESC"
        );
        let found = self.block(self.executions(&sql, &[text(schedule_id)]))?;
        Ok(found.into_iter().map(|(_, e)| e).collect())
    }

    fn update_execution_if(
        &self,
        execution: &Execution,
        expected: ExecutionStatus,
    ) -> StoreResult<bool> {
        self.finish_execution(execution, expected, None)
    }

    fn finish_execution(
        &self,
        execution: &Execution,
        expected: ExecutionStatus,
        retry: Option<&Execution>,
    ) -> StoreResult<bool> {
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let Some(_) = finish_in(&tx, execution, expected, retry).await? else {
                return Ok(false);
            };
            tx.commit().await?;
            Ok(true)
        })
    }

    fn set_progress(&self, id: &str, progress: CellProgress) -> StoreResult<()> {
        let values = [
            int(progress.cell as i64),
            int(progress.total as i64),
            text(id),
        ];
        self.block(self.execute(
            "UPDATE executions SET progress_cell = $1, progress_total = $2 WHERE id = $3",
            &values,
        ))
        .map(drop)
    }

    fn set_kernel_location(
        &self,
        id: &str,
        location: &str,
        gateway_kernel_id: Option<&str>,
    ) -> StoreResult<()> {
        let gateway = Param(gateway_kernel_id.map_or(V::Null, |id| V::Text(id.into())));
        self.block(self.execute(
            "UPDATE executions SET kernel_location = $1, gateway_kernel_id = $2 WHERE id = $3",
            &[text(location), gateway, text(id)],
        ))
        .map(drop)
    }

    fn set_notify_error(&self, id: &str, error: Option<&str>) -> StoreResult<()> {
        let error = Param(error.map_or(V::Null, |error| V::Text(error.into())));
        self.block(self.execute(
            "UPDATE executions SET notify_error = $1 WHERE id = $2",
            &[error, text(id)],
        ))
        .map(drop)
    }

    fn delete_execution(&self, id: &str) -> StoreResult<bool> {
        let deleted =
            self.block(self.execute("DELETE FROM executions WHERE id = $1", &[text(id)]))?;
        Ok(deleted == 1)
    }

    fn execution_name_exists(&self, name: &str) -> StoreResult<bool> {
        self.block(async {
            let client = self.client().await?;
            let found = query(
                &client,
                "SELECT 1 FROM executions WHERE name = $1 LIMIT 1",
                &[text(name)],
            )
            .await?;
            Ok(!found.is_empty())
        })
    }

    fn record_values(
        &self,
        execution_id: &str,
        values: &[(String, nbgate_executor::values::RecordedValue)],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.block(async {
            let mut client = self.client().await?;
            parts::record_values(&mut client, execution_id, values, now).await
        })
    }

    fn execution_values(
        &self,
        execution_id: &str,
    ) -> StoreResult<Vec<(String, nbgate_executor::values::RecordedValue)>> {
        let ids = [execution_id.to_owned()];
        let found = self.values_of_executions(&ids)?;
        Ok(found
            .into_iter()
            .map(|(_, name, value)| (name, value))
            .collect())
    }

    fn values_of_executions(
        &self,
        execution_ids: &[String],
    ) -> StoreResult<Vec<(String, String, nbgate_executor::values::RecordedValue)>> {
        self.block(async {
            let client = self.client().await?;
            parts::values_of_executions(&client, execution_ids).await
        })
    }

    fn value_series(
        &self,
        schedule_id: &str,
        name: Option<&str>,
        limit_to: usize,
    ) -> StoreResult<Vec<crate::values::ValuePoint>> {
        self.block(async {
            let client = self.client().await?;
            parts::value_series(&client, schedule_id, name, limit_to).await
        })
    }

    fn record_outputs(
        &self,
        execution_id: &str,
        files: &[crate::outputs::OutputFile],
    ) -> StoreResult<()> {
        self.block(async {
            let mut client = self.client().await?;
            parts::record_outputs(&mut client, execution_id, files).await
        })
    }

    fn execution_outputs(
        &self,
        execution_id: &str,
    ) -> StoreResult<Vec<crate::outputs::OutputFile>> {
        self.block(async {
            let client = self.client().await?;
            parts::execution_outputs(&client, execution_id).await
        })
    }

    fn output_times(&self, schedule_id: &str) -> StoreResult<crate::outputs::OutputTimes> {
        self.block(async {
            let client = self.client().await?;
            parts::output_times(&client, schedule_id).await
        })
    }

    fn chain_end(
        &self,
        downstream_id: &str,
        end: &super::ChainEnd,
        required: &[String],
        context: &[super::ChainEnd],
        decide: &mut dyn FnMut(&[super::ChainEnd]) -> Option<Execution>,
        now: DateTime<Utc>,
    ) -> StoreResult<super::ChainStep> {
        self.block(async {
            let mut client = self.client().await?;
            let step = parts::ChainCall {
                downstream_id,
                end,
                required,
                context,
                now,
            };
            parts::chain_end(&mut client, step, decide).await
        })
    }

    fn chain_end_handled(&self, downstream_id: &str, execution_id: &str) -> StoreResult<bool> {
        self.block(async {
            let client = self.client().await?;
            let found = client
                .query(
                    "SELECT 1 FROM pipeline_ends WHERE downstream_id = $1 AND execution_id = $2",
                    &[&downstream_id, &execution_id],
                )
                .await?;
            Ok(!found.is_empty())
        })
    }

    fn insert_executions(&self, executions: &[Execution]) -> StoreResult<()> {
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let first = next_seq(&tx).await?;
            for (seq, execution) in (first..).zip(executions) {
                insert_execution(&tx, execution, seq).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn grouped_executions(
        &self,
        grouping: super::Grouping,
        id: &str,
    ) -> StoreResult<Vec<Execution>> {
        let column = match grouping {
            super::Grouping::Run => "run_id",
            super::Grouping::Sweep => "sweep_id",
        };
        let sql =
            format!("SELECT {EXECUTION_SELECT} FROM executions WHERE {column} = $1 ORDER BY seq");
        let found = self.block(self.executions(&sql, &[text(id)]))?;
        Ok(found.into_iter().map(|(_, e)| e).collect())
    }
}

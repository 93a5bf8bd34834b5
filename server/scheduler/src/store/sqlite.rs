//! [`Store`] on an embedded SQLite database (WAL, one connection behind a mutex, called from the
//! blocking pool through [`super::Db`]).

use std::path::Path;
use std::sync::{LazyLock, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rusqlite::types::Value as V;
use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};

mod replicas;

use super::rows::{
    self, EXECUTION_COLUMNS, EXECUTION_SELECT, SCHEDULE_COLUMNS, millis, opt_millis, to_json,
};
use super::{Fires, FiresRecorded, Store, StoreResult, StoredSchedule, migrations};
use crate::error::StoreError;
use crate::model::{
    CellProgress, Execution, ExecutionFilter, ExecutionStatus, ExecutionSummary, RunHistory,
    SCHEDULE_DELETED, Schedule,
};

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating) the database at `path`, in WAL mode, and applies the migrations.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        Self::setup(Connection::open(path)?)
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> StoreResult<SqliteStore> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> StoreResult<SqliteStore> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // 32 MiB of pages (SQLite's default is 2 MB): the indexes the fire path inserts into stay
        // cached with tens of thousands of schedules and executions.
        conn.pragma_update(None, "cache_size", -32768)?;
        // The database file read through a memory map of up to 1 GiB instead of a read call and a
        // copy a page: listing 10,000 schedules reads each one's newest execution from its own
        // page, beyond what the page cache holds (37 -> 21 ms for that query). In-memory
        // databases ignore it.
        conn.pragma_update(None, "mmap_size", 1i64 << 30)?;
        // Every statement shape the store uses stays prepared (rusqlite keeps 16 by default).
        conn.set_prepared_statement_cache_capacity(64);
        migrations::migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    /// The schema version applied.
    pub fn schema_version(&self) -> StoreResult<u32> {
        Ok(self.conn().query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |row| row.get(0),
        )?)
    }

    pub(super) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back on drop).
        nbgate_kernel::sync::lock(&self.conn)
    }

    fn query_schedules(&self, sql: &str, values: Vec<V>) -> StoreResult<Vec<Schedule>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params_from_iter(values))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(rows::schedule(row)?);
        }
        Ok(out)
    }

    fn query_executions(&self, sql: &str, values: Vec<V>) -> StoreResult<Vec<(i64, Execution)>> {
        let conn = self.conn();
        query_executions(&conn, sql, values)
    }
}

pub(super) fn query_executions(
    conn: &Connection,
    sql: &str,
    values: Vec<V>,
) -> StoreResult<Vec<(i64, Execution)>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params_from_iter(values))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(rows::execution(row)?);
    }
    Ok(out)
}

/// The next listing position.
pub(super) fn next_seq(tx: &Transaction<'_>) -> StoreResult<i64> {
    Ok(tx
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) + 1 FROM executions")?
        .query_row([], |row| row.get(0))?)
}

/// `INSERT INTO executions (…) VALUES (?1, …)`, built once (statements are prepared once per
/// connection and kept: the fire path inserts hundreds of rows a second at scale).
pub(super) static INSERT_EXECUTION: LazyLock<String> = LazyLock::new(|| {
    let count = EXECUTION_COLUMNS.split(", ").count();
    let placeholders: Vec<String> = (1..=count).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO executions ({EXECUTION_COLUMNS}) VALUES ({})",
        placeholders.join(", ")
    )
});

/// Columns an update leaves alone: the key, the listing position and the schedule link, which only
/// insertion and `delete_schedule` write (so a run that ends after its schedule was deleted with its
/// executions kept does not link itself to it again).
const NOT_UPDATED: [&str; 4] = ["id", "seq", "schedule_id", "schedule_name"];

/// The positions in [`EXECUTION_COLUMNS`] (and [`rows::execution_values`]) of the columns an update
/// writes, with their names.
pub(super) fn updated_columns() -> impl Iterator<Item = (usize, &'static str)> {
    EXECUTION_COLUMNS
        .split(", ")
        .map(str::trim)
        .enumerate()
        .filter(|(_, column)| !NOT_UPDATED.contains(column))
}

/// `UPDATE executions SET <the updated columns> … WHERE id = ?1 AND status = ?N`.
pub(super) static UPDATE_EXECUTION_IF: LazyLock<String> = LazyLock::new(|| {
    let sets: Vec<String> = updated_columns()
        .enumerate()
        .map(|(i, (_, column))| format!("{column} = ?{}", i + 2))
        .collect();
    format!(
        "UPDATE executions SET {} WHERE id = ?1 AND status = ?{}",
        sets.join(", "),
        sets.len() + 2
    )
});

pub(super) fn insert_execution(
    tx: &Transaction<'_>,
    execution: &Execution,
    seq: i64,
) -> StoreResult<()> {
    let mut values = rows::execution_values(execution);
    values.push(V::Integer(seq));
    tx.prepare_cached(&INSERT_EXECUTION)?
        .execute(params_from_iter(values))?;
    Ok(())
}

fn update_execution_if(
    tx: &Transaction<'_>,
    execution: &Execution,
    expected: ExecutionStatus,
) -> StoreResult<bool> {
    let all = rows::execution_values(execution);
    let mut values = vec![V::Text(execution.id.clone())];
    values.extend(updated_columns().map(|(i, _)| all[i].clone()));
    values.push(V::Text(expected.as_str().into()));
    let changed = tx
        .prepare_cached(&UPDATE_EXECUTION_IF)?
        .execute(params_from_iter(values))?;
    Ok(changed == 1)
}

/// In `tx`: writes `execution` if its stored status is `expected` (else `None`) and inserts
/// `retry`, unless the execution's schedule was deleted meanwhile (unlinked, its name kept),
/// whether its end is written by its worker, by recovery after a crash or for a lost lease.
/// Returns the retry inserted.
pub(super) fn finish_in<'r>(
    tx: &Transaction<'_>,
    execution: &Execution,
    expected: ExecutionStatus,
    retry: Option<&'r Execution>,
) -> StoreResult<Option<Option<&'r Execution>>> {
    if !update_execution_if(tx, execution, expected)? {
        return Ok(None);
    }
    let unlinked: bool = tx
        .prepare_cached(
            "SELECT schedule_id IS NULL AND schedule_name IS NOT NULL FROM executions WHERE id = ?1",
        )?
        .query_row([&execution.id], |row| row.get(0))?;
    let retry = retry.filter(|_| !unlinked);
    if let Some(retry) = retry {
        let seq = next_seq(tx)?;
        insert_execution(tx, retry, seq)?;
    }
    Ok(Some(retry))
}

pub(super) fn schedule_values(schedule: &Schedule) -> Vec<V> {
    vec![
        V::Text(schedule.id.clone()),
        V::Text(schedule.spec.name.clone()),
        V::Text(to_json(&schedule.spec)),
        V::Integer(schedule.spec.paused.into()),
        opt_millis(schedule.next_run).map_or(V::Null, V::Integer),
        opt_millis(schedule.last_fire).map_or(V::Null, V::Integer),
        schedule.snapshot_hash.clone().map_or(V::Null, V::Text),
        V::Integer(millis(schedule.created_at)),
        V::Integer(millis(schedule.updated_at)),
    ]
}

fn name_taken(error: rusqlite::Error, name: &str) -> StoreError {
    match error {
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::NameTaken { name: name.into() }
        }
        other => other.into(),
    }
}

/// `list_executions`'s statement and values (`?N` placeholders).
pub(super) fn list_executions_query(
    filter: &ExecutionFilter,
    limit: usize,
    before: Option<i64>,
) -> (String, Vec<V>) {
    let mut conditions = Vec::new();
    let mut values = Vec::new();
    let mut add = |condition: &str, value: V| {
        values.push(value);
        conditions.push(format!("{condition} ?{}", values.len()));
    };
    if let Some(schedule) = &filter.schedule {
        add("schedule_id =", V::Text(schedule.clone()));
    }
    if let Some(status) = filter.status {
        add("status =", V::Text(status.as_str().into()));
    }
    if let Some(before) = before {
        add("seq <", V::Integer(before));
    }
    let clause = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    values.push(V::Integer(limit as i64));
    let sql = format!(
        "SELECT {EXECUTION_SELECT} FROM executions {clause} ORDER BY seq DESC LIMIT ?{}",
        values.len()
    );
    (sql, values)
}

impl Store for SqliteStore {
    fn insert_schedule(&self, schedule: &Schedule) -> StoreResult<()> {
        self.conn()
            .execute(
                &format!(
                    "INSERT INTO schedules ({SCHEDULE_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ),
                params_from_iter(schedule_values(schedule)),
            )
            .map_err(|error| name_taken(error, &schedule.spec.name))?;
        Ok(())
    }

    fn update_schedule(&self, schedule: &Schedule) -> StoreResult<bool> {
        let changed = self
            .conn()
            .execute(
                "UPDATE schedules SET name = ?2, spec = ?3, paused = ?4, next_fire = ?5, \
                 last_fire = ?6, snapshot_hash = ?7, created_at = ?8, updated_at = ?9 WHERE id = ?1",
                params_from_iter(schedule_values(schedule)),
            )
            .map_err(|error| name_taken(error, &schedule.spec.name))?;
        Ok(changed == 1)
    }

    fn get_schedule(&self, id: &str) -> StoreResult<Option<Schedule>> {
        let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = ?1");
        Ok(self.query_schedules(&sql, vec![V::Text(id.into())])?.pop())
    }

    fn get_schedule_by_name(&self, name: &str) -> StoreResult<Option<Schedule>> {
        let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE name = ?1");
        Ok(self
            .query_schedules(&sql, vec![V::Text(name.into())])?
            .pop())
    }

    fn list_schedules(&self) -> StoreResult<Vec<Schedule>> {
        let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules ORDER BY name");
        self.query_schedules(&sql, Vec::new())
    }

    fn list_schedules_with_latest(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(StoredSchedule, Option<ExecutionSummary>)>> {
        // The newest execution by its rowid, read from the (schedule_id, seq) index: one index
        // search and one row read a schedule. Names are never empty, so '' lists from the first.
        let sql = format!(
            "SELECT {} FROM schedules s LEFT JOIN executions e ON e.rowid = \
             (SELECT rowid FROM executions WHERE schedule_id = s.id ORDER BY seq DESC LIMIT 1) \
             WHERE s.name > COALESCE(CAST(?1 AS TEXT), '') ORDER BY s.name LIMIT ?2",
            rows::schedules_with_latest_select()
        );
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut found = stmt.query(params![after, i64::try_from(limit).unwrap_or(i64::MAX)])?;
        let mut out = Vec::with_capacity(rows::listing_capacity(limit));
        while let Some(row) = found.next()? {
            out.push(rows::schedule_with_latest(row)?);
        }
        Ok(out)
    }

    fn delete_schedule(
        &self,
        id: &str,
        history: RunHistory,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<Execution>>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let executions = query_executions(
            &tx,
            &format!("SELECT {EXECUTION_SELECT} FROM executions WHERE schedule_id = ?1"),
            vec![V::Text(id.into())],
        )?;
        match history {
            RunHistory::Delete => {
                tx.execute("DELETE FROM executions WHERE schedule_id = ?1", [id])?;
            }
            RunHistory::Keep => {
                tx.execute(
                    "UPDATE executions SET status = 'cancelled', reason = ?2, ended_at = ?3 \
                     WHERE schedule_id = ?1 AND status = 'queued'",
                    params![id, SCHEDULE_DELETED, millis(now)],
                )?;
                tx.execute(
                    "UPDATE executions SET schedule_id = NULL, \
                     schedule_name = (SELECT name FROM schedules WHERE id = ?1) \
                     WHERE schedule_id = ?1",
                    [id],
                )?;
            }
        }
        let deleted = tx.execute("DELETE FROM schedules WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok((deleted == 1).then(|| executions.into_iter().map(|(_, e)| e).collect()))
    }

    fn next_fire(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let next: Option<i64> = self
            .conn()
            .prepare_cached("SELECT MIN(next_fire) FROM schedules WHERE paused = 0")?
            .query_row([], |row| row.get(0))?;
        Ok(next.and_then(|ms| chrono::TimeZone::timestamp_millis_opt(&Utc, ms).single()))
    }

    fn due_schedules(&self, now: DateTime<Utc>, limit: usize) -> StoreResult<Vec<Schedule>> {
        let sql = format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE paused = 0 AND next_fire <= ?1 \
             ORDER BY next_fire LIMIT ?2"
        );
        self.query_schedules(
            &sql,
            vec![V::Integer(millis(now)), V::Integer(limit as i64)],
        )
    }

    fn record_fire_batch(&self, batch: &[Fires]) -> StoreResult<FiresRecorded> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut recorded = Vec::with_capacity(batch.len());
        let mut seq = next_seq(&tx)?;
        let first = seq;
        for fires in batch {
            let changed = tx
                .prepare_cached(
                    "UPDATE schedules SET next_fire = ?1, last_fire = COALESCE(?2, last_fire) \
                     WHERE id = ?3 AND next_fire = ?4 AND paused = 0",
                )?
                .execute(params![
                    opt_millis(fires.next_fire),
                    opt_millis(fires.last_fire),
                    fires.schedule_id,
                    millis(fires.expected)
                ])?;
            recorded.push(changed == 1);
            if changed != 1 {
                continue;
            }
            for execution in &fires.executions {
                insert_execution(&tx, execution, seq)?;
                seq += 1;
            }
        }
        let repeats = (tx.prepare_cached(super::replicas::DROP_REFIRED)?)
            .query_map([first, seq], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        (tx.prepare_cached(super::replicas::MARK_FIRED)?).execute([first, seq])?;
        tx.commit()?;
        Ok(FiresRecorded { recorded, repeats })
    }

    fn insert_execution(&self, execution: &Execution) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let seq = next_seq(&tx)?;
        insert_execution(&tx, execution, seq)?;
        tx.commit()?;
        Ok(())
    }

    fn get_execution(&self, id: &str) -> StoreResult<Option<Execution>> {
        let sql = format!("SELECT {EXECUTION_SELECT} FROM executions WHERE id = ?1");
        let found = self.query_executions(&sql, vec![V::Text(id.into())])?;
        Ok(found.into_iter().next().map(|(_, e)| e))
    }

    fn list_executions(
        &self,
        filter: &ExecutionFilter,
        limit: usize,
        before: Option<i64>,
    ) -> StoreResult<Vec<(i64, Execution)>> {
        let (sql, values) = list_executions_query(filter, limit, before);
        self.query_executions(&sql, values)
    }

    fn ready_executions(
        &self,
        now: DateTime<Utc>,
        after: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<(i64, Execution)>> {
        let sql = format!(
            "SELECT {EXECUTION_SELECT} FROM executions WHERE status = 'queued' AND ready_at <= ?1 \
             AND seq > ?2 ORDER BY seq LIMIT ?3"
        );
        self.query_executions(
            &sql,
            vec![
                V::Integer(millis(now)),
                V::Integer(after.unwrap_or(0)),
                V::Integer(limit as i64),
            ],
        )
    }

    fn next_ready_after(&self, now: DateTime<Utc>) -> StoreResult<Option<DateTime<Utc>>> {
        let next: Option<i64> = self
            .conn()
            .prepare_cached(
                "SELECT MIN(ready_at) FROM executions WHERE status = 'queued' AND ready_at > ?1",
            )?
            .query_row([millis(now)], |row| row.get(0))?;
        Ok(next.and_then(|ms| chrono::TimeZone::timestamp_millis_opt(&Utc, ms).single()))
    }

    fn active_count(&self, schedule_id: &str) -> StoreResult<u32> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT COUNT(*) FROM executions WHERE schedule_id = ?1 \
                 AND status IN ('queued', 'running')",
            )?
            .query_row([schedule_id], |row| row.get(0))?)
    }

    fn executions_with_status(&self, status: ExecutionStatus) -> StoreResult<Vec<Execution>> {
        let sql =
            format!("SELECT {EXECUTION_SELECT} FROM executions WHERE status = ?1 ORDER BY seq");
        let found = self.query_executions(&sql, vec![V::Text(status.as_str().into())])?;
        Ok(found.into_iter().map(|(_, e)| e).collect())
    }

    fn schedule_executions(&self, schedule_id: &str) -> StoreResult<Vec<Execution>> {
        let sql = format!(
            "SELECT {EXECUTION_SELECT} FROM executions WHERE schedule_id = ?1 ORDER BY seq DESC"
        );
        let found = self.query_executions(&sql, vec![V::Text(schedule_id.into())])?;
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
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let Some(_) = finish_in(&tx, execution, expected, retry)? else {
            return Ok(false);
        };
        tx.commit()?;
        Ok(true)
    }

    fn set_progress(&self, id: &str, progress: CellProgress) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE executions SET progress_cell = ?1, progress_total = ?2 WHERE id = ?3",
            params![progress.cell as i64, progress.total as i64, id],
        )?;
        Ok(())
    }

    fn set_kernel_location(
        &self,
        id: &str,
        location: &str,
        gateway_kernel_id: Option<&str>,
    ) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE executions SET kernel_location = ?1, gateway_kernel_id = ?2 WHERE id = ?3",
            params![location, gateway_kernel_id, id],
        )?;
        Ok(())
    }

    fn set_notify_error(&self, id: &str, error: Option<&str>) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE executions SET notify_error = ?1 WHERE id = ?2",
            params![error, id],
        )?;
        Ok(())
    }

    fn delete_execution(&self, id: &str) -> StoreResult<bool> {
        Ok(self
            .conn()
            .execute("DELETE FROM executions WHERE id = ?1", [id])?
            == 1)
    }

    fn execution_name_exists(&self, name: &str) -> StoreResult<bool> {
        Ok(self
            .conn()
            .prepare_cached("SELECT 1 FROM executions WHERE name = ?1")?
            .query_row([name], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn record_outputs(
        &self,
        execution_id: &str,
        files: &[crate::outputs::OutputFile],
    ) -> StoreResult<()> {
        super::outputs::record(&mut self.conn(), execution_id, files)
    }

    fn execution_outputs(
        &self,
        execution_id: &str,
    ) -> StoreResult<Vec<crate::outputs::OutputFile>> {
        super::outputs::list(&self.conn(), execution_id)
    }

    fn output_times(&self, schedule_id: &str) -> StoreResult<crate::outputs::OutputTimes> {
        super::outputs::times(&self.conn(), schedule_id)
    }

    fn record_values(
        &self,
        execution_id: &str,
        values: &[(String, nbgate_executor::values::RecordedValue)],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        super::values::record(&mut self.conn(), execution_id, values, now)
    }

    fn execution_values(
        &self,
        execution_id: &str,
    ) -> StoreResult<Vec<(String, nbgate_executor::values::RecordedValue)>> {
        super::values::list(&self.conn(), execution_id)
    }

    fn values_of_executions(
        &self,
        execution_ids: &[String],
    ) -> StoreResult<Vec<(String, String, nbgate_executor::values::RecordedValue)>> {
        super::values::of_executions(&self.conn(), execution_ids)
    }

    fn value_series(
        &self,
        schedule_id: &str,
        name: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<crate::values::ValuePoint>> {
        super::values::series(&self.conn(), schedule_id, name, limit)
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
        let conn = &mut self.conn();
        super::pipeline::chain_end(conn, downstream_id, end, required, context, decide, now)
    }

    fn chain_end_handled(&self, downstream_id: &str, execution_id: &str) -> StoreResult<bool> {
        super::pipeline::end_handled(&self.conn(), downstream_id, execution_id)
    }

    fn insert_executions(&self, executions: &[Execution]) -> StoreResult<()> {
        super::pipeline::insert_executions(&mut self.conn(), executions)
    }

    fn grouped_executions(
        &self,
        grouping: super::Grouping,
        id: &str,
    ) -> StoreResult<Vec<Execution>> {
        super::pipeline::executions_by(&self.conn(), grouping, id)
    }
}

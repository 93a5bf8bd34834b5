//! Schema versions, embedded and applied in order at start, each in its own transaction.

use rusqlite::Connection;

use crate::error::StoreError;

/// `(version, SQL)`, oldest first. Never edit a released step: add one.
pub(crate) const MIGRATIONS: &[(u32, &str)] = &[
    (
        1,
        "CREATE TABLE schedules (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        spec TEXT NOT NULL,
        paused INTEGER NOT NULL,
        next_fire BIGINT,
        last_fire BIGINT,
        snapshot_hash TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE INDEX schedules_next_fire ON schedules (paused, next_fire);
    CREATE TABLE executions (
        id TEXT PRIMARY KEY,
        seq BIGINT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        schedule_id TEXT,
        notebook TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT,
        parameters TEXT NOT NULL,
        kernel TEXT,
        input_hash TEXT,
        attempt INTEGER NOT NULL,
        max_attempts INTEGER NOT NULL,
        first_attempt_id TEXT,
        fire_time BIGINT,
        created_at BIGINT NOT NULL,
        ready_at BIGINT NOT NULL,
        started_at BIGINT,
        ended_at BIGINT,
        progress_cell INTEGER,
        progress_total INTEGER,
        error TEXT,
        output_path TEXT NOT NULL,
        notify_error TEXT,
        run TEXT NOT NULL
    );
    CREATE INDEX executions_schedule ON executions (schedule_id, seq);
    CREATE INDEX executions_status ON executions (status, ready_at);
    CREATE INDEX executions_name ON executions (name);",
    ),
    // Listing by status, newest first, reads the index in order instead of sorting every row of that
    // status (bench/scheduler_scale.py listing: 80 ms → a few ms per page over 100,000 executions).
    (
        2,
        "CREATE INDEX executions_status_seq ON executions (status, seq);",
    ),
    // Every fire counts its schedule's queued and running executions (the overlap policy): with only
    // (schedule_id, seq) that read walks the schedule's whole history, which grows by one row per
    // fire; this reads just the active ones. Listing one schedule's executions of one status uses it
    // in order too.
    (
        3,
        "CREATE INDEX executions_schedule_status ON executions (schedule_id, status, seq);",
    ),
    // Executions kept when their schedule is deleted keep its name here (their `schedule_id` is
    // cleared); linked ones read their schedule's current name instead (`EXECUTION_SELECT`).
    (4, "ALTER TABLE executions ADD COLUMN schedule_name TEXT;"),
    // The values each execution recorded (`store::values`); deleted with their execution.
    (5, super::values::MIGRATION),
    // The files an execution's run created or changed that its `outputs` patterns matched
    // (`store::outputs`); deleted with their execution.
    (6, super::outputs::MIGRATION),
    // Pipelines (`store::pipeline`): each execution's chain and sweep, and upstream ends waiting
    // for their dependant's other upstreams.
    (7, super::pipeline::MIGRATION),
    // The machine type each execution runs on (schedules keep theirs in their spec's JSON).
    (8, "ALTER TABLE executions ADD COLUMN machine_type TEXT;"),
    // Where each execution's kernel ran: "local" or a gateway's URL, and the gateway's kernel id.
    (
        9,
        "ALTER TABLE executions ADD COLUMN kernel_location TEXT;
         ALTER TABLE executions ADD COLUMN gateway_kernel_id TEXT;",
    ),
    // The replica (`--replica-id`) that started each execution: with several replicas on one
    // PostgreSQL store, each recovers only its own at start.
    (10, "ALTER TABLE executions ADD COLUMN replica TEXT;"),
    // Leases of running executions and one first attempt per fire (`store::replicas`).
    (11, super::replicas::MIGRATION),
];

/// Applies the steps not yet applied; returns the schema version.
pub(crate) fn migrate(conn: &mut Connection) -> Result<u32, StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            applied_at BIGINT NOT NULL
        );",
    )?;
    // Every step not applied yet, not only those above the highest applied: steps written at the same
    // time may land out of order (a database at step 6 still gets step 5).
    let applied: Vec<u32> = conn
        .prepare("SELECT version FROM schema_migrations")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    for (version, sql) in MIGRATIONS
        .iter()
        .filter(|(version, _)| !applied.contains(version))
    {
        let failed = |error: rusqlite::Error| StoreError::Migration {
            version: *version,
            reason: error.to_string(),
        };
        let tx = conn.transaction().map_err(failed)?;
        tx.execute_batch(sql).map_err(failed)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            (version, chrono::Utc::now().timestamp_millis()),
        )
        .map_err(failed)?;
        tx.commit().map_err(failed)?;
    }
    let newest = MIGRATIONS.iter().map(|(version, _)| *version).max();
    Ok(newest.unwrap_or(0))
}

//! The store on both backends: round trips, listing order and cursors, the fire transaction (each
//! case in `sqlite::` on an in-memory database and in `postgres::` on a database of the tests' own
//! PostgreSQL server), and each backend's migrations.

mod support;

use std::time::Duration;

use nbgate_executor::values::RecordedValue;
use nbgate_scheduler::store::{Claim, Fires, Replicas, Store, lost_reason};
use nbgate_scheduler::{
    CellProgress, Execution, ExecutionError, ExecutionFilter, ExecutionStatus, ExecutionSummary,
    PostgresStore, Recurrence, RunConfig, RunHistory, Schedule, ScheduleSpec, SqliteStore,
    StoreError,
};
use nbgate_tests::postgres as pg_server;
use serde_json::json;
use support::utc;

fn schedule(name: &str) -> Schedule {
    let mut spec = ScheduleSpec::new(
        name,
        "dir/report.ipynb",
        Recurrence::Cron("0 10 * * *".into()),
        "Asia/Tokyo",
    );
    spec.parameters = json!({"days": 60, "label": "x"})
        .as_object()
        .cloned()
        .expect("object");
    spec.timeout = Some(Duration::from_secs(600));
    Schedule {
        id: format!("id-{name}"),
        spec,
        next_run: Some(utc("2026-01-01T01:00:00Z")),
        last_fire: None,
        description: "Every day at 10:00 (Asia/Tokyo)".into(),
        snapshot_hash: Some("sha256:ab".into()),
        created_at: utc("2025-12-31T00:00:00Z"),
        updated_at: utc("2025-12-31T00:00:00Z"),
    }
}

fn execution(id: &str, schedule_id: Option<&str>, status: ExecutionStatus) -> Execution {
    Execution {
        id: id.into(),
        name: format!("n_{id}"),
        schedule_id: schedule_id.map(str::to_owned),
        schedule_name: None,
        notebook: "dir/report.ipynb".into(),
        status,
        reason: None,
        parameters: json!({"days": 1.5}).as_object().cloned().expect("object"),
        kernel: Some("python3".into()),
        machine_type: Some("cpu-4".into()),
        input_hash: Some("sha256:cd".into()),
        attempt: 1,
        max_attempts: 3,
        first_attempt_id: None,
        fire_time: Some(utc("2026-01-01T01:00:00Z")),
        created_at: utc("2026-01-01T01:00:00Z"),
        ready_at: utc("2026-01-01T01:00:00Z"),
        started_at: Some(utc("2026-01-01T01:00:00.010Z")),
        ended_at: None,
        progress: Some(CellProgress { cell: 2, total: 5 }),
        error: Some(ExecutionError {
            cell_index: Some(2),
            ename: "ValueError".into(),
            evalue: "bad".into(),
            traceback: vec!["line 1".into()],
        }),
        output_path: format!("executions/x/n_{id}.ipynb"),
        notify_error: None,
        run: RunConfig {
            timeout: Some(Duration::from_millis(1500)),
            cell_timeout: None,
            retry_delay: Duration::from_secs(60),
            snapshot: true,
            outputs: Vec::new(),
            expect: Vec::new(),
            pipeline: None,
        },
        run_id: Some(id.into()),
        sweep_id: None,
        kernel_location: None,
        gateway_kernel_id: None,
        replica: Some("host-a:1".into()),
    }
}

#[test]
fn migrations_are_applied_once_and_reopen_keeps_data() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("db.sqlite3");
    {
        let store = SqliteStore::open(&path).expect("open");
        assert_eq!(store.schema_version().expect("version"), 11);
        store.insert_schedule(&schedule("a")).expect("insert");
    }
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(store.schema_version().expect("version"), 11);
    assert_eq!(store.list_schedules().expect("list").len(), 1);
    let mode: String = rusqlite::Connection::open(&path)
        .expect("open")
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .expect("pragma");
    assert_eq!(mode, "wal");
}

fn schedules_round_trip_and_names_are_unique(store: &dyn Store) {
    let original = schedule("daily");
    store.insert_schedule(&original).expect("insert");
    assert_eq!(
        store.get_schedule("id-daily").expect("get"),
        Some(original.clone())
    );
    assert_eq!(
        store.get_schedule_by_name("daily").expect("get"),
        Some(original.clone())
    );
    let mut twin = schedule("daily");
    twin.id = "other".into();
    assert!(
        matches!(store.insert_schedule(&twin), Err(StoreError::NameTaken { name }) if name == "daily")
    );
    let mut edited = original.clone();
    edited.spec.paused = true;
    edited.next_run = None;
    assert!(store.update_schedule(&edited).expect("update"));
    assert_eq!(store.get_schedule("id-daily").expect("get"), Some(edited));
    assert_eq!(
        store.next_fire().expect("next"),
        None,
        "paused schedules do not fire"
    );
}

fn executions_round_trip_and_list_newest_first_with_cursors(store: &dyn Store) {
    let first = execution("e1", Some("s"), ExecutionStatus::Failed);
    store.insert_execution(&first).expect("insert");
    assert_eq!(store.get_execution("e1").expect("get"), Some(first));
    for i in 2..=5 {
        let status = if i % 2 == 0 {
            ExecutionStatus::Queued
        } else {
            ExecutionStatus::Succeeded
        };
        store
            .insert_execution(&execution(&format!("e{i}"), None, status))
            .expect("insert");
    }
    let all = ExecutionFilter::default();
    let page = store.list_executions(&all, 2, None).expect("list");
    let ids: Vec<&str> = page.iter().map(|(_, e)| e.id.as_str()).collect();
    assert_eq!(ids, ["e5", "e4"]);
    let next = store
        .list_executions(&all, 2, Some(page[1].0))
        .expect("list");
    let ids: Vec<&str> = next.iter().map(|(_, e)| e.id.as_str()).collect();
    assert_eq!(ids, ["e3", "e2"]);
    let queued = ExecutionFilter {
        status: Some(ExecutionStatus::Queued),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_executions(&queued, 10, None)
            .expect("list")
            .len(),
        2
    );
    let of_s = ExecutionFilter {
        schedule: Some("s".into()),
        ..Default::default()
    };
    assert_eq!(
        store.list_executions(&of_s, 10, None).expect("list").len(),
        1
    );
    // Compare-and-set on the status.
    let mut running = execution("e2", None, ExecutionStatus::Running);
    assert!(
        store
            .update_execution_if(&running, ExecutionStatus::Queued)
            .expect("cas")
    );
    running.status = ExecutionStatus::Succeeded;
    assert!(
        !store
            .update_execution_if(&running, ExecutionStatus::Queued)
            .expect("cas")
    );
}

fn a_fire_time_is_recorded_once(store: &dyn Store) {
    store.insert_schedule(&schedule("daily")).expect("insert");
    let due = utc("2026-01-01T01:00:00Z");
    let next = Some(utc("2026-01-02T01:00:00Z"));
    let rows = [execution("f1", Some("id-daily"), ExecutionStatus::Queued)];
    assert!(
        store
            .record_fires("id-daily", due, next, Some(due), &rows)
            .expect("fire")
    );
    // The same fire again (a second loop, a retry of the step) changes nothing.
    let again = [execution("f2", Some("id-daily"), ExecutionStatus::Queued)];
    assert!(
        !store
            .record_fires("id-daily", due, next, Some(due), &again)
            .expect("fire")
    );
    assert_eq!(store.active_count("id-daily").expect("count"), 1);
    let saved = store.get_schedule("id-daily").expect("get").expect("some");
    assert_eq!((saved.next_run, saved.last_fire), (next, Some(due)));
    assert_eq!(
        store
            .delete_schedule("id-daily", RunHistory::Delete, due)
            .expect("delete")
            .map(|e| e.len()),
        Some(1)
    );
    assert_eq!(store.get_execution("f1").expect("get"), None);
}

fn a_schedule_deleted_with_its_executions_kept_leaves_them_unlinked_under_its_name(
    store: &dyn Store,
) {
    store.insert_schedule(&schedule("daily")).expect("insert");
    store.insert_schedule(&schedule("other")).expect("insert");
    for (id, status) in [
        ("done", ExecutionStatus::Succeeded),
        ("waiting", ExecutionStatus::Queued),
        ("busy", ExecutionStatus::Running),
    ] {
        let row = execution(id, Some("id-daily"), status);
        store.insert_execution(&row).expect("insert");
    }
    let theirs = execution("theirs", Some("id-other"), ExecutionStatus::Queued);
    store.insert_execution(&theirs).expect("insert");
    // While linked, the name is the schedule's current one.
    let mut renamed = schedule("daily");
    renamed.spec.name = "daily_v2".into();
    assert!(store.update_schedule(&renamed).expect("rename"));
    let done = store.get_execution("done").expect("get").expect("some");
    assert_eq!(done.schedule_name.as_deref(), Some("daily_v2"));

    let now = utc("2026-01-02T00:00:00Z");
    let before = store
        .delete_schedule("id-daily", RunHistory::Keep, now)
        .expect("delete")
        .expect("it existed");
    assert_eq!(before.len(), 3);
    assert_eq!(store.get_schedule("id-daily").expect("get"), None);
    let get = |id: &str| store.get_execution(id).expect("get").expect("kept");
    for id in ["done", "waiting", "busy"] {
        let kept = get(id);
        assert_eq!(kept.schedule_id, None, "{id}");
        assert_eq!(kept.schedule_name.as_deref(), Some("daily_v2"), "{id}");
    }
    assert_eq!(get("done").status, ExecutionStatus::Succeeded);
    let waiting = get("waiting");
    assert_eq!(waiting.status, ExecutionStatus::Cancelled);
    assert_eq!(waiting.reason.as_deref(), Some("its schedule was deleted"));
    assert_eq!(waiting.ended_at, Some(now));
    assert_eq!(get("theirs").schedule_id.as_deref(), Some("id-other"));
    assert_eq!(
        store
            .delete_schedule("id-daily", RunHistory::Keep, now)
            .expect("again"),
        None
    );

    // The running one ends after the deletion: its end is written, without linking it again and
    // without the retry it asked for.
    let mut busy = execution("busy", Some("id-daily"), ExecutionStatus::Failed);
    busy.schedule_name = Some("daily".into());
    let retry = execution("busy_retry", Some("id-daily"), ExecutionStatus::Queued);
    assert!(
        store
            .finish_execution(&busy, ExecutionStatus::Running, Some(&retry))
            .expect("finish")
    );
    let busy = get("busy");
    assert_eq!(busy.status, ExecutionStatus::Failed);
    assert_eq!(
        (busy.schedule_id, busy.schedule_name.as_deref()),
        (None, Some("daily_v2"))
    );
    assert_eq!(store.get_execution("busy_retry").expect("get"), None);
    // Recovery after a crash reads it unlinked and fails it: no retry either.
    let mut stale = execution("stale", Some("id-other"), ExecutionStatus::Running);
    store.insert_execution(&stale).expect("insert");
    store
        .delete_schedule("id-other", RunHistory::Keep, now)
        .expect("delete");
    stale = get("stale");
    stale.status = ExecutionStatus::Failed;
    let retry = execution("stale_retry", None, ExecutionStatus::Queued);
    assert!(
        store
            .finish_execution(&stale, ExecutionStatus::Running, Some(&retry))
            .expect("finish")
    );
    assert_eq!(store.get_execution("stale_retry").expect("get"), None);
    // A one-off run is retried as before.
    let one_off = execution("one_off", None, ExecutionStatus::Running);
    store.insert_execution(&one_off).expect("insert");
    let retry = execution("one_off_retry", None, ExecutionStatus::Queued);
    let mut failed = one_off.clone();
    failed.status = ExecutionStatus::Failed;
    assert!(
        store
            .finish_execution(&failed, ExecutionStatus::Running, Some(&retry))
            .expect("finish")
    );
    assert!(store.get_execution("one_off_retry").expect("get").is_some());
}

fn scrap(text: &str) -> RecordedValue {
    RecordedValue::Json(serde_json::from_str(text).expect("json"))
}

fn recorded_values_keep_the_last_value_in_first_order_and_go_with_their_execution(
    store: &dyn Store,
) {
    store
        .insert_execution(&execution("e1", None, ExecutionStatus::Running))
        .expect("insert");
    let now = utc("2026-01-01T01:00:01Z");
    let big = "0.12345678901234567890123456789";
    store
        .record_values(
            "e1",
            &[
                ("accuracy".into(), scrap("0.5")),
                ("précision".into(), scrap(big)),
                ("note".into(), RecordedValue::Text("ok".into())),
            ],
            now,
        )
        .expect("record");
    store
        .record_values(
            "e1",
            &[
                ("accuracy".into(), scrap("0.91")),
                (
                    "table".into(),
                    RecordedValue::Other {
                        encoder: "pandas".into(),
                        summary: Some("   a\n0  1".into()),
                    },
                ),
            ],
            now,
        )
        .expect("record again");
    let values = store.execution_values("e1").expect("values");
    let names: Vec<&str> = values.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["accuracy", "précision", "note", "table"]);
    assert_eq!(values[0].1, scrap("0.91"));
    // The number's text is kept digit for digit.
    let RecordedValue::Json(precise) = &values[1].1 else {
        panic!("{values:?}")
    };
    assert_eq!(precise.to_string(), big);
    assert_eq!(values[2].1, RecordedValue::Text("ok".into()));
    assert_eq!(values[3].1.encoder(), "pandas");
    // A run deleted meanwhile records nothing; a deleted execution takes its values along.
    store
        .record_values("gone", &[("x".into(), scrap("1"))], now)
        .expect("no-op");
    assert!(store.execution_values("gone").expect("none").is_empty());
    assert!(store.delete_execution("e1").expect("delete"));
    assert!(store.execution_values("e1").expect("values").is_empty());
}

fn value_series_are_oldest_first_over_the_last_runs_that_recorded(store: &dyn Store) {
    store.insert_schedule(&schedule("daily")).expect("schedule");
    let now = utc("2026-01-02T00:00:00Z");
    for (id, accuracy) in [("r1", "0.7"), ("r2", "0.8"), ("quiet", ""), ("r3", "0.9")] {
        let mut run = execution(id, Some("id-daily"), ExecutionStatus::Succeeded);
        run.created_at = now;
        store.insert_execution(&run).expect("insert");
        if !accuracy.is_empty() {
            let mut values = vec![("accuracy".to_owned(), scrap(accuracy))];
            if id != "r2" {
                values.push(("rows".to_owned(), scrap("158")));
            }
            store.record_values(id, &values, now).expect("record");
        }
    }
    // Another schedule's run is not in the series.
    store
        .insert_execution(&execution(
            "other",
            Some("id-other"),
            ExecutionStatus::Failed,
        ))
        .expect("insert");
    store
        .record_values("other", &[("accuracy".into(), scrap("0.1"))], now)
        .expect("record");

    let all = store.value_series("id-daily", None, 100).expect("series");
    let points: Vec<(&str, &str)> = all
        .iter()
        .map(|p| (p.execution_id.as_str(), p.name.as_str()))
        .collect();
    assert_eq!(
        points,
        [
            ("r1", "accuracy"),
            ("r1", "rows"),
            ("r2", "accuracy"),
            ("r3", "accuracy"),
            ("r3", "rows")
        ]
    );
    assert_eq!(all[0].status, ExecutionStatus::Succeeded);
    assert_eq!(all[0].created_at, now);
    // One name, the last two runs that recorded it.
    let rows = store
        .value_series("id-daily", Some("rows"), 2)
        .expect("rows");
    let ids: Vec<&str> = rows.iter().map(|p| p.execution_id.as_str()).collect();
    assert_eq!(ids, ["r1", "r3"]);
    let last = store
        .value_series("id-daily", Some("accuracy"), 1)
        .expect("last");
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].value, scrap("0.9"));
    assert!(
        store
            .value_series("id-daily", Some("missing"), 10)
            .expect("none")
            .is_empty()
    );
}

#[test]
fn a_step_missed_below_the_highest_applied_is_applied_at_open() {
    // A database migrated by a build that had step 6 but not yet step 5.
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("db.sqlite3");
    drop(SqliteStore::open(&path).expect("open"));
    let conn = rusqlite::Connection::open(&path).expect("sqlite");
    conn.execute_batch(
        "DROP TABLE execution_values; DELETE FROM schema_migrations WHERE version = 5;",
    )
    .expect("undo step 5");
    drop(conn);
    let store = SqliteStore::open(&path).expect("reopen");
    store
        .insert_execution(&execution("e1", None, ExecutionStatus::Running))
        .expect("insert");
    store
        .record_values(
            "e1",
            &[("x".into(), scrap("1"))],
            utc("2026-01-01T00:00:00Z"),
        )
        .expect("step 5 applied");
    assert_eq!(store.execution_values("e1").expect("values").len(), 1);
}

/// `GET /api/schedules` in one query: every schedule by name, each with its own newest execution
/// (by listing position, whatever its status), none for a schedule that never ran; an unlinked
/// execution belongs to no one.
fn schedules_list_with_their_newest_execution_in_one_read(store: &dyn Store) {
    for name in ["b", "a", "never"] {
        store.insert_schedule(&schedule(name)).expect("insert");
    }
    let runs = [
        ("a1", Some("id-a"), ExecutionStatus::Succeeded),
        ("b1", Some("id-b"), ExecutionStatus::Failed),
        ("a2", Some("id-a"), ExecutionStatus::Failed),
        ("adhoc", None, ExecutionStatus::Succeeded),
        ("b2", Some("id-b"), ExecutionStatus::Queued),
    ];
    for (id, schedule_id, status) in runs {
        store
            .insert_execution(&execution(id, schedule_id, status))
            .expect("insert");
    }
    let listed: Vec<(String, Option<String>)> = store
        .list_schedules_with_latest(None, 10)
        .expect("list")
        .into_iter()
        .map(|(schedule, latest)| (schedule.name, latest.map(|e| e.id)))
        .collect();
    assert_eq!(
        listed,
        [
            ("a".to_owned(), Some("a2".to_owned())),
            ("b".to_owned(), Some("b2".to_owned())),
            ("never".to_owned(), None),
        ]
    );
}

/// The names of a page of schedules listed after `after`.
fn page_names(store: &dyn Store, after: Option<&str>, limit: usize) -> Vec<String> {
    (store.list_schedules_with_latest(after, limit))
        .expect("list")
        .into_iter()
        .map(|(schedule, _)| schedule.name)
        .collect()
}

fn schedules_list_a_page_at_a_time_by_name_after_the_last_name_listed(store: &dyn Store) {
    for name in ["c", "a", "e", "b", "d"] {
        store.insert_schedule(&schedule(name)).expect("insert");
    }
    assert_eq!(page_names(store, None, 2), ["a", "b"]);
    // Between pages one listed schedule goes, one is made before the cursor and one after:
    // nothing listed comes again and nothing still there is skipped.
    store
        .delete_schedule("id-a", RunHistory::Delete, utc("2026-01-01T00:00:00Z"))
        .expect("delete");
    for name in ["aa", "bb"] {
        store.insert_schedule(&schedule(name)).expect("insert");
    }
    assert_eq!(page_names(store, Some("b"), 2), ["bb", "c"]);
    assert_eq!(page_names(store, Some("c"), 2), ["d", "e"]);
    assert!(page_names(store, Some("e"), 2).is_empty());
    // A name that is not (or no longer) a schedule's is still a place in the order.
    assert_eq!(page_names(store, Some("bz"), 10), ["c", "d", "e"]);
}

/// A listed schedule's newest execution in short is the stored execution's summary, field for
/// field (status, reason, error, progress, times; NULLs as `None`), read without the rest of it.
fn a_listed_schedule_s_newest_execution_in_short_is_the_stored_one(store: &dyn Store) {
    for name in ["a", "b"] {
        store.insert_schedule(&schedule(name)).expect("insert");
    }
    let mut newest = execution("a2", Some("id-a"), ExecutionStatus::Failed);
    newest.reason = Some("cell 2: ValueError: bad".into());
    newest.ended_at = Some(utc("2026-01-01T01:00:02.500Z"));
    let mut running = execution("b1", Some("id-b"), ExecutionStatus::Running);
    (running.fire_time, running.progress, running.error) = (None, None, None);
    let runs = [
        execution("a1", Some("id-a"), ExecutionStatus::Succeeded),
        newest,
        running,
    ];
    for run in &runs {
        store.insert_execution(run).expect("insert");
    }
    let stored = |id: &str| {
        let execution = store.get_execution(id).expect("get").expect("stored");
        Some(ExecutionSummary::from(execution))
    };
    let listed = store.list_schedules_with_latest(None, 10).expect("list");
    let [(a, a_latest), (b, b_latest)] = <[_; 2]>::try_from(listed).expect("two schedules");
    assert_eq!((a.name.as_str(), b.name.as_str()), ("a", "b"));
    // As stored, it reads as the schedule itself does.
    let a = a.parse().expect("parse");
    assert_eq!(Some(a), store.get_schedule("id-a").expect("get"));
    assert_eq!(a_latest, stored("a2"));
    assert_eq!(b_latest, stored("b1"));
    let a_latest = a_latest.expect("a ran");
    assert_eq!(a_latest.status, ExecutionStatus::Failed);
    assert_eq!(a_latest.reason.as_deref(), Some("cell 2: ValueError: bad"));
    assert_eq!(a_latest.ended_at, Some(utc("2026-01-01T01:00:02.500Z")));
    assert_eq!(a_latest.progress, Some(CellProgress { cell: 2, total: 5 }));
    assert_eq!(
        a_latest.error.map(|error| error.traceback),
        Some(vec!["line 1".into()])
    );
    let b_latest = b_latest.expect("b runs");
    assert_eq!((b_latest.fire_time, b_latest.progress), (None, None));
    assert!(b_latest.error.is_none() && b_latest.ended_at.is_none());
}

/// The rest of the interface: due schedules and the next fire, ready executions and back-off,
/// progress and kernel location, an end with its retry, output files and freshness times, a
/// pipeline's fan-in and its groups.
fn the_worker_outputs_and_pipelines_read_back_what_they_wrote(store: &dyn Store) {
    let t = |s: &str| utc(s);
    store.insert_schedule(&schedule("a")).expect("insert");
    let mut paused = schedule("p");
    paused.spec.paused = true;
    store.insert_schedule(&paused).expect("insert");
    assert_eq!(
        store.next_fire().expect("next"),
        Some(t("2026-01-01T01:00:00Z"))
    );
    let due = store
        .due_schedules(t("2026-01-01T01:00:00Z"), 10)
        .expect("due");
    assert_eq!(
        due.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["id-a"]
    );
    assert!(
        store
            .due_schedules(t("2026-01-01T00:59:59Z"), 10)
            .expect("due")
            .is_empty()
    );

    let mut waiting = execution("later", Some("id-a"), ExecutionStatus::Queued);
    waiting.ready_at = t("2026-01-01T02:00:00Z");
    store
        .insert_executions(&[
            execution("now", Some("id-a"), ExecutionStatus::Queued),
            waiting,
        ])
        .expect("insert");
    let ready = store
        .ready_executions(t("2026-01-01T01:30:00Z"), None, 10)
        .expect("ready");
    assert_eq!(
        ready.iter().map(|(_, e)| e.id.as_str()).collect::<Vec<_>>(),
        ["now"]
    );
    assert!(
        store
            .ready_executions(t("2026-01-01T01:30:00Z"), Some(ready[0].0), 10)
            .expect("ready")
            .is_empty()
    );
    assert_eq!(
        store
            .next_ready_after(t("2026-01-01T01:30:00Z"))
            .expect("next"),
        Some(t("2026-01-01T02:00:00Z"))
    );

    let mut running = execution("now", Some("id-a"), ExecutionStatus::Running);
    assert!(
        store
            .update_execution_if(&running, ExecutionStatus::Queued)
            .expect("start")
    );
    store
        .set_progress("now", CellProgress { cell: 4, total: 5 })
        .expect("progress");
    store
        .set_kernel_location("now", "https://gateway", Some("k-1"))
        .expect("location");
    let read = store.get_execution("now").expect("get").expect("some");
    assert_eq!(read.progress, Some(CellProgress { cell: 4, total: 5 }));
    assert_eq!(
        (
            read.kernel_location.as_deref(),
            read.gateway_kernel_id.as_deref()
        ),
        (Some("https://gateway"), Some("k-1"))
    );
    running.status = ExecutionStatus::Succeeded;
    running.ended_at = Some(t("2026-01-01T01:40:00Z"));
    let retry = execution("retry", Some("id-a"), ExecutionStatus::Queued);
    assert!(
        store
            .finish_execution(&running, ExecutionStatus::Running, Some(&retry))
            .expect("end")
    );
    assert!(
        !store
            .finish_execution(&running, ExecutionStatus::Running, None)
            .expect("again")
    );
    assert_eq!(
        store
            .executions_with_status(ExecutionStatus::Queued)
            .expect("queued")
            .iter()
            .map(|e| e.id.as_str())
            .collect::<Vec<_>>(),
        ["later", "retry"]
    );
    assert!(store.execution_name_exists("n_retry").expect("name"));

    let file = nbgate_scheduler::OutputFile {
        path: "out/a.csv".into(),
        bytes: 12,
        modified: t("2026-01-01T01:39:00Z"),
        sha256: "ab".into(),
        rows: Some(2),
        columns: Some(vec![nbgate_scheduler::Column {
            name: "x".into(),
            kind: "integer".into(),
        }]),
    };
    store
        .record_outputs("now", std::slice::from_ref(&file))
        .expect("outputs");
    store
        .record_outputs("now", std::slice::from_ref(&file))
        .expect("outputs again");
    assert_eq!(store.execution_outputs("now").expect("outputs"), [file]);
    let times = store.output_times("id-a").expect("times");
    assert_eq!(
        (
            times.last_success,
            times.last_success_with_outputs,
            times.last_output_at
        ),
        (
            Some(t("2026-01-01T01:40:00Z")),
            Some(t("2026-01-01T01:40:00Z")),
            Some(t("2026-01-01T01:39:00Z"))
        )
    );

    // Fan-in: p runs after a and b; it is decided once both ended, and an end offered again is
    // recognised.
    let end = |upstream: &str, id: &str| nbgate_scheduler::store::ChainEnd {
        upstream: upstream.into(),
        execution_id: id.into(),
        status: ExecutionStatus::Succeeded,
        run_id: Some("run-1".into()),
        fire_time: None,
    };
    let required = ["a".to_owned(), "b".to_owned()];
    let mut made = |_: &[nbgate_scheduler::store::ChainEnd]| {
        let mut next = execution("p1", Some("id-p"), ExecutionStatus::Queued);
        next.run_id = Some("run-1".into());
        Some(next)
    };
    let now = t("2026-01-01T01:41:00Z");
    assert_eq!(
        store
            .chain_end("id-p", &end("a", "now"), &required, &[], &mut made, now)
            .expect("end"),
        nbgate_scheduler::store::ChainStep::Waiting
    );
    let decided = store
        .chain_end("id-p", &end("b", "b1"), &required, &[], &mut made, now)
        .expect("end");
    assert!(
        matches!(decided, nbgate_scheduler::store::ChainStep::Decided(Some(ref e)) if e.id == "p1")
    );
    assert!(store.chain_end_handled("id-p", "now").expect("handled"));
    assert_eq!(
        store
            .chain_end("id-p", &end("a", "now"), &required, &[], &mut made, now)
            .expect("end"),
        nbgate_scheduler::store::ChainStep::AlreadyHandled
    );
    let run = store
        .grouped_executions(nbgate_scheduler::store::Grouping::Run, "run-1")
        .expect("run");
    assert_eq!(
        run.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["p1"]
    );
    assert!(store.delete_execution("p1").expect("delete"));
    assert!(!store.delete_execution("p1").expect("delete again"));
}

/// A fire time recorded again (its schedule's `next_fire` moved back to it, as an edit on a replica
/// whose clock is behind does) advances the schedule but runs once: the second first attempt is
/// dropped; a retry of the fire (attempt 2) is kept.
fn a_fire_time_recorded_again_runs_once(store: &dyn Store) {
    store.insert_schedule(&schedule("daily")).expect("insert");
    let due = utc("2026-01-01T01:00:00Z");
    let next = utc("2026-01-02T01:00:00Z");
    let fire = |id: &str| {
        let mut row = execution(id, Some("id-daily"), ExecutionStatus::Queued);
        row.fire_time = Some(due);
        row
    };
    assert!(
        store
            .record_fires("id-daily", due, Some(next), Some(due), &[fire("f1")])
            .expect("fire")
    );
    let mut retry = fire("f1-retry");
    retry.attempt = 2;
    store.insert_execution(&retry).expect("retry");
    let mut edited = store.get_schedule("id-daily").expect("get").expect("daily");
    edited.next_run = Some(due);
    assert!(store.update_schedule(&edited).expect("update"));
    let again = Fires {
        schedule_id: "id-daily".into(),
        expected: due,
        next_fire: Some(next),
        last_fire: Some(due),
        executions: vec![fire("f2")],
    };
    let recorded = store.record_fire_batch(&[again]).expect("fire again");
    assert_eq!(
        (recorded.recorded, recorded.repeats),
        (vec![true], vec!["f2".to_owned()]),
        "the schedule advanced, the repeat named as not kept"
    );
    assert_eq!(store.get_execution("f2").expect("get"), None, "fired twice");
    let stored = store.get_schedule("id-daily").expect("get").expect("daily");
    assert_eq!(stored.next_run, Some(next));
    let runs = store.schedule_executions("id-daily").expect("list");
    assert_eq!(ids(&runs), ["f1-retry", "f1"]);
}

/// A claim by `replica` at `now` of up to `want` executions, leased for 30 s.
fn claim(replica: &str, now: &str, want: usize) -> Claim {
    Claim {
        replica: replica.into(),
        now: utc(now),
        lease_until: utc(now) + chrono::Duration::seconds(30),
        after: None,
        page: 64,
        want,
    }
}

fn ids(executions: &[Execution]) -> Vec<&str> {
    executions.iter().map(|e| e.id.as_str()).collect()
}

fn queued(id: &str, schedule_id: Option<&str>) -> Execution {
    let mut execution = execution(id, schedule_id, ExecutionStatus::Queued);
    execution.started_at = None;
    execution.replica = None;
    execution
}

/// Claims take the oldest ready executions, at most `want`, never more of a schedule than its
/// `max_concurrent` counted in the store (running ones included), and none the replica refuses;
/// each claimed one is running, started now, by the replica.
fn claims_keep_max_concurrent_and_the_replica_s_own_limits(store: &dyn Store) {
    let mut daily = schedule("daily");
    daily.spec.max_concurrent = 2;
    store.insert_schedule(&daily).expect("insert");
    for id in ["q1", "q2", "q3", "q4"] {
        store
            .insert_execution(&queued(id, Some("id-daily")))
            .expect("insert");
    }
    store.insert_execution(&queued("o1", None)).expect("insert");
    store.insert_execution(&queued("o2", None)).expect("insert");
    let now = "2026-01-01T01:00:01Z";
    let page = store
        .claim_executions(&claim("a", now, 10), &mut |e| e.id != "o1")
        .expect("claim");
    assert_eq!(ids(&page.claimed), ["q1", "q2", "o2"]);
    assert!(!page.more);
    let q1 = store.get_execution("q1").expect("get").expect("q1");
    assert_eq!(q1.status, ExecutionStatus::Running);
    assert_eq!(q1.replica.as_deref(), Some("a"));
    assert_eq!(q1.started_at, Some(utc(now)));
    assert_eq!(page.claimed[0], q1);
    let again = store
        .claim_executions(&claim("b", now, 10), &mut |_| true)
        .expect("claim");
    assert_eq!(
        ids(&again.claimed),
        ["o1"],
        "daily runs its max_concurrent already"
    );
    let mut done = q1.clone();
    done.status = ExecutionStatus::Succeeded;
    assert!(
        store
            .update_execution_if(&done, ExecutionStatus::Running)
            .expect("end")
    );
    let one = store
        .claim_executions(&claim("b", now, 1), &mut |_| true)
        .expect("claim");
    assert_eq!(ids(&one.claimed), ["q3"]);
    let early = store
        .claim_executions(&claim("b", "2026-01-01T00:59:59Z", 10), &mut |_| true)
        .expect("claim");
    assert!(early.claimed.is_empty(), "not ready yet");
}

/// The end a replica that finds a lost execution writes: failed, "replica X lost", retried.
fn lost(execution: &Execution, now: &str) -> (Execution, Option<Execution>) {
    let mut ended = execution.clone();
    ended.status = ExecutionStatus::Failed;
    ended.reason = Some(lost_reason(execution.replica.as_deref()));
    ended.ended_at = Some(utc(now));
    let mut retry = queued(
        &format!("{}-retry", execution.id),
        execution.schedule_id.as_deref(),
    );
    retry.attempt = execution.attempt + 1;
    retry.ready_at = utc("2026-01-02T00:00:00Z"); // its back-off
    (ended, Some(retry))
}

/// A lease renewed by its replica keeps its execution running; an expired one is ended once,
/// "replica X lost", with its retry inserted; another replica cannot renew a lease not its own.
fn an_expired_lease_is_ended_once_with_its_retry_and_a_renewed_one_is_kept(store: &dyn Store) {
    store.insert_execution(&queued("e1", None)).expect("insert");
    store.insert_execution(&queued("e2", None)).expect("insert");
    let claimed = store
        .claim_executions(&claim("a", "2026-01-01T01:00:00Z", 10), &mut |_| true)
        .expect("claim");
    assert_eq!(ids(&claimed.claimed), ["e1", "e2"]);
    let both = ["e1".to_owned(), "e2".to_owned()];
    assert!(
        store
            .renew_leases("b", &both, utc("2026-01-01T01:01:00Z"))
            .expect("renew")
            .is_empty()
    );
    let renewed = store
        .renew_leases("a", &both[1..], utc("2026-01-01T01:01:00Z"))
        .expect("renew");
    assert_eq!(renewed, ["e2"]);
    let at = "2026-01-01T01:00:45Z";
    let ended = store
        .end_expired_leases(utc(at), &mut |e| lost(e, at))
        .expect("end");
    assert_eq!(ended.len(), 1);
    let (row, retry) = &ended[0];
    assert_eq!(row.id, "e1");
    assert_eq!(row.reason.as_deref(), Some("replica a lost"));
    let stored = store.get_execution("e1").expect("get").expect("e1");
    assert_eq!(stored.status, ExecutionStatus::Failed);
    assert_eq!(stored.reason.as_deref(), Some("replica a lost"));
    let retry = retry.as_ref().expect("a retry");
    let stored_retry = store.get_execution(&retry.id).expect("get").expect("retry");
    assert_eq!(
        (stored_retry.status, stored_retry.attempt),
        (ExecutionStatus::Queued, 2)
    );
    assert_eq!(
        store.get_execution("e2").expect("get").expect("e2").status,
        ExecutionStatus::Running,
        "its lease was renewed"
    );
    let again = store
        .end_expired_leases(utc(at), &mut |e| lost(e, at))
        .expect("end");
    assert!(again.is_empty(), "ended twice: {again:?}");
    assert_eq!(
        store.renew_leases("a", &both, utc(at)).expect("renew"),
        ["e2"]
    );
}

/// Runs each case on both backends: `sqlite::CASE` on an in-memory database, `postgres::CASE` on a
/// database of its own on the tests' PostgreSQL server.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $case() {
                super::$case(&super::SqliteStore::in_memory().expect("store"));
            })*
        }
        mod postgres {
            $(#[test]
            fn $case() {
                let database = super::pg_server::database();
                super::$case(&super::PostgresStore::connect(&database.url).expect("store"));
            })*
        }
    };
}

on_both_backends!(
    the_worker_outputs_and_pipelines_read_back_what_they_wrote,
    schedules_round_trip_and_names_are_unique,
    executions_round_trip_and_list_newest_first_with_cursors,
    a_fire_time_is_recorded_once,
    a_schedule_deleted_with_its_executions_kept_leaves_them_unlinked_under_its_name,
    recorded_values_keep_the_last_value_in_first_order_and_go_with_their_execution,
    value_series_are_oldest_first_over_the_last_runs_that_recorded,
    schedules_list_with_their_newest_execution_in_one_read,
    schedules_list_a_page_at_a_time_by_name_after_the_last_name_listed,
    a_listed_schedule_s_newest_execution_in_short_is_the_stored_one,
    claims_keep_max_concurrent_and_the_replica_s_own_limits,
    an_expired_lease_is_ended_once_with_its_retry_and_a_renewed_one_is_kept,
    a_fire_time_recorded_again_runs_once,
);

/// Replicas starting together on a new database: each migrates or waits for the one that does, and
/// all see the same schema and the same rows; connecting again applies nothing twice.
#[test]
fn postgres_replicas_starting_together_migrate_once() {
    let database = pg_server::database();
    let stores: Vec<PostgresStore> = std::thread::scope(|scope| {
        let starts: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| PostgresStore::connect(&database.url)))
            .collect();
        starts
            .into_iter()
            .map(|start| start.join().expect("thread").expect("connect"))
            .collect()
    });
    let highest = stores[0].schema_version().expect("version");
    assert!(highest >= 10, "schema version {highest}");
    stores[0].insert_schedule(&schedule("a")).expect("insert");
    for store in &stores {
        assert_eq!(store.schema_version().expect("version"), highest);
        assert_eq!(store.list_schedules().expect("list").len(), 1);
    }
    drop(stores);
    let again = PostgresStore::connect(&database.url).expect("reconnect");
    assert_eq!(again.schema_version().expect("version"), highest);
    assert_eq!(again.list_schedules().expect("list").len(), 1);
}

/// Two stores on one new database, as two replicas have.
fn two_replicas(database: &pg_server::Database) -> [PostgresStore; 2] {
    [(); 2].map(|_| PostgresStore::connect(&database.url).expect("store"))
}

/// `act(replica, store)` on each store, in a thread of its own, released at once; how many said
/// true.
fn at_once(
    replicas: &[PostgresStore],
    act: impl Fn(usize, &PostgresStore) -> bool + Sync,
) -> usize {
    let barrier = std::sync::Barrier::new(replicas.len());
    std::thread::scope(|scope| {
        let acts: Vec<_> = (replicas.iter().enumerate())
            .map(|(replica, store)| {
                let (barrier, act) = (&barrier, &act);
                scope.spawn(move || {
                    barrier.wait();
                    act(replica, store)
                })
            })
            .collect();
        acts.into_iter()
            .map(|acted| acted.join().expect("thread"))
            .filter(|acted| *acted)
            .count()
    })
}

/// Two replicas deciding the same due fire at the same moment: one records it, the other records
/// nothing, every time.
#[test]
fn postgres_a_fire_decided_by_two_replicas_at_once_is_recorded_once() {
    let database = pg_server::database();
    let replicas = two_replicas(&database);
    replicas[0]
        .insert_schedule(&schedule("daily"))
        .expect("insert");
    let mut due = utc("2026-01-01T01:00:00Z");
    for round in 0..20 {
        let next = due + chrono::Duration::days(1);
        let recorded = at_once(&replicas, |replica, store| {
            let id = format!("r{round}-{replica}");
            let mut row = execution(&id, Some("id-daily"), ExecutionStatus::Queued);
            row.fire_time = Some(due);
            let rows = [row];
            store
                .record_fires("id-daily", due, Some(next), Some(due), &rows)
                .expect("fire")
        });
        assert_eq!(recorded, 1, "round {round}");
        due = next;
    }
    let fired = replicas[1].schedule_executions("id-daily").expect("list");
    assert_eq!(fired.len(), 20);
}

/// Two replicas starting the same queued execution at once: one runs it.
#[test]
fn postgres_a_queued_execution_is_started_by_one_replica() {
    let database = pg_server::database();
    let replicas = two_replicas(&database);
    for round in 0..20 {
        let queued = execution(&format!("q{round}"), None, ExecutionStatus::Queued);
        replicas[0].insert_execution(&queued).expect("insert");
        let started = at_once(&replicas, |_, store| {
            let mut running = queued.clone();
            running.status = ExecutionStatus::Running;
            store
                .update_execution_if(&running, ExecutionStatus::Queued)
                .expect("start")
        });
        assert_eq!(started, 1, "round {round}");
    }
}

/// A server that is not there is a one-line error naming what failed, not a hang or a panic.
#[test]
fn postgres_an_unreachable_server_is_an_unavailable_store() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!(
        "postgres://postgres@{}/nbgate",
        dir.path().to_str().expect("utf-8").replace('/', "%2F")
    );
    let started = std::time::Instant::now();
    let error = PostgresStore::connect(&url).err().expect("an error");
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    assert!(error.to_string().contains("No such file"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(matches!(
        PostgresStore::connect("postgres://localhost:port/db"),
        Err(StoreError::Unavailable(reason)) if reason.contains("invalid connection string")
    ));
}

/// Two replicas claiming at once never run more of a schedule than its `max_concurrent` together:
/// the claim counts the schedule's running executions under its row lock.
#[test]
fn postgres_two_replicas_claiming_at_once_keep_a_schedule_s_max_concurrent() {
    let database = pg_server::database();
    let replicas = two_replicas(&database);
    for round in 0..20 {
        let name = format!("s{round}");
        let mut limited = schedule(&name);
        limited.spec.max_concurrent = 2;
        replicas[0].insert_schedule(&limited).expect("insert");
        for n in 0..5 {
            let id = format!("{name}-{n}");
            replicas[0]
                .insert_execution(&queued(&id, Some(&limited.id)))
                .expect("insert");
        }
        let claimed = std::sync::atomic::AtomicUsize::new(0);
        at_once(&replicas, |replica, store| {
            let page = store
                .claim_executions(
                    &claim(&format!("r{replica}"), "2026-01-01T01:00:01Z", 10),
                    &mut |_| true,
                )
                .expect("claim");
            let mine = page
                .claimed
                .iter()
                .filter(|e| e.schedule_id == Some(limited.id.clone()));
            claimed.fetch_add(mine.count(), std::sync::atomic::Ordering::Relaxed);
            true
        });
        let running = replicas[1]
            .schedule_executions(&limited.id)
            .expect("list")
            .into_iter()
            .filter(|e| e.status == ExecutionStatus::Running)
            .count();
        assert_eq!((claimed.into_inner(), running), (2, 2), "round {round}");
    }
}

/// Two replicas finding the same expired lease at once: one ends it and inserts its retry.
#[test]
fn postgres_an_expired_lease_is_ended_by_one_of_two_replicas() {
    let database = pg_server::database();
    let replicas = two_replicas(&database);
    let at = "2026-01-01T01:05:00Z";
    for round in 0..20 {
        let id = format!("x{round}");
        replicas[0]
            .insert_execution(&queued(&id, None))
            .expect("insert");
        let claimed = replicas[0]
            .claim_executions(&claim("gone", "2026-01-01T01:00:00Z", 10), &mut |_| true)
            .expect("claim");
        assert_eq!(ids(&claimed.claimed), [id.as_str()]);
        let ended = at_once(&replicas, |_, store| {
            !store
                .end_expired_leases(utc(at), &mut |e| lost(e, at))
                .expect("end")
                .is_empty()
        });
        assert_eq!(ended, 1, "round {round}");
        let retries = replicas[1]
            .list_executions(&ExecutionFilter::default(), 100, None)
            .expect("list")
            .into_iter()
            .filter(|(_, e)| e.id == format!("{id}-retry"))
            .count();
        assert_eq!(retries, 1, "round {round}");
        let ended = replicas[1].get_execution(&id).expect("get").expect("row");
        assert_eq!(ended.reason.as_deref(), Some("replica gone lost"));
    }
}

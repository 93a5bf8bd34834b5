//! Pipelines: schedules that run after others. Chains, fan-in, skips, `on: failure`, cycles,
//! cascade delete, references checked and resolved, fire times, backfill across a DST change,
//! sweeps, rerun and recovery — on the fake runner under paused time; values passed as parameters
//! on ipykernel.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use nbgate_kernel::KernelSpecs;
use nbgate_scheduler::store::Store;
use nbgate_scheduler::{
    After, AfterOn, EventKind, Execution, ExecutionEvent, ExecutionStatus, ExecutorRunner,
    Received, Recurrence, RunHistory, ScheduleSpec, Scheduler, SchedulerConfig, SchedulerError,
    SchedulerHandle, SqliteStore, TokioClock, ValidationError,
};
use nbgate_tests::JupyterEnv;
use serde_json::json;
use support::*;
use tokio_util::sync::CancellationToken;

struct Setup {
    root: tempfile::TempDir,
    data: tempfile::TempDir,
    runner: Arc<FakeRunner>,
}

fn setup() -> Setup {
    let root = tempfile::tempdir().expect("root");
    let data = tempfile::tempdir().expect("data");
    let params = "x = 1\ny = 'a'\nRUN_DATE = '2000-01-01'";
    for script in ["ok", "fail", "flaky"] {
        write(
            root.path(),
            &format!("{script}.ipynb"),
            &notebook("python3", "python", Some(params), &[script]),
        );
    }
    let runner = FakeRunner::new(fake_specs(data.path()));
    Setup { root, data, runner }
}

impl Setup {
    async fn start(&self, at: &str) -> (SchedulerHandle, CancellationToken) {
        let shutdown = CancellationToken::new();
        let handle = start_fake(
            self.root.path(),
            self.data.path(),
            TokioClock::starting_at(utc(at)),
            self.runner.clone(),
            shutdown.clone(),
        )
        .await;
        (handle, shutdown)
    }
}

async fn stop(handle: &SchedulerHandle, shutdown: &CancellationToken) {
    shutdown.cancel();
    handle.stopped().await;
}

fn timed(name: &str, script: &str, cron: &str) -> ScheduleSpec {
    let recurrence = Recurrence::Cron(cron.into());
    ScheduleSpec::new(name, &format!("{script}.ipynb"), recurrence, "UTC")
}

fn after(name: &str, script: &str, upstreams: &[&str], on: AfterOn) -> ScheduleSpec {
    let trigger = After {
        schedules: upstreams.iter().map(|s| s.to_string()).collect(),
        on,
    };
    ScheduleSpec::new(
        name,
        &format!("{script}.ipynb"),
        Recurrence::After(trigger),
        "UTC",
    )
}

fn of<'a>(executions: &'a [Execution], schedule: &str) -> Vec<&'a Execution> {
    let mut found: Vec<&Execution> = executions
        .iter()
        .filter(|e| e.schedule_name.as_deref() == Some(schedule))
        .collect();
    found.reverse(); // oldest first
    found
}

fn ended(executions: &[Execution], schedule: &str, count: usize) -> bool {
    let found = of(executions, schedule);
    found.len() >= count && found.iter().all(|e| e.status.is_terminal())
}

fn message(error: SchedulerError) -> String {
    match error {
        SchedulerError::Validation(error) => error.to_string(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_chain_runs_in_order_and_shares_the_run_id() {
    let s = setup();
    let (handle, shutdown) = s.start("2026-01-01T09:59:00Z").await;
    let mut events = handle.subscribe(None);
    let mut announced = handle.subscribe(None);
    handle
        .create_schedule(timed("a", "ok", "0 10 * * *"))
        .await
        .expect("a");
    let b = handle
        .create_schedule(after("b", "ok", &["a"], AfterOn::Success))
        .await
        .expect("b");
    assert_eq!(
        b.next_run, None,
        "an `after` schedule has no time of its own"
    );
    assert_eq!(b.description, "After a succeeds (UTC)");
    handle
        .create_schedule(after("c", "ok", &["b"], AfterOn::Success))
        .await
        .expect("c");
    let all = wait_until(&handle, &mut events, |all| ended(all, "c", 1)).await;
    let (a, b, c) = (of(&all, "a")[0], of(&all, "b")[0], of(&all, "c")[0]);
    for step in [a, b, c] {
        assert_eq!(step.status, ExecutionStatus::Succeeded, "{step:?}");
        assert_eq!(step.run_id.as_deref(), Some(a.id.as_str()), "{step:?}");
        assert_eq!(step.fire_time, Some(utc("2026-01-01T10:00:00Z")));
    }
    assert!(b.started_at >= a.ended_at && c.started_at >= b.ended_at);
    let upstreams = |e: &Execution| e.run.pipeline.as_ref().map(|p| p.upstreams.clone());
    assert_eq!(
        upstreams(b),
        Some(BTreeMap::from([("a".into(), a.id.clone())]))
    );
    assert_eq!(
        upstreams(c),
        Some(BTreeMap::from([("b".into(), b.id.clone())]))
    );
    let chain = handle.run_executions(&a.id).await.expect("chain");
    let names: Vec<&str> = chain.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, [a.name.as_str(), b.name.as_str(), c.name.as_str()]);
    // Each step is announced as created: a list that follows the events (the sidebar) shows the
    // steps nobody started by hand.
    let mut created = Vec::new();
    while created.len() < 3 {
        match tokio::time::timeout(Duration::from_secs(60), announced.recv()).await {
            Ok(Received::Event(ExecutionEvent {
                execution_id,
                kind: EventKind::Status { created: true, .. },
                ..
            })) => created.push(execution_id),
            Ok(Received::Event(_)) => {}
            other => panic!("{other:?} before every step was announced: {created:?}"),
        }
    }
    assert_eq!(created, [a.id.clone(), b.id.clone(), c.id.clone()]);
    stop(&handle, &shutdown).await;
}

#[tokio::test(start_paused = true)]
async fn a_failure_skips_success_dependants_and_runs_the_failure_branch() {
    let s = setup();
    let (handle, shutdown) = s.start("2026-01-01T09:59:00Z").await;
    let mut events = handle.subscribe(None);
    handle
        .create_schedule(timed("prepare", "fail", "0 10 * * *"))
        .await
        .expect("a");
    for (name, upstream, on) in [
        ("train", "prepare", AfterOn::Success),
        ("score", "train", AfterOn::Success),
        ("alert", "prepare", AfterOn::Failure),
        ("cleanup", "prepare", AfterOn::Completion),
    ] {
        handle
            .create_schedule(after(name, "ok", &[upstream], on))
            .await
            .expect(name);
    }
    let all = wait_until(&handle, &mut events, |all| {
        ["score", "alert", "cleanup"]
            .iter()
            .all(|n| ended(all, n, 1))
    })
    .await;
    let prepare = of(&all, "prepare")[0];
    assert_eq!(prepare.status, ExecutionStatus::Failed);
    let train = of(&all, "train")[0];
    assert_eq!(train.status, ExecutionStatus::Skipped);
    assert_eq!(train.reason.as_deref(), Some("upstream prepare failed"));
    let score = of(&all, "score")[0];
    assert_eq!(score.status, ExecutionStatus::Skipped);
    assert_eq!(score.reason.as_deref(), Some("upstream train was skipped"));
    assert_eq!(of(&all, "alert")[0].status, ExecutionStatus::Succeeded);
    assert_eq!(of(&all, "cleanup")[0].status, ExecutionStatus::Succeeded);
    for step in [train, score] {
        assert_eq!(step.run_id.as_deref(), Some(prepare.id.as_str()));
        assert!(step.ended_at.is_some() && step.started_at.is_none());
    }
    // The run's fire is the only one of each: nothing ran twice.
    assert_eq!(all.len(), 5, "{all:#?}");
    stop(&handle, &shutdown).await;
}

#[tokio::test(start_paused = true)]
async fn fan_in_fires_once_both_upstreams_have_ended() {
    let s = setup();
    let (handle, shutdown) = s.start("2026-01-01T09:59:00Z").await;
    let mut events = handle.subscribe(None);
    handle
        .create_schedule(timed("a", "ok", "0 10 * * *"))
        .await
        .expect("a");
    handle
        .create_schedule(timed("b", "ok", "30 10 * * *"))
        .await
        .expect("b");
    handle
        .create_schedule(after("c", "ok", &["a", "b"], AfterOn::Success))
        .await
        .expect("c");
    let all = wait_until(&handle, &mut events, |all| ended(all, "c", 2)).await;
    let (a, b, c) = (of(&all, "a"), of(&all, "b"), of(&all, "c"));
    assert_eq!((a.len(), b.len(), c.len()), (2, 2, 2), "{all:#?}");
    for day in 0..2 {
        // Not when a ended: when b (the later) did.
        assert_eq!(c[day].created_at, b[day].ended_at.expect("ended"));
        let upstreams = &c[day].run.pipeline.as_ref().expect("pipeline").upstreams;
        assert_eq!(upstreams["a"], a[day].id);
        assert_eq!(upstreams["b"], b[day].id);
    }
    stop(&handle, &shutdown).await;
}

#[tokio::test(start_paused = true)]
async fn cycles_unknown_upstreams_and_bad_references_are_refused() {
    let s = setup();
    let (handle, shutdown) = s.start("2026-01-01T09:00:00Z").await;
    handle
        .create_schedule(timed("a", "ok", "0 10 * * *"))
        .await
        .expect("a");
    handle
        .create_schedule(after("b", "ok", &["a"], AfterOn::Success))
        .await
        .expect("b");
    handle
        .create_schedule(after("c", "ok", &["b"], AfterOn::Success))
        .await
        .expect("c");
    // a after c closes a → b → c → a.
    let patch = nbgate_scheduler::SchedulePatch {
        recurrence: Some(Recurrence::After(After {
            schedules: vec!["c".into()],
            on: AfterOn::Success,
        })),
        ..Default::default()
    };
    match handle.update_schedule("a", patch).await {
        Err(SchedulerError::Validation(ValidationError::Cycle { cycle })) => {
            assert_eq!(cycle, ["a", "b", "c", "a"]);
        }
        other => panic!("expected a cycle, got {other:?}"),
    }
    let own = handle
        .create_schedule(after("d", "ok", &["d"], AfterOn::Success))
        .await
        .expect_err("self");
    assert_eq!(message(own), "after: d → d would make a cycle");
    let unknown = handle
        .create_schedule(after("d", "ok", &["nope"], AfterOn::Success))
        .await
        .expect_err("unknown");
    assert_eq!(
        message(unknown),
        "after.schedules: no schedule is named \"nope\""
    );
    let cases = [
        ("x", "a.values", "expected UPSTREAM.values.NAME"),
        (
            "x",
            "a.outputs.rows",
            "\"outputs\" is neither `values` nor `parameters`",
        ),
        (
            "x",
            "c.values.accuracy",
            "reads \"c\", which is not in this schedule's `after`",
        ),
        (
            "nope",
            "a.values.accuracy",
            "the notebook's parameters cell has no \"nope\"",
        ),
    ];
    for (parameter, reference, expected) in cases {
        let mut spec = after("d", "ok", &["a"], AfterOn::Success);
        spec.parameters_from
            .insert(parameter.into(), reference.into());
        let error = message(handle.create_schedule(spec).await.expect_err(reference));
        assert!(
            error.starts_with(&format!("parameters_from.{parameter}: "))
                && error.contains(expected),
            "{reference}: {error}"
        );
    }
    let mut spec = after("d", "ok", &["a"], AfterOn::Success);
    spec.fire_time_parameter = Some("RUN_DATE".into());
    spec.fire_time_format = Some("%Q".into());
    let error = message(handle.create_schedule(spec).await.expect_err("format"));
    assert!(error.starts_with("fire_time_format: \"%Q\""), "{error}");
    // Renaming an upstream would orphan its dependants.
    let rename = nbgate_scheduler::SchedulePatch {
        name: Some("a2".into()),
        ..Default::default()
    };
    let error = message(
        handle
            .update_schedule("a", rename)
            .await
            .expect_err("rename"),
    );
    assert!(error.contains("[\"b\"] run after \"a\""), "{error}");
    stop(&handle, &shutdown).await;
}

#[tokio::test(start_paused = true)]
async fn deleting_an_upstream_needs_cascade() {
    let s = setup();
    let (handle, shutdown) = s.start("2026-01-01T09:00:00Z").await;
    handle
        .create_schedule(timed("a", "ok", "0 10 * * *"))
        .await
        .expect("a");
    handle
        .create_schedule(timed("other", "ok", "0 10 * * *"))
        .await
        .expect("o");
    handle
        .create_schedule(after("b", "ok", &["a"], AfterOn::Success))
        .await
        .expect("b");
    handle
        .create_schedule(after("c", "ok", &["b", "other"], AfterOn::Success))
        .await
        .expect("c");
    match handle
        .delete_schedule_cascade("a", RunHistory::Keep, false)
        .await
    {
        Err(error @ SchedulerError::HasDependants { .. }) => {
            let text = error.to_string();
            assert!(text.contains("\"a\" runs before [\"b\", \"c\"]"), "{text}");
        }
        other => panic!("expected HasDependants, got {other:?}"),
    }
    assert_eq!(handle.list_schedules().await.expect("list").len(), 4);
    let deleted = handle
        .delete_schedule_cascade("a", RunHistory::Keep, true)
        .await
        .expect("cascade");
    assert_eq!(deleted, ["c", "b", "a"]);
    let left: Vec<String> = handle
        .list_schedules()
        .await
        .expect("list")
        .into_iter()
        .map(|s| s.spec.name)
        .collect();
    assert_eq!(left, ["other"]);
    stop(&handle, &shutdown).await;
}

#[tokio::test(start_paused = true)]
async fn a_reference_without_a_value_fails_the_run_with_the_reason() {
    let s = setup();
    let (handle, shutdown) = s.start("2026-01-01T09:59:00Z").await;
    let mut events = handle.subscribe(None);
    let mut a = timed("a", "ok", "0 10 * * *");
    a.parameters.insert("x".into(), json!(5));
    handle.create_schedule(a).await.expect("a");
    let mut b = after("b", "ok", &["a"], AfterOn::Success);
    b.parameters_from
        .insert("x".into(), "a.parameters.x".into());
    b.parameters_from
        .insert("y".into(), "a.values.accuracy".into());
    handle.create_schedule(b).await.expect("b");
    let all = wait_until(&handle, &mut events, |all| ended(all, "b", 1)).await;
    let (a, b) = (of(&all, "a")[0], of(&all, "b")[0]);
    assert_eq!(b.status, ExecutionStatus::Failed);
    assert_eq!(
        b.reason.as_deref(),
        Some(
            format!(
                "parameters_from y = \"a.values.accuracy\": a's execution {} recorded no value \
                 named \"accuracy\"",
                a.name
            )
            .as_str()
        )
    );
    assert!(
        b.started_at.is_some() && b.input_hash.is_none(),
        "it never ran: {b:?}"
    );
    stop(&handle, &shutdown).await;
}

#[tokio::test(start_paused = true)]
async fn backfill_runs_each_fire_time_across_a_dst_change_with_its_date() {
    let s = setup();
    let (handle, shutdown) = s.start("2026-11-10T00:00:00Z").await;
    let mut events = handle.subscribe(None);
    let mut daily = timed("daily", "ok", "0 10 * * *");
    daily.timezone = "America/New_York".into();
    daily.paused = true;
    daily.fire_time_parameter = Some("RUN_DATE".into());
    handle.create_schedule(daily).await.expect("daily");
    let mut next = after("next", "ok", &["daily"], AfterOn::Success);
    next.parameters_from.insert("y".into(), "fire_time".into());
    handle.create_schedule(next).await.expect("next");
    let made = handle
        .backfill("daily", "2026-10-29", "2026-11-04", true)
        .await
        .expect("backfill");
    assert_eq!(made.len(), 7);
    let all = wait_until(&handle, &mut events, |all| ended(all, "next", 7)).await;
    let daily = of(&all, "daily");
    let fires: Vec<String> = daily
        .iter()
        .map(|e| e.fire_time.expect("fire").to_rfc3339())
        .collect();
    // 10:00 in New York: EDT (UTC-4) until 1 November, EST (UTC-5) after.
    assert_eq!(
        fires,
        [
            "2026-10-29T14:00:00+00:00",
            "2026-10-30T14:00:00+00:00",
            "2026-10-31T14:00:00+00:00",
            "2026-11-01T15:00:00+00:00",
            "2026-11-02T15:00:00+00:00",
            "2026-11-03T15:00:00+00:00",
            "2026-11-04T15:00:00+00:00",
        ]
    );
    let dates: Vec<&str> = daily
        .iter()
        .map(|e| e.parameters["RUN_DATE"].as_str().expect("RUN_DATE"))
        .collect();
    assert_eq!(
        dates,
        [
            "2026-10-29",
            "2026-10-30",
            "2026-10-31",
            "2026-11-01",
            "2026-11-02",
            "2026-11-03",
            "2026-11-04"
        ]
    );
    assert!(daily.iter().all(|e| e.status == ExecutionStatus::Succeeded));
    // Downstream: one per backfilled run, with its fire time (formatted in its own zone, UTC).
    let next = of(&all, "next");
    for (up, down) in daily.iter().zip(&next) {
        assert_eq!(down.fire_time, up.fire_time);
        assert_eq!(down.run_id.as_deref(), Some(up.id.as_str()));
        let expected = up.fire_time.expect("fire").format("%Y-%m-%d").to_string();
        assert_eq!(down.parameters["y"], json!(expected));
    }
    // Without downstream: the dependants stay still.
    let again = handle
        .backfill("daily", "2026-11-05", "2026-11-05", false)
        .await
        .expect("one day");
    assert_eq!(again.len(), 1);
    let all = wait_until(&handle, &mut events, |all| ended(all, "daily", 8)).await;
    assert_eq!(of(&all, "next").len(), 7);
    let error = handle
        .backfill("daily", "2026-11-05", "2026-11-01", true)
        .await;
    assert!(message(error.expect_err("reversed")).contains("is before from"));
    let error = handle
        .backfill("next", "2026-11-01", "2026-11-02", true)
        .await;
    assert!(message(error.expect_err("after")).contains("runs after other schedules"));
    let error = handle
        .backfill("daily", "yesterday", "2026-11-02", true)
        .await;
    assert!(message(error.expect_err("date")).contains("\"yesterday\" is neither a date"));
    stop(&handle, &shutdown).await;
}

#[tokio::test(start_paused = true)]
async fn a_sweep_runs_every_combination_and_reads_back_as_a_table() {
    let s = setup();
    let (handle, shutdown) = s.start("2026-01-01T09:00:00Z").await;
    let mut events = handle.subscribe(None);
    let mut grid_spec = timed("grid", "ok", "0 10 * * *");
    grid_spec.paused = true;
    handle.create_schedule(grid_spec).await.expect("grid");
    handle
        .create_schedule(after("below", "ok", &["grid"], AfterOn::Success))
        .await
        .expect("below");
    let grid = json!({"x": [2, 3, 4], "y": ["p", "q"]});
    let (sweep_id, made) = handle
        .sweep("grid", grid.as_object().cloned().expect("object"))
        .await
        .expect("sweep");
    assert_eq!(made.len(), 6);
    wait_until(&handle, &mut events, |all| ended(all, "grid", 6)).await;
    let rows = handle.sweep_rows(&sweep_id).await.expect("rows");
    let mut combos: Vec<String> = rows
        .iter()
        .map(|row| {
            assert_eq!(row.execution.status, ExecutionStatus::Succeeded);
            assert_eq!(row.execution.sweep_id.as_deref(), Some(sweep_id.as_str()));
            format!(
                "{}{}",
                row.execution.parameters["x"], row.execution.parameters["y"]
            )
        })
        .collect();
    combos.sort();
    assert_eq!(
        combos,
        ["2\"p\"", "2\"q\"", "3\"p\"", "3\"q\"", "4\"p\"", "4\"q\""]
    );
    let all = all_executions(&handle).await;
    assert!(of(&all, "below").is_empty(), "a sweep fires no dependants");
    let bad = json!({"x": ["text"]});
    let error = handle
        .sweep("grid", bad.as_object().cloned().expect("obj"))
        .await;
    assert!(message(error.expect_err("type")).contains("parameter \"x\" must be an integer"));
    let empty = json!({"x": []});
    let error = handle
        .sweep("grid", empty.as_object().cloned().expect("obj"))
        .await;
    assert_eq!(
        message(error.expect_err("empty")),
        "grid.x: give a non-empty list of values"
    );
    assert!(matches!(
        handle.sweep_rows("nope").await,
        Err(SchedulerError::NotFound { .. })
    ));
    stop(&handle, &shutdown).await;
}

#[tokio::test(start_paused = true)]
async fn rerun_repairs_a_failed_step_and_its_dependants_run_again() {
    let s = setup();
    let (handle, shutdown) = s.start("2026-01-01T09:59:00Z").await;
    let mut events = handle.subscribe(None);
    let mut flaky = timed("prepare", "flaky", "0 10 * * *");
    flaky.parameters.insert("x".into(), json!(9));
    handle.create_schedule(flaky).await.expect("prepare");
    handle
        .create_schedule(after("train", "ok", &["prepare"], AfterOn::Success))
        .await
        .expect("train");
    let all = wait_until(&handle, &mut events, |all| ended(all, "train", 1)).await;
    let failed = of(&all, "prepare")[0].clone();
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert_eq!(of(&all, "train")[0].status, ExecutionStatus::Skipped);
    let rerun = handle.rerun(&failed.id).await.expect("rerun");
    assert_eq!(rerun.parameters, failed.parameters);
    assert_eq!(rerun.run_id, failed.run_id);
    assert_eq!(rerun.fire_time, failed.fire_time);
    assert_eq!(rerun.name, format!("{}_rerun", failed.name));
    let all = wait_until(&handle, &mut events, |all| ended(all, "train", 2)).await;
    let done = handle.get_execution(&rerun.id).await.expect("rerun");
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.input_hash, failed.input_hash, "the same input");
    let train = of(&all, "train");
    assert_eq!(train[1].status, ExecutionStatus::Succeeded);
    assert_eq!(train[1].run_id, failed.run_id);
    let chain = handle
        .run_executions(failed.run_id.as_deref().expect("run"))
        .await
        .expect("chain");
    assert_eq!(chain.len(), 4, "{chain:#?}");
    // Not while it runs, and not when the input changed since.
    write(
        s.root.path(),
        "ok.ipynb",
        &notebook("python3", "python", Some("x = 2"), &["ok"]),
    );
    let adhoc = handle
        .create_execution(nbgate_scheduler::NewExecution {
            notebook: "ok.ipynb".into(),
            ..Default::default()
        })
        .await
        .expect("adhoc");
    let adhoc = finished(&handle, &mut events, &adhoc.id).await;
    write(
        s.root.path(),
        "ok.ipynb",
        &notebook("python3", "python", Some("x = 3"), &["ok"]),
    );
    let error = message(handle.rerun(&adhoc.id).await.expect_err("changed"));
    assert!(
        error.starts_with("rerun: the input notebook changed since"),
        "{error}"
    );
    stop(&handle, &shutdown).await;
}

#[tokio::test(start_paused = true)]
async fn an_end_left_unoffered_by_a_crash_fires_its_dependant_once_at_start() {
    let s = setup();
    let (handle, shutdown) = s.start("2026-01-01T09:00:00Z").await;
    let a = handle
        .create_schedule(timed("a", "ok", "0 10 * * *"))
        .await
        .expect("a");
    handle.pause_schedule("a").await.expect("pause");
    handle
        .create_schedule(after("b", "ok", &["a"], AfterOn::Success))
        .await
        .expect("b");
    // A run of a that ended just before nbgate was killed, its end not yet offered to b.
    let mut run = handle.run_now("a", Default::default()).await.expect("run");
    let mut events = handle.subscribe(None);
    wait_until(&handle, &mut events, |all| ended(all, "b", 1)).await;
    stop(&handle, &shutdown).await;
    let store = SqliteStore::open(&s.data.path().join("nbgate.sqlite3")).expect("store");
    run.id = "crashed".into();
    run.name = "a_crashed".into();
    run.run_id = Some("crashed".into());
    run.status = ExecutionStatus::Succeeded;
    run.ended_at = Some(utc("2026-01-01T09:30:00Z"));
    store.insert_execution(&run).expect("insert");
    assert_eq!(run.schedule_id.as_deref(), Some(a.id.as_str()));
    drop(store);
    for _ in 0..2 {
        let (handle, shutdown) = s.start("2026-01-01T09:31:00Z").await;
        let mut events = handle.subscribe(None);
        let all = wait_until(&handle, &mut events, |all| ended(all, "b", 2)).await;
        let from_crash: Vec<&Execution> = of(&all, "b")
            .into_iter()
            .filter(|e| e.run_id.as_deref() == Some("crashed"))
            .collect();
        assert_eq!(from_crash.len(), 1, "{all:#?}");
        assert_eq!(from_crash[0].status, ExecutionStatus::Succeeded);
        stop(&handle, &shutdown).await;
    }
}

/// Real kernels: a value a recorded (scrapbook) and a parameter it ran with become b's parameters,
/// injected as literals, with the fire time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_pass_to_the_next_notebook_on_ipykernel() {
    let env = JupyterEnv::new();
    let data = tempfile::tempdir().expect("data");
    let vars = env.vars();
    let specs = KernelSpecs::from_vars(|name| vars.get(name).cloned());
    let mut config = SchedulerConfig::new(env.work(), data.path());
    config.runner = Arc::new(ExecutorRunner::new(specs));
    config.kernel_env = vars;
    config.concurrency = 2;
    let shutdown = CancellationToken::new();
    let handle = Scheduler::start(config, shutdown.clone())
        .await
        .expect("start");
    write(
        &env.work(),
        "py/prepare.ipynb",
        &notebook(
            "python3",
            "python",
            Some("DAY = 1"),
            &[
                "import scrapbook as sb\nsb.glue('accuracy', 0.875)\nsb.glue('rows', 12345678901234567890)\nsb.glue('label', 'ok')",
            ],
        ),
    );
    write(
        &env.work(),
        "py/train.ipynb",
        &notebook(
            "python3",
            "python",
            Some("threshold = 0.5\nrows = 0\nlabel = ''\nday = 0\nRUN_DATE = ''"),
            &["print(repr(threshold), rows, repr(label), day, RUN_DATE, type(rows).__name__)"],
        ),
    );
    let mut prepare = ScheduleSpec::new(
        "prepare",
        "py/prepare.ipynb",
        Recurrence::Cron("0 0 1 1 *".into()),
        "UTC",
    );
    prepare.paused = true;
    handle.create_schedule(prepare).await.expect("prepare");
    let mut train = ScheduleSpec::new(
        "train",
        "py/train.ipynb",
        Recurrence::After(After {
            schedules: vec!["prepare".into()],
            on: AfterOn::Success,
        }),
        "UTC",
    );
    for (parameter, reference) in [
        ("threshold", "prepare.values.accuracy"),
        ("rows", "prepare.values.rows"),
        ("label", "prepare.values.label"),
        ("day", "prepare.parameters.DAY"),
    ] {
        train
            .parameters_from
            .insert(parameter.into(), reference.into());
    }
    train.fire_time_parameter = Some("RUN_DATE".into());
    handle.create_schedule(train).await.expect("train");
    let mut events = handle.subscribe(None);
    let overrides = json!({"DAY": 7}).as_object().cloned().expect("object");
    let first = handle.run_now("prepare", overrides).await.expect("run");
    let all = wait_until(&handle, &mut events, |all| ended(all, "train", 1)).await;
    let prepared = handle.get_execution(&first.id).await.expect("prepare");
    assert_eq!(prepared.status, ExecutionStatus::Succeeded, "{prepared:?}");
    let train = of(&all, "train")[0];
    assert_eq!(train.status, ExecutionStatus::Succeeded, "{train:?}");
    let date = train.created_at.format("%Y-%m-%d").to_string();
    let output = std::fs::read_to_string(env.work().join(&train.output_path)).expect("output");
    let notebook: serde_json::Value = serde_json::from_str(&output).expect("json");
    let injected = notebook["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .find(|cell| {
            cell["metadata"]["tags"]
                .as_array()
                .is_some_and(|tags| tags.iter().any(|t| t == "injected-parameters"))
        })
        .expect("injected cell");
    let source: String = match &injected["source"] {
        serde_json::Value::Array(lines) => lines.iter().filter_map(|l| l.as_str()).collect(),
        other => other.as_str().expect("source").to_owned(),
    };
    for line in [
        "threshold = 0.875\n",
        "rows = 12345678901234567890\n",
        "label = \"ok\"\n",
        "day = 7\n",
    ] {
        assert!(source.contains(line), "{line:?} in {source}");
    }
    assert!(
        source.contains(&format!("RUN_DATE = \"{date}\"")),
        "{source}"
    );
    let printed = format!("0.875 12345678901234567890 'ok' 7 {date} int");
    assert!(output.contains(&printed), "{printed} in {output}");
    shutdown.cancel();
    handle.stopped().await;
    env.assert_no_survivors(Duration::from_secs(10));
}

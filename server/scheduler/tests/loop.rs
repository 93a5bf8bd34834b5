//! The loop under paused time with a runner that needs no kernel: fires on time, pause/resume, edits
//! rebuild the queue, catch-up after downtime, overlap skip/queue, retries with back-off, run timeout.

mod support;

use std::time::Duration;

use nbgate_scheduler::{
    Catchup, Change, DATABASE_FILE, EventKind, ExecutionStatus, NewExecution, Overlap, Received,
    Recurrence, ScheduleChange, SchedulePatch, ScheduleSpec, SchedulerHandle, SqliteStore, Store,
    TokioClock,
};
use support::*;
use tokio_util::sync::CancellationToken;

struct Setup {
    root: tempfile::TempDir,
    data: tempfile::TempDir,
    runner: std::sync::Arc<FakeRunner>,
}

fn setup() -> Setup {
    let root = tempfile::tempdir().expect("root");
    let data = tempfile::tempdir().expect("data");
    for script in ["ok", "fail", "block", "flaky"] {
        write(
            root.path(),
            &format!("{script}.ipynb"),
            &notebook("python3", "python", Some("x = 1"), &[script]),
        );
    }
    let runner = FakeRunner::new(fake_specs(data.path()));
    Setup { root, data, runner }
}

impl Setup {
    /// A scheduler on this setup's root, store and fake runner, its clock starting at `at` (RFC 3339),
    /// and the token that stops it.
    async fn start(&self, at: &str) -> (SchedulerHandle, CancellationToken) {
        let shutdown = CancellationToken::new();
        let clock = TokioClock::starting_at(utc(at));
        let handle = start_fake(
            self.root.path(),
            self.data.path(),
            clock,
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

fn spec(name: &str, script: &str, cron: &str) -> ScheduleSpec {
    ScheduleSpec::new(
        name,
        &format!("{script}.ipynb"),
        Recurrence::Cron(cron.into()),
        "UTC",
    )
}

#[tokio::test(start_paused = true)]
async fn fires_on_time_and_names_executions_after_the_fire() {
    let s = setup();
    let (handle, shutdown) = s.start("2026-01-01T09:59:00Z").await;
    let mut events = handle.subscribe(None);
    let schedule = handle
        .create_schedule(spec("daily", "ok", "0 10 * * *"))
        .await
        .expect("create");
    assert_eq!(schedule.next_run, Some(utc("2026-01-01T10:00:00Z")));
    assert_eq!(schedule.description, "Every day at 10:00 (UTC)");
    for day in ["01", "02"] {
        let id = next_status(&mut events, ExecutionStatus::Succeeded).await;
        let execution = handle.get_execution(&id).await.expect("get");
        let fire = utc(&format!("2026-01-{day}T10:00:00Z"));
        assert_eq!(execution.fire_time, Some(fire));
        assert_eq!(execution.started_at, Some(fire), "late start");
        assert_eq!(execution.name, format!("daily_at_2026_01_{day}_10_00_00"));
        assert_eq!(
            execution.output_path,
            format!("executions/daily/daily_at_2026_01_{day}_10_00_00.ipynb")
        );
        assert!(s.root.path().join(&execution.output_path).exists());
        assert!(
            execution
                .input_hash
                .as_deref()
                .is_some_and(|h| h.starts_with("sha256:"))
        );
        assert_eq!(execution.progress.map(|p| p.total), Some(2));
    }
    stop(&handle, &shutdown).await;
}

#[tokio::test(start_paused = true)]
async fn pause_resume_and_edit_rebuild_the_queue() {
    let s = setup();
    let (handle, shutdown) = s.start("2026-01-01T09:00:00Z").await;
    let mut events = handle.subscribe(None);
    let schedule = handle
        .create_schedule(spec("hourly", "ok", "0 * * * *"))
        .await
        .expect("create");
    let paused = handle.pause_schedule(&schedule.id).await.expect("pause");
    assert_eq!(paused.next_run, None);
    tokio::time::advance(Duration::from_secs(3 * 3600 + 600)).await;
    assert!(
        all_executions(&handle).await.is_empty(),
        "fired while paused"
    );
    // Resumed at 12:10: the next fire is 13:00; the paused hours are not caught up.
    let resumed = handle.resume_schedule(&schedule.id).await.expect("resume");
    assert_eq!(resumed.next_run, Some(utc("2026-01-01T13:00:00Z")));
    // An edit moves the fire: every day at 12:30 instead.
    let edited = handle
        .update_schedule(
            "hourly",
            SchedulePatch {
                recurrence: Some(Recurrence::Cron("30 12 * * *".into())),
                ..Default::default()
            },
        )
        .await
        .expect("edit");
    assert_eq!(edited.next_run, Some(utc("2026-01-01T12:30:00Z")));
    let id = next_status(&mut events, ExecutionStatus::Succeeded).await;
    let execution = handle.get_execution(&id).await.expect("get");
    assert_eq!(execution.fire_time, Some(utc("2026-01-01T12:30:00Z")));
    assert_eq!(all_executions(&handle).await.len(), 1);
    stop(&handle, &shutdown).await;
}

#[tokio::test(start_paused = true)]
async fn catch_up_policies_after_downtime() {
    let s = setup();
    let (handle, shutdown) = s.start("2026-01-01T09:59:00Z").await;
    let mut events = handle.subscribe(None);
    for (name, catchup) in [
        ("skip", Catchup::Skip),
        ("once", Catchup::Once),
        ("all", Catchup::All),
    ] {
        let mut spec = spec(name, "ok", "0 * * * *");
        spec.catchup = catchup;
        handle.create_schedule(spec).await.expect("create");
    }
    for _ in 0..3 {
        next_status(&mut events, ExecutionStatus::Succeeded).await;
    }
    stop(&handle, &shutdown).await;

    // Down from 10:00 to 13:20 (11:00, 12:00 and 13:00 missed), then started again.
    let (handle, shutdown) = s.start("2026-01-01T13:20:00Z").await;
    let mut events = handle.subscribe(None);
    for _ in 0..4 {
        next_status(&mut events, ExecutionStatus::Succeeded).await;
    }
    let fires = |name: &'static str| {
        let handle = handle.clone();
        async move {
            let schedule = handle.get_schedule(name).await.expect("schedule");
            assert_eq!(
                schedule.next_run,
                Some(utc("2026-01-01T14:00:00Z")),
                "{name}"
            );
            let mut fires: Vec<String> = all_executions(&handle)
                .await
                .into_iter()
                .filter(|e| e.schedule_id.as_deref() == Some(&schedule.id))
                .map(|e| e.fire_time.expect("fire").format("%H:%M").to_string())
                .collect();
            fires.sort();
            fires
        }
    };
    assert_eq!(fires("skip").await, ["10:00"]);
    assert_eq!(fires("once").await, ["10:00", "13:00"]);
    assert_eq!(fires("all").await, ["10:00", "11:00", "12:00", "13:00"]);
    stop(&handle, &shutdown).await;
}

#[tokio::test(start_paused = true)]
async fn overlap_skip_records_the_fire_and_queue_waits() {
    let s = setup();
    let (handle, shutdown) = s.start("2026-01-01T09:59:30Z").await;
    let mut events = handle.subscribe(None);
    let mut skip = spec("skipper", "block", "* * * * *");
    skip.overlap = Overlap::Skip;
    let mut queue = spec("queuer", "block", "* * * * *");
    queue.overlap = Overlap::Queue;
    let skip = handle.create_schedule(skip).await.expect("create");
    let queue = handle.create_schedule(queue).await.expect("create");
    // 10:00 starts one of each; 10:01 is skipped for one and queued for the other.
    let skipped = next_status(&mut events, ExecutionStatus::Skipped).await;
    let skipped = handle.get_execution(&skipped).await.expect("get");
    assert_eq!(skipped.schedule_id.as_deref(), Some(skip.id.as_str()));
    assert!(
        skipped
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("max_concurrent 1")),
        "{skipped:?}"
    );
    assert!(skipped.ended_at.is_some());
    let of = |schedule: &str, executions: &[nbgate_scheduler::Execution], status| {
        executions
            .iter()
            .filter(|e| e.schedule_id.as_deref() == Some(schedule) && e.status == status)
            .count()
    };
    let queue_id = queue.id.clone();
    let executions = wait_until(&handle, &mut events, |all| {
        all.iter().any(|e| {
            e.schedule_id.as_deref() == Some(&queue_id) && e.status == ExecutionStatus::Queued
        })
    })
    .await;
    assert_eq!(of(&queue.id, &executions, ExecutionStatus::Running), 1);
    assert_eq!(of(&queue.id, &executions, ExecutionStatus::Queued), 1);
    // Cancelling the running one lets the queued one start.
    let running = executions
        .iter()
        .find(|e| {
            e.schedule_id.as_deref() == Some(&queue.id) && e.status == ExecutionStatus::Running
        })
        .expect("running");
    handle.cancel_execution(&running.id).await.expect("cancel");
    let cancelled = finished(&handle, &mut events, &running.id).await;
    assert_eq!(cancelled.status, ExecutionStatus::Cancelled);
    let queued = executions
        .iter()
        .find(|e| {
            e.schedule_id.as_deref() == Some(&queue.id) && e.status == ExecutionStatus::Queued
        })
        .expect("queued");
    loop {
        if handle.get_execution(&queued.id).await.expect("get").status == ExecutionStatus::Running {
            break;
        }
        next_status(&mut events, ExecutionStatus::Running).await;
    }
    handle.pause_schedule(&skip.id).await.expect("pause");
    handle.pause_schedule(&queue.id).await.expect("pause");
    stop(&handle, &shutdown).await;
    // Shutdown: running executions end failed with the reason, and nothing is left running.
    let executions = all_executions(&handle).await;
    assert!(
        executions
            .iter()
            .all(|e| e.status != ExecutionStatus::Running)
    );
    assert!(
        executions
            .iter()
            .any(|e| e.reason.as_deref() == Some("nbgate stopped during the run"))
    );
}

#[tokio::test(start_paused = true)]
async fn retry_with_backoff_then_success_and_run_timeout() {
    let s = setup();
    let (handle, shutdown) = s.start("2026-01-01T00:00:00Z").await;
    let mut events = handle.subscribe(None);
    let first = handle
        .create_execution(NewExecution {
            notebook: "flaky.ipynb".into(),
            retries: 2,
            retry_delay: Some(Duration::from_secs(10)),
            ..Default::default()
        })
        .await
        .expect("create");
    assert_eq!(first.status, ExecutionStatus::Queued);
    assert_eq!(first.name, "flaky_at_2026_01_01_00_00_00");
    let failed = finished(&handle, &mut events, &first.id).await;
    assert_eq!(failed.status, ExecutionStatus::Failed);
    let error = failed.error.clone().expect("error");
    assert_eq!(
        (
            error.cell_index,
            error.ename.as_str(),
            error.evalue.as_str()
        ),
        (Some(1), "ValueError", "boom")
    );
    let retry_id = next_status(&mut events, ExecutionStatus::Succeeded).await;
    let retry = handle.get_execution(&retry_id).await.expect("retry");
    assert_eq!(retry.attempt, 2);
    assert_eq!(retry.first_attempt_id.as_deref(), Some(first.id.as_str()));
    assert_eq!(retry.name, "flaky_at_2026_01_01_00_00_00_attempt_2");
    assert_eq!(
        retry.started_at.expect("started") - failed.ended_at.expect("ended"),
        chrono::Duration::seconds(10)
    );

    let slow = handle
        .create_execution(NewExecution {
            notebook: "block.ipynb".into(),
            timeout: Some(Duration::from_secs(30)),
            ..Default::default()
        })
        .await
        .expect("create");
    let slow = finished(&handle, &mut events, &slow.id).await;
    assert_eq!(slow.status, ExecutionStatus::TimedOut, "{slow:?}");
    assert_eq!(
        slow.ended_at.expect("ended") - slow.started_at.expect("started"),
        chrono::Duration::seconds(30)
    );
    stop(&handle, &shutdown).await;
}

#[tokio::test(start_paused = true)]
async fn schedules_due_at_once_each_fire_once_in_batches_and_lateness_is_recorded() {
    // More schedules due at the same instant than one batch takes (256).
    const COUNT: usize = 300;
    let s = setup();
    let (handle, shutdown) = s.start("2026-01-01T09:59:00Z").await;
    let mut events = handle.subscribe(None);
    for i in 0..COUNT {
        handle
            .create_schedule(spec(&format!("s{i:03}"), "block", "0 10 * * *"))
            .await
            .expect("create");
    }
    assert_eq!(handle.fire_lateness().count, 0);
    let mut fired = std::collections::HashSet::new();
    while fired.len() < COUNT {
        fired.insert(next_status(&mut events, ExecutionStatus::Queued).await);
    }
    let fire = utc("2026-01-01T10:00:00Z");
    let executions = all_executions(&handle).await;
    assert_eq!(executions.len(), COUNT, "each schedule fired once");
    let names: std::collections::HashSet<&str> =
        executions.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names.len(), COUNT);
    for execution in &executions {
        assert_eq!(execution.fire_time, Some(fire));
        // Paused time: the loop woke exactly at the fire and recorded it at once.
        assert_eq!(execution.created_at, fire, "{}", execution.name);
    }
    let lateness = handle.fire_lateness();
    assert_eq!(lateness.count, COUNT as u64);
    assert_eq!(lateness.sum, 0.0);
    assert_eq!(lateness.buckets.first(), Some(&(0.005, COUNT as u64)));
    for schedule in handle.list_schedules().await.expect("list") {
        assert_eq!(schedule.last_fire, Some(fire));
        assert_eq!(schedule.next_run, Some(utc("2026-01-02T10:00:00Z")));
    }
    stop(&handle, &shutdown).await;
}

/// A fire time recorded again (the schedule's `next_fire` moved back to it by an edit on another
/// replica whose clock is behind) advances the schedule but is neither run nor announced: no
/// execution is created for the repeat, in the store or on the feed.
#[tokio::test(start_paused = true)]
async fn a_repeated_fire_time_is_neither_run_nor_announced() {
    let s = setup();
    let (handle, shutdown) = s.start("2026-01-01T09:59:00Z").await;
    let mut events = handle.subscribe(None);
    let daily = handle
        .create_schedule(spec("daily", "ok", "0 10 * * *"))
        .await
        .expect("create");
    let first = next_status(&mut events, ExecutionStatus::Succeeded).await;

    let store = SqliteStore::open(&s.data.path().join(DATABASE_FILE)).expect("store");
    let mut moved = (store.get_schedule(&daily.id).expect("get")).expect("stored");
    moved.next_run = Some(utc("2026-01-01T10:00:00Z"));
    assert!(store.update_schedule(&moved).expect("move next_fire back"));
    let mut feed = handle.feed();
    // Any change wakes the loop; this one leaves `daily` alone.
    let mut other = spec("other", "ok", "0 10 * * *");
    other.paused = true;
    handle.create_schedule(other).await.expect("create");
    loop {
        match feed.recv().await {
            Received::Event(Change::Schedule(event))
                if event.schedule_id == daily.id && event.change == ScheduleChange::Updated =>
            {
                break;
            }
            Received::Event(Change::Execution(event)) => {
                let created = matches!(event.kind, EventKind::Status { created: true, .. });
                assert!(!created, "a repeat announced: {event:?}");
            }
            Received::Event(_) => {}
            other => panic!("{other:?}"),
        }
    }
    let runs = all_executions(&handle).await;
    assert_eq!(
        runs.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        [first.as_str()]
    );
    let daily = handle.get_schedule(&daily.id).await.expect("get");
    assert_eq!(daily.next_run, Some(utc("2026-01-02T10:00:00Z")));
    stop(&handle, &shutdown).await;
}

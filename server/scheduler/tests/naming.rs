//! Executions created at the same moment (a script submitting a batch, run-now clicked twice) each get
//! their own name and output file.

mod support;

use std::collections::HashSet;

use nbgate_scheduler::{NewExecution, Recurrence, ScheduleSpec, TokioClock};
use support::*;
use tokio_util::sync::CancellationToken;

/// A scheduler on a fake runner whose clock starts `at` (RFC 3339), with an `ok` notebook at `path`;
/// the root and data folders last as long as the first value.
async fn start(
    path: &str,
    at: &str,
) -> (
    [tempfile::TempDir; 2],
    nbgate_scheduler::SchedulerHandle,
    CancellationToken,
) {
    let root = tempfile::tempdir().expect("root");
    let data = tempfile::tempdir().expect("data");
    write(
        root.path(),
        path,
        &notebook("python3", "python", None, &["ok"]),
    );
    let runner = FakeRunner::new(fake_specs(data.path()));
    let clock = TokioClock::starting_at(utc(at));
    let shutdown = CancellationToken::new();
    let handle = start_fake(root.path(), data.path(), clock, runner, shutdown.clone()).await;
    ([root, data], handle, shutdown)
}

#[tokio::test(start_paused = true)]
async fn executions_created_at_once_never_share_a_name_or_an_output_file() {
    let (_dirs, handle, shutdown) = start("nb.ipynb", "2026-03-01T09:00:00Z").await;
    let mut spec = ScheduleSpec::new("daily", "nb.ipynb", Recurrence::Every("1h".into()), "UTC");
    spec.paused = true;
    handle.create_schedule(spec).await.expect("schedule");

    // The clock does not move: every one of these is created in the same second.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..30 {
        let handle = handle.clone();
        tasks.spawn(async move {
            if i % 3 == 0 {
                handle.run_now("daily", Default::default()).await
            } else {
                let request = NewExecution {
                    notebook: "nb.ipynb".into(),
                    ..Default::default()
                };
                handle.create_execution(request).await
            }
        });
    }
    let mut created = Vec::new();
    while let Some(result) = tasks.join_next().await {
        created.push(result.expect("task").expect("created"));
    }
    let names: HashSet<&str> = created.iter().map(|e| e.name.as_str()).collect();
    let outputs: HashSet<&str> = created.iter().map(|e| e.output_path.as_str()).collect();
    assert_eq!(names.len(), 30, "names: {names:?}");
    assert_eq!(outputs.len(), 30, "output paths: {outputs:?}");
    shutdown.cancel();
}

/// When an execution stands for: its fire time, else when it was created (run now, one-off runs).
fn time_of(execution: &nbgate_scheduler::Execution) -> chrono::DateTime<chrono::Utc> {
    execution.fire_time.unwrap_or(execution.created_at)
}

/// Names, and so the files of one output folder, sort in time order: every name's time is UTC,
/// whatever the schedule's time zone; one-off runs of the notebook share the schedule's folder.
#[tokio::test(start_paused = true)]
async fn names_and_files_sort_in_time_order_in_utc_whatever_the_time_zone() {
    let (_dirs, handle, shutdown) = start("report.ipynb", "2026-03-01T00:59:00Z").await;
    let mut events = handle.subscribe(None);
    let one_off = || async {
        let request = NewExecution {
            notebook: "report.ipynb".into(),
            ..Default::default()
        };
        handle.create_execution(request).await.expect("one-off")
    };
    // 10:00 in Tokyo is 01:00 UTC: between a one-off run at 00:59 and one at 01:30 (UTC).
    let tokyo = ScheduleSpec::new(
        "report",
        "report.ipynb",
        Recurrence::Cron("0 10 * * *".into()),
        "Asia/Tokyo",
    );
    let schedule = handle.create_schedule(tokyo).await.expect("schedule");
    let before = one_off().await;
    assert_eq!(before.name, "report_at_2026_03_01_00_59_00");
    wait_until(&handle, &mut events, |all| {
        all.len() == 2 && all.iter().all(|e| e.status.is_terminal())
    })
    .await;
    handle.pause_schedule(&schedule.id).await.expect("pause");
    tokio::time::advance(std::time::Duration::from_secs(30 * 60)).await;
    let after = one_off().await;
    let run_now = handle
        .run_now(&schedule.id, Default::default())
        .await
        .expect("run now");
    assert_eq!(after.name, "report_at_2026_03_01_01_30_00");
    assert_eq!(run_now.name, "report_at_2026_03_01_01_30_00_2");

    let mut all = all_executions(&handle).await;
    let fired = all.iter().find(|e| e.fire_time.is_some()).expect("fired");
    assert_eq!(fired.name, "report_at_2026_03_01_01_00_00");
    assert_eq!(
        fired.output_path,
        "executions/report/report_at_2026_03_01_01_00_00.ipynb"
    );
    all.sort_by(|a, b| a.output_path.cmp(&b.output_path));
    let by_file: Vec<String> = all.iter().map(|e| e.name.clone()).collect();
    all.sort_by_key(time_of);
    let by_time: Vec<String> = all.iter().map(|e| e.name.clone()).collect();
    assert_eq!(by_file, by_time);
    assert_eq!(by_file.len(), 4);
    shutdown.cancel();
    handle.stopped().await;
}

/// On the night clocks go back, local times repeat: UTC names stay distinct and in order.
#[tokio::test(start_paused = true)]
async fn names_stay_in_time_order_when_the_clocks_go_back() {
    // 00:50 EDT; at 06:00 UTC (02:00 EDT) New York goes back to 01:00 EST.
    let (_dirs, handle, shutdown) = start("nb.ipynb", "2026-11-01T04:50:00Z").await;
    let mut events = handle.subscribe(None);
    let spec = ScheduleSpec::new(
        "ny",
        "nb.ipynb",
        Recurrence::Cron("*/30 * * * *".into()),
        "America/New_York",
    );
    let schedule = handle.create_schedule(spec).await.expect("schedule");
    let all = wait_until(&handle, &mut events, |all| {
        all.len() >= 4 && all.iter().all(|e| e.status.is_terminal())
    })
    .await;
    handle.pause_schedule(&schedule.id).await.expect("pause");
    let mut fired: Vec<_> = all.into_iter().filter(|e| e.fire_time.is_some()).collect();
    fired.sort_by_key(time_of);
    let names: Vec<&str> = fired.iter().map(|e| e.name.as_str()).take(4).collect();
    assert_eq!(
        names,
        [
            "ny_at_2026_11_01_05_00_00",
            "ny_at_2026_11_01_05_30_00",
            "ny_at_2026_11_01_06_00_00",
            "ny_at_2026_11_01_06_30_00",
        ]
    );
    shutdown.cancel();
    handle.stopped().await;
}

//! Executions created at the same moment (a script submitting a batch, run-now clicked twice) each get
//! their own name and output file.

mod support;

use std::collections::HashSet;

use nbgate_scheduler::{NewExecution, Recurrence, ScheduleSpec, TokioClock};
use support::*;
use tokio_util::sync::CancellationToken;

#[tokio::test(start_paused = true)]
async fn executions_created_at_once_never_share_a_name_or_an_output_file() {
    let root = tempfile::tempdir().expect("root");
    let data = tempfile::tempdir().expect("data");
    write(
        root.path(),
        "nb.ipynb",
        &notebook("python3", "python", None, &["ok"]),
    );
    let runner = FakeRunner::new(fake_specs(data.path()));
    let clock = TokioClock::starting_at(utc("2026-03-01T09:00:00Z"));
    let shutdown = CancellationToken::new();
    let handle = start_fake(root.path(), data.path(), clock, runner, shutdown.clone()).await;
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

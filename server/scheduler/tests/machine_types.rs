//! Machine types in the scheduler, on a runner that needs no kernel: the default type applies when
//! none is given, an unknown type or a kernel the type does not run is refused naming what exists,
//! schedules store theirs and their edits and hand it to every execution they make, and a type's
//! `max_concurrent` holds its executions queued while the global limit has room.

mod support;

use std::path::Path;

use nbgate_kernel::{KernelLocation, MachineTypes};
use nbgate_scheduler::{
    ExecutionStatus, NewExecution, Recurrence, SchedulePatch, ScheduleSpec, SchedulerConfig,
    SchedulerError, SchedulerHandle, TokioClock, ValidationError,
};
use support::*;
use tokio_util::sync::CancellationToken;

const TYPES: &str = r#"
[[machine_type]]
name = "small"
description = "1 CPU"
max_concurrent = 1
kernels = ["python3"]

[[machine_type]]
name = "large"
description = "the rest"
default = true

[[machine_type]]
name = "r-only"
kernels = ["ir"]
"#;

async fn start(root: &Path, data: &Path, shutdown: CancellationToken) -> SchedulerHandle {
    for script in ["ok", "block"] {
        write(
            root,
            &format!("{script}.ipynb"),
            &notebook("python3", "python", Some("x = 1"), &[script]),
        );
    }
    let mut config = SchedulerConfig::new(root, data);
    config.clock = TokioClock::starting_at(utc("2026-03-01T00:00:00Z"));
    config.runner = FakeRunner::new(fake_specs(data));
    config.concurrency = 4;
    config.machine_types =
        MachineTypes::parse(TYPES, Path::new("types.toml"), &KernelLocation::Local).expect("types");
    nbgate_scheduler::Scheduler::start(config, shutdown)
        .await
        .expect("start")
}

fn run(script: &str, machine_type: Option<&str>) -> NewExecution {
    NewExecution {
        notebook: format!("{script}.ipynb"),
        machine_type: machine_type.map(Into::into),
        ..NewExecution::default()
    }
}

#[tokio::test(start_paused = true)]
async fn executions_get_the_default_type_or_the_one_asked_for() {
    let (root, data) = (
        tempfile::tempdir().expect("root"),
        tempfile::tempdir().expect("data"),
    );
    let shutdown = CancellationToken::new();
    let handle = start(root.path(), data.path(), shutdown.clone()).await;

    let default = handle
        .create_execution(run("ok", None))
        .await
        .expect("default");
    assert_eq!(default.machine_type.as_deref(), Some("large"));
    let small = handle
        .create_execution(run("ok", Some("small")))
        .await
        .expect("small");
    assert_eq!(small.machine_type.as_deref(), Some("small"));
    let stored = handle.get_execution(&small.id).await.expect("get");
    assert_eq!(stored.machine_type.as_deref(), Some("small"));

    match handle.create_execution(run("ok", Some("gpu"))).await {
        Err(SchedulerError::Validation(error @ ValidationError::UnknownMachineType { .. })) => {
            assert_eq!(
                error.to_string(),
                "unknown machine type \"gpu\"; known: small, large, r-only"
            );
        }
        other => panic!("expected an unknown machine type, got {other:?}"),
    }
    match handle.create_execution(run("ok", Some("r-only"))).await {
        Err(SchedulerError::Validation(error)) => assert_eq!(
            error.to_string(),
            "machine type \"r-only\" does not run kernel \"python3\"; it runs: ir"
        ),
        other => panic!("expected a kernel refusal, got {other:?}"),
    }
    shutdown.cancel();
    handle.stopped().await;
}

#[tokio::test(start_paused = true)]
async fn schedules_store_edit_and_pass_on_their_type() {
    let (root, data) = (
        tempfile::tempdir().expect("root"),
        tempfile::tempdir().expect("data"),
    );
    let shutdown = CancellationToken::new();
    let handle = start(root.path(), data.path(), shutdown.clone()).await;
    let spec = ScheduleSpec::new(
        "daily",
        "ok.ipynb",
        Recurrence::Cron("0 10 * * *".into()),
        "UTC",
    );
    let schedule = handle.create_schedule(spec.clone()).await.expect("create");
    assert_eq!(schedule.spec.machine_type.as_deref(), Some("large"));

    let patch = SchedulePatch {
        machine_type: Some(Some("small".into())),
        ..SchedulePatch::default()
    };
    let edited = handle
        .update_schedule(&schedule.id, patch)
        .await
        .expect("patch");
    assert_eq!(edited.spec.machine_type.as_deref(), Some("small"));
    let listed = handle.get_schedule(&schedule.id).await.expect("get");
    assert_eq!(listed.spec.machine_type.as_deref(), Some("small"));
    let fired = handle
        .run_now(&schedule.id, Default::default())
        .await
        .expect("run now");
    assert_eq!(fired.machine_type.as_deref(), Some("small"));

    let unknown = SchedulePatch {
        machine_type: Some(Some("gpu".into())),
        ..SchedulePatch::default()
    };
    assert!(matches!(
        handle.update_schedule(&schedule.id, unknown).await,
        Err(SchedulerError::Validation(
            ValidationError::UnknownMachineType { .. }
        ))
    ));
    // Back to the default.
    let reset = SchedulePatch {
        machine_type: Some(None),
        ..SchedulePatch::default()
    };
    let edited = handle
        .update_schedule(&schedule.id, reset)
        .await
        .expect("reset");
    assert_eq!(edited.spec.machine_type.as_deref(), Some("large"));

    let mut bad = spec;
    bad.name = "other".into();
    bad.machine_type = Some("gpu".into());
    assert!(handle.create_schedule(bad).await.is_err());
    shutdown.cancel();
    handle.stopped().await;
}

#[tokio::test(start_paused = true)]
async fn a_type_runs_at_most_its_max_concurrent_at_once() {
    let (root, data) = (
        tempfile::tempdir().expect("root"),
        tempfile::tempdir().expect("data"),
    );
    let shutdown = CancellationToken::new();
    let handle = start(root.path(), data.path(), shutdown.clone()).await;
    let mut events = handle.subscribe(None);

    let first = handle
        .create_execution(run("block", Some("small")))
        .await
        .expect("first");
    assert_eq!(
        next_status(&mut events, ExecutionStatus::Running).await,
        first.id
    );
    let second = handle
        .create_execution(run("block", Some("small")))
        .await
        .expect("second");
    // Another type still has room: it starts while `small` waits.
    let other = handle
        .create_execution(run("block", Some("large")))
        .await
        .expect("other");
    assert_eq!(
        next_status(&mut events, ExecutionStatus::Running).await,
        other.id
    );
    let waiting = handle.get_execution(&second.id).await.expect("get");
    assert_eq!(waiting.status, ExecutionStatus::Queued);

    handle.cancel_execution(&first.id).await.expect("cancel");
    assert_eq!(
        next_status(&mut events, ExecutionStatus::Running).await,
        second.id
    );
    for id in [&second.id, &other.id] {
        handle.cancel_execution(id).await.expect("cancel");
    }
    shutdown.cancel();
    handle.stopped().await;
}

//! Leases on a shared (PostgreSQL) store, through a running scheduler: a replica whose execution was
//! ended by another (its lease found expired, as when this replica was cut off from the store) stops
//! that run and frees its slot, and leaves the other's end as it was.

mod support;

use std::sync::Arc;
use std::time::Duration;

use nbgate_scheduler::store::{Replicas, lost_reason};
use nbgate_scheduler::{
    ExecutionStatus, NewExecution, PostgresStore, SchedulerConfig, StoreUrl, SystemClock,
};
use nbgate_tests::postgres as pg_server;
use support::{FakeRunner, fake_specs, finished, next_status, notebook, write};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_lease_another_replica_ended_stops_and_frees_its_slot() {
    let database = pg_server::database();
    let root = tempfile::tempdir().expect("root");
    let data = tempfile::tempdir().expect("data");
    for (path, script) in [("block.ipynb", "block"), ("ok.ipynb", "ok")] {
        write(
            root.path(),
            path,
            &notebook("python3", "python", None, &[script]),
        );
    }
    let mut config = SchedulerConfig::new(root.path(), data.path());
    config.store = Some(StoreUrl::Postgres(database.url.clone()));
    config.replica_id = "a".into();
    config.lease_timeout = Duration::from_millis(300);
    config.concurrency = 1;
    config.clock = Arc::new(SystemClock);
    config.runner = FakeRunner::new(fake_specs(data.path()));
    let shutdown = CancellationToken::new();
    let handle = nbgate_scheduler::Scheduler::start(config, shutdown.clone())
        .await
        .expect("start");
    let mut events = handle.subscribe(None);
    let new = |notebook: &str| NewExecution {
        notebook: notebook.into(),
        ..Default::default()
    };
    let blocked = handle
        .create_execution(new("block.ipynb"))
        .await
        .expect("create");
    next_status(&mut events, ExecutionStatus::Running).await;
    let waiting = handle
        .create_execution(new("ok.ipynb"))
        .await
        .expect("create");

    // Another replica finds the lease expired (its clock an hour ahead) and ends the execution. Its
    // sweep skips a row locked meanwhile (replica a still renews this lease every 100 ms, and a row
    // being renewed is alive): it sweeps again, as its heartbeat would, until it ends one.
    let url = database.url.clone();
    let ended = tokio::task::spawn_blocking(move || {
        let other = PostgresStore::connect(&url).expect("store");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let later = chrono::Utc::now() + chrono::Duration::hours(1);
            let ended = other
                .end_expired_leases(later, &mut |execution| {
                    let mut ended = execution.clone();
                    ended.status = ExecutionStatus::Failed;
                    ended.reason = Some(lost_reason(execution.replica.as_deref()));
                    ended.ended_at = Some(later);
                    (ended, None)
                })
                .expect("end");
            if !ended.is_empty() || std::time::Instant::now() > deadline {
                return ended;
            }
        }
    })
    .await
    .expect("thread");
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].0.id, blocked.id);

    // The slot frees only if the blocked run stopped (concurrency 1).
    let done = tokio::time::timeout(
        Duration::from_secs(30),
        finished(&handle, &mut events, &waiting.id),
    )
    .await
    .expect("the waiting execution ran");
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    let lost = handle.get_execution(&blocked.id).await.expect("get");
    assert_eq!(lost.status, ExecutionStatus::Failed);
    assert_eq!(lost.reason.as_deref(), Some("replica a lost"));
    shutdown.cancel();
    handle.stopped().await;
}

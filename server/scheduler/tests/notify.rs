//! Webhooks to a local receiver, failed deliveries recorded on the execution, retention, run now with
//! overrides, delete with files.

mod support;

use nbgate_scheduler::{ExecutionStatus, Notify, Recurrence, RunHistory, ScheduleSpec, TokioClock};
use serde_json::json;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

fn setup() -> (
    tempfile::TempDir,
    tempfile::TempDir,
    std::sync::Arc<FakeRunner>,
) {
    let root = tempfile::tempdir().expect("root");
    let data = tempfile::tempdir().expect("data");
    for script in ["ok", "fail"] {
        write(
            root.path(),
            &format!("{script}.ipynb"),
            &notebook("python3", "python", Some("x = 1"), &[script]),
        );
    }
    let runner = FakeRunner::new(fake_specs(data.path()));
    (root, data, runner)
}

fn spec(name: &str, script: &str) -> ScheduleSpec {
    let mut spec = ScheduleSpec::new(
        name,
        &format!("{script}.ipynb"),
        Recurrence::Cron("0 0 1 1 *".into()),
        "UTC",
    );
    spec.overlap = nbgate_scheduler::Overlap::Queue;
    spec
}

#[tokio::test]
async fn webhook_is_posted_on_failure() {
    let (root, data, runner) = setup();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let shutdown = CancellationToken::new();
    let clock = TokioClock::starting_at(utc("2026-01-01T00:00:00Z"));
    let handle = start_fake(root.path(), data.path(), clock, runner, shutdown.clone()).await;
    let mut spec = spec("alerts", "fail");
    spec.notify = Some(Notify {
        url: format!("http://127.0.0.1:{port}/hook"),
        on_failure: true,
        on_success: false,
    });
    let schedule = handle.create_schedule(spec).await.expect("create");
    let execution = handle
        .run_now(&schedule.id, Default::default())
        .await
        .expect("run");
    let (mut socket, _) = listener.accept().await.expect("accept");
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    let body = loop {
        let read = socket.read(&mut buffer).await.expect("read");
        assert!(read > 0, "closed early");
        request.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&request).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|n| n.parse().ok())
                .expect("length");
            if body.len() >= length {
                assert!(head.starts_with("POST /hook HTTP/1.1"), "{head}");
                break body.to_owned();
            }
        }
    };
    socket
        .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        .await
        .expect("answer");
    let payload: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(payload["status"], "failed");
    assert_eq!(payload["schedule"]["name"], "alerts");
    assert_eq!(payload["execution"]["id"], json!(execution.id));
    assert_eq!(payload["error"]["ename"], "ValueError");
    assert_eq!(payload["output_path"], json!(execution.output_path));
    shutdown.cancel();
    handle.stopped().await;
    let execution = handle.get_execution(&execution.id).await.expect("get");
    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert_eq!(execution.notify_error, None);
}

#[tokio::test(start_paused = true)]
async fn undeliverable_webhook_is_recorded_not_fatal_and_retention_deletes_files() {
    let (root, data, runner) = setup();
    // A port nothing listens on.
    let closed = nbgate_tests::ClosedPort::new();
    let port = closed.port;
    let shutdown = CancellationToken::new();
    let clock = TokioClock::starting_at(utc("2026-01-01T00:00:00Z"));
    let handle = start_fake(
        root.path(),
        data.path(),
        clock,
        runner.clone(),
        shutdown.clone(),
    )
    .await;
    let mut events = handle.subscribe(None);
    let mut spec = spec("kept", "ok");
    spec.retention = Some(2);
    // Paused: only run-now executions (time jumps ahead while the test waits).
    spec.paused = true;
    spec.notify = Some(Notify {
        url: format!("http://127.0.0.1:{port}/"),
        on_failure: false,
        on_success: true,
    });
    let schedule = handle.create_schedule(spec).await.expect("create");
    let mut ids = Vec::new();
    for days in 1..=3 {
        let overrides = json!({"x": days}).as_object().cloned().expect("object");
        let execution = handle.run_now(&schedule.id, overrides).await.expect("run");
        let done = finished(&handle, &mut events, &execution.id).await;
        assert_eq!(
            done.status,
            ExecutionStatus::Succeeded,
            "a webhook never fails a run"
        );
        ids.push(done);
    }
    let calls = runner.calls.lock().expect("lock").clone();
    assert_eq!(calls, [json!({"x": 1}), json!({"x": 2}), json!({"x": 3})]);
    // Retention 2: the oldest execution and its file are gone.
    wait_until(&handle, &mut events, |all| all.len() == 2).await;
    assert!(handle.get_execution(&ids[0].id).await.is_err());
    assert!(!root.path().join(&ids[0].output_path).exists());
    assert!(root.path().join(&ids[2].output_path).exists());
    // The deliveries fail after their retries; the failure is on the execution.
    let last = ids[2].id.clone();
    let done = wait_until(&handle, &mut events, |all| {
        all.iter().any(|e| e.id == last && e.notify_error.is_some())
    })
    .await;
    let error = done
        .iter()
        .find(|e| e.id == last)
        .and_then(|e| e.notify_error.clone());
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("after 4 attempts")),
        "{error:?}"
    );
    // Delete with files.
    handle
        .delete_schedule("kept", RunHistory::Delete)
        .await
        .expect("delete");
    assert!(!root.path().join(&ids[2].output_path).exists());
    assert!(all_executions(&handle).await.is_empty());
    shutdown.cancel();
    handle.stopped().await;
}

//! An execution that ran but did not meet its `expect` rules ends `failed` with
//! `ExpectationFailed` through the ordinary end path: its schedule's failure webhook is posted.

mod support;

use nbgate_scheduler::{ExecutionStatus, Notify, Recurrence, ScheduleSpec, TokioClock};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn an_unmet_expectation_fails_the_run_and_notifies() {
    let root = tempfile::tempdir().expect("root");
    let data = tempfile::tempdir().expect("data");
    write(
        root.path(),
        "ok.ipynb",
        &notebook("python3", "python", None, &["ok"]),
    );
    let runner = FakeRunner::new(fake_specs(data.path()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    let clock = TokioClock::starting_at(utc("2026-01-01T00:00:00Z"));
    let handle = start_fake(root.path(), data.path(), clock, runner, shutdown.clone()).await;
    let mut spec = ScheduleSpec::new(
        "model",
        "ok.ipynb",
        Recurrence::Cron("0 0 1 1 *".into()),
        "UTC",
    );
    spec.expect = vec!["accuracy >= 0.8".into()];
    spec.notify = Some(Notify {
        url,
        on_failure: true,
        on_success: false,
    });
    let schedule = handle.create_schedule(spec).await.expect("create");
    let execution = handle
        .run_now(&schedule.id, Default::default())
        .await
        .expect("run");

    // The webhook: everything up to the end of a JSON body.
    let accepted = tokio::time::timeout(std::time::Duration::from_secs(30), listener.accept());
    let (mut socket, _) = accepted
        .await
        .expect("a failure webhook within 30 s")
        .expect("accept");
    let mut received = Vec::new();
    let payload: serde_json::Value = loop {
        let mut chunk = [0u8; 4096];
        let read = socket.read(&mut chunk).await.expect("read");
        assert!(read > 0, "closed before the body");
        received.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some(Ok(body)) = text
            .split_once("\r\n\r\n")
            .map(|(_, body)| serde_json::from_str(body))
        {
            break body;
        }
    };
    socket
        .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        .await
        .expect("answer");
    assert_eq!(payload["status"], "failed", "{payload}");
    assert_eq!(payload["error"]["ename"], "ExpectationFailed", "{payload}");
    assert_eq!(
        payload["error"]["evalue"], "accuracy >= 0.8: accuracy was not recorded",
        "{payload}"
    );
    shutdown.cancel();
    handle.stopped().await;
    let execution = handle.get_execution(&execution.id).await.expect("get");
    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert_eq!(
        execution.error.map(|e| e.ename).as_deref(),
        Some("ExpectationFailed")
    );
    assert_eq!(execution.notify_error, None);
}

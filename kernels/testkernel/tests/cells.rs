//! The command language, driven through real sockets: outputs, errors, stdin, interrupts, endings.

mod support;

use nbgate_protocol::Channel;
use serde_json::{Value, json};
use support::{Client, TestKernel, types};

/// A 1×1 PNG (checked with Python's zlib: every chunk CRC is valid).
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

async fn started(args: &[&str]) -> (TestKernel, Client) {
    let kernel = TestKernel::start(args).await;
    let (client, _) = Client::connect(&kernel.info).await;
    (kernel, client)
}

#[tokio::test]
async fn echo_streams_between_busy_and_idle_and_replies_ok() {
    let (_kernel, mut client) = started(&[]).await;
    let request = client.execute("echo hi", json!({})).await;
    let (reply_type, reply) = client.reply_to(Channel::Shell, &request).await;
    assert_eq!(reply_type, "execute_reply");
    assert_eq!(
        reply,
        json!({"status": "ok", "execution_count": 1, "user_expressions": {}, "payload": []})
    );
    assert_eq!(
        client.iopub_for(&request).await,
        vec![
            ("status".into(), json!({"execution_state": "busy"})),
            (
                "execute_input".into(),
                json!({"code": "echo hi", "execution_count": 1})
            ),
            ("stream".into(), json!({"name": "stdout", "text": "hi\n"})),
            ("status".into(), json!({"execution_state": "idle"})),
        ]
    );

    // The counter moves only for stored, non-silent executions.
    let request = client.execute("echo quiet", json!({"silent": true})).await;
    assert_eq!(
        client.reply_to(Channel::Shell, &request).await.1["execution_count"],
        1
    );
    assert_eq!(
        types(&client.iopub_for(&request).await),
        ["status", "status"]
    );
    let request = client.execute("", json!({})).await;
    assert_eq!(
        client.reply_to(Channel::Shell, &request).await.1["execution_count"],
        2
    );
}

#[tokio::test]
async fn every_output_command_publishes_its_message() {
    let (_kernel, mut client) = started(&[]).await;
    let code = "stderr oops\nresult 42\n\ndisplay d1 first\nupdate d1 second\nhtml <b>x</b>\npng\nclear\nclear wait";
    let request = client.execute(code, json!({})).await;
    let iopub = client.iopub_for(&request).await;
    let outputs: Vec<(String, Value)> = iopub[2..iopub.len() - 1].to_vec();
    let transient = |id: &str| json!({"display_id": id});
    assert_eq!(
        outputs,
        vec![
            ("stream".into(), json!({"name": "stderr", "text": "oops\n"})),
            (
                "execute_result".into(),
                json!({"data": {"text/plain": "42"}, "metadata": {}, "execution_count": 1})
            ),
            (
                "display_data".into(),
                json!({"data": {"text/plain": "first"}, "metadata": {}, "transient": transient("d1")})
            ),
            (
                "update_display_data".into(),
                json!({"data": {"text/plain": "second"}, "metadata": {}, "transient": transient("d1")})
            ),
            (
                "display_data".into(),
                json!({"data": {"text/html": "<b>x</b>"}, "metadata": {}, "transient": {}})
            ),
            (
                "display_data".into(),
                json!({"data": {"image/png": PNG}, "metadata": {}, "transient": {}})
            ),
            ("clear_output".into(), json!({"wait": false})),
            ("clear_output".into(), json!({"wait": true})),
        ]
    );
}

#[tokio::test]
async fn error_stops_the_cell_and_replies_error() {
    let (_kernel, mut client) = started(&[]).await;
    let request = client
        .execute("echo a\nerror ValueError bad thing\necho b", json!({}))
        .await;
    let (_, reply) = client.reply_to(Channel::Shell, &request).await;
    let error = json!({"ename": "ValueError", "evalue": "bad thing", "traceback": ["ValueError: bad thing"]});
    assert_eq!(
        reply,
        json!({"status": "error", "execution_count": 1, "ename": "ValueError", "evalue": "bad thing",
               "traceback": ["ValueError: bad thing"]})
    );
    let iopub = client.iopub_for(&request).await;
    assert_eq!(
        types(&iopub),
        ["status", "execute_input", "stream", "error", "status"]
    );
    assert_eq!(iopub[3].1, error);

    for (code, ename, evalue) in [
        (
            "frobnicate now",
            "NameError",
            "name 'frobnicate' is not defined",
        ),
        ("exit 3", "SystemExit", "3"),
        (
            "sleep soon",
            "ValueError",
            "invalid literal for int() with base 10: 'soon'",
        ),
        (
            "input name?",
            "StdinNotImplementedError",
            "raw_input was called, but this frontend does not support input requests.",
        ),
    ] {
        let request = client.execute(code, json!({})).await;
        let (_, reply) = client.reply_to(Channel::Shell, &request).await;
        assert_eq!(
            (reply["ename"].as_str(), reply["evalue"].as_str()),
            (Some(ename), Some(evalue))
        );
    }
}

#[tokio::test]
async fn input_asks_on_stdin_and_echoes_the_answer() {
    let (_kernel, mut client) = started(&[]).await;
    let request = client
        .execute("input name?", json!({"allow_stdin": true}))
        .await;
    let input_request = client.recv(Channel::Stdin).await;
    assert_eq!(support::msg_type(&input_request), "input_request");
    assert_eq!(
        input_request.content_json().expect("content"),
        json!({"prompt": "name?", "password": false})
    );
    client
        .send(Channel::Stdin, "input_reply", json!({"value": "Ada"}))
        .await;
    assert_eq!(
        client.reply_to(Channel::Shell, &request).await.1["status"],
        "ok"
    );
    let iopub = client.iopub_for(&request).await;
    assert_eq!(iopub[2].1, json!({"name": "stdout", "text": "Ada\n"}));
}

/// Sends `echo started` + `command`, waits until the cell is running, and returns its request header.
async fn start_cell(client: &mut Client, command: &str) -> bytes::Bytes {
    let request = client
        .execute(&format!("echo started\n{command}"), json!({}))
        .await;
    loop {
        let message = client.recv(Channel::IoPub).await;
        if support::msg_type(&message) == "stream" {
            return request;
        }
    }
}

async fn assert_interrupted(client: &mut Client, request: &bytes::Bytes) {
    let (_, reply) = client.reply_to(Channel::Shell, request).await;
    assert_eq!(
        (reply["status"].as_str(), reply["ename"].as_str()),
        (Some("error"), Some("KeyboardInterrupt"))
    );
    // Still alive and counting.
    let request = client.execute("echo after", json!({})).await;
    assert_eq!(
        client.reply_to(Channel::Shell, &request).await.1["status"],
        "ok"
    );
}

#[tokio::test]
async fn interrupt_request_stops_a_hanging_cell() {
    let (_kernel, mut client) = started(&[]).await;
    let request = start_cell(&mut client, "hang").await;
    let interrupt = client
        .send(Channel::Control, "interrupt_request", json!({}))
        .await;
    let (reply_type, reply) = client.reply_to(Channel::Control, &interrupt).await;
    assert_eq!(
        (reply_type.as_str(), reply),
        ("interrupt_reply", json!({"status": "ok"}))
    );
    assert_interrupted(&mut client, &request).await;
}

#[tokio::test]
async fn sigint_stops_a_sleeping_cell() {
    let (kernel, mut client) = started(&[]).await;
    let request = start_cell(&mut client, "sleep 600000").await;
    // SAFETY: kill(2) on a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(kernel.pid(), libc::SIGINT) }, 0);
    assert_interrupted(&mut client, &request).await;
}

#[tokio::test]
async fn shutdown_request_replies_then_exits_zero() {
    let (kernel, mut client) = started(&[]).await;
    let request = client
        .send(
            Channel::Control,
            "shutdown_request",
            json!({"restart": true}),
        )
        .await;
    let (reply_type, reply) = client.reply_to(Channel::Control, &request).await;
    assert_eq!(
        (reply_type.as_str(), reply),
        ("shutdown_reply", json!({"status": "ok", "restart": true}))
    );
    assert_eq!(kernel.exit().await.0.code(), Some(0));
}

#[tokio::test]
async fn exit_during_shutdown_dies_with_three() {
    let (kernel, mut client) = started(&["--exit-during-shutdown"]).await;
    client
        .send(
            Channel::Control,
            "shutdown_request",
            json!({"restart": false}),
        )
        .await;
    assert_eq!(kernel.exit().await.0.code(), Some(3));
}

#[tokio::test]
async fn crash_exits_one_mid_cell_after_earlier_output() {
    let (kernel, mut client) = started(&[]).await;
    let request = client
        .execute("echo before\ncrash\necho after", json!({}))
        .await;
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let message = client.recv(Channel::IoPub).await;
        if support::parent_msg_id(&message) == support::msg_id(&request) {
            seen.push(support::msg_type(&message));
        }
    }
    assert_eq!(seen, ["status", "execute_input", "stream"]);
    assert_eq!(kernel.exit().await.0.code(), Some(1));
}

#[tokio::test]
async fn flood_sends_64_kib_chunks() {
    let (_kernel, mut client) = started(&[]).await;
    let request = client.execute("flood 200000", json!({})).await;
    let iopub = client.iopub_for(&request).await;
    let sizes: Vec<usize> = iopub
        .iter()
        .filter(|(t, _)| t == "stream")
        .map(|(_, content)| content["text"].as_str().map_or(0, str::len))
        .collect();
    assert_eq!(sizes, [65536, 65536, 65536, 200000 - 3 * 65536]);
}

#[tokio::test]
async fn hang_hard_survives_interrupt_and_shutdown_but_not_sigterm() {
    let (kernel, mut client) = started(&[]).await;
    start_cell(&mut client, "hang-hard").await;
    let interrupt = client
        .send(Channel::Control, "interrupt_request", json!({}))
        .await;
    client.reply_to(Channel::Control, &interrupt).await;
    let shutdown = client
        .send(
            Channel::Control,
            "shutdown_request",
            json!({"restart": false}),
        )
        .await;
    client.reply_to(Channel::Control, &shutdown).await;
    // A kernel that honoured the shutdown would never answer again: control stops at its exit.
    let info = client
        .send(Channel::Control, "kernel_info_request", json!({}))
        .await;
    client.reply_to(Channel::Control, &info).await;
    // SAFETY: kill(2) on a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(kernel.pid(), libc::SIGTERM) }, 0);
    let (status, _) = kernel.exit().await;
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
}

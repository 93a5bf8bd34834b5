//! Bad WebSocket frames against the bridge (the gateway served in-process on a port, the test
//! kernel): text that is not JSON, JSON of the wrong shape, unknown channels, every truncation of a
//! v1 frame, lying offset tables, legacy binary garbage, and frames over the size limit. The bridge
//! must drop what it cannot read and keep serving the connection — an execute round trip works after
//! each batch — or close it cleanly when a frame is too large (the session then reconnects). No task
//! may panic. Prints `bad input / WebSocket frames: N frames, F failures, P panics`.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::SinkExt as _;
use nbgate_api::{AppState, Config};
use nbgate_kernel::KernelSpecs;
use nbgate_tests::JupyterEnv;
use serde_json::json;
use support::{Ws, http};
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "frames-token";

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts panics on tokio's worker threads (the bridge's tasks run there).
fn count_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("tokio-runtime-worker") {
            PANICS.fetch_add(1, Ordering::SeqCst);
        }
        default(info);
    }));
}

/// A valid v1 execute_request frame for `code`.
fn v1_execute(code: &str) -> Vec<u8> {
    let header = json!({"msg_id": "junk", "msg_type": "execute_request", "session": "s",
                        "username": "u", "date": "2026-01-01T00:00:00Z", "version": "5.3"});
    let parts: Vec<Vec<u8>> = vec![
        b"shell".to_vec(),
        header.to_string().into_bytes(),
        b"{}".to_vec(),
        b"{}".to_vec(),
        json!({"code": code, "silent": false})
            .to_string()
            .into_bytes(),
    ];
    let mut offsets = vec![8 * 7];
    for part in &parts {
        offsets.push(offsets.last().expect("one") + part.len());
    }
    let mut frame = 6u64.to_le_bytes().to_vec();
    for offset in &offsets {
        frame.extend((*offset as u64).to_le_bytes());
    }
    for part in parts {
        frame.extend(part);
    }
    frame
}

/// Text frames a client should never send.
fn bad_texts() -> Vec<String> {
    let header = json!({"msg_id": "t", "msg_type": "kernel_info_request", "session": "s",
                        "username": "u", "date": "2026-01-01T00:00:00Z", "version": "5.3"});
    let mut texts: Vec<String> = [
        "",
        " ",
        "not json",
        "{",
        "[]",
        "null",
        "42",
        "\"shell\"",
        "{}",
        "{\"header\": null}",
        "{\"channel\": \"shell\"}",
        "{\"header\": {\"msg_id\": 1}}",
        "\u{feff}{}",
        "{\"header\": {}, \"content\": 5}",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for channel in ["iopub", "hb", "", "shell2", "SHELL", "control\0"] {
        texts.push(
            json!({"header": header, "parent_header": {}, "metadata": {}, "content": {},
                   "channel": channel})
            .to_string(),
        );
    }
    texts.push(json!({"header": header, "content": {}, "channel": 5}).to_string());
    texts.push("[".repeat(100_000));
    texts.push(format!("{{\"header\": \"{}\"}}", "x".repeat(10 << 20)));
    texts
}

/// Binary frames whose offset tables lie.
fn bad_binaries() -> Vec<Vec<u8>> {
    let good = v1_execute("echo junk");
    let mut frames: Vec<Vec<u8>> = (0..good.len()).map(|cut| good[..cut].to_vec()).collect();
    for count in [0u64, 1, 5, 7, u64::MAX, 1 << 40] {
        let mut frame = good.clone();
        frame[..8].copy_from_slice(&count.to_le_bytes());
        frames.push(frame);
    }
    for (index, value) in [(1usize, 0u64), (2, u64::MAX), (3, 8), (6, 1 << 33), (4, 57)] {
        let mut frame = good.clone();
        frame[8 * index..8 * index + 8].copy_from_slice(&value.to_le_bytes());
        frames.push(frame);
    }
    frames.push(vec![0xff; 4096]);
    frames.push(Vec::new());
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_are_dropped_and_the_bridge_keeps_serving() {
    count_panics();
    let env = JupyterEnv::new();
    env.add_test_kernel("testk", &[]);
    let mut config = Config::new(TOKEN, env.work());
    config.specs = KernelSpecs::with_dirs(vec![env.specs.join("kernels")]);
    config.default_kernel = Some("testk".into());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(nbgate_api::run(
        listener,
        AppState::new(config),
        async move {
            let _ = stopped.await;
        },
    ));
    let (status, kernel, _) =
        http(port, "POST", "/api/kernels", Some(TOKEN), Some(&json!({}))).await;
    assert_eq!(status, 201, "{kernel}");
    let kernel = kernel["id"].as_str().expect("id").to_owned();

    let mut sent = 0usize;
    let mut failures = Vec::new();
    for v1 in [true, false] {
        let session = if v1 { "v1" } else { "legacy" };
        let mut ws = Ws::connect(port, &kernel, session, v1, Some(TOKEN)).await;
        let batches: Vec<Vec<Message>> = vec![
            bad_texts()
                .into_iter()
                .map(|t| Message::Text(t.into()))
                .collect(),
            bad_binaries()
                .into_iter()
                .map(|b| Message::Binary(b.into()))
                .collect(),
        ];
        for batch in batches {
            for chunk in batch.chunks(50) {
                for frame in chunk {
                    sent += 1;
                    if let Err(error) = ws.socket.send(frame.clone()).await {
                        failures.push(format!(
                            "{session}: the connection broke on a bad frame: {error}"
                        ));
                        break;
                    }
                }
                let (reply, stdout) = ws.run("echo still here").await;
                if reply["status"] != "ok" || stdout != "still here\n" {
                    failures.push(format!(
                        "{session}: after bad frames the kernel answered {reply} {stdout:?}"
                    ));
                }
            }
        }
        // Over the size limit: a clean close, then the same session reconnects and works.
        sent += 1;
        let _ = ws
            .socket
            .send(Message::Binary(vec![0u8; 70 << 20].into()))
            .await;
        let after = ws.until_closed().await;
        drop(after);
        let mut again = Ws::connect(port, &kernel, session, v1, Some(TOKEN)).await;
        let (reply, stdout) = again.run("echo back").await;
        if reply["status"] != "ok" || stdout != "back\n" {
            failures.push(format!(
                "{session}: after an oversized frame: {reply} {stdout:?}"
            ));
        }
    }
    // A session id ZeroMQ cannot use as an identity (empty after decoding, NUL first, too long).
    for session in ["%00abc", "%00", &"s".repeat(300)] {
        sent += 1;
        match Ws::try_connect(port, &kernel, session, false, Some(TOKEN)).await {
            Ok(mut ws) => {
                let (reply, _) = ws.run("echo id").await;
                if reply["status"] != "ok" {
                    failures.push(format!("session {session:?}: {reply}"));
                }
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(response))
                if response.status().is_client_error() => {}
            Err(error) => failures.push(format!("session {session:?}: {error}")),
        }
    }
    let (status, model, _) = http(
        port,
        "GET",
        &format!("/api/kernels/{kernel}"),
        Some(TOKEN),
        None,
    )
    .await;
    if status != 200 {
        failures.push(format!("the kernel is gone: {status} {model}"));
    }
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(60), server)
        .await
        .expect("the server stops")
        .expect("no panic")
        .expect("served");
    env.assert_no_survivors(Duration::from_secs(10));
    let panics = PANICS.load(Ordering::SeqCst);
    println!(
        "bad input / WebSocket frames: {sent} frames, {} failures, {panics} panics",
        failures.len()
    );
    assert!(failures.is_empty() && panics == 0, "{failures:#?}");
}

//! Load and soak on the real `nbgate serve` with the test kernel:
//! - short executions through the scheduler: the server's RSS and open descriptors stay flat, the store
//!   grows by a bounded amount per execution (CI: 200; `NBGATE_SOAK=1`: 10,000);
//! - WebSocket clients executing across kernels: every reply arrives, at the client that asked, with
//!   its own output; the p99 round trip is printed (CI: 10 clients × 50 across 2 kernels;
//!   `NBGATE_SOAK=1`: 50 × 1,000 across 10).

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use nbgate_tests::JupyterEnv;
use nbgate_tests::serve::{Serve, TOKEN, notebook, open_fds, proc_status_kib, size, wait_for};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Executions finished with `status`, from `/metrics`.
fn finished(server: &Serve, status: &str) -> u64 {
    let metrics = server.ok("GET", "/metrics", None);
    let needle = format!("nbgate_executions_finished_total{{status=\"{status}\"}} ");
    metrics
        .as_str()
        .expect("text")
        .lines()
        .find_map(|line| line.strip_prefix(&needle)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Bytes of the SQLite store with its write-ahead log.
fn store_bytes(data_dir: &Path) -> u64 {
    ["nbgate.sqlite3", "nbgate.sqlite3-wal"]
        .iter()
        .filter_map(|name| std::fs::metadata(data_dir.join(name)).ok())
        .map(|meta| meta.len())
        .sum()
}

/// Creates `count` executions of `short.ipynb` and waits until `total` have succeeded.
fn run_batch(server: &Serve, count: usize, total: usize) {
    for _ in 0..count {
        server.create(&json!({"notebook": "short.ipynb"}));
    }
    let within = Duration::from_secs(60 + count as u64 / 2);
    wait_for(within, &format!("{total} executions to succeed"), || {
        assert_eq!(finished(server, "failed"), 0, "an execution failed");
        (finished(server, "succeeded") >= total as u64).then_some(())
    });
}

#[test]
fn short_executions_keep_memory_descriptors_and_store_flat() {
    let total = size(200, 10_000);
    let warmup = 50;
    let env = JupyterEnv::new();
    env.add_test_kernel("testk", &[]);
    std::fs::write(
        env.work().join("short.ipynb"),
        notebook("testk", "testlang", &["echo hi", "result 42"]),
    )
    .expect("write");
    let data = tempfile::tempdir().expect("data dir");
    let server = Serve::start(
        &env,
        data.path(),
        &["--no-fork-server", "--max-concurrent-executions", "2"],
    );
    let pid = server.pid();
    run_batch(&server, warmup, warmup);
    let (rss_start, fds_start, store_start) = (
        proc_status_kib(pid, "VmRSS"),
        open_fds(pid),
        store_bytes(data.path()),
    );
    let started = Instant::now();
    let chunk = 500;
    let mut done = warmup;
    while done < total {
        let count = chunk.min(total - done);
        done += count;
        run_batch(&server, count, done);
    }
    let took = started.elapsed();
    let (rss_end, fds_end, store_end) = (
        proc_status_kib(pid, "VmRSS"),
        open_fds(pid),
        store_bytes(data.path()),
    );
    let measured = (total - warmup) as u64;
    let outputs = std::fs::read_dir(env.work().join("executions/short"))
        .expect("outputs")
        .count();
    server.stop();
    // Stopped, the log is checkpointed into the main file: its size is the store's.
    let store_stopped = store_bytes(data.path());
    let per_execution = store_stopped / total as u64;
    println!(
        "soak: {total} executions ({measured} measured after {warmup}) in {took:.1?} \
         ({:.0}/s): RSS {} → {} MiB, open fds {fds_start} → {fds_end}, store with its log {} → {} \
         KiB while running, {} KiB stopped ({per_execution} bytes per execution), {outputs} output \
         notebooks",
        measured as f64 / took.as_secs_f64(),
        rss_start / 1024,
        rss_end / 1024,
        store_start / 1024,
        store_end / 1024,
        store_stopped / 1024,
    );
    assert_eq!(outputs, total, "one output notebook per execution");
    assert!(
        fds_end <= fds_start + 8,
        "open descriptors grew from {fds_start} to {fds_end}"
    );
    assert!(
        rss_end <= rss_start + rss_start / 2 + 16 * 1024,
        "RSS grew from {rss_start} KiB to {rss_end} KiB"
    );
    assert!(
        per_execution < 8 * 1024,
        "the store takes {per_execution} bytes per execution"
    );
    assert_eq!(Serve::store_integrity(data.path()), "ok");
    env.assert_no_survivors(Duration::from_secs(10));
}

/// A legacy-protocol `execute_request` (JSON text frame).
fn execute_request(msg_id: &str, session: &str, code: &str) -> String {
    json!({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": session,
                   "username": "load", "date": "2026-01-01T00:00:00.000Z", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": false, "store_history": false,
                    "user_expressions": {}, "allow_stdin": false, "stop_on_error": true},
    })
    .to_string()
}

/// What one client saw.
#[derive(Default)]
struct Tally {
    round_trips: Vec<Duration>,
    lost: usize,
    misrouted: usize,
}

/// One client: `executes` requests in sequence on kernel `kernel`, each waiting for its reply and its
/// own output.
async fn client(port: u16, kernel: String, client: usize, executes: usize) -> Tally {
    let session = format!("load-{client}");
    let url = format!(
        "ws://127.0.0.1:{port}/api/kernels/{kernel}/channels?session_id={session}&token={TOKEN}"
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket connects");
    let mut tally = Tally::default();
    for i in 0..executes {
        let msg_id = format!("{session}-{i}");
        let text = format!("from {session} number {i}");
        let sent = Instant::now();
        ws.send(Message::text(execute_request(
            &msg_id,
            &session,
            &format!("echo {text}"),
        )))
        .await
        .expect("send");
        let (mut replied, mut echoed) = (false, false);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !(replied && echoed) {
            let frame = match tokio::time::timeout_at(deadline, ws.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => text,
                Ok(Some(Ok(_))) => continue,
                Ok(other) => panic!("client {client}: the WebSocket ended: {other:?}"),
                Err(_) => {
                    tally.lost += 1;
                    break;
                }
            };
            let message: Value = serde_json::from_str(&frame).expect("JSON frame");
            let parent = message["parent_header"]["msg_id"].as_str().unwrap_or("");
            let kind = message["header"]["msg_type"].as_str().unwrap_or("");
            match (message["channel"].as_str(), kind) {
                // Replies go to the asker only: another session's reply here is misrouted.
                (Some("shell"), _) if !parent.starts_with(&format!("{session}-")) => {
                    tally.misrouted += 1;
                }
                (Some("shell"), "execute_reply") if parent == msg_id => {
                    tally.round_trips.push(sent.elapsed());
                    replied = true;
                    if message["content"]["status"] != "ok" {
                        tally.misrouted += 1;
                    }
                }
                (Some("iopub"), "stream") if parent == msg_id => {
                    echoed = true;
                    if message["content"]["text"] != json!(format!("{text}\n")) {
                        tally.misrouted += 1;
                    }
                }
                _ => {}
            }
        }
    }
    let _ = ws.close(None).await;
    tally
}

#[test]
fn websocket_clients_get_every_reply_and_only_their_own() {
    let (clients, executes, kernels) = (size(10, 50), size(50, 1_000), size(2, 10));
    let env = JupyterEnv::new();
    env.add_test_kernel("testk", &[]);
    let data = tempfile::tempdir().expect("data dir");
    let server = Serve::start(
        &env,
        data.path(),
        &["--no-fork-server", "--default-kernel", "testk"],
    );
    let ids: Vec<String> = (0..kernels)
        .map(|_| {
            let kernel = server.ok("POST", "/api/kernels", Some(&json!({"name": "testk"})));
            kernel["id"].as_str().expect("id").to_owned()
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let tallies: Vec<Tally> = runtime.block_on(async {
        let tasks: Vec<_> = (0..clients)
            .map(|n| tokio::spawn(client(server.port, ids[n % kernels].clone(), n, executes)))
            .collect();
        let mut tallies = Vec::new();
        for task in tasks {
            tallies.push(task.await.expect("client task"));
        }
        tallies
    });
    let took = started.elapsed();
    let mut round_trips: Vec<Duration> = tallies
        .iter()
        .flat_map(|t| t.round_trips.iter().copied())
        .collect();
    round_trips.sort();
    let lost: usize = tallies.iter().map(|t| t.lost).sum();
    let misrouted: usize = tallies.iter().map(|t| t.misrouted).sum();
    let quantile = |q: f64| {
        round_trips
            .get(((round_trips.len() as f64 * q) as usize).min(round_trips.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "websocket load: {clients} clients × {executes} executes across {kernels} kernels in \
         {took:.1?} ({:.0}/s): {} replies, lost {lost}, misrouted {misrouted}; round trip p50 \
         {:.1?}, p99 {:.1?}, max {:.1?}",
        round_trips.len() as f64 / took.as_secs_f64(),
        round_trips.len(),
        quantile(0.5),
        quantile(0.99),
        round_trips.last().copied().unwrap_or_default(),
    );
    assert_eq!((lost, misrouted), (0, 0));
    assert_eq!(round_trips.len(), clients * executes);
    server.stop();
    env.assert_no_survivors(Duration::from_secs(10));
}

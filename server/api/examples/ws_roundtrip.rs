//! N sequential executes through `nbgate serve`'s kernel WebSocket; prints one JSON line of timings,
//! as `nbgate-kernel`'s `roundtrip` example does over raw ZeroMQ (`bench/ws_vs_zmq.py` runs both).
//!
//! `cargo run --release -p nbgate-api --example ws_roundtrip -- --url ws://127.0.0.1:8888 \
//!     --token T --kernel-id ID --count 1000 --code 'x = 1'`
//!
//! The kernel is one the server already runs (`POST /api/kernels`). Messages are the legacy JSON
//! protocol (what jupyter_server's gateway client speaks). An execute is done when both its
//! `execute_reply` and the iopub `status: idle` with it as parent have arrived; the clock starts
//! before the request is written to the socket. `--quick-ack`: the TCP stream acknowledges every read
//! at once (`nbgate_kernel::gateway::QuickAck`, what nbgate's gateway client uses), so a server with Nagle's algorithm on
//! (Enterprise Gateway) is not held up by Linux's delayed ACKs (up to 40 ms); `bench/eg_remote.py`
//! measures EG's WebSocket both ways.

use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

fn usage() -> ! {
    eprintln!(
        "usage: ws_roundtrip --url ws://HOST:PORT --token T --kernel-id ID [--count N] [--code CODE] [--warmup N] [--quick-ack]"
    );
    std::process::exit(2);
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (mut url, mut token, mut kernel_id) = (None, None, None);
    let (mut count, mut warmup, mut code) = (1000_usize, 20_usize, "x = 1".to_owned());
    let mut quick_ack = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--url" => url = Some(value()),
            "--token" => token = Some(value()),
            "--kernel-id" => kernel_id = Some(value()),
            "--count" => count = value().parse().unwrap_or_else(|_| usage()),
            "--warmup" => warmup = value().parse().unwrap_or_else(|_| usage()),
            "--code" => code = value(),
            "--quick-ack" => quick_ack = true,
            _ => usage(),
        }
    }
    let (Some(url), Some(token), Some(kernel_id)) = (url, token, kernel_id) else {
        usage()
    };
    let address = format!("{url}/api/kernels/{kernel_id}/channels?token={token}");
    if let Err(error) = run(&address, count, warmup, &code, quick_ack).await {
        eprintln!("ws_roundtrip: {error}");
        std::process::exit(1);
    }
}

/// A byte stream the WebSocket runs on: plain TCP, or TCP acknowledging at once.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> Io for T {}

type Socket = tokio_tungstenite::WebSocketStream<Box<dyn Io>>;

async fn run(
    address: &str,
    count: usize,
    warmup: usize,
    code: &str,
    quick_ack: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let uri: tokio_tungstenite::tungstenite::http::Uri = address.parse()?;
    let tcp = tokio::net::TcpStream::connect((
        uri.host().unwrap_or("127.0.0.1"),
        uri.port_u16().unwrap_or(80),
    ))
    .await?;
    tcp.set_nodelay(true)?;
    let stream: Box<dyn Io> = if quick_ack {
        Box::new(nbgate_kernel::gateway::QuickAck(tcp))
    } else {
        Box::new(tcp)
    };
    let (mut socket, _) = tokio_tungstenite::client_async(address, stream).await?;
    let session = uuid::Uuid::new_v4().to_string();
    let mut samples = Vec::with_capacity(count);
    for i in 0..warmup + count {
        let begin = Instant::now();
        execute(&mut socket, &session, code).await?;
        if i >= warmup {
            samples.push(begin.elapsed().as_secs_f64() * 1e3);
        }
    }
    socket.close(None).await?;

    let mean = samples.iter().sum::<f64>() / samples.len().max(1) as f64;
    samples.sort_by(f64::total_cmp);
    let percentile = |p: f64| -> f64 {
        if samples.is_empty() {
            return 0.0;
        }
        let index = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[index]
    };
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    println!(
        "{}",
        json!({
            "median_ms": round(percentile(0.5)),
            "p99_ms": round(percentile(0.99)),
            "mean_ms": round(mean),
            "count": samples.len(),
        })
    );
    Ok(())
}

/// One execute: written, then read until its reply and its `idle` arrived.
async fn execute(
    socket: &mut Socket,
    session: &str,
    code: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let msg_id = uuid::Uuid::new_v4().to_string();
    let request = json!({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": session,
                   "username": "bench", "date": chrono::Utc::now().to_rfc3339(), "version": "5.3"},
        "parent_header": {}, "metadata": {}, "buffers": [], "channel": "shell",
        "content": {"code": code, "silent": false, "store_history": true,
                    "user_expressions": {}, "allow_stdin": false, "stop_on_error": true},
    });
    socket.send(Message::text(request.to_string())).await?;
    let (mut replied, mut idle) = (false, false);
    while !(replied && idle) {
        let frame = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .map_err(|_| "no answer within 30 s")?
            .ok_or("the WebSocket closed")??;
        let Message::Text(text) = frame else {
            continue;
        };
        let message: Value = serde_json::from_str(&text)?;
        if message["parent_header"]["msg_id"] != msg_id.as_str() {
            continue;
        }
        match (
            message["channel"].as_str(),
            message["header"]["msg_type"].as_str(),
        ) {
            (Some("shell"), Some("execute_reply")) => replied = true,
            (Some("iopub"), Some("status")) => {
                idle |= message["content"]["execution_state"] == "idle";
            }
            _ => {}
        }
    }
    Ok(())
}

//! Black-box support: the real `nbgate serve` on port 0 in an isolated Jupyter environment, a tiny
//! HTTP/1.1 client, and a WebSocket client speaking both Jupyter formats.

#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use nbgate_tests::{JupyterEnv, MARKER_VAR, option_value, workspace_bin};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

pub const TOKEN: &str = "black-box-token";
/// Generous bound for anything involving a kernel start on a loaded CI machine.
pub const WAIT: Duration = Duration::from_secs(60);

pub struct Gateway {
    pub env: JupyterEnv,
    pub child: Child,
    pub port: u16,
}

impl Gateway {
    pub async fn start(args: &[&str]) -> Self {
        let env = JupyterEnv::new();
        let mut child = Command::new(workspace_bin("nbgate"))
            .args(["serve", "--port=0"])
            .arg(option_value("--root-dir", &env.work()))
            .arg(format!(
                "--env-process-whitelist={MARKER_VAR},JUPYTER_RUNTIME_DIR,IPYTHONDIR"
            ))
            .args(args)
            .envs(env.vars())
            // By environment: a command line is readable by every local process.
            .env("NBGATE_TOKEN", TOKEN)
            .env(
                "RUST_LOG",
                std::env::var("NBGATE_TEST_LOG").unwrap_or_else(|_| "warn,zeromq=off".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("nbgate serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("nbgate serve prints its URL")
            .expect("read")
            .expect("a line");
        let url = line
            .strip_prefix("nbgate serve listening on http://127.0.0.1:")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        let port = url
            .split('/')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        assert!(line.ends_with(&format!("/?token={TOKEN}")), "{line}");
        Self { env, child, port }
    }

    /// SIGTERM, wait for a clean exit, and check that no kernel outlived it.
    pub async fn stop(mut self) {
        let pid = self.child.id().expect("running") as i32;
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("nbgate stops on SIGTERM")
            .expect("wait");
        assert!(status.success(), "nbgate serve exited with {status}");
        self.env.assert_no_survivors(Duration::from_secs(10));
    }

    pub async fn http(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value, String) {
        http(self.port, method, path, Some(TOKEN), body).await
    }

    /// POSTs a kernel and returns its id.
    pub async fn start_kernel(&self, body: Value) -> String {
        let (status, model, _) = self.http("POST", "/api/kernels", Some(&body)).await;
        assert_eq!(status, 201, "{model}");
        model["id"].as_str().expect("id").to_owned()
    }

    pub async fn ws(&self, kernel: &str, session: &str, v1: bool) -> Ws {
        Ws::connect(self.port, kernel, session, v1, Some(TOKEN)).await
    }
}

/// One HTTP/1.1 request (`Connection: close`); returns status, JSON body (or Null) and raw headers.
pub async fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: token {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut response))
        .await
        .expect("response in time")
        .expect("read");
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).expect("JSON body")
    };
    (status, json, head.to_owned())
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

pub struct Ws {
    pub socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
    pub session: String,
    pub v1: bool,
}

/// A kernel message as a client sees it.
#[derive(Debug, Clone)]
pub struct Received {
    pub channel: String,
    pub header: Value,
    pub parent: Value,
    pub content: Value,
    pub buffers: Vec<Vec<u8>>,
}

impl Received {
    pub fn msg_type(&self) -> &str {
        self.header["msg_type"].as_str().unwrap_or("")
    }

    pub fn parent_id(&self) -> &str {
        self.parent["msg_id"].as_str().unwrap_or("")
    }
}

impl Ws {
    pub async fn connect(
        port: u16,
        kernel: &str,
        session: &str,
        v1: bool,
        token: Option<&str>,
    ) -> Self {
        Self::try_connect(port, kernel, session, v1, token)
            .await
            .expect("WebSocket connects")
    }

    pub async fn try_connect(
        port: u16,
        kernel: &str,
        session: &str,
        v1: bool,
        token: Option<&str>,
    ) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        let url =
            format!("ws://127.0.0.1:{port}/api/kernels/{kernel}/channels?session_id={session}");
        let mut request = url.into_client_request().expect("request");
        if let Some(token) = token {
            request.headers_mut().insert(
                "Authorization",
                format!("token {token}").parse().expect("header"),
            );
        }
        if v1 {
            request.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                "v1.kernel.websocket.jupyter.org".parse().expect("header"),
            );
        }
        let (socket, response) = tokio_tungstenite::connect_async(request).await?;
        let selected = response
            .headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().unwrap_or("").to_owned());
        assert_eq!(
            selected.as_deref(),
            v1.then_some("v1.kernel.websocket.jupyter.org")
        );
        Ok(Self {
            socket,
            session: session.to_owned(),
            v1,
        })
    }

    /// Sends a request; returns its msg_id.
    pub async fn request(&mut self, channel: &str, msg_type: &str, content: Value) -> String {
        let msg_id = uuid::Uuid::new_v4().to_string();
        let header = json!({
            "msg_id": msg_id, "msg_type": msg_type, "session": self.session, "username": "test",
            "date": "2026-01-01T00:00:00.000000Z", "version": "5.3",
        });
        let message = if self.v1 {
            let parts: [Vec<u8>; 5] = [
                channel.as_bytes().to_vec(),
                header.to_string().into_bytes(),
                b"{}".to_vec(),
                b"{}".to_vec(),
                content.to_string().into_bytes(),
            ];
            let mut offsets = vec![8 * 7];
            for part in &parts {
                offsets.push(offsets.last().expect("one") + part.len());
            }
            let mut frame = 6u64.to_le_bytes().to_vec();
            for offset in &offsets[..6] {
                frame.extend((*offset as u64).to_le_bytes());
            }
            for part in parts {
                frame.extend(part);
            }
            Message::Binary(frame.into())
        } else {
            let body = json!({"header": header, "parent_header": {}, "metadata": {}, "content": content,
                "buffers": [], "channel": channel});
            Message::Text(body.to_string().into())
        };
        self.socket.send(message).await.expect("send");
        msg_id
    }

    pub async fn execute(&mut self, code: &str) -> String {
        self.request(
            "shell",
            "execute_request",
            json!({
                "code": code, "silent": false, "store_history": true, "user_expressions": {},
                "allow_stdin": false, "stop_on_error": true,
            }),
        )
        .await
    }

    /// The next kernel message; `None` when the server closed the connection.
    pub async fn next(&mut self) -> Option<Received> {
        self.next_by(Instant::now() + WAIT).await
    }

    /// The next kernel message, or a panic at `deadline` (pings and pongs do not extend it).
    async fn next_by(&mut self, deadline: Instant) -> Option<Received> {
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("no kernel message within {WAIT:?}"));
            match frame {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return None,
                Some(Ok(Message::Text(text))) => {
                    assert!(!self.v1, "v1 connections get binary frames only");
                    let json: Value = serde_json::from_str(text.as_str()).expect("JSON frame");
                    for key in [
                        "header",
                        "msg_id",
                        "msg_type",
                        "parent_header",
                        "metadata",
                        "content",
                        "buffers",
                        "channel",
                    ] {
                        assert!(json.get(key).is_some(), "legacy frame lacks {key}: {json}");
                    }
                    assert_eq!(json["msg_id"], json["header"]["msg_id"]);
                    return Some(Received {
                        channel: json["channel"].as_str().expect("channel").to_owned(),
                        header: json["header"].clone(),
                        parent: json["parent_header"].clone(),
                        content: json["content"].clone(),
                        buffers: Vec::new(),
                    });
                }
                Some(Ok(Message::Binary(bytes))) => return Some(decode_binary(&bytes, self.v1)),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Reads until the server closes the connection; returns what came before.
    pub async fn until_closed(&mut self) -> Vec<Received> {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        while let Some(message) = self.next_by(deadline).await {
            seen.push(message);
        }
        seen
    }

    /// Messages until one matches; panics if the connection closes first.
    pub async fn until(&mut self, what: impl Fn(&Received) -> bool) -> (Vec<Received>, Received) {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let message = self
                .next_by(deadline)
                .await
                .unwrap_or_else(|| panic!("closed; saw {seen:#?}"));
            if what(&message) {
                return (seen, message);
            }
            seen.push(message);
        }
    }

    /// Runs `code` and returns (execute_reply content, stdout text) once the kernel is idle again and
    /// the reply is in. Shell and iopub are separate sockets: the reply may come before or after the
    /// `idle` status (all of the request's output comes before `idle`, on iopub).
    pub async fn run(&mut self, code: &str) -> (Value, String) {
        let id = self.execute(code).await;
        let deadline = Instant::now() + WAIT;
        let mut reply = None;
        let mut idle = false;
        let mut stdout = String::new();
        while reply.is_none() || !idle {
            let message = self.next_by(deadline).await.expect("open");
            if message.parent_id() != id {
                continue;
            }
            match message.msg_type() {
                "execute_reply" => reply = Some(message.content),
                "stream" if message.content["name"] == "stdout" => {
                    stdout.push_str(message.content["text"].as_str().unwrap_or(""));
                }
                "status" => idle = message.content["execution_state"] == "idle",
                _ => {}
            }
        }
        (reply.expect("reply"), stdout)
    }
}

fn decode_binary(bytes: &[u8], v1: bool) -> Received {
    if v1 {
        let n = u64::from_le_bytes(bytes[..8].try_into().expect("8")) as usize;
        let offsets: Vec<usize> = (1..=n)
            .map(|i| u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().expect("8")) as usize)
            .collect();
        assert_eq!(
            *offsets.last().expect("end"),
            bytes.len(),
            "last offset is the length"
        );
        let part = |i: usize| &bytes[offsets[i]..offsets[i + 1]];
        let json = |i: usize| serde_json::from_slice::<Value>(part(i)).expect("JSON part");
        Received {
            channel: String::from_utf8(part(0).to_vec()).expect("channel"),
            header: json(1),
            parent: json(2),
            content: json(4),
            buffers: (5..n - 1).map(|i| part(i).to_vec()).collect(),
        }
    } else {
        let n = u32::from_be_bytes(bytes[..4].try_into().expect("4")) as usize;
        let mut offsets: Vec<usize> = (1..=n)
            .map(|i| u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4")) as usize)
            .collect();
        offsets.push(bytes.len());
        let json: Value = serde_json::from_slice(&bytes[offsets[0]..offsets[1]]).expect("JSON");
        Received {
            channel: json["channel"].as_str().expect("channel").to_owned(),
            header: json["header"].clone(),
            parent: json["parent_header"].clone(),
            content: json["content"].clone(),
            buffers: offsets[1..]
                .windows(2)
                .map(|w| bytes[w[0]..w[1]].to_vec())
                .collect(),
        }
    }
}

//! Security sweep on the real `nbgate serve` (black box): it binds loopback by default; the WebSocket
//! refuses a missing or wrong token; the token — given the way the JupyterLab extension gives it, as
//! `NBGATE_TOKEN` — never appears in the server's own log at `trace` level (requests with `?token=`,
//! the header, a WebSocket, kernels, an execution) and never reaches a kernel's environment, neither
//! a gateway kernel's (with or without `env`) nor a scheduled execution's. (The route-table sweep for
//! the token and the CORS checks are in `handlers.rs`; paths are in `bad_input.rs`.)

mod support;

use std::process::Stdio;
use std::time::Duration;

use nbgate_tests::{JupyterEnv, MARKER_VAR, workspace_bin};
use serde_json::{Value, json};
use support::{Ws, http};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

const SECRET: &str = "sEcReT-7f3a9c-do-not-log";
const WAIT: Duration = Duration::from_secs(60);

/// Listening sockets on `port` from /proc/net/tcp{,6}: their local addresses, hex as the kernel
/// writes them (`0100007F` is 127.0.0.1).
fn listeners(port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state)) = (fields.get(1), fields.get(3)) else {
                continue;
            };
            let (address, hex_port) = local.rsplit_once(':').unwrap_or((local, ""));
            // 0A = LISTEN
            if *state == "0A" && u16::from_str_radix(hex_port, 16) == Ok(port) {
                found.push(address.to_owned());
            }
        }
    }
    found
}

/// Start-up environments (`/proc/PID/environ`, what `ps e` shows) of every descendant of `root`:
/// kernels, fork servers and whatever they started.
fn descendant_environments(root: u32) -> Vec<(u32, Vec<u8>)> {
    let parent_of = |pid: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit(')')
            .next()?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let pids: Vec<u32> = std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    pids.into_iter()
        .filter(|pid| {
            let mut at = *pid;
            while let Some(parent) = parent_of(at) {
                if parent == root {
                    return true;
                }
                if parent <= 1 {
                    break;
                }
                at = parent;
            }
            false
        })
        .map(|pid| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            (pid, environ)
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_never_logged_nor_given_to_kernels_and_serve_binds_loopback() {
    let env = JupyterEnv::new();
    let log_path = env.dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(workspace_bin("nbgate"))
        .args(["serve", "--port", "0", "--root-dir"])
        .arg(env.work())
        // Even a whitelist naming the token's variable does not pass it on.
        .args([
            "--env-process-whitelist",
            &format!("{MARKER_VAR},JUPYTER_RUNTIME_DIR,IPYTHONDIR,NBGATE_TOKEN"),
        ])
        .envs(env.vars())
        .env("NBGATE_TOKEN", SECRET)
        .env(
            "RUST_LOG",
            "trace,zeromq=off,hyper=off,hyper_util=off,h2=off,mio=off,tokio=off,runtime=off",
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .expect("nbgate serve starts");
    let pid = child.id().expect("pid");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("the URL in time")
        .expect("read")
        .expect("a line");

    // Loopback unless --ip says otherwise: the URL, and the socket itself.
    let port: u16 = line
        .strip_prefix("nbgate serve listening on http://127.0.0.1:")
        .and_then(|rest| rest.split('/').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("not a loopback URL: {line}"));
    let bound = listeners(port);
    assert_eq!(bound, vec!["0100007F".to_owned()], "bound on {bound:?}");
    let mut checks = 2;

    // The WebSocket refuses a missing or wrong token (the REST routes: handlers.rs walks the table).
    let (status, kernel, _) = http(
        port,
        "POST",
        "/api/kernels",
        Some(SECRET),
        Some(&json!({"name": "python3"})),
    )
    .await;
    assert_eq!(status, 201, "{kernel}");
    let kernel = kernel["id"].as_str().expect("id").to_owned();
    for token in [None, Some("wrong"), Some(&SECRET[1..])] {
        let refused = Ws::try_connect(port, &kernel, "s", false, token).await;
        let Err(tokio_tungstenite::tungstenite::Error::Http(response)) = refused else {
            panic!(
                "a WebSocket with {token:?} was not refused: {:?}",
                refused.err()
            );
        };
        assert_eq!(response.status(), 401);
        checks += 1;
    }
    // The token in the query, as browsers send it on WebSockets; then an execute round trip.
    let url =
        format!("ws://127.0.0.1:{port}/api/kernels/{kernel}/channels?session_id=s&token={SECRET}");
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("the token in the query opens the WebSocket");
    let mut ws = Ws {
        socket,
        session: "s".into(),
        v1: false,
    };
    let (reply, stdout) = ws.run("print('hello')").await;
    assert_eq!(reply["status"], "ok");
    assert_eq!(stdout, "hello\n");
    checks += 1;

    // Requests with the token both ways, and a wrong one.
    for (path, token) in [
        (format!("/api/kernels?token={SECRET}"), None),
        ("/api/kernels".to_owned(), Some(SECRET)),
        ("/api/sessions".to_owned(), Some("wrong")),
        (format!("/api/kernelspecs?x=1&token={SECRET}"), None),
    ] {
        let (status, _, _) = http(port, "GET", &path, token, None).await;
        assert_eq!(status, if token == Some("wrong") { 401 } else { 200 });
    }
    // A gateway kernel with `env` (rebuilt environment) next to the one without (inherited).
    let (status, body, _) = http(
        port,
        "POST",
        "/api/kernels",
        Some(SECRET),
        Some(&json!({"name": "python3", "env": {"KERNEL_USERNAME": "me"}})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let second = body["id"].as_str().expect("id").to_owned();
    // Inside each kernel (what the notebook sees), then every process's start-up environment.
    const FIND: &str =
        "import os\nprint(sorted(k for k, v in os.environ.items() if 'do-not-log' in v))";
    let mut other = Ws::connect(port, &second, "t", true, Some(SECRET)).await;
    for ws in [&mut ws, &mut other] {
        let (reply, stdout) = ws.run(FIND).await;
        assert_eq!(reply["status"], "ok", "{reply}");
        assert_eq!(stdout, "[]\n", "a gateway kernel sees the token");
        checks += 1;
    }
    let descendants = descendant_environments(pid);
    assert!(
        descendants.len() >= 2,
        "the kernels are nbgate's descendants"
    );
    for (process, environ) in descendants {
        assert!(
            !contains(&environ, SECRET),
            "process {process} was started with the token in its environment"
        );
        checks += 1;
    }

    // A scheduled execution's kernel: the notebook writes its environment to a file.
    let notebook = json!({"nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [{"cell_type": "code", "id": "env", "metadata": {}, "outputs": [], "execution_count": null,
                   "source": "import os, json\nopen('env.json', 'w').write(json.dumps(dict(os.environ)))"}]});
    std::fs::write(env.work().join("env.ipynb"), notebook.to_string()).expect("notebook");
    let (status, execution, _) = http(
        port,
        "POST",
        "/api/executions",
        Some(SECRET),
        Some(&json!({"notebook": "env.ipynb"})),
    )
    .await;
    assert_eq!(status, 201, "{execution}");
    let id = execution["id"].as_str().expect("id");
    // The event stream ends when the execution does.
    let events = http_raw(port, &format!("/api/executions/{id}/events")).await;
    assert!(events.starts_with("HTTP/1.1 200"), "{events}");
    let (_, finished, _) = http(
        port,
        "GET",
        &format!("/api/executions/{id}"),
        Some(SECRET),
        None,
    )
    .await;
    assert_eq!(finished["status"], "succeeded", "{finished}");
    let seen: Value = serde_json::from_str(
        &std::fs::read_to_string(env.work().join("env.json")).expect("env.json"),
    )
    .expect("JSON");
    let leaked: Vec<&String> = seen
        .as_object()
        .expect("object")
        .iter()
        .filter(|(_, value)| value.as_str().is_some_and(|v| v.contains(SECRET)))
        .map(|(name, _)| name)
        .collect();
    assert!(
        leaked.is_empty(),
        "a scheduled execution's kernel sees the token in {leaked:?}"
    );
    checks += 1;

    // Stop, then read the whole log.
    drop(ws);
    drop(other);
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("nbgate stops")
        .expect("wait");
    assert!(status.success(), "{status}");
    env.assert_no_survivors(Duration::from_secs(10));
    let log = std::fs::read_to_string(&log_path).expect("log");
    assert!(
        log.contains("/api/kernels") && log.lines().count() > 20,
        "the trace log was captured: {} lines",
        log.lines().count()
    );
    let leaks: Vec<&str> = log.lines().filter(|line| line.contains(SECRET)).collect();
    println!(
        "security sweep: {checks} checks, log of {} lines at trace level, {} lines with the token",
        log.lines().count(),
        leaks.len()
    );
    assert!(
        leaks.is_empty(),
        "the token is in the log:\n{}",
        leaks.join("\n")
    );
}

/// A GET read to its end (an SSE stream ends with its execution); returns the raw response.
async fn http_raw(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: token {SECRET}\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut response))
        .await
        .expect("the stream ends with the execution")
        .expect("read");
    String::from_utf8_lossy(&response).into_owned()
}

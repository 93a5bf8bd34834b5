//! Driving a real `nbgate serve` from the reliability tests: a blocking executor-API client, its
//! server-sent-events streams ([`EventStream`]), what the kernel says about a process (`/proc`: RSS, peak RSS, open file descriptors), a seeded random
//! number generator whose seed is printed, and the suite's size knob.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{JupyterEnv, start_serve};

/// `NBGATE_SOAK=1` selects the full sizes of the load, soak and kill tests; CI runs the small ones.
pub fn full_size() -> bool {
    std::env::var("NBGATE_SOAK").is_ok_and(|value| !value.is_empty() && value != "0")
}

/// `ci` by default, `full` with `NBGATE_SOAK=1`.
pub fn size(ci: usize, full: usize) -> usize {
    if full_size() { full } else { ci }
}

/// A running `nbgate serve` (port 0, token `t`) and its data directory.
pub struct Serve {
    pub child: Child,
    _stdout: BufReader<ChildStdout>,
    pub port: u16,
    pub data_dir: PathBuf,
}

pub const TOKEN: &str = "t";

impl Serve {
    pub fn start(env: &JupyterEnv, data_dir: &Path, args: &[&str]) -> Serve {
        let (child, stdout, port) = start_serve(env, TOKEN, data_dir, args);
        Serve::adopt(child, stdout, port, data_dir)
    }

    /// A server started otherwise (`crate::start_serve_under`).
    pub fn adopt(
        child: Child,
        stdout: BufReader<ChildStdout>,
        port: u16,
        data_dir: &Path,
    ) -> Serve {
        Serve {
            child,
            _stdout: stdout,
            port,
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// `PRAGMA integrity_check` on the store (of a stopped server: `"ok"` when it is sound).
    pub fn store_integrity(data_dir: &Path) -> String {
        let path = data_dir.join("nbgate.sqlite3");
        let store = rusqlite::Connection::open(&path)
            .unwrap_or_else(|error| panic!("open {}: {error}", path.display()));
        store
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .expect("integrity_check")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// One HTTP/1.0 request (never chunked); the status and the body (JSON, or the text as a string).
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nAuthorization: token {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("send");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).expect("answer");
        let answer = String::from_utf8_lossy(&answer);
        let (head, text) = answer
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("{method} {path}: no head in {answer:?}"));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("{method} {path}: bad status line {head:?}"));
        (
            status,
            serde_json::from_str(text).unwrap_or_else(|_| json!(text)),
        )
    }

    /// A 2xx answer's body.
    pub fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, answer) = self.call(method, path, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {answer}"
        );
        answer
    }

    /// `POST /api/executions` with `body`; the new execution's id.
    pub fn create(&self, body: &Value) -> String {
        let created = self.ok("POST", "/api/executions", Some(body));
        created["id"].as_str().expect("id").to_owned()
    }

    pub fn execution(&self, id: &str) -> Value {
        self.ok("GET", &format!("/api/executions/{id}"), None)
    }

    /// `nbgate ARGS…` run as a client of this server (`NBGATE_URL`, `NBGATE_TOKEN`) in `env`.
    pub fn client(&self, env: &JupyterEnv, args: &[&str]) -> std::process::Output {
        std::process::Command::new(crate::workspace_bin("nbgate"))
            .args(args)
            .envs(env.vars())
            .env("NBGATE_URL", format!("http://127.0.0.1:{}", self.port))
            .env("NBGATE_TOKEN", TOKEN)
            .output()
            .expect("nbgate runs")
    }

    /// `GET path` as a server-sent-events stream (`/api/events`, `/api/executions/{id}/events`).
    pub fn events(&self, path: &str) -> EventStream {
        EventStream::open(self.port, path)
    }

    /// Waits (up to `within`) until the execution has a terminal status, and returns it.
    pub fn finished(&self, id: &str, within: Duration) -> Value {
        wait_for(within, &format!("execution {id} to end"), || {
            let execution = self.execution(id);
            is_terminal(&execution).then_some(execution)
        })
    }

    /// Every execution (all pages), newest first.
    pub fn all_executions(&self) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(cursor) => format!("/api/executions?limit=200&cursor={cursor}"),
                None => "/api/executions?limit=200".to_owned(),
            };
            let page = self.ok("GET", &path, None);
            all.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return all,
            }
        }
    }

    /// SIGTERM, and the exit status must be a success.
    pub fn stop(mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "nbgate serve exited with {status}");
    }

    /// SIGKILL, reaped.
    pub fn kill9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("wait");
    }
}

impl Drop for Serve {
    /// A test that fails half-way still takes its server (and so its kernels) down.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A server-sent-events stream, read on a thread of its own: `(event name, data)`.
pub struct EventStream {
    events: mpsc::Receiver<(String, Value)>,
}

impl EventStream {
    fn open(port: u16, path: &str) -> EventStream {
        let mut socket = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        write!(
            socket,
            "GET {path} HTTP/1.0\r\nAuthorization: token {TOKEN}\r\n\r\n"
        )
        .expect("send");
        let (sender, events) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(socket);
            let mut name = String::new();
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                let text = line.trim_end();
                if let Some(event) = text.strip_prefix("event: ") {
                    name = event.to_owned();
                } else if let Some(data) = text.strip_prefix("data: ") {
                    let data = serde_json::from_str(data).unwrap_or(Value::Null);
                    if sender.send((name.clone(), data)).is_err() {
                        return;
                    }
                }
                line.clear();
            }
        });
        EventStream { events }
    }

    /// Whether an event that `wanted` accepts arrives within `within`.
    pub fn seen_within(&self, within: Duration, wanted: impl Fn(&str, &Value) -> bool) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok((name, data)) if wanted(&name, &data) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }

    /// The events up to and including the first that `last` accepts, failing after `within`.
    pub fn until(
        &self,
        within: Duration,
        what: &str,
        mut last: impl FnMut(&str, &Value) -> bool,
    ) -> Vec<(String, Value)> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok((name, data)) => {
                    let done = last(&name, &data);
                    seen.push((name, data));
                    if done {
                        return seen;
                    }
                }
                Err(error) => panic!("{error} waiting for {what}; seen {seen:?}"),
            }
        }
    }
}

/// `succeeded`, `failed`, `timed_out` and `cancelled` are final.
pub fn is_terminal(execution: &Value) -> bool {
    matches!(
        execution["status"].as_str(),
        Some("succeeded" | "failed" | "timed_out" | "cancelled")
    )
}

/// Retried by policy: each chain of attempts (by `first_attempt_id`) is 1, 2, …; all but the last
/// failed; each allows `retries + 1` attempts, and a chain that ends failed used them all. The
/// number of retries among `all`.
pub fn assert_retried_by_policy(all: &[Value], retries: u64) -> usize {
    let mut chains: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for execution in all {
        let first = execution["first_attempt_id"]
            .as_str()
            .or(execution["id"].as_str())
            .expect("id");
        chains.entry(first).or_default().push(execution);
    }
    let mut retried = 0;
    for chain in chains.values_mut() {
        chain.sort_by_key(|e| e["attempt"].as_u64());
        let attempts: Vec<_> = chain.iter().filter_map(|e| e["attempt"].as_u64()).collect();
        assert_eq!(
            attempts,
            (1..=chain.len() as u64).collect::<Vec<_>>(),
            "{chain:?}"
        );
        retried += chain.len() - 1;
        let (last, earlier) = chain.split_last().expect("a chain");
        assert!(earlier.iter().all(|e| e["status"] == "failed"), "{chain:?}");
        assert_eq!(last["max_attempts"].as_u64(), Some(retries + 1), "{last}");
        if last["status"] == "failed" {
            assert_eq!(last["attempt"], last["max_attempts"], "not retried: {last}");
        }
    }
    retried
}

/// Polls `probe` until it answers, failing after `within`. The tests observe another process through
/// its API and `/proc`: polling is the only way.
pub fn wait_for<T>(within: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM` — the peak resident set).
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Open file descriptors of a process.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc fd")
        .count()
}

/// A notebook of code cells for `kernel`.
pub fn notebook(kernel: &str, language: &str, cells: &[&str]) -> String {
    let cells: Vec<Value> = cells
        .iter()
        .enumerate()
        .map(|(i, source)| {
            json!({"cell_type": "code", "id": format!("cell{i}"), "metadata": {},
                   "source": source, "outputs": [], "execution_count": null})
        })
        .collect();
    json!({"nbformat": 4, "nbformat_minor": 5, "cells": cells, "metadata": {"kernelspec":
        {"name": kernel, "display_name": kernel, "language": language}}})
    .to_string()
}

/// The stdout text of one cell of an output notebook.
pub fn cell_stdout(notebook: &Value, cell: usize) -> String {
    notebook["cells"][cell]["outputs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|output| output["name"] == "stdout")
        .filter_map(|output| match &output["text"] {
            Value::String(text) => Some(text.clone()),
            Value::Array(lines) => Some(lines.iter().filter_map(Value::as_str).collect()),
            _ => None,
        })
        .collect()
}

/// SplitMix64: a seeded generator, so that a failing run can be repeated with its printed seed.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `NBGATE_SEED` when set, else from the clock; the seed is printed.
    pub fn from_env(test: &str) -> Rng {
        let seed = std::env::var("NBGATE_SEED")
            .ok()
            .and_then(|seed| seed.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |since| since.as_nanos() as u64)
            });
        println!("{test}: seed {seed} (repeat with NBGATE_SEED={seed})");
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

//! The executor API as a client meets it: the real `nbgate serve` on port 0, real kernels (ipykernel from
//! the venv; the test kernel for hangs and failures), HTTP/1.0 over a plain socket (so bodies are never
//! chunked and server-sent events arrive as lines), and the processes left behind.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdout};
use std::time::{Duration, Instant};

use nbgate_tests::{JupyterEnv, start_serve};
use serde_json::{Value, json};

const TOKEN: &str = "t";
const WAIT: Duration = Duration::from_secs(60);

struct Server {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    port: u16,
}

impl Server {
    fn start(env: &JupyterEnv, data_dir: &Path) -> Server {
        let (child, stdout, port) =
            start_serve(env, TOKEN, data_dir, &["--max-concurrent-executions", "2"]);
        Server {
            child,
            _stdout: stdout,
            port,
        }
    }

    fn connect(&self, method: &str, path: &str, body: Option<&Value>) -> TcpStream {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        let body = body.map(Value::to_string).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.0\r\nAuthorization: token {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("write");
        stream
    }

    /// Status and body (JSON, or the text as a JSON string).
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut response = String::new();
        self.connect(method, path, body)
            .read_to_string(&mut response)
            .expect("response");
        let (head, body) = response.split_once("\r\n\r\n").expect("head");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        let json = serde_json::from_str(body).unwrap_or_else(|_| json!(body));
        (status, json)
    }

    fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, json) = self.call(method, path, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {json}"
        );
        json
    }

    /// Opens the event stream of an execution.
    fn events(&self, id: &str) -> Events {
        let mut reader =
            BufReader::new(self.connect("GET", &format!("/api/executions/{id}/events"), None));
        let mut line = String::new();
        reader.read_line(&mut line).expect("status line");
        assert!(line.contains(" 200 "), "{line}");
        while line.trim() != "" {
            line.clear();
            reader.read_line(&mut line).expect("headers");
        }
        Events { reader }
    }

    /// Reads the whole event stream (it ends with the execution) and returns the execution.
    fn finish(&self, id: &str) -> (Vec<(String, Value)>, Value) {
        let events: Vec<_> = self.events(id).collect();
        (
            events,
            self.ok("GET", &format!("/api/executions/{id}"), None),
        )
    }

    fn create(&self, notebook: &str, extra: Value) -> String {
        let mut body = json!({"notebook": notebook});
        for (key, value) in extra.as_object().expect("object") {
            body[key] = value.clone();
        }
        let (status, execution) = self.call("POST", "/api/executions", Some(&body));
        assert_eq!(status, 201, "{execution}");
        execution["id"].as_str().expect("id").to_owned()
    }

    fn sigterm(mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "nbgate serve exited with {status}");
    }

    fn sigkill(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("wait");
    }
}

/// A test that fails midway must not leave its server running (it would also hold the test's output
/// pipe open).
impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Server-sent events as (event, data) until the stream ends.
struct Events {
    reader: BufReader<TcpStream>,
}

impl Iterator for Events {
    type Item = (String, Value);

    fn next(&mut self) -> Option<(String, Value)> {
        let mut name = None;
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).expect("event stream") == 0 {
                return None;
            }
            if let Some(value) = line.strip_prefix("event: ") {
                name = Some(value.trim().to_owned());
            } else if let Some(value) = line.strip_prefix("data: ") {
                let data = serde_json::from_str(value.trim()).expect("JSON data");
                return Some((name.take().expect("event name first"), data));
            }
        }
    }
}

fn notebook(kernel: &str, language: &str, parameters: Option<&str>, cells: &[&str]) -> String {
    let mut all = Vec::new();
    if let Some(source) = parameters {
        all.push(
            json!({"cell_type": "code", "id": "params", "metadata": {"tags": ["parameters"]},
                        "source": source, "outputs": [], "execution_count": null}),
        );
    }
    for (i, source) in cells.iter().enumerate() {
        all.push(
            json!({"cell_type": "code", "id": format!("c{i}"), "metadata": {},
                        "source": source, "outputs": [], "execution_count": null}),
        );
    }
    json!({"nbformat": 4, "nbformat_minor": 5, "cells": all,
           "metadata": {"kernelspec": {"name": kernel, "display_name": kernel, "language": language}}})
    .to_string()
}

fn env_with_notebooks() -> JupyterEnv {
    let env = JupyterEnv::new();
    env.add_test_kernel("testk", &[]);
    let write =
        |name: &str, text: String| std::fs::write(env.work().join(name), text).expect("write");
    write(
        "py.ipynb",
        notebook("python3", "python", Some("x = 1"), &["print(x * 2)"]),
    );
    write(
        "pyfail.ipynb",
        notebook(
            "python3",
            "python",
            Some("x = 1"),
            &["y = 2", "raise ValueError(x)"],
        ),
    );
    write(
        "ok.ipynb",
        notebook("testk", "testlang", None, &["echo tick"]),
    );
    write(
        "hang.ipynb",
        notebook("testk", "testlang", None, &["echo before", "hang"]),
    );
    write(
        "fail.ipynb",
        notebook(
            "testk",
            "testlang",
            None,
            &["echo one", "error KeyError missing"],
        ),
    );
    env
}

fn stdout_text(notebook: &Value, cell: usize) -> String {
    notebook["cells"][cell]["outputs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|output| output["name"] == "stdout")
        .flat_map(|output| output["text"].as_array().cloned().unwrap_or_default())
        .filter_map(|part| part.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn runs_schedules_cancels_and_failures_on_the_real_binary() {
    let env = env_with_notebooks();
    let data = tempfile::tempdir().expect("data dir");
    let server = Server::start(&env, data.path());

    // Run once on ipykernel with a typed parameter; the stream shows progress; the output downloads.
    // Progress counts the user's 2 cells: the injected-parameters cell (the output's 3rd) is not one.
    let id = server.create("py.ipynb", json!({"parameters": {"x": 21}}));
    let (events, execution) = server.finish(&id);
    assert_eq!(execution["status"], "succeeded", "{execution}");
    let progress: Vec<_> = events
        .iter()
        .filter(|(name, _)| name == "progress")
        .map(|(_, d)| (d["cell"].clone(), d["total"].clone()))
        .collect();
    assert_eq!(
        progress,
        [(json!(0), json!(2)), (json!(1), json!(2))],
        "{events:?}"
    );
    assert_eq!(execution["progress"], json!({"cell": 1, "total": 2}));
    let output = server.ok("GET", &format!("/api/executions/{id}/notebook"), None);
    assert_eq!(stdout_text(&output, 2), "42\n", "{output}");
    assert!(
        env.work()
            .join(execution["output_path"].as_str().expect("path"))
            .is_file()
    );

    // A failing notebook: the cell, ename and evalue.
    let (_, failed) = server.finish(&server.create("fail.ipynb", json!({})));
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        (
            failed["error"]["cell_index"].as_u64(),
            failed["error"]["ename"].as_str(),
            failed["error"]["evalue"].as_str()
        ),
        (Some(1), Some("KeyError"), Some("missing"))
    );

    // With parameters injected, the failing cell is still the user's: their third cell (index 2),
    // though it is the output notebook's fourth.
    let (_, failed) =
        server.finish(&server.create("pyfail.ipynb", json!({"parameters": {"x": 5}})));
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        (
            failed["error"]["cell_index"].as_u64(),
            failed["error"]["evalue"].as_str(),
            &failed["progress"]
        ),
        (Some(2), Some("5"), &json!({"cell": 2, "total": 3})),
        "{failed}"
    );
    let output = server.ok(
        "GET",
        &format!(
            "/api/executions/{}/notebook",
            failed["id"].as_str().expect("id")
        ),
        None,
    );
    // The output has the injected cell and papermill's two error markers: 6 cells for 3.
    let tags: Vec<_> = output["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|cell| cell["metadata"]["tags"].clone())
        .collect();
    assert_eq!(tags.len(), 6, "{output}");
    assert!(tags.contains(&json!(["injected-parameters"])), "{tags:?}");

    // Cancel a hanging run once its second cell runs: cancelled, partial output kept.
    let hang = server.create("hang.ipynb", json!({}));
    let mut events = server.events(&hang);
    events
        .find(|(name, data)| name == "progress" && data["cell"] == 1)
        .expect("the hanging cell starts");
    let (status, _) = server.call("POST", &format!("/api/executions/{hang}/cancel"), None);
    assert_eq!(status, 202);
    let (_, last) = events.last().expect("events");
    assert_eq!(last["status"], "cancelled");
    let output = server.ok("GET", &format!("/api/executions/{hang}/notebook"), None);
    assert_eq!(stdout_text(&output, 0), "before\n");

    // A schedule every second fires; run now; pause.
    let body = json!({"name": "ticker", "notebook": "ok.ipynb", "every": "1s", "overlap": "skip"});
    let (status, schedule) = server.call("POST", "/api/schedules", Some(&body));
    assert_eq!(status, 201, "{schedule}");
    assert_eq!(schedule["description"], "Every second (UTC)");
    let deadline = Instant::now() + WAIT;
    let fired = loop {
        let page = server.ok(
            "GET",
            "/api/executions?schedule=ticker&status=succeeded",
            None,
        );
        if let Some(first) = page["items"].as_array().and_then(|items| items.first()) {
            break first.clone();
        }
        assert!(Instant::now() < deadline, "the schedule never fired");
        // Observed from outside the process: polling the API is the only way.
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(fired["fire_time"].is_string(), "{fired}");
    assert!(
        fired["name"]
            .as_str()
            .expect("name")
            .starts_with("ticker_at_")
    );
    let run = server.ok("POST", "/api/schedules/ticker/run", None);
    let (_, run) = server.finish(run["id"].as_str().expect("id"));
    assert_eq!(
        (run["status"].as_str(), run["fire_time"].as_str()),
        (Some("succeeded"), None)
    );
    let paused = server.ok("POST", "/api/schedules/ticker/pause", None);
    assert_eq!(
        (paused["paused"].as_bool(), &paused["next_run"]),
        (Some(true), &Value::Null)
    );

    let metrics = server.ok("GET", "/metrics", None);
    assert!(
        metrics
            .as_str()
            .expect("text")
            .contains("nbgate_executions_finished_total{status=\"cancelled\"} 1"),
        "{metrics}"
    );
    server.sigterm();
    env.assert_no_survivors(Duration::from_secs(10));
}

#[test]
fn kill_9_during_a_run_then_restart_marks_it_failed_and_leaves_no_kernel() {
    let env = env_with_notebooks();
    let data = tempfile::tempdir().expect("data dir");
    let server = Server::start(&env, data.path());
    let id = server.create("hang.ipynb", json!({}));
    server
        .events(&id)
        .find(|(name, data)| name == "progress" && data["cell"] == 1)
        .expect("the hanging cell starts");
    let output_path = server.ok("GET", &format!("/api/executions/{id}"), None)["output_path"]
        .as_str()
        .expect("path")
        .to_owned();
    // The first cell's save may still be on its way to disk when the second cell starts: kill once it
    // is there, so that what the restart must keep is known.
    let saved = env.work().join(&output_path);
    let deadline = Instant::now() + WAIT;
    let first_output = || {
        let text = std::fs::read_to_string(&saved).ok()?;
        Some(stdout_text(&serde_json::from_str(&text).ok()?, 0))
    };
    while first_output().as_deref() != Some("before\n") {
        assert!(
            Instant::now() < deadline,
            "the first cell's output was never saved"
        );
        // Observed from outside the process: polling the file is the only way.
        std::thread::sleep(Duration::from_millis(20));
    }
    server.sigkill();
    env.assert_no_survivors(Duration::from_secs(10));

    let server = Server::start(&env, data.path());
    let execution = server.ok("GET", &format!("/api/executions/{id}"), None);
    assert_eq!(execution["status"], "failed", "{execution}");
    assert_eq!(execution["reason"], "nbgate stopped during the run");
    assert!(execution["ended_at"].is_string());
    let output: Value = serde_json::from_str(
        &std::fs::read_to_string(env.work().join(&output_path)).expect("partial output kept"),
    )
    .expect("valid JSON");
    assert_eq!(stdout_text(&output, 0), "before\n");
    // The store still serves new runs after the restart.
    let (_, again) = server.finish(&server.create("ok.ipynb", json!({})));
    assert_eq!(again["status"], "succeeded");
    server.sigterm();
    env.assert_no_survivors(Duration::from_secs(10));
}

/// JSON text as a client sends it (numbers exact: a `json!` literal could not hold 23 digits).
fn body(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON")
}

#[test]
fn integers_of_any_size_reach_the_kernel_exactly() {
    let env = JupyterEnv::new();
    std::fs::write(
        env.work().join("exact.ipynb"),
        notebook(
            "python3",
            "python",
            Some("n = 1\nm = 2\nxs = [0]\nf = 0.5"),
            &["print(repr(n), repr(m), repr(xs), repr(f))"],
        ),
    )
    .expect("write");
    let data = tempfile::tempdir().expect("data dir");
    let server = Server::start(&env, data.path());
    let printed = |id: &str| {
        let (_, execution) = server.finish(id);
        assert_eq!(execution["status"], "succeeded", "{execution}");
        let output = server.ok("GET", &format!("/api/executions/{id}/notebook"), None);
        (stdout_text(&output, 2), execution, output)
    };

    // A one-off run: the kernel, the record and the output's papermill metadata are exact.
    let exact = r#"{"n": 99999999999999999999999, "m": 9007199254740993, "xs": [-1180591620717411303424], "f": -0.0}"#;
    let sent = body(&format!(
        r#"{{"notebook": "exact.ipynb", "parameters": {exact}}}"#
    ));
    let (status, created) = server.call("POST", "/api/executions", Some(&sent));
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id");
    let (stdout, execution, output) = printed(id);
    assert_eq!(
        stdout,
        "99999999999999999999999 9007199254740993 [-1180591620717411303424] -0.0\n"
    );
    assert_eq!(execution["parameters"], body(exact), "{execution}");
    assert_eq!(
        output["metadata"]["papermill"]["parameters"]["n"].to_string(),
        "99999999999999999999999"
    );
    // A float for an integer parameter is refused, whatever its value.
    let (status, refused) = server.call(
        "POST",
        "/api/executions",
        Some(&body(
            r#"{"notebook": "exact.ipynb", "parameters": {"n": 1e3}}"#,
        )),
    );
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.ends_with("got a float")),
        "{refused}"
    );

    // A schedule: created, edited, run now with an override; the same exactness each step.
    let created = server.call(
        "POST",
        "/api/schedules",
        Some(&body(
            r#"{"name": "exact", "notebook": "exact.ipynb", "every": "1h", "paused": true,
                "parameters": {"n": 123456789012345678901234567890}}"#,
        )),
    );
    assert_eq!(created.0, 201, "{}", created.1);
    assert_eq!(
        created.1["parameters"]["n"].to_string(),
        "123456789012345678901234567890"
    );
    let patched = server.ok(
        "PATCH",
        "/api/schedules/exact",
        Some(&body(
            r#"{"parameters": {"n": -99999999999999999999999, "m": 18446744073709551617}}"#,
        )),
    );
    assert_eq!(
        patched["parameters"],
        body(r#"{"n": -99999999999999999999999, "m": 18446744073709551617}"#)
    );
    let run = server.ok(
        "POST",
        "/api/schedules/exact/run",
        Some(&body(
            r#"{"parameters": {"m": 100000000000000000000000000001}}"#,
        )),
    );
    let (stdout, _, _) = printed(run["id"].as_str().expect("id"));
    assert_eq!(
        stdout,
        "-99999999999999999999999 100000000000000000000000000001 [0] 0.5\n"
    );
    server.sigterm();
    env.assert_no_survivors(Duration::from_secs(10));
}

//! `nbgate serve --gateway-url` on a real Jupyter Enterprise Gateway (`nbgate_tests::eg`): executions'
//! kernels start on the gateway and give the same results as local kernels (parameters, a display
//! update, a failing cell, a cell timeout interrupted through the gateway, a cancel), each execution
//! records where its kernel ran; an unreachable gateway fails the execution naming its URL; a gateway
//! lost mid-run fails the execution within the cell timeout + 5 s; the Kernel Gateway API offers the
//! gateway's kernelspecs and starts its kernels there, and code runs over nbgate's own WebSocket
//! (interrupt and restart through the gateway); stopping the server (SIGTERM) leaves no kernel on the
//! gateway and no process behind.

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use nbgate_tests::JupyterEnv;
use nbgate_tests::eg::{EnterpriseGateway, KERNEL_USER, TOKEN};
use nbgate_tests::normalize::normalize;
use nbgate_tests::serve::TOKEN as SERVE_TOKEN;
use nbgate_tests::serve::{Serve, notebook, wait_for};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// `nbgate serve` with its kernels on `gateway`.
fn serve_on(env: &JupyterEnv, data_dir: &Path, url: &str) -> Serve {
    Serve::start(
        env,
        data_dir,
        &[
            &format!("--gateway-url={url}"),
            &format!("--gateway-token={TOKEN}"),
            &format!("--gateway-kernel-username={KERNEL_USER}"),
        ],
    )
}

fn write_notebook(env: &JupyterEnv, name: &str, cells: &[&str], parameters: bool) {
    let mut notebook: Value =
        serde_json::from_str(&notebook("python3", "python", cells)).expect("JSON");
    if parameters {
        notebook["cells"][0]["metadata"]["tags"] = json!(["parameters"]);
    }
    std::fs::write(env.work().join(name), notebook.to_string()).expect("write notebook");
}

/// The notebooks every server runs: `(notebook, parameters, cell_timeout)`.
fn cases(env: &JupyterEnv) -> Vec<(&'static str, Value, Option<f64>)> {
    write_notebook(
        env,
        "params.ipynb",
        &[
            "x = 1\nname = 'default'",
            "print(x * 2, name)",
            "from IPython.display import display\n\
             handle = display({'text/plain': 'before'}, raw=True, display_id=True)\n\
             handle.update({'text/plain': 'after'}, raw=True)\n\
             x + 0.5",
        ],
        true,
    );
    write_notebook(
        env,
        "fails.ipynb",
        &["print('ran')", "raise ValueError('boom')", "print('never')"],
        false,
    );
    write_notebook(
        env,
        "slow.ipynb",
        &["print('start')", "import time\ntime.sleep(600)"],
        false,
    );
    vec![
        ("params.ipynb", json!({"x": 21, "name": "remote"}), None),
        ("fails.ipynb", json!({}), None),
        ("slow.ipynb", json!({}), Some(2.0)),
    ]
}

/// Once nbgate has stopped: no kernel on the gateway (asked at once: nbgate deletes its kernels
/// before it exits), and once the gateway is stopped too, no process of the test.
fn assert_nothing_left(gateway: EnterpriseGateway, env: &JupyterEnv) {
    assert_eq!(
        gateway.kernels(),
        Vec::<Value>::new(),
        "a kernel was left on the gateway"
    );
    drop(gateway);
    env.assert_no_survivors(Duration::from_secs(10));
}

/// What a run gives, without what differs between two runs (ids, times, paths, and whether a
/// timed-out cell's interrupt traceback came in time).
fn result(env: &JupyterEnv, execution: &Value) -> Value {
    let output = execution["output_path"].as_str().expect("output path");
    let text = std::fs::read_to_string(env.work().join(output)).expect("output notebook");
    let mut notebook = normalize(&serde_json::from_str(&text).expect("JSON"));
    let mut cells: Vec<Value> = notebook["cells"]
        .as_array_mut()
        .expect("cells")
        .iter()
        .map(|cell| json!({"source": cell["source"], "outputs": cell["outputs"]}))
        .collect();
    if execution["status"] == "timed_out" {
        // The timed-out cell's interrupt traceback: whether it arrives within the interrupt grace
        // (0.5 s on a local kernel) is a race on a loaded machine (1 local run in 7 had none).
        for cell in &mut cells {
            if let Some(outputs) = cell["outputs"].as_array_mut() {
                outputs.retain(|output| output["ename"] != "KeyboardInterrupt");
            }
        }
    }
    json!({
        "status": execution["status"],
        "reason": execution["reason"],
        "error": {"cell_index": execution["error"]["cell_index"], "ename": execution["error"]["ename"]},
        "cells": cells,
    })
}

/// Runs every case on `server` (one after the other, and a cancelled one); the results by notebook.
fn run_cases(server: &Serve, env: &JupyterEnv) -> Vec<(Value, Value)> {
    let mut results = Vec::new();
    for (name, parameters, cell_timeout) in cases(env) {
        let id = server.create(&json!({
            "notebook": name,
            "parameters": parameters,
            "cell_timeout": cell_timeout,
        }));
        let execution = server.finished(&id, Duration::from_secs(120));
        results.push((result(env, &execution), execution));
    }
    // Cancelled while its second cell sleeps.
    let id = server.create(&json!({"notebook": "slow.ipynb"}));
    wait_for(Duration::from_secs(60), "the sleeping cell", || {
        let execution = server.execution(&id);
        (execution["progress"]["cell"].as_u64() == Some(1)).then_some(())
    });
    server.ok("POST", &format!("/api/executions/{id}/cancel"), None);
    let execution = server.finished(&id, Duration::from_secs(30));
    let mut cancelled = result(env, &execution);
    // The cell running at the cancel: whether its interrupt's traceback arrives before the kernel is
    // shut down is a race, here as on a local kernel.
    cancelled["cells"][1]["outputs"] = json!("(the cancelled cell)");
    results.push((cancelled, execution));
    results
}

#[test]
fn executions_on_enterprise_gateway_give_the_results_of_local_kernels_and_record_where_they_ran() {
    let env = JupyterEnv::new();
    let gateway = EnterpriseGateway::start(&env);

    let local_data = env.dir.path().join("local-data");
    let local = Serve::start(&env, &local_data, &[]);
    let expected = run_cases(&local, &env);
    local.stop();

    let remote_data = env.dir.path().join("remote-data");
    let remote = serve_on(&env, &remote_data, &gateway.url());
    let got = run_cases(&remote, &env);

    let statuses: Vec<&Value> = got.iter().map(|(result, _)| &result["status"]).collect();
    assert_eq!(
        statuses,
        ["succeeded", "failed", "timed_out", "cancelled"],
        "{got:#?}"
    );
    for ((want, local_execution), (have, execution)) in expected.iter().zip(&got) {
        assert_eq!(have, want, "gateway run differs from the local one");
        assert_eq!(local_execution["kernel_location"], "local");
        assert_eq!(local_execution["gateway_kernel_id"], Value::Null);
        assert_eq!(execution["kernel_location"], json!(gateway.url()));
        let kernel_id = execution["gateway_kernel_id"].as_str().unwrap_or_default();
        assert_eq!(kernel_id.len(), 36, "{execution}");
    }
    // The parameters reached the remote kernel and the display update replaced its display.
    let params = &got[0].0["cells"];
    assert_eq!(params[2]["outputs"][0]["text"], "42 remote\n", "{params}");
    assert_eq!(
        params[3]["outputs"][0]["data"]["text/plain"], "after",
        "{params}"
    );
    // Lists carry the location too.
    let listed = remote.all_executions();
    assert!(
        listed
            .iter()
            .all(|execution| execution["kernel_location"] == json!(gateway.url())),
        "{listed:#?}"
    );
    // Every run's kernel was deleted when its run ended.
    assert_eq!(gateway.kernels(), Vec::<Value>::new());

    // SIGTERM during a run: the run's kernel is deleted from the gateway before the server exits.
    let id = remote.create(&json!({"notebook": "slow.ipynb"}));
    wait_for(Duration::from_secs(60), "a kernel on the gateway", || {
        let execution = remote.execution(&id);
        (execution["progress"]["cell"].as_u64() == Some(1)).then_some(())
    });
    assert_eq!(gateway.kernels().len(), 1);
    remote.stop();
    assert_nothing_left(gateway, &env);
}

#[test]
fn an_unreachable_gateway_fails_the_execution_naming_its_url() {
    let env = JupyterEnv::new();
    // A port nobody listens on.
    let closed = nbgate_tests::ClosedPort::new();
    let url = format!("http://127.0.0.1:{}", closed.port);
    write_notebook(&env, "one.ipynb", &["print(1)"], false);
    let server = serve_on(&env, &env.dir.path().join("data"), &url);
    let id = server.create(&json!({"notebook": "one.ipynb"}));
    let execution = server.finished(&id, Duration::from_secs(60));
    assert_eq!(execution["status"], "failed", "{execution}");
    let reason = execution["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&format!("gateway {url} is unreachable")),
        "{reason}"
    );
    assert_eq!(execution["kernel_location"], json!(url));
    assert_eq!(execution["gateway_kernel_id"], Value::Null);
    // Lab asking for a kernel meanwhile is told which gateway failed it (a 502, not a bare 500).
    let (status, answer) = server.call("POST", "/api/kernels", Some(&json!({"name": "python3"})));
    assert_eq!(status, 502, "{answer}");
    let message = answer["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("gateway {url} is unreachable")),
        "{message}"
    );
    server.stop();
    env.assert_no_survivors(Duration::from_secs(10));
}

#[test]
fn a_gateway_lost_mid_run_fails_the_execution_within_the_cell_timeout_and_five_seconds() {
    let env = JupyterEnv::new();
    let gateway = EnterpriseGateway::start(&env);
    write_notebook(
        &env,
        "slow.ipynb",
        &["print('start')", "import time\ntime.sleep(600)"],
        false,
    );
    let server = serve_on(&env, &env.dir.path().join("data"), &gateway.url());
    let cell_timeout = 20.0;
    let id = server.create(&json!({"notebook": "slow.ipynb", "cell_timeout": cell_timeout}));
    wait_for(Duration::from_secs(60), "the sleeping cell", || {
        let execution = server.execution(&id);
        (execution["progress"]["cell"].as_u64() == Some(1)).then_some(())
    });
    let url = gateway.url();
    let lost = Instant::now();
    drop(gateway);
    let execution = server.finished(&id, Duration::from_secs(60));
    assert!(
        lost.elapsed() < Duration::from_secs_f64(cell_timeout + 5.0),
        "ended {:?} after the gateway went",
        lost.elapsed()
    );
    assert_eq!(execution["status"], "failed", "{execution}");
    let reason = execution["reason"].as_str().unwrap_or_default();
    assert!(reason.contains(&url), "{reason}");
    server.stop();
    env.assert_no_survivors(Duration::from_secs(10));
}

/// A legacy-protocol `execute_request` (JSON text frame) from `session`; without `stop_on_error`, so an
/// error (the interrupt's, a NameError) does not abort the request sent right after it, which
/// ipykernel does otherwise for what arrives shortly after an error.
fn execute_request(msg_id: &str, session: &str, code: &str) -> String {
    json!({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": session,
                   "username": "lab", "date": "2026-01-01T00:00:00.000Z", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": false, "store_history": true,
                    "user_expressions": {}, "allow_stdin": false, "stop_on_error": false},
    })
    .to_string()
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Sends `code` as `msg_id` and reads until its `execute_reply` and its `idle` status, as Lab does
/// (the reply comes on shell, the printed text on iopub: either may come first): the reply's content
/// and the text its cell printed.
async fn execute(ws: &mut Socket, session: &str, msg_id: &str, code: &str) -> (Value, String) {
    ws.send(Message::text(execute_request(msg_id, session, code)))
        .await
        .expect("send");
    let mut printed = String::new();
    let (mut reply, mut idle) = (None, false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while reply.is_none() || !idle {
        let frame = match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => text,
            Ok(Some(Ok(_))) => continue,
            other => panic!("no execute_reply and idle for {msg_id}: {other:?}"),
        };
        let message: Value = serde_json::from_str(&frame).expect("JSON frame");
        if message["parent_header"]["msg_id"] != msg_id {
            continue;
        }
        match (
            message["channel"].as_str(),
            message["header"]["msg_type"].as_str(),
        ) {
            (Some("iopub"), Some("stream")) => {
                printed.push_str(message["content"]["text"].as_str().unwrap_or_default());
            }
            (Some("iopub"), Some("status")) => {
                idle |= message["content"]["execution_state"] == "idle";
            }
            (Some("shell"), Some("execute_reply")) => reply = Some(message["content"].clone()),
            _ => {}
        }
    }
    (reply.unwrap_or_default(), printed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labs_kernels_start_on_the_gateway_and_run_over_nbgates_websocket() {
    let env = JupyterEnv::new();
    let gateway = EnterpriseGateway::start(&env);
    let server = serve_on(&env, &env.dir.path().join("data"), &gateway.url());
    let api = |method: &'static str, path: String, body: Option<Value>| {
        let server = &server;
        move || server.call(method, &path, body.as_ref())
    };

    // The kernelspecs offered are the gateway's.
    let (status, specs) = tokio::task::block_in_place(api("GET", "/api/kernelspecs".into(), None));
    assert_eq!(status, 200, "{specs}");
    let theirs: Value =
        serde_json::from_str(&gateway.get("/api/kernelspecs").expect("EG answers")).expect("JSON");
    assert_eq!(specs, theirs);
    let (status, _) =
        tokio::task::block_in_place(api("GET", "/api/kernelspecs/python3".into(), None));
    assert_eq!(status, 200);
    let (status, missing) = tokio::task::block_in_place(api(
        "POST",
        "/api/kernels".into(),
        Some(json!({"name": "nope"})),
    ));
    assert_eq!(status, 404, "{missing}");
    assert!(
        missing["message"]
            .as_str()
            .unwrap_or_default()
            .contains("python3"),
        "{missing}"
    );

    // A kernel started through nbgate runs on the gateway, under the gateway's own id.
    let (status, model) = tokio::task::block_in_place(api(
        "POST",
        "/api/kernels".into(),
        Some(json!({"name": "python3"})),
    ));
    assert_eq!(status, 201, "{model}");
    let id = model["id"].as_str().expect("id").to_owned();
    let on_gateway = gateway.kernels();
    assert_eq!(on_gateway.len(), 1, "{on_gateway:?}");
    assert_eq!(on_gateway[0]["id"], json!(id));

    // Code runs over nbgate's WebSocket; an interrupt and a restart go through the gateway.
    let port = server.port;
    let url = format!(
        "ws://127.0.0.1:{port}/api/kernels/{id}/channels?session_id=lab-1&token={SERVE_TOKEN}"
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket connects");
    let (reply, printed) = execute(&mut ws, "lab-1", "m1", "x = 6 * 7\nprint(x)").await;
    assert_eq!(reply["status"], "ok", "{reply}");
    assert_eq!(printed, "42\n");
    // Interrupted once it is surely inside the cell (it said so).
    let sleeping = "print('sleeping', flush=True)\nimport time\ntime.sleep(600)";
    ws.send(Message::text(execute_request("m2", "lab-1", sleeping)))
        .await
        .expect("send");
    let mut interrupted = false;
    let reply = loop {
        let frame = match tokio::time::timeout(Duration::from_secs(60), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => text,
            Ok(Some(Ok(_))) => continue,
            other => panic!("no execute_reply to m2: {other:?}"),
        };
        let message: Value = serde_json::from_str(&frame).expect("JSON frame");
        if message["parent_header"]["msg_id"] != "m2" {
            continue;
        }
        match message["header"]["msg_type"].as_str() {
            Some("stream") if !interrupted => {
                let path = format!("/api/kernels/{id}/interrupt");
                let (status, _) = tokio::task::block_in_place(api("POST", path, None));
                assert_eq!(status, 204);
                interrupted = true;
            }
            Some("execute_reply") => break message["content"].clone(),
            _ => {}
        }
    };
    assert_eq!(
        (reply["status"].as_str(), reply["ename"].as_str()),
        (Some("error"), Some("KeyboardInterrupt")),
        "{reply}"
    );
    let (reply, _) = execute(&mut ws, "lab-1", "m3", "print(x)").await;
    assert_eq!(
        reply["status"], "ok",
        "the interrupted cell let the next one run: {reply}"
    );
    let (status, _) =
        tokio::task::block_in_place(api("POST", format!("/api/kernels/{id}/restart"), None));
    assert_eq!(status, 200);
    let (reply, _) = execute(&mut ws, "lab-1", "m4", "x").await;
    assert_eq!(
        reply["status"], "error",
        "a restarted kernel forgets x: {reply}"
    );
    assert_eq!(reply["ename"], "NameError");
    let (reply, printed) = execute(&mut ws, "lab-1", "m5", "print('again')").await;
    assert_eq!(
        (reply["status"].as_str(), printed.as_str()),
        (Some("ok"), "again\n")
    );
    let _ = ws.close(None).await;

    // Stopping nbgate deletes the kernel it started on the gateway.
    tokio::task::block_in_place(|| server.stop());
    assert_nothing_left(gateway, &env);
}

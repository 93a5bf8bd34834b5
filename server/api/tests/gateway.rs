//! Black-box tests: the real `nbgate serve` (port 0) with real ipykernel, over HTTP and both WebSocket
//! formats.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Gateway, TOKEN, Ws, http};

#[tokio::test]
async fn kernel_lifecycle_over_both_websocket_formats() {
    let gateway = Gateway::start(&[]).await;
    let id = gateway.start_kernel(json!({"name": "python3"})).await;
    let (status, model, _) = gateway
        .http("GET", &format!("/api/kernels/{id}"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(model["execution_state"], "idle");

    // Legacy JSON: kernel_info, then code.
    let mut legacy = gateway.ws(&id, "legacy-session", false).await;
    let info = legacy
        .request("shell", "kernel_info_request", json!({}))
        .await;
    let (_, reply) = legacy.until(|m| m.msg_type() == "kernel_info_reply").await;
    assert_eq!(reply.parent_id(), info);
    assert_eq!(reply.channel, "shell");
    assert_eq!(reply.content["language_info"]["name"], "python");
    let (reply, stdout) = legacy.run("print(6*7)").await;
    assert_eq!(reply["status"], "ok");
    assert_eq!(stdout, "42\n");

    // The connection is counted in the model.
    let (_, model, _) = gateway
        .http("GET", &format!("/api/kernels/{id}"), None)
        .await;
    assert_eq!(model["connections"], 1);

    // v1 binary: a second client on the same kernel.
    let mut v1 = gateway.ws(&id, "v1-session", true).await;
    let info = v1.request("shell", "kernel_info_request", json!({})).await;
    let (_, reply) = v1.until(|m| m.msg_type() == "kernel_info_reply").await;
    assert_eq!(reply.parent_id(), info);
    let (reply, stdout) = v1.run("print('v' + '1')").await;
    assert_eq!(
        (reply["status"].as_str(), stdout.as_str()),
        (Some("ok"), "v1\n")
    );

    // iopub fans out to both; the reply goes only to the client that asked.
    let asked = v1.execute("print('fan-out')").await;
    let (seen, _) = legacy
        .until(|m| {
            m.parent_id() == asked
                && m.msg_type() == "status"
                && m.content["execution_state"] == "idle"
        })
        .await;
    let mine: Vec<&str> = seen
        .iter()
        .filter(|m| m.parent_id() == asked)
        .map(|m| m.msg_type())
        .collect();
    assert!(
        mine.contains(&"stream"),
        "legacy sees v1's output: {mine:?}"
    );
    assert!(
        !mine.contains(&"execute_reply"),
        "replies go to the asker only: {mine:?}"
    );
    let (_, reply) = v1
        .until(|m| m.parent_id() == asked && m.msg_type() == "execute_reply")
        .await;
    assert_eq!(reply.channel, "shell");

    // Buffers survive in both formats (a comm message with a binary buffer, echoed by the kernel).
    let code = "from ipykernel.comm import Comm\nc = Comm(target_name='t', data={})\nc.send({'x': 1}, buffers=[b'\\x00\\x01abc'])";
    for ws in [&mut legacy, &mut v1] {
        let asked = ws.execute(code).await;
        let (_, msg) = ws
            .until(|m| m.parent_id() == asked && m.msg_type() == "comm_msg")
            .await;
        assert_eq!(msg.buffers, vec![b"\x00\x01abc".to_vec()], "v1={}", ws.v1);
    }

    let (status, _, _) = gateway
        .http("DELETE", &format!("/api/kernels/{id}"), None)
        .await;
    assert_eq!(status, 204);
    legacy.until_closed().await;
    v1.until_closed().await;
    let (status, list, _) = gateway.http("GET", "/api/kernels", None).await;
    assert_eq!((status, list), (200, json!([])));
    gateway.stop().await;
}

#[tokio::test]
async fn interrupt_restart_and_delete() {
    let gateway = Gateway::start(&[]).await;
    let id = gateway.start_kernel(json!({})).await;
    let mut ws = gateway.ws(&id, "s1", false).await;
    let (_, pid) = ws.run("import os; print(os.getpid())").await;
    let pid: u32 = pid.trim().parse().expect("pid");

    // Interrupt `while True: pass`, once it runs: a SIGINT that reaches ipykernel before the cell's
    // code starts (right after `execute_input`) aborts the request without any reply. Without
    // stop_on_error, so that the kernel does not abort the next request as queued behind an error.
    let looping = ws
        .request(
            "shell",
            "execute_request",
            json!({"code": "print('looping', flush=True)\nwhile True: pass", "silent": false,
                "store_history": true, "user_expressions": {}, "allow_stdin": false,
                "stop_on_error": false}),
        )
        .await;
    ws.until(|m| m.parent_id() == looping && m.msg_type() == "stream")
        .await;
    let (status, _, _) = gateway
        .http(
            "POST",
            &format!("/api/kernels/{id}/interrupt"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, 204);
    let (_, reply) = ws
        .until(|m| m.parent_id() == looping && m.msg_type() == "execute_reply")
        .await;
    assert_eq!(reply.content["status"], "error");
    assert_eq!(reply.content["ename"], "KeyboardInterrupt");

    // Restart resets the execution count.
    let (reply, _) = ws.run("x = 1").await;
    assert!(reply["execution_count"].as_u64() >= Some(3), "{reply}");
    let (status, model, _) = gateway
        .http(
            "POST",
            &format!("/api/kernels/{id}/restart"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(model["execution_state"], "idle");
    assert_eq!(model["id"], id.as_str());
    let (reply, stdout) = ws.run("print('x' in dir())").await;
    assert_eq!(reply["execution_count"], 1, "{reply}");
    assert_eq!(stdout, "False\n");

    // Delete stops the kernel process.
    let (_, new_pid) = ws.run("import os; print(os.getpid())").await;
    let new_pid: u32 = new_pid.trim().parse().expect("pid");
    assert_ne!(pid, new_pid);
    let (status, body, _) = gateway
        .http("DELETE", &format!("/api/kernels/{id}"), None)
        .await;
    assert_eq!((status, body), (204, Value::Null));
    assert!(
        !std::path::Path::new(&format!("/proc/{new_pid}")).exists(),
        "the kernel process is gone"
    );
    let (status, body, _) = gateway
        .http("GET", &format!("/api/kernels/{id}"), None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], format!("Kernel does not exist: {id}"));
    gateway.stop().await;
}

#[tokio::test]
async fn websocket_auth_and_unknown_kernel() {
    let gateway = Gateway::start(&[]).await;
    let id = gateway.start_kernel(json!({})).await;
    let refused = Ws::try_connect(gateway.port, &id, "s", false, None).await;
    let error = refused.err().expect("no token, no WebSocket").to_string();
    assert!(error.contains("401"), "{error}");
    let refused = Ws::try_connect(gateway.port, &id, "s", false, Some("wrong")).await;
    assert!(refused.is_err());
    let missing = Ws::try_connect(
        gateway.port,
        "00000000-0000-0000-0000-000000000000",
        "s",
        false,
        Some(TOKEN),
    )
    .await;
    assert!(missing.err().expect("404").to_string().contains("404"));
    // Browsers put the token in the query.
    let url_token = tokio_tungstenite::connect_async(format!(
        "ws://127.0.0.1:{}/api/kernels/{id}/channels?session_id=q&token={TOKEN}",
        gateway.port
    ))
    .await;
    assert!(url_token.is_ok(), "{:?}", url_token.err());
    let (status, body, _) = http(gateway.port, "GET", "/api/kernels", None, None).await;
    assert_eq!(
        (status, body),
        (401, json!({"reason": "Unauthorized", "message": ""}))
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_second_connection_with_the_same_session_replaces_the_first_and_misses_nothing() {
    let gateway = Gateway::start(&[]).await;
    let id = gateway.start_kernel(json!({})).await;
    // JupyterLab in gateway mode opens two connections with one session id ~50 ms apart; repeat it.
    for round in 0..5 {
        let session = format!("lab-{round}");
        let mut first = gateway.ws(&id, &session, false).await;
        let mut second = gateway.ws(&id, &session, false).await;
        first.until_closed().await;
        let info = second
            .request("shell", "kernel_info_request", json!({}))
            .await;
        let (_, reply) = second.until(|m| m.msg_type() == "kernel_info_reply").await;
        assert_eq!(reply.parent_id(), info, "round {round}");
        let (reply, stdout) = second.run("print('ok')").await;
        assert_eq!(
            (reply["status"].as_str(), stdout.as_str()),
            (Some("ok"), "ok\n")
        );
    }
    // Messages for a session are kept while it reconnects.
    let mut other = gateway.ws(&id, "other", false).await;
    let away = gateway.ws(&id, "away", false).await;
    drop(away);
    let (_, _) = other.run("print('while you were away')").await;
    let mut back = gateway.ws(&id, "away", false).await;
    let (_, missed) = back
        .until(|m| m.msg_type() == "stream" && m.content["text"] == "while you were away\n")
        .await;
    assert_eq!(missed.channel, "iopub");
    gateway.stop().await;
}

#[tokio::test]
async fn kernel_env_follows_kernel_gateway_rules() {
    let gateway = Gateway::start(&[]).await;
    let env = json!({"KERNEL_FOO": "x", "NOT_ALLOWED": "y", "KERNEL_GATEWAY": "0",
        "KERNEL_WORKING_DIR": gateway.env.work().join("sub").display().to_string()});
    std::fs::create_dir(gateway.env.work().join("sub")).expect("mkdir");
    let id = gateway
        .start_kernel(json!({"name": "python3", "env": env}))
        .await;
    let mut ws = gateway.ws(&id, "env", false).await;
    let code = "import os, json; print(json.dumps({k: os.environ.get(k) for k in \
        ['KERNEL_FOO', 'NOT_ALLOWED', 'KERNEL_GATEWAY', 'NBGATE_TOKEN']} | {'cwd': os.getcwd(), \
        'token_anywhere': any(v == '"
        .to_owned()
        + TOKEN
        + "' for v in os.environ.values())}))";
    let (_, out) = ws.run(&code).await;
    let seen: Value = serde_json::from_str(out.trim()).expect("json");
    let sub = gateway.env.work().join("sub").canonicalize().expect("real");
    assert_eq!(
        seen,
        json!({"KERNEL_FOO": "x", "NOT_ALLOWED": null, "KERNEL_GATEWAY": "1", "NBGATE_TOKEN": null,
            "cwd": sub.display().to_string(), "token_anywhere": false})
    );
    // Without env the gateway's environment is inherited, still without the token.
    let id = gateway.start_kernel(json!({})).await;
    let mut ws = gateway.ws(&id, "env2", false).await;
    let (_, out) = ws.run(&code).await;
    let seen: Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(seen["KERNEL_GATEWAY"], "1");
    assert_eq!(seen["token_anywhere"], false);
    gateway.stop().await;
}

#[tokio::test]
async fn max_kernels_holds_under_concurrent_posts() {
    let gateway = Gateway::start(&["--max-kernels", "2"]).await;
    let posts = (0..6).map(|_| {
        let port = gateway.port;
        tokio::spawn(async move {
            http(port, "POST", "/api/kernels", Some(TOKEN), Some(&json!({}))).await
        })
    });
    let mut statuses = Vec::new();
    for post in posts.collect::<Vec<_>>() {
        let (status, body, _) = post.await.expect("task");
        if status == 403 {
            assert!(
                body["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("Resource Limit")),
                "{body}"
            );
        }
        statuses.push(status);
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 201, 403, 403, 403, 403]);
    let (_, list, _) = gateway.http("GET", "/api/kernels", None).await;
    let ids: Vec<String> = list
        .as_array()
        .expect("list")
        .iter()
        .map(|k| k["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    // A freed slot is usable at once.
    let (status, _, _) = gateway
        .http("DELETE", &format!("/api/kernels/{}", ids[0]), None)
        .await;
    assert_eq!(status, 204);
    let (status, _, _) = gateway.http("POST", "/api/kernels", Some(&json!({}))).await;
    assert_eq!(status, 201);
    gateway.stop().await;
}

/// Polls `what` (a condition only the gateway's own timers change) until it holds.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + support::WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn idle_kernels_are_culled_unless_connected() {
    let gateway = Gateway::start(&["--cull-idle-timeout", "1", "--cull-interval", "0.2"]).await;
    let idle = gateway.start_kernel(json!({})).await;
    let connected = gateway.start_kernel(json!({})).await;
    let _ws = gateway.ws(&connected, "keep", false).await;
    eventually("the idle kernel to be culled", async || {
        gateway
            .http("GET", &format!("/api/kernels/{idle}"), None)
            .await
            .0
            == 404
    })
    .await;
    let (status, model, _) = gateway
        .http("GET", &format!("/api/kernels/{connected}"), None)
        .await;
    assert_eq!(
        status, 200,
        "a connected kernel stays (cull_connected is off)"
    );
    assert_eq!(model["connections"], 1);
    gateway.stop().await;
}

#[tokio::test]
async fn warm_pool_kernels_serve_posts() {
    let gateway = Gateway::start(&["--prespawn", "1"]).await;
    eventually("a warm kernel", async || {
        gateway.http("GET", "/api/health", None).await.1["pooled"] == 1
    })
    .await;
    let (status, list, _) = gateway.http("GET", "/api/kernels", None).await;
    assert_eq!(
        (status, list),
        (200, json!([])),
        "warm kernels are not listed"
    );
    let started = Instant::now();
    // What jupyter_server sends in gateway mode still fits a warm kernel.
    let env = json!({"KERNEL_LAUNCH_TIMEOUT": "40", "KERNEL_WORKING_DIR": gateway.env.work().display().to_string(),
        "JPY_SESSION_NAME": "x.ipynb"});
    let id = gateway
        .start_kernel(json!({"name": "python3", "env": env}))
        .await;
    let mut ws = gateway.ws(&id, "pool", false).await;
    let (reply, stdout) = ws.run("print(6*7)").await;
    assert_eq!(
        (reply["execution_count"].as_u64(), stdout.as_str()),
        (Some(1), "42\n")
    );
    // It is the warm kernel: its process is older than the request that got it.
    let age = "ticks = __import__('os').sysconf('SC_CLK_TCK')\n\
        start = int(open('/proc/self/stat').read().rsplit(')', 1)[1].split()[19]) / ticks\n\
        print(float(open('/proc/uptime').read().split()[0]) - start)";
    let (_, seconds) = ws.run(age).await;
    let age: f64 = seconds.trim().parse().expect("seconds");
    let since_post = started.elapsed().as_secs_f64();
    assert!(
        age > since_post,
        "the kernel started {age} s ago, the POST {since_post} s ago"
    );
    eventually("the pool to refill", async || {
        gateway.http("GET", "/api/health", None).await.1["pooled"] == 1
    })
    .await;
    gateway.stop().await;
}

#[tokio::test]
async fn a_kernel_that_dies_is_restarted() {
    let gateway = Gateway::start(&[]).await;
    let id = gateway.start_kernel(json!({})).await;
    let mut ws = gateway.ws(&id, "s", false).await;
    ws.run("x = 1").await;
    ws.execute("import os; os._exit(1)").await;
    let (_, restarting) = ws
        .until(|m| m.msg_type() == "status" && m.content["execution_state"] == "restarting")
        .await;
    assert_eq!(restarting.channel, "iopub");
    eventually("the kernel to be back", async || {
        gateway
            .http("GET", &format!("/api/kernels/{id}"), None)
            .await
            .1["execution_state"]
            == "idle"
    })
    .await;
    let (reply, stdout) = ws.run("print('back')").await;
    assert_eq!(
        (reply["execution_count"].as_u64(), stdout.as_str()),
        (Some(1), "back\n")
    );
    gateway.stop().await;
}

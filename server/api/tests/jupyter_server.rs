//! The real client: jupyter_server started with `--gateway-url` pointing at `nbgate serve` creates a
//! session, runs `print(6*7)` over its WebSocket, interrupts, restarts and deletes it
//! (`jupyter_server_gateway.py`, run with the project venv's Python).

mod support;

use nbgate_tests::venv;
use support::{Gateway, TOKEN};

#[tokio::test]
async fn jupyter_server_in_gateway_mode_runs_code_on_nbgate() {
    let gateway = Gateway::start(&[]).await;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jupyter_server_gateway.py");
    let python = venv().join("bin/python");
    let has_server = tokio::process::Command::new(&python)
        .args(["-c", "import jupyter_server, websocket"])
        .status()
        .await
        .expect("python runs");
    assert!(
        has_server.success(),
        "jupyter_server and websocket-client are missing from the venv: run `make venv`"
    );
    let output = tokio::process::Command::new(python)
        .arg(script)
        .arg(format!("http://127.0.0.1:{}", gateway.port))
        .arg(TOKEN)
        .arg(gateway.env.work())
        .envs(gateway.env.vars())
        .kill_on_drop(true)
        .output()
        .await
        .expect("the driver runs");
    let log =
        std::fs::read_to_string(gateway.env.work().join("jupyter_server.log")).unwrap_or_default();
    assert!(
        output.status.success() && String::from_utf8_lossy(&output.stdout).trim() == "OK",
        "driver failed: {}\nstdout: {}\nstderr: {}\njupyter_server log:\n{log}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    gateway.stop().await;
}

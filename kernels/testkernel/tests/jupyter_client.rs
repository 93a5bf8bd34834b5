//! A real frontend accepts the kernel: Python's jupyter_client (from the project venv) runs `echo 42`.

mod support;

use serde_json::{Value, json};
use support::TestKernel;

#[tokio::test]
async fn jupyter_client_runs_echo() {
    // Fails, naming `make`, when the venv is missing.
    let python = nbgate_tests::venv().join("bin/python");
    let kernel = TestKernel::start(&[]).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/jupyter_client_echo.py");
    let output = tokio::time::timeout(
        support::PATIENCE,
        tokio::process::Command::new(&python)
            .arg(script)
            .arg(&kernel.connection_file)
            .output(),
    )
    .await
    .expect("jupyter_client finishes in time")
    .expect("run python");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}\n{stderr}", output.status);
    let seen: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(
        seen,
        json!({
            "streams": ["42\n"],
            "reply": {"status": "ok", "execution_count": 1},
            "shutdown": {"status": "ok", "restart": false},
        })
    );
    assert_eq!(kernel.exit().await.0.code(), Some(0));
}

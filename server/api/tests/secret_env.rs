//! The one list of secret variables ([`nbgate_kernel::SECRET_VARS`]) holds whoever starts the kernel:
//! under a `nbgate serve` started with every one of them set, neither a gateway kernel (inherited
//! environment, or rebuilt with a whitelist naming them) nor a scheduled execution's kernel sees any,
//! while an ordinary variable set beside them does reach each kernel (so the probe can fail).

mod support;

use std::time::Duration;

use nbgate_kernel::SECRET_VARS;
use nbgate_tests::serve::{Serve, TOKEN, notebook};
use nbgate_tests::{JupyterEnv, MARKER_VAR, start_serve_under};
use serde_json::{Value, json};
use support::{WAIT, Ws, http};

/// Not a secret: every kernel must see it.
const ORDINARY: &str = "NBGATE_TEST_ORDINARY";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_kernel_sees_a_secret_variable_whoever_starts_it() {
    let env = JupyterEnv::new();
    let data = env.dir.path().join("state");
    // `start_serve_under` sets NBGATE_TOKEN (the server's token); `env` sets the others.
    let mut wrapper = vec!["env".to_owned(), format!("{ORDINARY}=visible")];
    wrapper.extend(
        SECRET_VARS
            .iter()
            .filter(|name| **name != "NBGATE_TOKEN")
            .map(|name| format!("{name}=secret-{name}")),
    );
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let whitelist = format!(
        "--env-process-whitelist={MARKER_VAR},JUPYTER_RUNTIME_DIR,IPYTHONDIR,{ORDINARY},{}",
        SECRET_VARS.join(",")
    );
    let (child, stdout, port) = start_serve_under(&env, TOKEN, &data, &[&whitelist], &wrapper);
    let server = Serve::adopt(child, stdout, port, &data);

    let mut watched: Vec<&str> = SECRET_VARS.to_vec();
    watched.push(ORDINARY);
    let watched = serde_json::to_string(&watched).expect("JSON");
    let seen = |names: &Value| -> Vec<String> {
        serde_json::from_value(names.clone()).expect("a list of names")
    };

    // Gateway kernels: the inherited environment, and one rebuilt from the whitelists.
    for body in [
        json!({"name": "python3"}),
        json!({"name": "python3", "env": {"KERNEL_USERNAME": "me"}}),
    ] {
        let (status, kernel, _) =
            http(port, "POST", "/api/kernels", Some(TOKEN), Some(&body)).await;
        assert_eq!(status, 201, "{kernel}");
        let kernel = kernel["id"].as_str().expect("id");
        let mut ws = Ws::connect(port, kernel, "probe", false, Some(TOKEN)).await;
        let code = format!(
            "import os, json\nprint(json.dumps(sorted(k for k in os.environ if k in {watched})))"
        );
        let (reply, stdout) = ws.run(&code).await;
        assert_eq!(reply["status"], "ok", "{reply}");
        let names: Value = serde_json::from_str(stdout.trim()).expect("JSON line");
        assert_eq!(
            seen(&names),
            [ORDINARY],
            "a gateway kernel started with {body}"
        );
    }

    // A scheduled execution's kernel: the notebook writes what it sees.
    let probe = format!(
        "import os, json\nopen('seen.json', 'w').write(json.dumps(sorted(k for k in os.environ if k in {watched})))"
    );
    std::fs::write(
        env.work().join("probe.ipynb"),
        notebook("python3", "python", &[&probe]),
    )
    .expect("notebook");
    let execution = server.create(&json!({"notebook": "probe.ipynb"}));
    let finished = server.finished(&execution, WAIT);
    assert_eq!(finished["status"], "succeeded", "{finished}");
    let names: Value = serde_json::from_str(
        &std::fs::read_to_string(env.work().join("seen.json")).expect("seen.json"),
    )
    .expect("JSON");
    assert_eq!(seen(&names), [ORDINARY], "an execution's kernel");

    server.stop();
    env.assert_no_survivors(Duration::from_secs(10));
}

//! Expectations (`expect` rules) as users meet them: a notebook recording with the real scrapbook
//! and writing a CSV on real ipykernel, its run ending `succeeded` when the rules hold and `failed`
//! with `ExpectationFailed` when one does not; rules that do not parse refused with a 422.

use std::process::Command;
use std::time::Duration;

use nbgate_tests::JupyterEnv;
use nbgate_tests::serve::{Serve, notebook};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(120);

const CELLS: [&str; 2] = [
    "import scrapbook as sb\n\
     sb.glue('accuracy', 0.71)\n\
     sb.glue('label', 'good')",
    "import os\n\
     os.makedirs('output', exist_ok=True)\n\
     with open('output/predictions.csv', 'w') as f:\n    f.write('id,p\\n1,0.5\\n2,0.25\\n3,1\\n')",
];

fn run(server: &Serve, expect: &[&str]) -> Value {
    let id = server.create(&json!({
        "notebook": "model.ipynb",
        "outputs": ["output/*.csv"],
        "expect": expect,
    }));
    server.finished(&id, WAIT)
}

#[test]
fn expectations_pass_fail_and_are_checked_at_creation() {
    let env = JupyterEnv::new();
    std::fs::write(
        env.work().join("model.ipynb"),
        notebook("python3", "python", &CELLS),
    )
    .expect("write notebook");
    let server = Serve::start(&env, &env.dir.path().join("state"), &[]);

    let passing = run(
        &server,
        &[
            "accuracy >= 0.7",
            "accuracy != 0.8",
            "exists label",
            "rows(output/*.csv) == 3",
        ],
    );
    assert_eq!(passing["status"], "succeeded", "{passing}");
    assert_eq!(passing["error"], Value::Null, "{passing}");
    assert_eq!(passing["expect"][3], "rows(output/*.csv) == 3", "{passing}");

    let failing = run(
        &server,
        &[
            "accuracy >= 0.8",
            "exists label",
            "recall > 0.5",
            "rows(output/*.csv) > 100",
        ],
    );
    assert_eq!(failing["status"], "failed", "{failing}");
    assert_eq!(failing["error"]["ename"], "ExpectationFailed", "{failing}");
    assert_eq!(
        failing["error"]["evalue"],
        "accuracy >= 0.8: was 0.71; recall > 0.5: recall was not recorded; \
         rows(output/*.csv) > 100: was 3",
        "{failing}"
    );
    // What the run recorded is kept.
    assert_eq!(failing["values"]["accuracy"].to_string(), "0.71");
    assert_eq!(failing["outputs"][0]["rows"], 3, "{failing}");

    let text = run(&server, &["label > 1"]);
    assert_eq!(text["status"], "failed", "{text}");
    assert_eq!(
        text["error"]["evalue"], "label > 1: was \"good\", not a number",
        "{text}"
    );

    // Malformed rules: 422 naming the rule and why, for executions and schedules alike.
    let (status, body) = server.call(
        "POST",
        "/api/executions",
        Some(&json!({"notebook": "model.ipynb", "expect": ["accuracy >= 0.8", "accuracy => 0.8"]})),
    );
    assert_eq!(status, 422, "{body}");
    let message = body.to_string();
    assert!(
        message.contains("accuracy => 0.8") && message.contains("at character 10"),
        "{message}"
    );
    let schedule = json!({"name": "model", "notebook": "model.ipynb", "every": "1h",
                          "paused": true, "expect": ["rows(output/*.csv > 1"]});
    let (status, body) = server.call("POST", "/api/schedules", Some(&schedule));
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("closing `)`"), "{body}");

    let created = server.ok(
        "POST",
        "/api/schedules",
        Some(
            &json!({"name": "model", "notebook": "model.ipynb", "every": "1h",
                     "paused": true, "expect": ["accuracy > 0.9"]}),
        ),
    );
    assert_eq!(created["expect"], json!(["accuracy > 0.9"]));
    let id = created["id"].as_str().expect("id");
    let (status, body) = server.call(
        "PATCH",
        &format!("/api/schedules/{id}"),
        Some(&json!({"expect": ["exists"]})),
    );
    assert_eq!(status, 422, "{body}");
    // A schedule's run is held to the schedule's rules.
    let fired = server.ok("POST", &format!("/api/schedules/{id}/run"), None);
    let fired_id = fired["id"].as_str().expect("execution id").to_owned();
    let fired = server.finished(&fired_id, WAIT);
    assert_eq!(fired["status"], "failed", "{fired}");
    assert_eq!(
        fired["error"]["evalue"], "accuracy > 0.9: was 0.71",
        "{fired}"
    );

    // The CLI client: `--expect RULE`, repeatable, on executions create and schedules update.
    let (code, stdout, stderr) = cli(
        &env,
        &server,
        &[
            "executions",
            "create",
            "model.ipynb",
            "--output",
            "output/*.csv",
            "--expect",
            "accuracy >= 0.8",
            "--expect",
            "rows(output/*.csv) >= 3",
            "--wait",
            "--json",
        ],
    );
    assert_eq!(code, 1, "an execution that ended failed: {stdout}{stderr}");
    let execution: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(
        execution["expect"],
        json!(["accuracy >= 0.8", "rows(output/*.csv) >= 3"])
    );
    assert_eq!(execution["error"]["evalue"], "accuracy >= 0.8: was 0.71");
    let (code, stdout, stderr) = cli(
        &env,
        &server,
        &[
            "schedules",
            "update",
            "model",
            "--expect",
            "exists label",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let updated: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(updated["expect"], json!(["exists label"]));
    let (code, _, stderr) = cli(
        &env,
        &server,
        &[
            "executions",
            "create",
            "model.ipynb",
            "--expect",
            "accuracy >=",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("\"accuracy >=\"") && stderr.contains("expected a number"),
        "{stderr}"
    );
    server.stop();
}

/// `nbgate ARGS…` as a client of `server`: exit code, stdout, stderr.
fn cli(env: &JupyterEnv, server: &Serve, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(nbgate_tests::workspace_bin("nbgate"))
        .args(args)
        .envs(env.vars())
        .env("NBGATE_URL", format!("http://127.0.0.1:{}", server.port))
        .env("NBGATE_TOKEN", nbgate_tests::serve::TOKEN)
        .output()
        .expect("nbgate runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

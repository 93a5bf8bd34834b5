//! Pipelines through the executor API on real ipykernel: a schedule after another with a recorded
//! value (scrapbook's `glue`) as its parameter, a failure that skips the next step, rerun as
//! repair, backfill with each fire date injected, a parameter sweep and its table; the mistakes
//! refused with a 422 that names them; and the CLI client's pipeline commands.

use std::time::Duration;

use nbgate_tests::JupyterEnv;
use nbgate_tests::serve::{Serve, wait_for};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(180);

/// A Python notebook: a cell tagged `parameters`, then `cells`.
fn notebook(parameters: &str, cells: &[&str]) -> String {
    let cell = |id: String, source: &str, tags: Value| {
        json!({"cell_type": "code", "id": id, "metadata": {"tags": tags}, "source": source,
               "outputs": [], "execution_count": null})
    };
    let mut all = vec![cell("params".into(), parameters, json!(["parameters"]))];
    for (i, source) in cells.iter().enumerate() {
        all.push(cell(format!("c{i}"), source, json!([])));
    }
    json!({"nbformat": 4, "nbformat_minor": 5, "cells": all, "metadata": {"kernelspec":
        {"name": "python3", "display_name": "Python 3", "language": "python"}}})
    .to_string()
}

fn write(env: &JupyterEnv, name: &str, text: &str) {
    std::fs::write(env.work().join(name), text).expect("write notebook");
}

fn start(env: &JupyterEnv) -> Serve {
    Serve::start(env, &env.dir.path().join("state"), &[])
}

/// The executions of a schedule, oldest first.
fn executions_of(server: &Serve, schedule: &str) -> Vec<Value> {
    let page = server.ok("GET", &format!("/api/executions?schedule={schedule}"), None);
    let mut items = page["items"].as_array().cloned().unwrap_or_default();
    items.reverse();
    items
}

fn ended(execution: &Value) -> bool {
    matches!(
        execution["status"].as_str(),
        Some("succeeded" | "failed" | "timed_out" | "cancelled" | "skipped")
    )
}

/// Waits until the schedule has `count` executions, all ended; returns them oldest first.
fn ended_runs(server: &Serve, schedule: &str, count: usize) -> Vec<Value> {
    wait_for(WAIT, &format!("{count} ended runs of {schedule}"), || {
        let runs = executions_of(server, schedule);
        (runs.len() == count && runs.iter().all(ended)).then_some(runs)
    })
}

fn message(answer: &Value) -> &str {
    answer["message"].as_str().unwrap_or("")
}

/// Asserts a 4xx whose message contains each of `needles`.
fn refused(
    server: &Serve,
    method: &str,
    path: &str,
    body: Option<&Value>,
    status: u16,
    needles: &[&str],
) {
    let (got, answer) = server.call(method, path, body);
    assert_eq!(got, status, "{method} {path}: {answer}");
    for needle in needles {
        assert!(
            message(&answer).contains(needle),
            "{method} {path}: {:?} should contain {needle:?}",
            message(&answer)
        );
    }
}

const PREPARE: &str = "import os\nimport scrapbook as sb\n\
    assert os.path.exists('ready.flag'), 'no ready.flag'\n\
    sb.glue('accuracy', 0.875)\n\
    sb.glue('rows', 12345678901234567890123)\n\
    sb.glue('label', 'v2')";

const TRAIN: &str = "import scrapbook as sb\n\
    sb.glue('seen', {'threshold': [threshold, type(threshold).__name__],\n\
                     'rows': [rows, type(rows).__name__], 'label': label, 'day': DAY})";

#[test]
fn values_pass_down_a_chain_a_failure_skips_and_rerun_repairs() {
    let env = JupyterEnv::new();
    write(&env, "prepare.ipynb", &notebook("DAY = 'x'", &[PREPARE]));
    write(
        &env,
        "train.ipynb",
        &notebook("threshold = 0.5\nrows = 0\nlabel = ''\nDAY = ''", &[TRAIN]),
    );
    write(&env, "ready.flag", "");
    let server = start(&env);
    server.ok(
        "POST",
        "/api/schedules",
        Some(
            &json!({"name": "prepare", "notebook": "prepare.ipynb", "cron": "0 6 * * *",
                     "paused": true, "parameters": {"DAY": "2026-11-01"}}),
        ),
    );
    let created = server.ok(
        "POST",
        "/api/schedules",
        Some(&json!({"name": "train", "notebook": "train.ipynb",
            "after": {"schedules": ["prepare"]},
            "parameters_from": {"threshold": "prepare.values.accuracy",
                                "rows": "prepare.values.rows",
                                "label": "prepare.values.label",
                                "DAY": "prepare.parameters.DAY"}})),
    );
    // The schedule reads back as written: `on` defaults to success, no time of its own.
    assert_eq!(
        created["after"],
        json!({"schedules": ["prepare"], "on": "success"})
    );
    assert_eq!(
        created["parameters_from"]["threshold"],
        "prepare.values.accuracy"
    );
    assert!(
        created["cron"].is_null() && created["every"].is_null() && created["next_run"].is_null()
    );
    assert_eq!(created["description"], "After prepare succeeds (UTC)");

    // prepare succeeds: train runs after it with its values, types exact, in the same chain.
    let first = server.ok("POST", "/api/schedules/prepare/run", None);
    let first_id = first["id"].as_str().expect("id").to_owned();
    assert_eq!(first["run_id"], first_id.as_str());
    assert_eq!(server.finished(&first_id, WAIT)["status"], "succeeded");
    let train = ended_runs(&server, "train", 1).remove(0);
    assert_eq!(train["status"], "succeeded", "{train}");
    assert_eq!(train["run_id"], first_id.as_str());
    assert_eq!(train["upstreams"], json!({"prepare": first_id}));
    assert_eq!(train["parameters"]["threshold"].to_string(), "0.875");
    assert_eq!(
        train["parameters"]["rows"].to_string(),
        "12345678901234567890123"
    );
    assert_eq!(train["parameters"]["DAY"], "2026-11-01");
    let seen = server.execution(train["id"].as_str().expect("id"))["values"]["seen"].clone();
    assert_eq!(
        seen,
        json!({"threshold": [0.875, "float"], "rows": [12345678901234567890123_u128, "int"],
               "label": "v2", "day": "2026-11-01"})
    );
    // The chain, oldest first.
    let chain = server.ok("GET", &format!("/api/executions?run_id={first_id}"), None);
    let names: Vec<&str> = chain["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["schedule_name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["prepare", "train"], "{chain}");

    // prepare fails: train is recorded skipped with the reason, in that chain.
    std::fs::remove_file(env.work().join("ready.flag")).expect("remove flag");
    let failed = server.ok("POST", "/api/schedules/prepare/run", None);
    let failed_id = failed["id"].as_str().expect("id").to_owned();
    assert_eq!(server.finished(&failed_id, WAIT)["status"], "failed");
    let skipped = ended_runs(&server, "train", 2).remove(1);
    assert_eq!(skipped["status"], "skipped", "{skipped}");
    assert_eq!(skipped["reason"], "upstream prepare failed");
    assert_eq!(skipped["run_id"], failed_id.as_str());

    // Repair: the failed step again (same parameters, same snapshot); train runs after it.
    write(&env, "ready.flag", "");
    let (status, rerun) = server.call("POST", &format!("/api/executions/{failed_id}/rerun"), None);
    assert_eq!(status, 201, "{rerun}");
    assert_eq!(rerun["run_id"], failed_id.as_str());
    assert_eq!(rerun["parameters"], json!({"DAY": "2026-11-01"}));
    let rerun_id = rerun["id"].as_str().expect("id");
    assert_eq!(server.finished(rerun_id, WAIT)["status"], "succeeded");
    let repaired = ended_runs(&server, "train", 3).remove(2);
    assert_eq!(repaired["status"], "succeeded", "{repaired}");
    assert_eq!(repaired["upstreams"], json!({"prepare": rerun_id}));
    let chain = server.ok("GET", &format!("/api/executions?run_id={failed_id}"), None);
    let steps: Vec<String> = chain["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["schedule_name"].as_str().unwrap_or(""),
                e["status"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            "prepare failed",
            "train skipped",
            "prepare succeeded",
            "train succeeded"
        ]
    );
    // Only the chain's failed executions; a cursor makes no sense for a chain.
    let failed_only = server.ok(
        "GET",
        &format!("/api/executions?run_id={failed_id}&status=failed"),
        None,
    );
    assert_eq!(failed_only["items"].as_array().map(Vec::len), Some(1));
    refused(
        &server,
        "GET",
        &format!("/api/executions?run_id={failed_id}&cursor=x"),
        None,
        400,
        &["run_id", "cursor"],
    );
    refused(
        &server,
        "POST",
        "/api/executions/nope/rerun",
        None,
        404,
        &["nope"],
    );

    server.stop();
    env.assert_no_survivors(Duration::from_secs(5));
}

#[test]
fn mistakes_in_a_pipeline_are_refused_with_the_reason() {
    let env = JupyterEnv::new();
    write(&env, "a.ipynb", &notebook("x = 1", &["print(x)"]));
    let server = start(&env);
    let create = |body: Value| server.call("POST", "/api/schedules", Some(&body));
    let (status, _) =
        create(json!({"name": "a", "notebook": "a.ipynb", "cron": "0 6 * * *", "paused": true}));
    assert_eq!(status, 201);
    let after_a = |extra: Value| {
        let mut body = json!({"name": "b", "notebook": "a.ipynb", "after": {"schedules": ["a"]}});
        for (key, value) in extra.as_object().expect("object") {
            body[key] = value.clone();
        }
        body
    };
    let cases: Vec<(Value, &[&str])> = vec![
        (
            json!({"name": "b", "notebook": "a.ipynb", "after": {"schedules": ["nope"]}}),
            &["after.schedules", "no schedule is named \"nope\""],
        ),
        (
            after_a(json!({"after": {"schedules": []}})),
            &["after.schedules", "name at least one"],
        ),
        (
            after_a(json!({"after": {"schedules": ["a"], "on": "sometimes"}})),
            &["unknown variant `sometimes`"],
        ),
        (
            after_a(json!({"cron": "0 6 * * *"})),
            &["after", "without `cron` and `every`"],
        ),
        (
            after_a(json!({"parameters_from": {"x": "a.vals.x"}})),
            &[
                "parameters_from.x",
                "\"a.vals.x\"",
                "neither `values` nor `parameters`",
            ],
        ),
        (
            after_a(json!({"parameters_from": {"x": "a"}})),
            &["parameters_from.x", "UPSTREAM.values.NAME"],
        ),
        (
            after_a(json!({"parameters_from": {"y": "a.values.y"}})),
            &[
                "parameters_from.y",
                "parameters cell has no \"y\"",
                "[\"x\"]",
            ],
        ),
        (
            after_a(json!({"parameters_from": {"x": "c.values.x"}})),
            &[
                "parameters_from.x",
                "\"c\"",
                "not in this schedule's `after`",
            ],
        ),
        (
            after_a(json!({"parameters_from": {"x": "a.values.x"}, "parameters": {"x": 2}})),
            &["parameters_from.x", "give it one source"],
        ),
        (
            after_a(json!({"fire_time_parameter": "DAY"})),
            &["fire_time_parameter", "\"DAY\""],
        ),
        (
            after_a(json!({"fire_time_parameter": "x", "fire_time_format": "%Q"})),
            &["fire_time_format", "\"%Q\""],
        ),
    ];
    for (body, needles) in cases {
        let (status, answer) = create(body.clone());
        assert_eq!(status, 422, "{body}: {answer}");
        for needle in needles {
            assert!(
                message(&answer).contains(needle),
                "{body}: {:?} lacks {needle:?}",
                message(&answer)
            );
        }
    }

    // b after a, c after b; a after c would close the cycle, named in the order runs go.
    let (status, b) = create(after_a(json!({"parameters_from": {"x": "a.values.x"},
        "fire_time_parameter": null})));
    assert_eq!(status, 201, "{b}");
    let (status, _) = create(json!({"name": "c", "notebook": "a.ipynb",
        "after": {"schedules": ["b"], "on": "completion"}}));
    assert_eq!(status, 201);
    refused(
        &server,
        "PATCH",
        "/api/schedules/a",
        Some(&json!({"after": {"schedules": ["c"]}})),
        422,
        &["after: a → b → c → a would make a cycle"],
    );
    // An edit that keeps the pipeline sound is taken, and read back.
    let patched = server.ok(
        "PATCH",
        "/api/schedules/c",
        Some(&json!({"after": {"schedules": ["a", "b"], "on": "failure"},
                     "fire_time_parameter": "x", "fire_time_format": "%Y%m%d"})),
    );
    assert_eq!(
        patched["after"],
        json!({"schedules": ["a", "b"], "on": "failure"})
    );
    assert_eq!(patched["fire_time_parameter"], "x");
    assert_eq!(patched["fire_time_format"], "%Y%m%d");
    assert_eq!(patched["description"], "After a and b fail (UTC)");
    let cleared = server.ok(
        "PATCH",
        "/api/schedules/c",
        Some(&json!({"fire_time_parameter": null, "fire_time_format": null})),
    );
    assert!(cleared["fire_time_parameter"].is_null() && cleared["fire_time_format"].is_null());

    // The dialog's preview takes `after` as a recurrence of its own; with `cron` it is blamed.
    let preview = server.ok(
        "POST",
        "/api/schedules/preview",
        Some(&json!({"after": {"schedules": ["a", "b"], "on": "completion"}})),
    );
    assert_eq!(preview["valid"], true, "{preview}");
    assert_eq!(preview["description"], "After a and b end (UTC)");
    assert_eq!(preview["next_runs"], json!([]));
    let preview = server.ok(
        "POST",
        "/api/schedules/preview",
        Some(&json!({"after": {"schedules": ["a"]}, "cron": "0 6 * * *"})),
    );
    assert_eq!(preview["valid"], false, "{preview}");
    let blamed = preview["errors"]["after"].as_str().unwrap_or("");
    assert!(blamed.contains("without `cron` and `every`"), "{preview}");
    // With the notebook, the pipeline fields are checked as creating would, at their field (c now
    // runs after a and b).
    let blame = |body: Value, field: &str, needle: &str| {
        let preview = server.ok("POST", "/api/schedules/preview", Some(&body));
        assert_eq!(preview["valid"], false, "{preview}");
        let message = preview["errors"][field].as_str().unwrap_or("");
        assert!(message.contains(needle), "{field}: {preview}");
    };
    blame(
        json!({"notebook": "a.ipynb", "after": {"schedules": ["nope"]}}),
        "after",
        "no schedule is named \"nope\"",
    );
    blame(
        json!({"notebook": "a.ipynb", "after": {"schedules": ["a"]},
               "parameters_from": {"y": "a.values.y"}}),
        "parameters_from",
        "parameters cell has no \"y\"",
    );
    blame(
        json!({"name": "a", "notebook": "a.ipynb", "after": {"schedules": ["c"]}}),
        "after",
        "a → c → a would make a cycle",
    );
    let sound = server.ok(
        "POST",
        "/api/schedules/preview",
        Some(
            &json!({"name": "d", "notebook": "a.ipynb", "after": {"schedules": ["c"]},
                     "parameters_from": {"x": "c.parameters.x"}}),
        ),
    );
    assert_eq!(sound["valid"], true, "{sound}");

    // Backfill and sweep: their mistakes.
    refused(
        &server,
        "POST",
        "/api/schedules/a/backfill",
        Some(&json!({"from": "2026-11-07", "to": "2026-11-01"})),
        422,
        &["to", "before from"],
    );
    refused(
        &server,
        "POST",
        "/api/schedules/a/backfill",
        Some(&json!({"from": "yesterday", "to": "2026-11-01"})),
        422,
        &["from", "\"yesterday\"", "YYYY-MM-DD"],
    );
    refused(
        &server,
        "POST",
        "/api/schedules/b/backfill",
        Some(&json!({"from": "2026-11-01", "to": "2026-11-02"})),
        422,
        &["\"b\" runs after other schedules"],
    );
    refused(
        &server,
        "POST",
        "/api/schedules/a/backfill",
        Some(&json!({"from": "2026-11-01"})),
        422,
        &["missing field `to`"],
    );
    refused(
        &server,
        "POST",
        "/api/schedules/nope/backfill",
        Some(&json!({"from": "2026-11-01", "to": "2026-11-02"})),
        404,
        &["\"nope\""],
    );
    refused(
        &server,
        "POST",
        "/api/schedules/a/sweep",
        Some(&json!({"grid": {}})),
        422,
        &["grid", "at least one parameter"],
    );
    refused(
        &server,
        "POST",
        "/api/schedules/a/sweep",
        Some(&json!({"grid": {"x": []}})),
        422,
        &["grid.x", "non-empty list"],
    );
    refused(
        &server,
        "POST",
        "/api/schedules/a/sweep",
        Some(&json!({"grid": {"x": 3}})),
        422,
        &["grid.x", "non-empty list"],
    );
    refused(
        &server,
        "POST",
        "/api/schedules/a/sweep",
        Some(&json!({"grid": {"z": [1]}})),
        422,
        &["unknown parameters [\"z\"]"],
    );
    refused(
        &server,
        "POST",
        "/api/schedules/a/sweep",
        Some(&json!({"grid": {"x": ["one"]}})),
        422,
        &["parameter \"x\" must be"],
    );
    refused(
        &server,
        "GET",
        "/api/sweeps/nope",
        None,
        404,
        &["sweep \"nope\" not found"],
    );

    // Deleting a schedule others run after: refused naming them, unless cascade.
    refused(
        &server,
        "DELETE",
        "/api/schedules/a",
        None,
        409,
        &["\"a\"", "\"b\"", "\"c\"", "cascade=true"],
    );
    let (status, _) = server.call("DELETE", "/api/schedules/a?cascade=true", None);
    assert_eq!(status, 204);
    for name in ["a", "b", "c"] {
        let (status, _) = server.call("GET", &format!("/api/schedules/{name}"), None);
        assert_eq!(status, 404, "{name} should be gone");
    }
    server.stop();
}

#[test]
fn backfill_runs_each_day_with_its_date_across_a_dst_change() {
    let env = JupyterEnv::new();
    write(
        &env,
        "daily.ipynb",
        &notebook(
            "RUN_DATE = ''",
            &["import scrapbook as sb\nsb.glue('run_date', RUN_DATE)"],
        ),
    );
    let server = start(&env);
    server.ok(
        "POST",
        "/api/schedules",
        Some(
            &json!({"name": "daily", "notebook": "daily.ipynb", "cron": "0 6 * * *",
                     "timezone": "Europe/Paris", "paused": true,
                     "fire_time_parameter": "RUN_DATE"}),
        ),
    );
    // Europe/Paris leaves summer time on Sunday 2026-10-25: 06:00 is 04:00 UTC before, 05:00 after.
    let (status, made) = server.call(
        "POST",
        "/api/schedules/daily/backfill",
        Some(&json!({"from": "2026-10-24", "to": "2026-10-26"})),
    );
    assert_eq!(status, 201, "{made}");
    let fires: Vec<&str> = made["executions"]
        .as_array()
        .expect("executions")
        .iter()
        .map(|e| e["fire_time"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        fires,
        [
            "2026-10-24T04:00:00.000Z",
            "2026-10-25T05:00:00.000Z",
            "2026-10-26T05:00:00.000Z"
        ]
    );
    let runs = ended_runs(&server, "daily", 3);
    let dates: Vec<(String, String, String)> = runs
        .iter()
        .map(|run| {
            let own = server.execution(run["id"].as_str().expect("id"));
            (
                own["status"].as_str().unwrap_or("").to_owned(),
                own["parameters"]["RUN_DATE"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                own["values"]["run_date"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> = ["2026-10-24", "2026-10-25", "2026-10-26"]
        .iter()
        .map(|day| ("succeeded".to_owned(), day.to_string(), day.to_string()))
        .collect();
    assert_eq!(dates, expected);
    server.stop();
    env.assert_no_survivors(Duration::from_secs(5));
}

#[test]
fn a_sweep_runs_every_combination_and_reads_back_as_a_table() {
    let env = JupyterEnv::new();
    write(
        &env,
        "grid.ipynb",
        &notebook(
            "a = 0\nb = 'x'\nseed = 7",
            &["import scrapbook as sb\nsb.glue('score', a * len(b) + seed)"],
        ),
    );
    let server = start(&env);
    server.ok(
        "POST",
        "/api/schedules",
        Some(
            &json!({"name": "grid", "notebook": "grid.ipynb", "cron": "0 6 * * *", "paused": true,
                     "max_concurrent": 2, "overlap": "queue"}),
        ),
    );
    let (status, made) = server.call(
        "POST",
        "/api/schedules/grid/sweep",
        Some(&json!({"grid": {"a": [1, 2, 3], "b": ["x", "yy"]}})),
    );
    assert_eq!(status, 201, "{made}");
    let sweep_id = made["sweep_id"].as_str().expect("sweep_id").to_owned();
    let executions = made["executions"].as_array().expect("executions");
    assert_eq!(executions.len(), 6);
    assert!(
        executions
            .iter()
            .all(|e| e["sweep_id"] == sweep_id.as_str())
    );
    let table = wait_for(WAIT, "the sweep to end", || {
        let table = server.ok("GET", &format!("/api/sweeps/{sweep_id}"), None);
        let rows = table["rows"].as_array()?;
        rows.iter().all(ended).then_some(table)
    });
    assert_eq!(table["schedule_name"], "grid");
    assert_eq!(table["varied"], json!(["a", "b"]));
    let rows: Vec<(Value, Value, String, String)> = table["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            (
                row["parameters"]["a"].clone(),
                row["parameters"]["b"].clone(),
                row["status"].as_str().unwrap_or("").to_owned(),
                row["values"]["score"].to_string(),
            )
        })
        .collect();
    let expected: Vec<(Value, Value, String, String)> = [
        (1, "x"),
        (1, "yy"),
        (2, "x"),
        (2, "yy"),
        (3, "x"),
        (3, "yy"),
    ]
    .iter()
    .map(|(a, b)| {
        (
            json!(a),
            json!(b),
            "succeeded".to_owned(),
            (a * b.len() + 7).to_string(),
        )
    })
    .collect();
    assert_eq!(rows, expected);
    server.stop();
    env.assert_no_survivors(Duration::from_secs(5));
}

#[test]
fn the_cli_creates_a_chain_backfills_sweeps_and_reruns() {
    let env = JupyterEnv::new();
    write(&env, "prepare.ipynb", &notebook("DAY = 'x'", &[PREPARE]));
    write(
        &env,
        "train.ipynb",
        &notebook("threshold = 0.5\nrows = 0\nlabel = ''\nDAY = ''", &[TRAIN]),
    );
    write(&env, "ready.flag", "");
    let server = start(&env);
    let run = |args: &[&str]| {
        let output = server.client(&env, args);
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let errors = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status.code(), text, errors)
    };
    let (code, _, errors) = run(&[
        "schedules",
        "create",
        "prepare",
        "prepare.ipynb",
        "--cron",
        "0 6 * * *",
        "--paused",
        "--fire-time-parameter",
        "DAY",
    ]);
    assert_eq!(code, Some(0), "{errors}");
    let (code, text, errors) = run(&[
        "schedules",
        "create",
        "train",
        "train.ipynb",
        "--after",
        "prepare",
        "--on",
        "success",
        "--param-from",
        "threshold=prepare.values.accuracy",
        "--param-from",
        "rows=prepare.values.rows",
        "--param-from",
        "DAY=prepare.parameters.DAY",
        "--json",
    ]);
    assert_eq!(code, Some(0), "{errors}");
    let train: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        train["after"],
        json!({"schedules": ["prepare"], "on": "success"})
    );
    assert_eq!(
        train["parameters_from"],
        json!({"threshold": "prepare.values.accuracy", "rows": "prepare.values.rows",
               "DAY": "prepare.parameters.DAY"})
    );
    // A mistake is the server's message, exit 2.
    let (code, _, errors) = run(&[
        "schedules",
        "create",
        "bad",
        "train.ipynb",
        "--after",
        "prepare",
        "--param-from",
        "nope=prepare.values.accuracy",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        errors.contains("parameters cell has no \"nope\""),
        "{errors}"
    );
    let (code, _, errors) = run(&[
        "schedules",
        "create",
        "bad",
        "train.ipynb",
        "--after",
        "prepare",
        "--param-from",
        "threshold",
    ]);
    assert_eq!(code, Some(2));
    assert!(errors.contains("NAME=REFERENCE"), "{errors}");

    // Backfill two days: prepare runs for each with its date, and (downstream) train after each.
    let (code, text, errors) = run(&[
        "schedules",
        "backfill",
        "prepare",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-02",
        "--downstream",
    ]);
    assert_eq!(code, Some(0), "{errors}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("FIRE TIME"),
        "{text}"
    );
    assert!(
        lines[1].contains("2026-11-01 06:00:00") && lines[2].contains("2026-11-02 06:00:00"),
        "{text}"
    );
    let prepared = ended_runs(&server, "prepare", 2);
    let trained = ended_runs(&server, "train", 2);
    let days: Vec<&str> = trained
        .iter()
        .map(|t| t["parameters"]["DAY"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(days, ["2026-11-01", "2026-11-02"]);
    assert_eq!(trained[0]["run_id"], prepared[0]["id"]);

    // A sweep, waited for: the table has a row per combination with its values.
    let (code, text, errors) = run(&["schedules", "sweep", "train", "-g", "label=a,b", "--wait"]);
    assert_eq!(code, Some(0), "{errors}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].contains("STATUS") && lines[0].contains("label"),
        "{text}"
    );
    assert!(
        lines[1].contains("succeeded") && lines[1].contains(" a "),
        "{text}"
    );

    // Rerun an execution, waited for.
    let first = prepared[0]["id"].as_str().expect("id");
    let (code, text, errors) = run(&["executions", "rerun", first, "--wait", "--json"]);
    assert_eq!(code, Some(0), "{errors}");
    let rerun: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(rerun["status"], "succeeded");
    assert_eq!(rerun["run_id"], first);
    assert_eq!(rerun["parameters"]["DAY"], "2026-11-01");

    // The chain as a table; deleting prepare needs --cascade.
    let (code, text, errors) = run(&["executions", "list", "--run-id", first]);
    assert_eq!(code, Some(0), "{errors}");
    assert!(text.lines().count() >= 3, "{text}");
    let (code, _, errors) = run(&["schedules", "delete", "prepare"]);
    assert_eq!(code, Some(2));
    assert!(
        errors.contains("[\"train\"]") && errors.contains("cascade"),
        "{errors}"
    );
    let (code, text, errors) = run(&["schedules", "delete", "prepare", "--cascade"]);
    assert_eq!(code, Some(0), "{errors}");
    assert!(text.contains("with the schedules after it"), "{text}");
    let (code, _, errors) = run(&["schedules", "get", "train"]);
    assert_eq!(code, Some(2), "train should be gone: {errors}");
    server.stop();
    env.assert_no_survivors(Duration::from_secs(5));
}

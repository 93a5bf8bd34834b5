//! Recorded values as users meet them: notebooks that record with the real scrapbook on real
//! ipykernel, read back through `nbgate run --values-json`, `GET /api/executions/{id}`,
//! `GET /api/schedules/{id}/values` and the CLI client.

use std::process::{Command, Output};
use std::time::Duration;

use nbgate_tests::serve::{Serve, TOKEN, notebook};
use nbgate_tests::{JupyterEnv, workspace_bin};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(120);

/// Every kind of value, a name recorded twice, a unicode name, then a failure before a last value.
const RECORDS: [&str; 4] = [
    "import scrapbook as sb\n\
     sb.glue('accuracy', 0.5)\n\
     sb.glue('big', 123456789012345678901234567890)\n\
     sb.glue('note', 'hello')\n\
     sb.glue('précision', 0.25)\n\
     sb.glue('accuracy', 0.91)",
    "import pandas as pd\n\
     from IPython.display import Markdown\n\
     sb.glue('table', pd.DataFrame({'a': [1, 2]}))\n\
     sb.glue('shown', pd.DataFrame({'b': [3]}), display=True)\n\
     sb.glue('chart', Markdown('**hi**'))\n\
     sb.glue('listed', [1, 2.5, 'x'])",
    "raise ValueError('boom')",
    "sb.glue('never', 1)",
];

fn write(env: &JupyterEnv, name: &str, text: &str) {
    std::fs::write(env.work().join(name), text).expect("write notebook");
}

/// What the RECORDS notebook must have recorded, whichever way it is read.
fn assert_recorded(values: &Value) {
    let object = values.as_object().expect("an object");
    let names: Vec<&str> = object.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "accuracy",
            "big",
            "note",
            "précision",
            "table",
            "shown",
            "chart",
            "listed"
        ],
        "{values}"
    );
    assert_eq!(values["accuracy"].to_string(), "0.91");
    assert_eq!(values["big"].to_string(), "123456789012345678901234567890");
    assert_eq!(values["note"], json!("hello"));
    assert_eq!(values["précision"].to_string(), "0.25");
    assert_eq!(values["listed"], json!([1, 2.5, "x"]));
    // Other encoders: by encoder, with the text/plain rendering when one was published.
    assert_eq!(
        values["table"],
        json!({"encoder": "pandas", "summary": null})
    );
    assert_eq!(values["shown"]["encoder"], "pandas");
    let shown = values["shown"]["summary"].as_str().expect("summary");
    assert!(shown.contains('b') && shown.contains('3'), "{shown}");
    assert_eq!(values["chart"]["encoder"], "display");
    let chart = values["chart"]["summary"].as_str().expect("summary");
    assert!(chart.contains("Markdown"), "{chart}");
}

#[test]
fn nbgate_run_prints_and_writes_the_values_recorded_before_a_failure() {
    let env = JupyterEnv::new();
    write(
        &env,
        "records.ipynb",
        &notebook("python3", "python", &RECORDS),
    );
    let output = env.nbgate(&[
        "run",
        "records.ipynb",
        "out.ipynb",
        "--values-json=values.json",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("accuracy = 0.91\n"), "{stderr}");
    assert!(stderr.contains("précision = 0.25\n"), "{stderr}");
    assert!(stderr.contains("table = <pandas>\n"), "{stderr}");
    assert!(!stderr.contains("never"), "{stderr}");
    let text = std::fs::read_to_string(env.work().join("values.json")).expect("values.json");
    assert_recorded(&serde_json::from_str(&text).expect("JSON"));
    // Written atomically: no temporary file left beside it.
    let leftovers: Vec<_> = std::fs::read_dir(env.work())
        .expect("work dir")
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(".nbgate-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    env.assert_no_survivors(Duration::from_secs(5));
}

#[test]
fn a_notebook_that_records_nothing_writes_an_empty_object() {
    let env = JupyterEnv::new();
    write(
        &env,
        "plain.ipynb",
        &notebook("python3", "python", &["1 + 1"]),
    );
    let output = env.nbgate(&["run", "plain.ipynb", "out.ipynb", "--values-json=v.json"]);
    assert!(output.status.success(), "{output:?}");
    let text = std::fs::read_to_string(env.work().join("v.json")).expect("v.json");
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("JSON"),
        json!({})
    );
}

/// `nbgate ARGS…` as a client of `server`.
fn client(env: &JupyterEnv, server: &Serve, args: &[&str]) -> Output {
    Command::new(workspace_bin("nbgate"))
        .args(args)
        .envs(env.vars())
        .env("NBGATE_URL", format!("http://127.0.0.1:{}", server.port))
        .env("NBGATE_TOKEN", TOKEN)
        .output()
        .expect("nbgate runs")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn executions_and_schedules_give_their_values() {
    let env = JupyterEnv::new();
    write(
        &env,
        "records.ipynb",
        &notebook("python3", "python", &RECORDS),
    );
    let trend = r#"{"nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "P", "language": "python"}},
        "cells": [
          {"cell_type": "code", "id": "p", "metadata": {"tags": ["parameters"]}, "outputs": [],
           "execution_count": null, "source": "n = 0\nfail = False"},
          {"cell_type": "code", "id": "r", "metadata": {}, "outputs": [], "execution_count": null,
           "source": "import scrapbook as sb\nsb.glue('n', n)\nsb.glue('half', n / 2)\nassert not fail"}
        ]}"#;
    write(&env, "trend.ipynb", trend);
    let state = env.dir.path().join("state");
    let server = Serve::start(&env, &state, &[]);

    // One execution: values in GET /api/executions/{id}, kept although the run failed.
    let id = server.create(&json!({"notebook": "records.ipynb"}));
    let execution = server.finished(&id, WAIT);
    assert_eq!(execution["status"], "failed", "{execution}");
    assert_recorded(&execution["values"]);
    let shown = stdout(&client(
        &env,
        &server,
        &["executions", "values", &id, "--json"],
    ));
    assert_recorded(&serde_json::from_str(&shown).expect("JSON"));
    let table = stdout(&client(&env, &server, &["executions", "values", &id]));
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table.contains("accuracy") && table.contains("0.91"),
        "{table}"
    );

    // A value recorded before a cell timed out is kept (recorded the papermill way: importing
    // scrapbook could itself take longer than the cell timeout).
    let record = "from IPython.display import display\n\
                  display({'application/papermill.record+json': {'before': 1}}, raw=True)";
    write(
        &env,
        "slow.ipynb",
        &notebook(
            "python3",
            "python",
            &[record, "import time\ntime.sleep(60)"],
        ),
    );
    let slow = server.create(&json!({"notebook": "slow.ipynb", "cell_timeout": 2}));
    let slow = server.finished(&slow, WAIT);
    assert_eq!(slow["status"], "timed_out", "{slow}");
    assert_eq!(slow["values"], json!({"before": 1}));

    // Three runs of a schedule, the last failing after it recorded: series oldest first.
    server.ok(
        "POST",
        "/api/schedules",
        Some(&json!({"name": "trend", "notebook": "trend.ipynb", "every": "1h", "paused": true})),
    );
    let mut runs = Vec::new();
    for (n, fail) in [(1, false), (2, false), (3, true)] {
        let body = json!({"parameters": {"n": n, "fail": fail}});
        let run = server.ok("POST", "/api/schedules/trend/run", Some(&body));
        let run_id = run["id"].as_str().expect("id").to_owned();
        server.finished(&run_id, WAIT);
        runs.push(run_id);
    }
    let answer = server.ok("GET", "/api/schedules/trend/values", None);
    let series = answer["series"].as_object().expect("series");
    assert_eq!(series.keys().collect::<Vec<_>>(), ["n", "half"]);
    let points = series["n"].as_array().expect("points");
    let ids: Vec<&str> = points
        .iter()
        .map(|p| p["execution_id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ids, runs.iter().map(String::as_str).collect::<Vec<_>>());
    let values: Vec<String> = points.iter().map(|p| p["value"].to_string()).collect();
    assert_eq!(values, ["1", "2", "3"]);
    let statuses: Vec<&str> = points
        .iter()
        .map(|p| p["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(statuses, ["succeeded", "succeeded", "failed"]);
    assert!(points[0]["created_at"].is_string() && points[0]["fire_time"].is_null());
    assert_eq!(series["half"][2]["value"].to_string(), "1.5");

    // The listing carries each execution's values (read for the whole page in one query), the
    // same as each one's own; a run that recorded nothing has an empty object.
    write(
        &env,
        "plain.ipynb",
        &notebook("python3", "python", &["1 + 1"]),
    );
    let plain = server.create(&json!({"notebook": "plain.ipynb"}));
    server.finished(&plain, WAIT);
    let page = server.ok("GET", "/api/executions?limit=200", None);
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 6, "{page}");
    for item in items {
        let item_id = item["id"].as_str().expect("id");
        let own = server.ok("GET", &format!("/api/executions/{item_id}"), None);
        assert_eq!(item["values"], own["values"], "{item}");
    }
    let listed = |id: &str| items.iter().find(|item| item["id"] == id).expect("listed");
    assert_recorded(&listed(&id)["values"]);
    assert_eq!(listed(&plain)["values"], json!({}));
    // A schedule's page, newest first, and a page of one: each item with its own values.
    let trend_page = server.ok("GET", "/api/executions?schedule=trend", None);
    let halves: Vec<String> = trend_page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["values"]["half"].to_string())
        .collect();
    assert_eq!(halves, ["1.5", "1.0", "0.5"]);
    let first = server.ok("GET", "/api/executions?schedule=trend&limit=1", None);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = server.ok(
        "GET",
        &format!("/api/executions?schedule=trend&limit=1&cursor={cursor}"),
        None,
    );
    assert_eq!(second["items"][0]["id"], runs[1].as_str());
    assert_eq!(
        second["items"][0]["values"].to_string(),
        r#"{"n":2,"half":1.0}"#
    );

    // One name, the last two runs.
    let last_two = server.ok("GET", "/api/schedules/trend/values?name=half&limit=2", None);
    let only: Vec<&String> = last_two["series"]
        .as_object()
        .expect("series")
        .keys()
        .collect();
    assert_eq!(only, ["half"]);
    let halves: Vec<String> = last_two["series"]["half"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| p["value"].to_string())
        .collect();
    assert_eq!(halves, ["1.0", "1.5"]);

    // Bad requests: precise 4xx.
    for bad in ["limit=0", "limit=-1", "limit=x", "limit=10001"] {
        let (status, body) =
            server.call("GET", &format!("/api/schedules/trend/values?{bad}"), None);
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["message"].as_str().unwrap_or("").contains("limit"),
            "{bad}: {body}"
        );
    }
    let (status, _) = server.call("GET", "/api/schedules/nope/values", None);
    assert_eq!(status, 404);
    let (status, _) = server.call("GET", "/api/executions/nope", None);
    assert_eq!(status, 404);

    // The CLI client: a table of every point, or the server's JSON.
    let table = stdout(&client(
        &env,
        &server,
        &["schedules", "values", "trend", "--name", "n"],
    ));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[0].starts_with("NAME"), "{table}");
    assert!(
        lines[3].contains("failed") && lines[3].contains(&runs[2]),
        "{table}"
    );
    let json_out = stdout(&client(
        &env,
        &server,
        &["schedules", "values", "trend", "--json"],
    ));
    let parsed: Value = serde_json::from_str(&json_out).expect("JSON");
    assert_eq!(parsed, answer);
    let unknown = client(&env, &server, &["schedules", "values", "nope"]);
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");

    server.stop();
    env.assert_no_survivors(Duration::from_secs(5));
}

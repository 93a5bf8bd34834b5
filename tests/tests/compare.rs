//! `GET /api/executions/{a}/compare/{b}` and `nbgate executions compare A B` on real ipykernel:
//! two runs of one notebook with different parameters differ in the parameter, a recorded value, an
//! output file and one cell's output; two identical runs do not differ at all.

use std::process::Output;
use std::time::Duration;

use nbgate_tests::JupyterEnv;
use nbgate_tests::serve::Serve;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(120);

/// A parameters cell, a cell that records, prints and writes a table depending on `alpha`, and a
/// cell whose output never changes.
const NOTEBOOK: &str = r#"{"nbformat": 4, "nbformat_minor": 5,
    "metadata": {"kernelspec": {"name": "python3", "display_name": "P", "language": "python"}},
    "cells": [
      {"cell_type": "code", "id": "p", "metadata": {"tags": ["parameters"]}, "outputs": [],
       "execution_count": null, "source": "alpha = 0.5"},
      {"cell_type": "code", "id": "r", "metadata": {}, "outputs": [], "execution_count": null,
       "source": "import scrapbook as sb\nsb.glue('score', alpha * 2)\nsb.glue('fixed', 1)\nprint('alpha is', alpha)\nwith open('out.csv', 'w') as f:\n    f.write('a\\n' + '1\\n' * int(alpha * 10))"},
      {"cell_type": "code", "id": "c", "metadata": {}, "outputs": [], "execution_count": null,
       "source": "print('constant')\n40 + 2"}
    ]}"#;

fn run(server: &Serve, alpha: f64) -> String {
    let id = server.create(
        &json!({"notebook": "model.ipynb", "parameters": {"alpha": alpha},
        "outputs": ["out.csv"]}),
    );
    let execution = server.finished(&id, WAIT);
    assert_eq!(execution["status"], "succeeded", "{execution}");
    id
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn two_runs_compare_by_parameter_value_output_file_and_cell() {
    let env = JupyterEnv::new();
    std::fs::write(env.work().join("model.ipynb"), NOTEBOOK).expect("write notebook");
    let server = Serve::start(&env, &env.dir.path().join("state"), &[]);
    let a = run(&server, 0.5);
    let b = run(&server, 0.7);
    let again = run(&server, 0.5);

    let diff = server.ok("GET", &format!("/api/executions/{a}/compare/{b}"), None);
    assert_eq!(diff["parameters"], json!({"alpha": [0.5, 0.7]}), "{diff}");
    // Only the changed value: `fixed` is the same on both sides.
    assert_eq!(diff["values"], json!({"score": [1.0, 1.4]}), "{diff}");
    let outputs = diff["outputs"].as_array().expect("outputs");
    assert_eq!(outputs.len(), 1, "{diff}");
    assert_eq!(outputs[0]["path"], "out.csv");
    assert_eq!(outputs[0]["a"]["rows"], 5);
    assert_eq!(outputs[0]["b"]["rows"], 7);
    assert_ne!(outputs[0]["a"]["sha256"], outputs[0]["b"]["sha256"]);
    // The second user cell (the injected-parameters cell does not count); the third is unchanged.
    let cells = diff["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 1, "{diff}");
    assert_eq!(cells[0]["index"], 1);
    assert_eq!(cells[0]["source_changed"], false);
    assert_eq!(cells[0]["outputs_changed"], true);
    assert_eq!(cells[0]["a"], "alpha is 0.5\n");
    assert_eq!(cells[0]["b"], "alpha is 0.7\n");

    // The same parameters twice: nothing differs (execution counts and times are not compared).
    let same = server.ok("GET", &format!("/api/executions/{a}/compare/{again}"), None);
    assert_eq!(
        same,
        json!({"parameters": {}, "values": {}, "outputs": [], "cells": []})
    );

    for path in [
        format!("/api/executions/{a}/compare/nope"),
        format!("/api/executions/nope/compare/{a}"),
    ] {
        let (status, body) = server.call("GET", &path, None);
        assert_eq!(status, 404, "{path}: {body}");
        assert!(
            body["message"].as_str().unwrap_or("").contains("nope"),
            "{body}"
        );
    }

    // The CLI: the server's JSON, a table, or a line saying nothing differs.
    let shown = stdout(&server.client(&env, &["executions", "compare", &a, &b, "--json"]));
    assert_eq!(serde_json::from_str::<Value>(&shown).expect("JSON"), diff);
    let table = stdout(&server.client(&env, &["executions", "compare", &a, &b]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("WHAT"), "{table}");
    for (line, words) in lines[1..].iter().zip([
        ["parameter", "alpha", "0.5", "0.7"],
        ["value", "score", "1.0", "1.4"],
        ["output", "out.csv", "5 rows", "7 rows"],
        ["cell 1", "outputs", "alpha is 0.5", "alpha is 0.7"],
    ]) {
        for word in words {
            assert!(line.contains(word), "{word} not in {line}: {table}");
        }
    }
    assert_eq!(lines.len(), 5, "{table}");
    let none = stdout(&server.client(&env, &["executions", "compare", &a, &again]));
    assert!(none.starts_with("no differences"), "{none}");
    let missing = server.client(&env, &["executions", "compare", &a, "nope"]);
    assert_eq!(missing.status.code(), Some(2), "{missing:?}");
}

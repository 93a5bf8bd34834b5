//! `nbgate run` against papermill: every case of `tests/fixtures/cases.json` is run with the real
//! binary on real ipykernel, and its output notebook must equal papermill's (after the normalisation in
//! `tests/fixtures/README.md`) with the same exit code.
//!
//! Known, deliberate differences, normalised here and nowhere else:
//! - `metadata.papermill.parameters`: papermill writes non-finite floats as bare `NaN`/`Infinity` (not
//!   JSON); nbgate stores them as the strings `"nan"`, `"inf"`, `"-inf"` (`parse_lenient` reads
//!   papermill's tokens so). Integers of any size are JSON integers on both sides, compared digit for
//!   digit (serde_json's `arbitrary_precision`).
//! - a timed-out cell: nbgate interrupts the kernel and waits briefly for the reply, so its timing has
//!   `shell.execute_reply`; papermill abandons the cell before the reply.
//! - a kernel killed with SIGKILL mid-cell: whether its last `busy` / `execute_input` left the process
//!   before the signal is up to the kernel's iopub thread, so the dying cell's `execution_count` and
//!   timing are not compared (its outputs and statuses are).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::thread;

use nbgate_tests::normalize::{normalize, parse_lenient};
use nbgate_tests::{JupyterEnv, repo_root, workspace_bin};
use serde_json::Value;

struct Case {
    name: String,
    notebook: String,
    args: Vec<String>,
    expected: PathBuf,
    expected_exit: i32,
}

fn fixtures() -> PathBuf {
    repo_root().join("tests/fixtures")
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(fixtures().join("cases.json")).expect("cases.json");
    let cases: Value = serde_json::from_str(&text).expect("cases.json is JSON");
    cases
        .as_array()
        .expect("a list of cases")
        .iter()
        .map(|case| {
            let mut args = strings(&case["args"]);
            args.extend(strings(&case["nbgate_args"]));
            Case {
                name: case["name"].as_str().expect("name").to_owned(),
                notebook: case["notebook"].as_str().expect("notebook").to_owned(),
                args,
                expected: fixtures().join(case["expected"].as_str().expect("expected")),
                expected_exit: case["expected_exit"].as_i64().expect("expected_exit") as i32,
            }
        })
        .collect()
}

fn comparable(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    normalize(&parse_lenient(&text))
}

fn drop_reply_timing(notebook: &mut Value) {
    for cell in notebook["cells"].as_array_mut().into_iter().flatten() {
        if let Some(Value::Object(execution)) = cell.pointer_mut("/metadata/execution") {
            execution.remove("shell.execute_reply");
        }
    }
}

/// Forgets the count and timing of the cell that kills its kernel (in the fixture, the cell calling
/// `os.kill`).
fn forget_dying_cell(notebook: &mut Value) {
    for cell in notebook["cells"].as_array_mut().into_iter().flatten() {
        let source = cell["source"].as_str().unwrap_or("");
        if source.contains("os.kill") {
            cell["execution_count"] = Value::Null;
            if let Some(metadata) = cell["metadata"].as_object_mut() {
                metadata.remove("execution");
            }
        }
    }
}

/// Runs one case; returns a description of what differs, if anything.
fn run_case(case: &Case, env: &JupyterEnv) -> Option<String> {
    let output = env.work().join(format!("{}.ipynb", case.name));
    let result = Command::new(workspace_bin("nbgate"))
        .current_dir(fixtures())
        .envs(env.vars())
        .arg("run")
        .arg(&case.notebook)
        .arg(&output)
        .args(&case.args)
        .output()
        .expect("nbgate runs");
    let code = result.status.code().unwrap_or(-1);
    let stderr = String::from_utf8_lossy(&result.stderr);
    if code != case.expected_exit {
        return Some(format!(
            "{}: exit {code}, papermill exits {}; stderr: {stderr}",
            case.name, case.expected_exit
        ));
    }
    let mut actual = comparable(&output);
    let mut expected = comparable(&case.expected);
    if case.name == "timeout" {
        drop_reply_timing(&mut actual);
        drop_reply_timing(&mut expected);
    }
    if case.name == "kernel_death" {
        forget_dying_cell(&mut actual);
        forget_dying_cell(&mut expected);
    }
    if actual == expected {
        return None;
    }
    let actual = serde_json::to_string_pretty(&actual).unwrap_or_default();
    let expected = serde_json::to_string_pretty(&expected).unwrap_or_default();
    let first_difference = actual
        .lines()
        .zip(expected.lines())
        .enumerate()
        .find(|(_, (a, e))| a != e)
        .map(|(line, (a, e))| format!("line {line}: nbgate {a:?}, papermill {e:?}"))
        .unwrap_or_else(|| "one is a prefix of the other".into());
    Some(format!(
        "{}: output differs from papermill's; {first_difference}",
        case.name
    ))
}

#[test]
fn nbgate_run_matches_papermill_on_every_fixture() {
    let env = JupyterEnv::new();
    let cases = cases();
    assert!(cases.len() >= 30, "cases.json lost its cases");
    let queue = Mutex::new(cases.iter());
    let failures = Mutex::new(Vec::new());
    // Two runners: each case is one kernel, and the machine has two cores.
    thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().expect("queue").next();
                    let Some(case) = next else { break };
                    if let Some(failure) = run_case(case, &env) {
                        failures.lock().expect("failures").push(failure);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().expect("failures");
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    env.assert_no_survivors(std::time::Duration::from_secs(5));
}

//! `nbgate run` and `nbgate params` as a user meets them: the real binary, real kernels (ipykernel from the
//! venv, the test kernel for faults), exit codes, one-line reasons, files left behind, processes left
//! behind.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nbgate_tests::{JupyterEnv, workspace_bin};
use serde_json::{Value, json};

/// A notebook with one code cell per source, for `kernel` (language `language`).
fn notebook(kernel: &str, language: &str, cells: &[&str]) -> Value {
    json!({
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": kernel, "display_name": kernel, "language": language}},
        "cells": cells.iter().enumerate().map(|(i, source)| json!({
            "id": format!("c{i}"), "cell_type": "code", "metadata": {},
            "execution_count": null, "source": source, "outputs": []
        })).collect::<Vec<_>>()
    })
}

fn write(env: &JupyterEnv, name: &str, notebook: &Value) -> PathBuf {
    let path = env.work().join(name);
    std::fs::write(&path, notebook.to_string()).expect("write notebook");
    path
}

/// `nbgate run INPUT out.ipynb EXTRA…` in the environment's work directory.
fn run(env: &JupyterEnv, input: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run", input.to_str().unwrap_or_default(), "out.ipynb"];
    args.extend_from_slice(extra);
    env.nbgate(&args)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("output exists"))
        .expect("valid JSON")
}

fn outputs(notebook: &Value, cell: usize) -> Vec<Value> {
    notebook["cells"][cell]["outputs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn stdin_to_stdout_with_dash() {
    let env = JupyterEnv::new();
    let input = notebook("python3", "python", &["print(6 * 7)"]);
    let mut child = Command::new(workspace_bin("nbgate"))
        .envs(env.vars())
        .args(["run", "-", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write stdin");
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success(), "{}", stderr(&output));
    let executed: Value = serde_json::from_slice(&output.stdout).expect("stdout is the notebook");
    assert_eq!(outputs(&executed, 0)[0]["text"], json!(["42\n"]));
    env.assert_no_survivors(Duration::from_secs(5));
}

#[test]
fn stream_files_receive_exactly_the_notebook_streams() {
    let env = JupyterEnv::new();
    let input = write(
        &env,
        "streams.ipynb",
        &notebook(
            "python3",
            "python",
            &["import sys\nprint('<secret>')\nprint('oops', file=sys.stderr)"],
        ),
    );
    let output = run(
        &env,
        &input,
        &["--stdout-file", "out.txt", "--stderr-file", "err.txt"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(env.work().join("out.txt")).expect("stdout file"),
        "<secret>\n"
    );
    assert_eq!(
        std::fs::read_to_string(env.work().join("err.txt")).expect("stderr file"),
        "oops\n"
    );
}

#[test]
fn a_hostile_string_parameter_stays_a_string() {
    let env = JupyterEnv::new();
    let mut input = notebook("python3", "python", &["s = 'default'", "print(repr(s))"]);
    input["cells"][0]["metadata"] = json!({"tags": ["parameters"]});
    let input = write(&env, "hostile.ipynb", &input);
    let hostile = "\"; print('PWNED'); x = \"\n'''\\é";
    let output = run(&env, &input, &["-r", "s", hostile]);
    assert!(output.status.success(), "{}", stderr(&output));
    let executed = read(&env.work().join("out.ipynb"));
    // Cell 1 is the injected one; cell 2 prints the value back as Python sees it.
    let printed = outputs(&executed, 2)[0]["text"]
        .as_array()
        .expect("text")
        .iter()
        .filter_map(Value::as_str)
        .collect::<String>();
    let python_repr = "'\"; print(\\'PWNED\\'); x = \"\\n\\'\\'\\'\\\\é'\n";
    assert_eq!(printed, python_repr);
    assert!(
        !outputs(&executed, 1)
            .iter()
            .any(|o| o.to_string().contains("PWNED"))
    );
}

#[test]
fn bad_input_is_one_line_and_exit_2_and_writes_nothing() {
    let env = JupyterEnv::new();
    let good = write(&env, "good.ipynb", &notebook("python3", "python", &["1"]));
    std::fs::write(env.work().join("broken.ipynb"), "{\"nbformat\": 4, ").expect("write");
    std::fs::write(
        env.work().join("v3.ipynb"),
        r#"{"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []}"#,
    )
    .expect("write");
    let good = good.to_str().unwrap_or_default();
    let cases: &[(&[&str], &str)] = &[
        (&["run", "missing.ipynb", "out.ipynb"], "missing.ipynb"),
        (&["run", "broken.ipynb", "out.ipynb"], "JSON"),
        (&["run", "v3.ipynb", "out.ipynb"], "nbformat"),
        (
            &["run", good, "out.ipynb", "-k", "no-such-kernel"],
            "available: ",
        ),
        (&["run", good, "out.ipynb", "-y", "a: [1, 2"], "-y"),
        (&["run", good, "out.ipynb", "-y", "- just\n- a list"], "-y"),
        (&["run", good, "out.ipynb", "-f", "nope.yaml"], "nope.yaml"),
        (&["run", good, "out.ipynb", "--cwd", "no/such/dir"], "--cwd"),
        (
            &["run", good, "out.ipynb", "-p", "1bad name", "1"],
            "1bad name",
        ),
    ];
    for (args, mention) in cases {
        let output = env.nbgate(args);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {message}");
        assert_eq!(
            message.lines().count(),
            1,
            "{args:?}: one line expected, got {message:?}"
        );
        assert!(
            message.starts_with("nbgate: ") && message.contains(mention),
            "{args:?}: {message}"
        );
        assert!(
            !env.work().join("out.ipynb").exists(),
            "{args:?} left an output file"
        );
    }
}

#[test]
fn failing_cell_exits_1_naming_the_cell_and_keeps_the_partial_output() {
    let env = JupyterEnv::new();
    let input = write(
        &env,
        "fail.ipynb",
        &notebook(
            "python3",
            "python",
            &["print('before')", "1/0", "print('never')"],
        ),
    );
    let output = run(&env, &input, &[]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(
        message.contains("cell 1") && message.contains("ZeroDivisionError: division by zero"),
        "{message}"
    );
    let executed = read(&env.work().join("out.ipynb"));
    // papermill's two marker cells are inserted: the failing cell moves to index 3.
    assert_eq!(outputs(&executed, 1)[0]["text"], json!(["before\n"]));
    assert_eq!(outputs(&executed, 3)[0]["ename"], "ZeroDivisionError");
    assert!(outputs(&executed, 4).is_empty());
}

#[test]
fn params_lists_the_declared_parameters() {
    let env = JupyterEnv::new();
    let mut input = notebook(
        "python3",
        "python",
        &["DATA_DAY_RANGE = 60  # days of data\nNAME: str = 'x'"],
    );
    input["cells"][0]["metadata"] = json!({"tags": ["parameters"]});
    let input = write(&env, "p.ipynb", &input);
    let input = input.to_str().unwrap_or_default();
    let output = env.nbgate(&["params", input, "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let listed: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(listed["parameters"][0]["name"], "DATA_DAY_RANGE");
    assert_eq!(listed["parameters"][0]["type"], "int");
    assert_eq!(listed["parameters"][0]["default"], 60);
    assert_eq!(listed["parameters"][0]["help"], "days of data");
    assert_eq!(listed["parameters"][1]["inferred_type_name"], "str");
    let text = env.nbgate(&["params", input]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("DATA_DAY_RANGE: Unknown type (default 60)"),
        "{stdout}"
    );
    let none = write(&env, "none.ipynb", &notebook("python3", "python", &["1"]));
    let output = env.nbgate(&["params", none.to_str().unwrap_or_default()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("No cell tagged 'parameters'"));
}

// ---- faults, on the test kernel -------------------------------------------------------------------

fn test_kernel_notebook(env: &JupyterEnv, kernel: &str, flags: &[&str], cells: &[&str]) -> PathBuf {
    env.add_test_kernel(kernel, flags);
    write(
        env,
        &format!("{kernel}.ipynb"),
        &notebook(kernel, "testlang", cells),
    )
}

#[test]
fn kernel_crash_mid_cell_exits_138_with_the_partial_output() {
    let env = JupyterEnv::new();
    let input = test_kernel_notebook(
        &env,
        "crashy",
        &[],
        &["echo first", "echo partial\ncrash", "echo never"],
    );
    let output = run(&env, &input, &[]);
    assert_eq!(output.status.code(), Some(138), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("kernel died during cell 1"),
        "{}",
        stderr(&output)
    );
    let executed = read(&env.work().join("out.ipynb"));
    assert_eq!(outputs(&executed, 0)[0]["text"], json!(["first\n"]));
    assert_eq!(outputs(&executed, 1)[0]["text"], json!(["partial\n"]));
    assert!(outputs(&executed, 2).is_empty());
    env.assert_no_survivors(Duration::from_secs(5));
}

#[test]
fn a_hung_cell_times_out_within_the_timeout_plus_two_seconds() {
    let env = JupyterEnv::new();
    let input = test_kernel_notebook(
        &env,
        "hangs",
        &[],
        &["echo started\nhang-hard", "echo never"],
    );
    let started = Instant::now();
    let output = run(&env, &input, &["--cell-timeout", "1"]);
    let took = started.elapsed();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cell 0 timed out"),
        "{}",
        stderr(&output)
    );
    // Start-up, the 1 s limit, the 1 s interrupt grace and a forced shutdown of a wedged kernel.
    assert!(took < Duration::from_secs(1 + 2 + 5), "took {took:?}");
    let executed = read(&env.work().join("out.ipynb"));
    assert_eq!(outputs(&executed, 0)[0]["text"], json!(["started\n"]));
    env.assert_no_survivors(Duration::from_secs(5));
}

#[test]
fn an_interruptible_cell_past_its_timeout_records_the_keyboard_interrupt() {
    let env = JupyterEnv::new();
    let input = test_kernel_notebook(&env, "soft", &[], &["hang"]);
    let output = run(&env, &input, &["--cell-timeout", "0.5"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let executed = read(&env.work().join("out.ipynb"));
    assert_eq!(outputs(&executed, 0)[0]["ename"], "KeyboardInterrupt");
    env.assert_no_survivors(Duration::from_secs(5));
}

#[test]
fn slow_start_past_the_start_timeout_fails_cleanly() {
    let env = JupyterEnv::new();
    let input = test_kernel_notebook(&env, "slow", &["--start-delay-ms", "20000"], &["echo hi"]);
    let started = Instant::now();
    let output = run(&env, &input, &["--start-timeout", "1"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("did not become ready"),
        "{}",
        stderr(&output)
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    env.assert_no_survivors(Duration::from_secs(5));
}

#[test]
fn a_kernel_with_bad_signatures_is_never_trusted() {
    let env = JupyterEnv::new();
    let input = test_kernel_notebook(&env, "forger", &["--bad-signature"], &["echo hi"]);
    let output = run(&env, &input, &["--start-timeout", "2"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("signatures do not verify"),
        "{}",
        stderr(&output)
    );
    env.assert_no_survivors(Duration::from_secs(5));
}

#[test]
fn kill_9_of_nbgate_takes_its_kernel_along() {
    let env = JupyterEnv::new();
    let input = test_kernel_notebook(&env, "orphan", &[], &["echo running\nhang-hard"]);
    let mut child = Command::new(workspace_bin("nbgate"))
        .current_dir(env.work())
        .envs(env.vars())
        .args([
            "run",
            input.to_str().unwrap_or_default(),
            "out.ipynb",
            "--log-output",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait until the cell is running: --log-output forwards its stream.
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    loop {
        let line = lines
            .next()
            .expect("nbgate ended before the cell ran")
            .expect("read");
        if line.contains("running") {
            break;
        }
    }
    assert!(
        !env.live_processes().is_empty(),
        "the kernel should be running now"
    );
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: kill(2) with a pid we own.
    let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
    assert_eq!(rc, 0);
    child.wait().expect("reaped");
    env.assert_no_survivors(Duration::from_secs(5));
}

#[test]
fn allow_errors_records_the_error_and_runs_on() {
    let env = JupyterEnv::new();
    let input = write(
        &env,
        "errors.ipynb",
        &notebook("python3", "python", &["1/0", "print('after')"]),
    );
    let output = run(&env, &input, &["--allow-errors"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let executed = read(&env.work().join("out.ipynb"));
    assert_eq!(outputs(&executed, 0)[0]["ename"], "ZeroDivisionError");
    assert_eq!(outputs(&executed, 1)[0]["text"], json!(["after\n"]));
    // No papermill error markers: the errors were allowed.
    assert_eq!(executed["cells"].as_array().map(Vec::len), Some(2));
}

#[test]
fn an_output_flood_is_capped_with_a_visible_note() {
    let env = JupyterEnv::new();
    let input = test_kernel_notebook(&env, "flood", &[], &["flood 20000000", "echo after"]);
    let output = run(&env, &input, &["--max-output-bytes", "1000000"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let executed = read(&env.work().join("out.ipynb"));
    let flood = outputs(&executed, 0);
    let kept: usize = flood
        .iter()
        .filter(|o| o["name"] == "stdout")
        .flat_map(|o| o["text"].as_array().cloned().unwrap_or_default())
        .filter_map(|line| line.as_str().map(str::len))
        .sum();
    assert!(kept <= 1_000_000, "kept {kept} bytes");
    assert!(kept >= 900_000, "kept only {kept} bytes");
    let note = flood.last().expect("a note");
    assert_eq!(note["name"], "stderr");
    assert!(note.to_string().contains("--max-output-bytes"), "{note}");
    assert_eq!(outputs(&executed, 1)[0]["text"], json!(["after\n"]));
}

//! Kernel faults through the real executor path: `nbgate serve`'s executions API on the test kernel
//! (crash, wedged cell, slow start, forged signatures, a 100 MB stdout flood, an exit during shutdown)
//! and on real ipykernel (crash, hang past the cell timeout, a cell that ignores interrupts). Each
//! execution ends in the right status with its partial output, within its timeout + 2 s by the recorded
//! times, the gateway's peak memory stays bounded during the flood, and no process outlives the server.
//!
//! `nbgate run` covers the same faults on the command line (`cli_run.rs`); this file proves that the
//! scheduler's worker records them.

use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use nbgate_tests::JupyterEnv;
use nbgate_tests::serve::{Serve, cell_stdout, notebook, proc_status_kib};
use serde_json::{Value, json};

/// The bound on cleaning up after a fault: a timeout plus this is when the execution must be recorded.
const GRACE: f64 = 2.0;
const CELL_TIMEOUT: f64 = 1.0;
const START_TIMEOUT: f64 = 2.0;
const FLOOD_BYTES: u64 = 100_000_000;
const OUTPUT_CAP: usize = 1_000_000;

fn time(text: &Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(
        text.as_str()
            .unwrap_or_else(|| panic!("a time, not {text}")),
    )
    .expect("RFC 3339")
}

fn seconds_between(from: &Value, to: &Value) -> f64 {
    (time(to) - time(from)).as_seconds_f64()
}

struct Case {
    notebook: &'static str,
    execution: Value,
    output: Value,
}

impl Case {
    /// The execution ended with `status` at `cell`, and the seconds from that cell's start (as the output
    /// notebook records it) to the recorded end of the execution.
    fn ended_at_cell(&self, status: &str, cell: usize) -> f64 {
        let e = &self.execution;
        assert_eq!(
            (e["status"].as_str(), e["error"]["cell_index"].as_u64()),
            (Some(status), Some(cell as u64)),
            "{}: {e}",
            self.notebook
        );
        let started = &self.output["cells"][cell]["metadata"]["papermill"]["start_time"];
        seconds_between(started, &e["ended_at"])
    }
}

fn run_cases(server: &Serve, cases: &[(&'static str, Value)]) -> Vec<Case> {
    let ids: Vec<_> = cases
        .iter()
        .map(|(notebook, extra)| {
            let mut body = json!({"notebook": notebook});
            for (key, value) in extra.as_object().into_iter().flatten() {
                body[key] = value.clone();
            }
            server.create(&body)
        })
        .collect();
    cases
        .iter()
        .zip(ids)
        .map(|((notebook, _), id)| {
            let execution = server.finished(&id, Duration::from_secs(120));
            let (status, output) =
                server.call("GET", &format!("/api/executions/{id}/notebook"), None);
            println!(
                "{notebook}: {} in {}s — {}",
                execution["status"], execution["duration"], execution["reason"]
            );
            Case {
                notebook,
                execution,
                output: if status == 200 { output } else { Value::Null },
            }
        })
        .collect()
}

#[test]
fn test_kernel_faults_end_in_the_right_status_in_time_with_bounded_memory() {
    let env = JupyterEnv::new();
    env.add_test_kernel("testk", &[]);
    env.add_test_kernel("slow", &["--start-delay-ms", "30000"]);
    env.add_test_kernel("forger", &["--bad-signature"]);
    env.add_test_kernel("abrupt", &["--exit-during-shutdown"]);
    let write = |name: &str, kernel: &str, cells: &[&str]| {
        std::fs::write(env.work().join(name), notebook(kernel, "testlang", cells)).expect("write");
    };
    write(
        "crash.ipynb",
        "testk",
        &["echo first", "echo partial\ncrash", "echo never"],
    );
    write(
        "wedged.ipynb",
        "testk",
        &["echo started", "echo hanging\nhang-hard", "echo never"],
    );
    write("slow.ipynb", "slow", &["echo never"]);
    write("forged.ipynb", "forger", &["echo never"]);
    let flood = format!("flood {FLOOD_BYTES}");
    write("flood.ipynb", "testk", &[&flood, "echo after"]);
    write("abrupt.ipynb", "abrupt", &["echo done"]);

    let data = tempfile::tempdir().expect("data dir");
    let cap = OUTPUT_CAP.to_string();
    let start_timeout = START_TIMEOUT.to_string();
    let server = Serve::start(
        &env,
        data.path(),
        &[
            "--max-concurrent-executions",
            "2",
            "--start-timeout",
            &start_timeout,
            "--max-output-bytes",
            &cap,
        ],
    );
    let rss_before = proc_status_kib(server.pid(), "VmRSS");
    let cases = run_cases(
        &server,
        &[
            ("crash.ipynb", json!({})),
            ("wedged.ipynb", json!({"cell_timeout": CELL_TIMEOUT})),
            ("slow.ipynb", json!({})),
            ("forged.ipynb", json!({})),
            ("flood.ipynb", json!({})),
            ("abrupt.ipynb", json!({})),
        ],
    );
    let peak = proc_status_kib(server.pid(), "VmHWM");
    println!(
        "flood of {} MB with a {} MB cap: nbgate RSS {} MiB before, peak {} MiB",
        FLOOD_BYTES / 1_000_000,
        OUTPUT_CAP / 1_000_000,
        rss_before / 1024,
        peak / 1024
    );
    let case = |name: &str| {
        cases
            .iter()
            .find(|case| case.notebook == name)
            .expect("case")
    };

    // Crash mid-cell: failed, the kernel died in cell 1, outputs so far kept, recorded within 2 s.
    let crash = case("crash.ipynb");
    let took = crash.ended_at_cell("failed", 1);
    let e = &crash.execution;
    assert_eq!(e["error"]["ename"], "DeadKernelError", "{e}");
    assert!(
        e["reason"]
            .as_str()
            .is_some_and(|r| r.contains("kernel died")),
        "{e}"
    );
    assert_eq!(cell_stdout(&crash.output, 0), "first\n");
    assert_eq!(cell_stdout(&crash.output, 1), "partial\n");
    assert_eq!(cell_stdout(&crash.output, 2), "");
    assert!(
        took <= GRACE,
        "the crash was recorded {took}s after the cell started"
    );

    // A cell wedged past the cell timeout (interrupts ignored): timed out at that cell, partial output.
    let wedged = case("wedged.ipynb");
    let took = wedged.ended_at_cell("timed_out", 1);
    assert_eq!(cell_stdout(&wedged.output, 0), "started\n");
    assert_eq!(cell_stdout(&wedged.output, 1), "hanging\n");
    assert!(
        took <= CELL_TIMEOUT + GRACE,
        "a {CELL_TIMEOUT}s cell timeout ended the execution {took}s after the cell started"
    );
    println!(
        "wedged cell: the execution ended {took:.2}s after the cell started (timeout {CELL_TIMEOUT}s)"
    );

    // Slow start and forged signatures: failed with the reason, within the start timeout + 2 s.
    for (name, says) in [
        ("slow.ipynb", "did not become ready"),
        ("forged.ipynb", "signatures do not verify"),
    ] {
        let e = &case(name).execution;
        assert_eq!(e["status"], "failed", "{e}");
        assert!(
            e["reason"].as_str().is_some_and(|r| r.contains(says)),
            "{name}: {e}"
        );
        let took = seconds_between(&e["started_at"], &e["ended_at"]);
        assert!(
            took <= START_TIMEOUT + GRACE,
            "{name}: failed {took}s after it started (start timeout {START_TIMEOUT}s)"
        );
    }

    // The flood: succeeded, output cut at the cap with a visible note, the next cell still ran, and
    // nbgate's peak memory stayed far below the flood.
    let flood = case("flood.ipynb");
    assert_eq!(
        flood.execution["status"], "succeeded",
        "{}",
        flood.execution
    );
    let kept = cell_stdout(&flood.output, 0).len();
    assert!(
        (OUTPUT_CAP * 9 / 10..=OUTPUT_CAP).contains(&kept),
        "kept {kept} bytes of the flood"
    );
    let outputs = flood.output["cells"][0]["outputs"]
        .as_array()
        .expect("outputs");
    let note = outputs.last().expect("a note").to_string();
    assert!(note.contains("--max-output-bytes"), "{note}");
    assert_eq!(cell_stdout(&flood.output, 1), "after\n");
    assert!(
        peak < rss_before + 200 * 1024,
        "nbgate's peak RSS was {peak} KiB (from {rss_before} KiB) during a {FLOOD_BYTES}-byte flood"
    );

    // A kernel that exits instead of answering the shutdown request: the run still succeeded.
    let abrupt = &case("abrupt.ipynb").execution;
    assert_eq!(abrupt["status"], "succeeded", "{abrupt}");
    let took = seconds_between(&abrupt["started_at"], &abrupt["ended_at"]);
    assert!(took <= GRACE, "the run took {took}s");

    server.stop();
    env.assert_no_survivors(Duration::from_secs(10));
}

#[test]
fn ipykernel_faults_end_in_the_right_status_in_time() {
    let env = JupyterEnv::new();
    let write = |name: &str, cells: &[&str]| {
        std::fs::write(env.work().join(name), notebook("python3", "python", cells)).expect("write");
    };
    write(
        "crash.ipynb",
        &[
            "print('first')",
            // ipykernel hands a flushed print to its ZeroMQ thread; an immediate _exit can drop it
            // inside the kernel process, before nbgate could see it. The pause lets it leave.
            "import os, time\nprint('partial', flush=True)\ntime.sleep(0.5)\nos._exit(1)",
            "print('never')",
        ],
    );
    write(
        "sleepy.ipynb",
        &["print('started')", "import time\ntime.sleep(600)"],
    );
    write(
        "stubborn.ipynb",
        &[
            "print('started')",
            "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(600)",
        ],
    );
    let data = tempfile::tempdir().expect("data dir");
    let server = Serve::start(&env, data.path(), &["--max-concurrent-executions", "3"]);
    let timeout = json!({"cell_timeout": CELL_TIMEOUT});
    let cases = run_cases(
        &server,
        &[
            ("crash.ipynb", json!({})),
            ("sleepy.ipynb", timeout.clone()),
            ("stubborn.ipynb", timeout),
        ],
    );

    let crash = &cases[0];
    let took = crash.ended_at_cell("failed", 1);
    assert_eq!(
        crash.execution["error"]["ename"], "DeadKernelError",
        "{}",
        crash.execution
    );
    assert_eq!(cell_stdout(&crash.output, 0), "first\n");
    assert_eq!(cell_stdout(&crash.output, 1), "partial\n");
    println!("ipykernel crash: recorded {took:.2}s after the cell started");
    assert!(
        took <= GRACE,
        "the crash was recorded {took}s after the cell started"
    );

    // Interruptible or not, a cell past its timeout ends the execution `timed_out` in time.
    for case in &cases[1..] {
        let took = case.ended_at_cell("timed_out", 1);
        assert_eq!(cell_stdout(&case.output, 0), "started\n");
        assert!(
            took <= CELL_TIMEOUT + GRACE,
            "{}: ended {took}s after the cell started",
            case.notebook
        );
        println!(
            "{}: the execution ended {took:.2}s after the cell started (timeout {CELL_TIMEOUT}s)",
            case.notebook
        );
    }
    // The interruptible one shows Python's KeyboardInterrupt in the cell.
    let sleepy = cases[1].output["cells"][1]["outputs"].to_string();
    assert!(sleepy.contains("KeyboardInterrupt"), "{sleepy}");

    server.stop();
    env.assert_no_survivors(Duration::from_secs(10));
}

//! The run loop on the deterministic test kernel: progress events in order, cancellation, and the
//! output notebook a cancelled or crashed run leaves on disk.

use std::sync::{Arc, Mutex};

use nbgate_executor::Notebook;
use nbgate_executor::run::{Outcome, Progress, RunRequest, run_notebook};
use nbgate_kernel::{KernelSpecs, LaunchOptions};
use nbgate_tests::JupyterEnv;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn notebook(kernel: &str, cells: &[&str]) -> Notebook {
    let document = json!({
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": kernel, "display_name": kernel, "language": "testlang"}},
        "cells": cells.iter().enumerate().map(|(i, source)| json!({
            "id": format!("c{i}"), "cell_type": "code", "metadata": {},
            "execution_count": null, "source": source, "outputs": []
        })).collect::<Vec<_>>()
    });
    Notebook::parse(&document.to_string()).expect("valid notebook")
}

fn request(env: &JupyterEnv, output: &str) -> RunRequest {
    RunRequest {
        input_label: "in.ipynb".into(),
        output_label: output.into(),
        save_to: Some(env.work().join(output)),
        launch: LaunchOptions {
            env: env.vars(),
            ..LaunchOptions::default()
        },
        ..RunRequest::default()
    }
}

fn specs(env: &JupyterEnv) -> KernelSpecs {
    KernelSpecs::with_dirs(vec![env.specs.join("kernels")])
}

#[tokio::test]
async fn progress_is_reported_in_order() {
    let env = JupyterEnv::new();
    env.add_test_kernel("tk", &[]);
    let mut notebook = notebook("tk", &["echo one", "result two"]);
    let events = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&events);
    let mut sink = move |progress: Progress| recorded.lock().expect("lock").push(progress);
    let outcome = run_notebook(
        &mut notebook,
        &request(&env, "out.ipynb"),
        &specs(&env),
        &mut sink,
        CancellationToken::new(),
    )
    .await
    .expect("runs");
    assert_eq!(outcome, Outcome::Succeeded);
    let mut events = events.lock().expect("lock").clone();
    // The kernel's id is a fresh UUID: checked for shape, then left out of the comparison.
    if let Some(Progress::KernelReady { id, location, .. }) = events.get_mut(1) {
        assert_eq!(uuid_shape(id), Some(36), "{id}");
        assert_eq!(location, "local");
        id.clear();
    }
    let stream = json!({"output_type": "stream", "name": "stdout", "text": "one\n"});
    let result = json!({"output_type": "execute_result", "data": {"text/plain": "two"}, "metadata": {}, "execution_count": 2});
    assert_eq!(
        events,
        vec![
            Progress::Started {
                total: 2,
                injected_cell: None
            },
            Progress::KernelReady {
                kernel: "tk".into(),
                id: String::new(),
                location: "local".into(),
            },
            Progress::CellStarted { index: 0, total: 2 },
            Progress::Output {
                index: 0,
                output: stream
            },
            Progress::CellFinished {
                index: 0,
                total: 2,
                failed: false
            },
            Progress::CellStarted { index: 1, total: 2 },
            Progress::Output {
                index: 1,
                output: result
            },
            Progress::CellFinished {
                index: 1,
                total: 2,
                failed: false
            },
        ]
    );
    let saved = Notebook::read(&env.work().join("out.ipynb")).expect("saved");
    assert_eq!(saved.metadata()["language_info"]["name"], "testlang");
    env.assert_no_survivors(std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn cancelling_interrupts_the_running_cell_and_keeps_the_partial_output() {
    let env = JupyterEnv::new();
    env.add_test_kernel("tk", &[]);
    let mut notebook = notebook("tk", &["echo done", "echo partial\nhang", "echo never"]);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    // Cancel as soon as the hanging cell has produced its first output.
    let mut sink = move |progress: Progress| {
        if let Progress::Output { index: 1, .. } = progress {
            trigger.cancel();
        }
    };
    let outcome = run_notebook(
        &mut notebook,
        &request(&env, "cancelled.ipynb"),
        &specs(&env),
        &mut sink,
        cancel,
    )
    .await
    .expect("runs");
    assert_eq!(outcome, Outcome::Cancelled { cell_index: 1 });
    let saved = Notebook::read(&env.work().join("cancelled.ipynb")).expect("saved");
    let outputs = |i: usize| {
        saved
            .cell(i)
            .map(|c| c.outputs().to_vec())
            .unwrap_or_default()
    };
    assert_eq!(outputs(0)[0]["text"], json!("done\n"));
    assert_eq!(outputs(1)[0]["text"], json!("partial\n"));
    // The interrupt reached the kernel: the cell ended with KeyboardInterrupt.
    assert_eq!(
        outputs(1).last().map(|o| o["ename"].clone()),
        Some(Value::from("KeyboardInterrupt"))
    );
    assert!(outputs(2).is_empty());
    env.assert_no_survivors(std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn an_unknown_kernel_leaves_no_output_file() {
    let env = JupyterEnv::new();
    let mut notebook = notebook("nonexistent", &["echo x"]);
    let error = run_notebook(
        &mut notebook,
        &request(&env, "never.ipynb"),
        &specs(&env),
        &mut nbgate_executor::run::ignore(),
        CancellationToken::new(),
    )
    .await
    .expect_err("no such kernel");
    assert!(error.to_string().contains("nonexistent"), "{error}");
    assert!(!env.work().join("never.ipynb").exists());
}

/// The length of `text` when it looks like a UUID (hex digits and four dashes).
fn uuid_shape(text: &str) -> Option<usize> {
    (text.chars().filter(|c| *c == '-').count() == 4
        && text.chars().all(|c| c == '-' || c.is_ascii_hexdigit()))
    .then_some(text.len())
}

//! Shared by the scheduler's integration tests: notebooks, a runner that needs no kernel (for the loop
//! under paused time), and scheduler start-up in temporary directories.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use nbgate_executor::papermill::PapermillExecutionError;
use nbgate_executor::run::{Outcome, Progress, ProgressSink};
use nbgate_kernel::KernelSpecs;
use nbgate_scheduler::runner::BoxFuture;
use nbgate_scheduler::{
    Clock, EventKind, Execution, ExecutionStatus, Received, RunJob, Runner, SchedulerConfig,
    SchedulerHandle, Subscription,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// A notebook for `kernel`, with an optional parameters cell and code cells.
pub fn notebook(kernel: &str, language: &str, parameters: Option<&str>, cells: &[&str]) -> String {
    let mut all = Vec::new();
    if let Some(source) = parameters {
        all.push(
            json!({"cell_type": "code", "id": "params", "metadata": {"tags": ["parameters"]},
                        "source": source, "outputs": [], "execution_count": null}),
        );
    }
    for (i, source) in cells.iter().enumerate() {
        all.push(
            json!({"cell_type": "code", "id": format!("c{i}"), "metadata": {},
                        "source": source, "outputs": [], "execution_count": null}),
        );
    }
    json!({
        "nbformat": 4, "nbformat_minor": 5, "cells": all,
        "metadata": {"kernelspec": {"name": kernel, "display_name": kernel, "language": language}},
    })
    .to_string()
}

pub fn write(root: &Path, path: &str, text: &str) {
    let file = root.join(path);
    std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
    std::fs::write(file, text).expect("write notebook");
}

/// Kernelspecs with a `python3` entry that is never started (validation only).
pub fn fake_specs(dir: &Path) -> KernelSpecs {
    let spec = dir.join("kernels/python3");
    std::fs::create_dir_all(&spec).expect("spec dir");
    std::fs::write(
        spec.join("kernel.json"),
        r#"{"argv": ["false"], "display_name": "Python 3", "language": "python"}"#,
    )
    .expect("kernel.json");
    KernelSpecs::with_dirs(vec![dir.join("kernels")])
}

/// Runs nothing: the last cell's source says what happens — `ok`, `fail`, `block` (until cancelled)
/// or `flaky` (fails the first time for a notebook, then succeeds). Writes the output notebook.
pub struct FakeRunner {
    specs: KernelSpecs,
    seen: Mutex<HashMap<String, u32>>,
    pub calls: Mutex<Vec<serde_json::Value>>,
}

impl FakeRunner {
    pub fn new(specs: KernelSpecs) -> Arc<FakeRunner> {
        Arc::new(FakeRunner {
            specs,
            seen: Mutex::new(HashMap::new()),
            calls: Mutex::new(Vec::new()),
        })
    }
}

impl Runner for FakeRunner {
    fn run<'a>(
        &'a self,
        job: RunJob,
        mut sink: Box<dyn ProgressSink + 'a>,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<Outcome, String>> {
        Box::pin(async move {
            let RunJob {
                notebook, request, ..
            } = job;
            self.calls
                .lock()
                .expect("lock")
                .push(serde_json::Value::Object(request.parameters.to_json()));
            if let Some(path) = &request.save_to {
                notebook.write_atomic(path).map_err(|e| e.to_string())?;
            }
            let total = notebook.cells().len();
            sink.report(Progress::CellStarted {
                index: total - 1,
                total,
            });
            let script = notebook.cell_source(total - 1);
            let count = {
                let mut seen = self.seen.lock().expect("lock");
                let count = seen.entry(request.input_label.clone()).or_default();
                *count += 1;
                *count
            };
            let failed = || {
                Outcome::Failed(PapermillExecutionError {
                    cell_index: total - 1,
                    execution_count: Some(1),
                    source: script.clone(),
                    ename: "ValueError".into(),
                    evalue: "boom".into(),
                    traceback: vec!["ValueError: boom".into()],
                })
            };
            Ok(match script.as_str() {
                "ok" => Outcome::Succeeded,
                "fail" => failed(),
                "flaky" if count == 1 => failed(),
                "flaky" => Outcome::Succeeded,
                "block" => {
                    cancel.cancelled().await;
                    Outcome::Cancelled {
                        cell_index: total - 1,
                    }
                }
                other => return Err(format!("unknown fake script {other:?}")),
            })
        })
    }

    fn specs(&self) -> &KernelSpecs {
        &self.specs
    }
}

/// A scheduler on a fake runner in `root`/`data`.
pub async fn start_fake(
    root: &Path,
    data: &Path,
    clock: Arc<dyn Clock>,
    runner: Arc<FakeRunner>,
    shutdown: CancellationToken,
) -> SchedulerHandle {
    let mut config = SchedulerConfig::new(root, data);
    config.clock = clock;
    config.runner = runner;
    config.concurrency = 4;
    nbgate_scheduler::Scheduler::start(config, shutdown)
        .await
        .expect("start")
}

/// Waits for the next status event matching `status` (any execution); returns the execution id.
pub async fn next_status(events: &mut Subscription, wanted: ExecutionStatus) -> String {
    loop {
        match events.recv().await {
            Received::Event(event) => {
                if let EventKind::Status { status, .. } = event.kind
                    && status == wanted
                {
                    return event.execution_id;
                }
            }
            Received::Lagged { missed } => panic!("lagged by {missed:?}"),
            Received::Closed => panic!("events closed"),
        }
    }
}

/// Waits for `id` to reach a terminal status and returns it.
pub async fn finished(handle: &SchedulerHandle, events: &mut Subscription, id: &str) -> Execution {
    loop {
        let execution = handle.get_execution(id).await.expect("execution");
        if execution.status.is_terminal() {
            return execution;
        }
        if let Received::Closed = events.recv().await {
            panic!("events closed");
        }
    }
}

pub fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("rfc3339")
        .with_timezone(&Utc)
}

pub async fn all_executions(handle: &SchedulerHandle) -> Vec<Execution> {
    handle
        .list_executions(Default::default(), 1000, None)
        .await
        .expect("list")
        .items
}

/// Waits until the executions satisfy `done`, re-checking after each event.
pub async fn wait_until(
    handle: &SchedulerHandle,
    events: &mut Subscription,
    done: impl Fn(&[Execution]) -> bool,
) -> Vec<Execution> {
    loop {
        let executions = all_executions(handle).await;
        if done(&executions) {
            return executions;
        }
        if let Received::Closed = events.recv().await {
            panic!("events closed");
        }
    }
}

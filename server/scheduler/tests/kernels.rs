//! Executions on real kernels (real time): the test kernel for fast, exact faults, and ipykernel once.

mod support;

use std::sync::Arc;
use std::time::Duration;

use nbgate_kernel::KernelSpecs;
use nbgate_scheduler::store::Store;
use nbgate_scheduler::{
    EventKind, ExecutionStatus, ExecutorRunner, NewExecution, Received, RunConfig, Scheduler,
    SchedulerConfig, SchedulerHandle, SqliteStore,
};
use nbgate_tests::JupyterEnv;
use serde_json::json;
use support::*;
use tokio_util::sync::CancellationToken;

struct Kernels {
    env: JupyterEnv,
    data: tempfile::TempDir,
    shutdown: CancellationToken,
    handle: SchedulerHandle,
}

async fn start(env: JupyterEnv, data: tempfile::TempDir) -> Kernels {
    let vars = env.vars();
    let specs = KernelSpecs::from_vars(|name| vars.get(name).cloned());
    let mut config = SchedulerConfig::new(env.work(), data.path());
    config.runner = Arc::new(ExecutorRunner::new(specs));
    config.kernel_env = vars;
    config.concurrency = 2;
    let shutdown = CancellationToken::new();
    let handle = Scheduler::start(config, shutdown.clone())
        .await
        .expect("start");
    Kernels {
        env,
        data,
        shutdown,
        handle,
    }
}

fn test_env() -> JupyterEnv {
    let env = JupyterEnv::new();
    env.add_test_kernel("testkernel", &[]);
    env
}

impl Kernels {
    fn notebook(&self, path: &str, cells: &[&str]) {
        write(
            &self.env.work(),
            path,
            &notebook("testkernel", "testlang", None, cells),
        );
    }

    async fn run(&self, request: NewExecution) -> nbgate_scheduler::Execution {
        let mut events = self.handle.subscribe(None);
        let execution = self.handle.create_execution(request).await.expect("create");
        finished(&self.handle, &mut events, &execution.id).await
    }

    fn output(&self, execution: &nbgate_scheduler::Execution) -> String {
        std::fs::read_to_string(self.env.work().join(&execution.output_path))
            .expect("output notebook")
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.handle.stopped().await;
        self.env.assert_no_survivors(Duration::from_secs(10));
    }
}

fn adhoc(notebook: &str) -> NewExecution {
    NewExecution {
        notebook: notebook.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_on_the_test_kernel() {
    let k = start(test_env(), tempfile::tempdir().expect("data")).await;
    k.notebook("ok.ipynb", &["echo hello", "echo world"]);
    k.notebook(
        "fail.ipynb",
        &["echo before", "error ValueError bad value", "echo never"],
    );
    k.notebook("slow.ipynb", &["echo start", "sleep 20000"]);

    let mut events = k.handle.subscribe(None);
    let ok = k.run(adhoc("ok.ipynb")).await;
    assert_eq!(ok.status, ExecutionStatus::Succeeded, "{ok:?}");
    assert!(ok.input_hash.is_some() && ok.ended_at.is_some());
    assert_eq!(ok.progress.map(|p| (p.cell, p.total)), Some((1, 2)));
    assert!(
        ok.output_path.starts_with("executions/ok/ok_at_"),
        "{}",
        ok.output_path
    );
    assert!(k.output(&ok).contains("world"));
    let mut outputs = 0;
    while let Received::Event(event) = events.recv().await {
        if event.execution_id != ok.id {
            continue;
        }
        match event.kind {
            EventKind::Output { .. } => outputs += 1,
            EventKind::Status { status, .. } if status.is_terminal() => break,
            _ => {}
        }
    }
    assert_eq!(outputs, 2);

    let failed = k.run(adhoc("fail.ipynb")).await;
    assert_eq!(failed.status, ExecutionStatus::Failed);
    let error = failed.error.clone().expect("error facts");
    assert_eq!(
        (
            error.cell_index,
            error.ename.as_str(),
            error.evalue.as_str()
        ),
        (Some(1), "ValueError", "bad value")
    );
    assert!(!error.traceback.is_empty());
    assert!(k.output(&failed).contains("before"), "partial output kept");

    let cell_timeout = k
        .run(NewExecution {
            cell_timeout: Some(Duration::from_millis(300)),
            ..adhoc("slow.ipynb")
        })
        .await;
    assert_eq!(
        cell_timeout.status,
        ExecutionStatus::TimedOut,
        "{cell_timeout:?}"
    );
    assert_eq!(
        cell_timeout.error.as_ref().and_then(|e| e.cell_index),
        Some(1)
    );

    let run_timeout = k
        .run(NewExecution {
            timeout: Some(Duration::from_millis(500)),
            ..adhoc("slow.ipynb")
        })
        .await;
    assert_eq!(
        run_timeout.status,
        ExecutionStatus::TimedOut,
        "{run_timeout:?}"
    );
    assert!(
        run_timeout
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("timeout"))
    );
    assert!(k.output(&run_timeout).contains("start"));
    k.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_interrupts_and_keeps_the_partial_output() {
    let k = start(test_env(), tempfile::tempdir().expect("data")).await;
    k.notebook("hang.ipynb", &["echo started", "hang"]);
    let mut events = k.handle.subscribe(None);
    let execution = k
        .handle
        .create_execution(adhoc("hang.ipynb"))
        .await
        .expect("create");
    loop {
        match events.recv().await {
            Received::Event(event) if event.kind == (EventKind::Progress { cell: 1, total: 2 }) => {
                break;
            }
            Received::Event(_) => {}
            other => panic!("{other:?}"),
        }
    }
    k.handle
        .cancel_execution(&execution.id)
        .await
        .expect("cancel");
    let cancelled = finished(&k.handle, &mut events, &execution.id).await;
    assert_eq!(
        cancelled.status,
        ExecutionStatus::Cancelled,
        "{cancelled:?}"
    );
    assert!(cancelled.ended_at.is_some());
    assert!(k.output(&cancelled).contains("started"));
    let again = k.handle.cancel_execution(&execution.id).await;
    assert!(again.is_err(), "a finished execution cannot be cancelled");
    k.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_fails_interrupted_runs_and_retries_them() {
    let env = test_env();
    let data = tempfile::tempdir().expect("data");
    write(
        &env.work(),
        "ok.ipynb",
        &notebook("testkernel", "testlang", None, &["echo again"]),
    );
    // What a crash leaves: an execution `running` with a partial output.
    {
        let store =
            SqliteStore::open(&data.path().join(nbgate_scheduler::DATABASE_FILE)).expect("store");
        let now = chrono::Utc::now();
        let output = "executions/ok/crashed.ipynb";
        write(
            &env.work(),
            output,
            &notebook("testkernel", "testlang", None, &["echo partial"]),
        );
        store
            .insert_execution(&nbgate_scheduler::Execution {
                id: "crashed".into(),
                name: "crashed".into(),
                schedule_id: None,
                schedule_name: None,
                notebook: "ok.ipynb".into(),
                status: ExecutionStatus::Running,
                reason: None,
                parameters: Default::default(),
                kernel: None,
                machine_type: None,
                input_hash: None,
                attempt: 1,
                max_attempts: 2,
                first_attempt_id: None,
                fire_time: None,
                created_at: now,
                ready_at: now,
                started_at: Some(now),
                ended_at: None,
                progress: None,
                error: None,
                output_path: output.into(),
                notify_error: None,
                run: RunConfig {
                    timeout: None,
                    cell_timeout: None,
                    retry_delay: Duration::ZERO,
                    snapshot: false,
                    outputs: Vec::new(),
                    expect: Vec::new(),
                    pipeline: None,
                },
                run_id: None,
                sweep_id: None,
                kernel_location: None,
                gateway_kernel_id: None,
                replica: None,
            })
            .expect("insert");
    }
    let k = start(env, data).await;
    let crashed = k.handle.get_execution("crashed").await.expect("get");
    assert_eq!(crashed.status, ExecutionStatus::Failed);
    assert_eq!(
        crashed.reason.as_deref(),
        Some("nbgate stopped during the run")
    );
    assert!(crashed.ended_at.is_some());
    assert!(
        k.output(&crashed).contains("partial"),
        "partial output kept"
    );
    let mut events = k.handle.subscribe(None);
    let retries = wait_until(&k.handle, &mut events, |all| {
        all.iter().any(|e| e.attempt == 2 && e.status.is_terminal())
    })
    .await;
    let retry = retries.iter().find(|e| e.attempt == 2).expect("retry");
    assert_eq!(retry.status, ExecutionStatus::Succeeded, "{retry:?}");
    assert_eq!(retry.first_attempt_id.as_deref(), Some("crashed"));
    assert_eq!(retry.name, "crashed_attempt_2");
    let _ = &k.data;
    k.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_on_ipykernel_with_typed_parameters() {
    let k = start(JupyterEnv::new(), tempfile::tempdir().expect("data")).await;
    write(
        &k.env.work(),
        "py/report.ipynb",
        &notebook(
            "python3",
            "python",
            Some("x = 1\nlabel = 'a'"),
            &["print(label, x * 2)"],
        ),
    );
    let execution = k
        .run(NewExecution {
            notebook: "py/report.ipynb".into(),
            parameters: json!({"x": 21, "label": "it's"})
                .as_object()
                .cloned()
                .expect("object"),
            ..Default::default()
        })
        .await;
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded,
        "{execution:?}"
    );
    let output = k.output(&execution);
    assert!(output.contains("it's 42"), "{output}");
    assert!(output.contains("injected-parameters"));
    k.stop().await;
}

//! One execution from `running` to its terminal status: read the input (recording its hash), run it
//! with the runner (output saved after every cell), enforce the run timeout, map the outcome, retry
//! with back-off, apply retention, hand the webhook to the notifier.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nbgate_executor::Parameters;
use nbgate_executor::run::{CellOptions, Outcome, Progress, RunRequest, SHUTDOWN_STEP};
use nbgate_kernel::LaunchOptions;
use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::context::{Ctx, STOPPED_DURING_RUN, StopCause, content_hash, retry_of};
use crate::events::EventKind;
use crate::model::{CellProgress, Execution, ExecutionError, ExecutionStatus, SCHEDULE_DELETED};
use crate::notify::Delivery;
use crate::paths;
use crate::runner::RunJob;
use crate::values::ValueRecorder;

/// How a run ended, before it is written.
struct End {
    status: ExecutionStatus,
    reason: Option<String>,
    error: Option<ExecutionError>,
}

impl End {
    fn failed(reason: impl Into<String>) -> End {
        End {
            status: ExecutionStatus::Failed,
            reason: Some(reason.into()),
            error: None,
        }
    }
}

pub(crate) async fn run_execution(
    ctx: Arc<Ctx>,
    mut execution: Execution,
    cancel: CancellationToken,
) {
    let (progress_tx, progress_rx) = watch::channel(None::<CellProgress>);
    let writer = ctx.tasks.spawn(write_progress(
        ctx.clone(),
        execution.id.clone(),
        progress_rx,
    ));
    let (values, values_writer) = ValueRecorder::start(&ctx, &execution.id);
    let (end, timed_out) = execute(&ctx, &mut execution, cancel.clone(), progress_tx, values).await;
    execution.progress = writer.await.unwrap_or(None);
    // Every value is stored before the execution is seen to end.
    let _ = values_writer.await;
    let end = match end.status {
        ExecutionStatus::Succeeded => expectations(&ctx, &execution).await.unwrap_or(end),
        _ => end,
    };
    let cause = ctx
        .running()
        .get(&execution.id)
        .and_then(|r| r.cause)
        .or_else(|| ctx.shutdown.is_cancelled().then_some(StopCause::Shutdown));
    let end = match (end.status, cause, timed_out) {
        (ExecutionStatus::Cancelled, _, Some(timeout)) => End {
            status: ExecutionStatus::TimedOut,
            reason: Some(format!("the run exceeded its timeout of {timeout:?}")),
            error: None,
        },
        (ExecutionStatus::Cancelled, Some(StopCause::Shutdown), _) => {
            End::failed(STOPPED_DURING_RUN)
        }
        (ExecutionStatus::Cancelled, Some(StopCause::LeaseLost), _) => {
            End::failed("its lease expired: another replica ended it")
        }
        (ExecutionStatus::Cancelled, Some(StopCause::ScheduleDeleted), _) => End {
            status: ExecutionStatus::Cancelled,
            reason: Some(SCHEDULE_DELETED.into()),
            error: None,
        },
        (ExecutionStatus::Cancelled, _, _) => End {
            status: ExecutionStatus::Cancelled,
            reason: Some("cancelled by request".into()),
            error: None,
        },
        _ => end,
    };
    let now = ctx.now();
    execution.status = end.status;
    execution.reason = end.reason;
    execution.error = end.error;
    execution.ended_at = Some(now);
    let retryable = matches!(
        end.status,
        ExecutionStatus::Failed | ExecutionStatus::TimedOut
    ) && !matches!(
        cause,
        Some(StopCause::User | StopCause::ScheduleDeleted | StopCause::LeaseLost)
    ) && execution.attempt < execution.max_attempts;
    let retry = retryable.then(|| retry_of(&execution, now));
    let (row, next) = (execution.clone(), retry.clone());
    let written = ctx
        .store_until_written("record the end", move |store| {
            Ok(
                store.finish_execution(&row, ExecutionStatus::Running, next.as_ref())?
                    || already_written(store, &row)?,
            )
        })
        .await;
    let delete_output = ctx
        .running()
        .remove(&execution.id)
        .is_some_and(|running| running.delete_output);
    match written {
        Ok(true) => {
            ctx.events
                .status(&execution.id, execution.status, execution.reason.as_deref());
            if let Some(retry) = &retry {
                ctx.events.created(retry);
            } else {
                crate::pipeline::ended(&ctx, &execution).await;
            }
            if let Some(schedule_id) = &execution.schedule_id {
                notify(&ctx, schedule_id, &execution).await;
                apply_retention(&ctx, schedule_id).await;
            }
        }
        Ok(false) => {
            tracing::info!(execution = %execution.id, "deleted while running");
            if delete_output {
                remove_output(&ctx, &execution).await;
            }
        }
        Err(error) => tracing::error!(execution = %execution.id, %error, "cannot record the end"),
    }
    ctx.wake.notify_one();
}

/// Whether `end` is the stored row's end already: a first try whose commit went through but whose
/// answer was lost with the connection.
fn already_written(
    store: &dyn crate::store::Store,
    end: &Execution,
) -> crate::store::StoreResult<bool> {
    let millis = |e: &Execution| e.ended_at.map(|t| t.timestamp_millis());
    Ok(store
        .get_execution(&end.id)?
        .is_some_and(|stored| stored.status == end.status && millis(&stored) == millis(end)))
}

/// After a run that succeeded (values and outputs stored): the failure its `expect` rules make it.
async fn expectations(ctx: &Ctx, execution: &Execution) -> Option<End> {
    if execution.run.expect.is_empty() {
        return None;
    }
    let id = execution.id.clone();
    let recorded = ctx
        .db
        .call(move |store| Ok((store.execution_values(&id)?, store.execution_outputs(&id)?)))
        .await;
    let error = match recorded {
        Ok((values, outputs)) => {
            let folder = std::path::Path::new(&execution.notebook)
                .parent()
                .unwrap_or(std::path::Path::new(""));
            crate::expect::evaluate(&execution.run.expect, &values, &outputs, folder)?
        }
        Err(error) => ExecutionError {
            cell_index: None,
            ename: crate::expect::ENAME.into(),
            evalue: format!("cannot read what the run recorded: {error}"),
            traceback: Vec::new(),
        },
    };
    Some(End {
        status: ExecutionStatus::Failed,
        reason: Some(format!("expectation failed: {}", error.evalue)),
        error: Some(error),
    })
}

/// Runs it; the second value is the run timeout when that is what stopped it.
async fn execute(
    ctx: &Ctx,
    execution: &mut Execution,
    cancel: CancellationToken,
    progress: watch::Sender<Option<CellProgress>>,
    values: ValueRecorder,
) -> (End, Option<std::time::Duration>) {
    if let Err(reason) = crate::pipeline::refs::resolve(ctx, execution).await {
        return (End::failed(reason), None);
    }
    let snapshot = match &execution.schedule_id {
        Some(id) if execution.run.snapshot => Some(ctx.snapshot_path(id)),
        _ => None,
    };
    let (root, notebook) = (ctx.root.clone(), execution.notebook.clone());
    let read = blocking(move || {
        let path = match snapshot {
            Some(path) => path,
            None => paths::existing_file(&root, &notebook).map_err(|e| e.to_string())?,
        };
        std::fs::read(&path).map_err(|error| format!("cannot read {}: {error}", path.display()))
    });
    let bytes = match read.await {
        Ok(bytes) => bytes,
        Err(reason) => return (End::failed(reason), None),
    };
    execution.input_hash = Some(content_hash(&bytes));
    execution.kernel_location = Some(ctx.runner.location().label().to_owned());
    let row = execution.clone();
    if let Err(error) = ctx
        .db
        .call(move |store| store.update_execution_if(&row, ExecutionStatus::Running))
        .await
    {
        tracing::error!(%error, "cannot record the input hash");
    }
    let mut notebook = match crate::validate::parse_notebook(&execution.notebook, &bytes) {
        Ok(notebook) => notebook,
        Err(error) => return (End::failed(error.to_string()), None),
    };
    // The output says whose record it is: the Jupyter extension refuses saves over a notebook with
    // this marker, and a copy to edit drops it.
    notebook.metadata_mut().insert(
        "nbgate".into(),
        json!({"execution_id": execution.id, "execution_name": execution.name}),
    );
    let (root, output) = (ctx.root.clone(), execution.output_path.clone());
    let save_to = match blocking(move || output_file(&root, &output)).await {
        Ok(path) => path,
        Err(reason) => return (End::failed(reason), None),
    };
    let cwd = ctx
        .root
        .join(&execution.notebook)
        .parent()
        .map(|dir| dir.to_path_buf());
    let machine_type =
        match crate::machine::for_run(&ctx.machine_types, execution.machine_type.as_deref()) {
            Ok(machine_type) => machine_type,
            Err(reason) => return (End::failed(reason), None),
        };
    if let Some(machine_type) = &machine_type {
        execution.kernel_location = Some(machine_type.location.label().to_owned());
    }
    let request = RunRequest {
        parameters: Parameters::from_json_object(&execution.parameters),
        kernel_name: execution.kernel.clone(),
        input_label: execution.notebook.clone(),
        output_label: execution.output_path.clone(),
        save_to: Some(save_to),
        cells: CellOptions {
            cell_timeout: execution.run.cell_timeout,
            ..CellOptions::default()
        },
        launch: LaunchOptions {
            env: kernel_env(&ctx.kernel_env),
            inherit_env: false,
            cwd,
            shutdown_step: SHUTDOWN_STEP,
            ..LaunchOptions::default()
        },
        ..RunRequest::default()
    };
    let events = ctx.events.clone();
    let id = execution.id.clone();
    let started_kernel = Arc::new(std::sync::Mutex::new(None));
    let record_kernel = kernel_recorder(ctx, &execution.id, started_kernel.clone());
    let sink = Box::new(move |step: Progress| match step {
        Progress::KernelReady { id, location, .. } => record_kernel(location, id),
        Progress::CellStarted { index, total } => {
            progress.send_replace(Some(CellProgress { cell: index, total }));
            events.send(&id, EventKind::Progress { cell: index, total });
        }
        Progress::Recorded { name, value, .. } => values.record(name, value),
        Progress::Output { index, output } => {
            events.send(
                &id,
                EventKind::Output {
                    cell: index,
                    output,
                },
            );
        }
        _ => {}
    });
    let outputs_before = crate::outputs::before_run(ctx, execution).await;
    let run_cancel = cancel.child_token();
    let run = ctx.runner.run(
        RunJob {
            notebook,
            request,
            machine_type,
        },
        sink,
        run_cancel.clone(),
    );
    tokio::pin!(run);
    let mut timed_out = None;
    let result = match execution.run.timeout {
        Some(timeout) => tokio::select! {
            result = &mut run => result,
            () = tokio::time::sleep(timeout) => {
                timed_out = Some(timeout);
                run_cancel.cancel();
                run.await
            }
        },
        None => run.await,
    };
    let end = match result {
        Ok(outcome) => outcome_end(outcome),
        Err(_) if run_cancel.is_cancelled() => outcome_end(Outcome::Cancelled { cell_index: 0 }),
        Err(reason) => End::failed(reason),
    };
    crate::outputs::after_run(ctx, execution, outputs_before).await;
    if let Some((location, gateway_id)) = nbgate_kernel::sync::lock(&started_kernel).take() {
        execution.kernel_location = Some(location);
        execution.gateway_kernel_id = gateway_id;
    }
    (end, timed_out)
}

/// Where a run's kernel started (`"local"` or a gateway's URL) and the gateway's id of it.
type StartedKernel = Arc<std::sync::Mutex<Option<(String, Option<String>)>>>;

/// What the sink does when the kernel is ready: where it runs and a gateway kernel's id go into
/// `cell` (for the execution's final row) and into the store at once (for GET while it runs).
fn kernel_recorder(
    ctx: &Ctx,
    execution_id: &str,
    cell: StartedKernel,
) -> impl Fn(String, String) + Send + use<> {
    let (db, tasks, execution_id) = (ctx.db.clone(), ctx.tasks.clone(), execution_id.to_owned());
    move |location: String, kernel_id: String| {
        let on_gateway = location != nbgate_kernel::KernelLocation::Local.label();
        let gateway_id = on_gateway.then_some(kernel_id);
        *nbgate_kernel::sync::lock(&cell) = Some((location.clone(), gateway_id.clone()));
        let id = execution_id.clone();
        let db = db.clone();
        tasks.spawn(async move {
            let written = db
                .call(move |store| store.set_kernel_location(&id, &location, gateway_id.as_deref()))
                .await;
            if let Err(error) = written {
                tracing::error!(%error, "cannot record the kernel's location");
            }
        });
    }
}

fn outcome_end(outcome: Outcome) -> End {
    let error = |cell_index, ename: &str, evalue: String| ExecutionError {
        cell_index: Some(cell_index),
        ename: ename.into(),
        evalue,
        traceback: Vec::new(),
    };
    match outcome {
        Outcome::Succeeded | Outcome::Prepared => End {
            status: ExecutionStatus::Succeeded,
            reason: None,
            error: None,
        },
        Outcome::Failed(failure) => End {
            status: ExecutionStatus::Failed,
            reason: Some(format!(
                "cell {} raised {}",
                failure.cell_index + 1,
                failure.ename
            )),
            error: Some(ExecutionError {
                cell_index: Some(failure.cell_index),
                ename: failure.ename,
                evalue: failure.evalue,
                traceback: failure.traceback,
            }),
        },
        Outcome::TimedOut {
            cell_index,
            message,
        } => End {
            status: ExecutionStatus::TimedOut,
            reason: Some(message.clone()),
            error: Some(error(cell_index, "CellTimeoutError", message)),
        },
        Outcome::KernelDied { cell_index, reason } => End {
            status: ExecutionStatus::Failed,
            reason: Some(format!("the kernel died: {reason}")),
            error: Some(error(cell_index, "DeadKernelError", reason)),
        },
        Outcome::Cancelled { .. } => End {
            status: ExecutionStatus::Cancelled,
            reason: None,
            error: None,
        },
    }
}

/// Writes the latest progress (cell n of m) to the store, coalescing bursts.
async fn write_progress(
    ctx: Arc<Ctx>,
    id: String,
    mut progress: watch::Receiver<Option<CellProgress>>,
) -> Option<CellProgress> {
    let mut last = None;
    while progress.changed().await.is_ok() {
        let Some(current) = *progress.borrow_and_update() else {
            continue;
        };
        last = Some(current);
        let id = id.clone();
        if let Err(error) = ctx
            .db
            .call(move |store| store.set_progress(&id, current))
            .await
        {
            tracing::error!(%error, "cannot record progress");
        }
    }
    last.or(*progress.borrow())
}

pub(crate) async fn notify(ctx: &Ctx, schedule_id: &str, execution: &Execution) {
    let id = schedule_id.to_owned();
    let Ok(Some(schedule)) = ctx.db.call(move |store| store.get_schedule(&id)).await else {
        return;
    };
    let Some(notify) = &schedule.spec.notify else {
        return;
    };
    let wanted = match execution.status {
        ExecutionStatus::Succeeded => notify.on_success,
        ExecutionStatus::Failed | ExecutionStatus::TimedOut => notify.on_failure,
        _ => false,
    };
    if !wanted {
        return;
    }
    let payload = json!({
        "schedule": {"id": schedule.id, "name": schedule.spec.name},
        "execution": {
            "id": execution.id,
            "name": execution.name,
            "attempt": execution.attempt,
            "fire_time": execution.fire_time,
        },
        "status": execution.status,
        "reason": execution.reason,
        "error": execution.error,
        "output_path": execution.output_path,
    });
    let _ = ctx.notifier.send(Delivery {
        execution_id: execution.id.clone(),
        url: notify.url.clone(),
        payload,
    });
}

/// Keeps the newest `retention` executions of the schedule, deleting older finished ones and their
/// output files.
pub(crate) async fn apply_retention(ctx: &Ctx, schedule_id: &str) {
    let id = schedule_id.to_owned();
    let result = ctx
        .db
        .call(move |store| {
            let Some(schedule) = store.get_schedule(&id)? else {
                return Ok(Vec::new());
            };
            let Some(keep) = schedule.spec.retention else {
                return Ok(Vec::new());
            };
            let mut deleted = Vec::new();
            for old in store
                .schedule_executions(&id)?
                .into_iter()
                .skip(keep as usize)
            {
                if old.status.is_terminal() && store.delete_execution(&old.id)? {
                    deleted.push(old);
                }
            }
            Ok(deleted)
        })
        .await;
    match result {
        Ok(deleted) => {
            for old in deleted {
                remove_output(ctx, &old).await;
                ctx.events.send(&old.id, EventKind::Deleted);
            }
        }
        Err(error) => tracing::error!(%error, "retention failed"),
    }
}

/// The output notebook's path, its folder created; resolving and creating block, so callers run it
/// on the blocking pool.
fn output_file(root: &Path, output_path: &str) -> Result<PathBuf, String> {
    let save_to = paths::output_dir(root, output_path).map_err(|error| error.to_string())?;
    if let Some(parent) = save_to.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|error| format!("cannot create {}: {error}", parent.display()))?;
    }
    Ok(save_to)
}

/// Filesystem work that fails with a reason, on the blocking pool (resolving paths, reading,
/// creating folders block).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|error| Err(format!("file system task failed: {error}")))
}

/// Deletes an execution's output notebook (a missing file is fine) if it is a file under the root
/// ([`paths::deletable_file`]); otherwise leaves it and logs why. On the blocking pool; done when it
/// returns.
pub(crate) async fn remove_output(ctx: &Ctx, execution: &Execution) {
    let (root, output, id) = (
        ctx.root.clone(),
        execution.output_path.clone(),
        execution.id.clone(),
    );
    let removed = tokio::task::spawn_blocking(move || match paths::deletable_file(&root, &output) {
        Ok(None) => {}
        Ok(Some(path)) => {
            if let Err(error) = std::fs::remove_file(&path)
                && error.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), %error, "cannot delete an output notebook");
            }
        }
        Err(error) => {
            tracing::warn!(execution = %id, %error, "output notebook left in place");
        }
    })
    .await;
    if let Err(error) = removed {
        tracing::warn!(execution = %execution.id, %error, "deleting the output notebook failed");
    }
}

/// An execution's kernel environment: nbgate's own without the secrets ([`nbgate_kernel::SECRET_VARS`]),
/// then `extra`.
fn kernel_env(
    extra: &std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<String, String> {
    let mut env: std::collections::BTreeMap<String, String> = std::env::vars()
        .filter(|(name, _)| !nbgate_kernel::is_secret(name))
        .collect();
    env.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

//! One run of one notebook, papermill's way: prepare (load normalisation, parameters, metadata), start
//! the kernel, execute the cells saving after each, record the outcome in the notebook.
//!
//! The output notebook is replaced atomically at every save point papermill has (start, each cell's
//! start and end, completion), so whatever happens the file on disk is a complete notebook holding
//! everything done so far.

mod cell;
mod events;
mod numbering;
mod save;

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use nbgate_kernel::{Kernel, KernelError, KernelLocation, KernelSpecs, LaunchOptions};
use tokio_util::sync::CancellationToken;

pub use self::cell::{
    CellEnd, CellOptions, CellRunner, DEFAULT_MAX_OUTPUT_BYTES, INTERRUPT_GRACE,
    RAISES_EXCEPTION_TAG, SHUTDOWN_STEP, SKIP_EXECUTION_TAG, should_execute, timeout_message,
};
pub use self::events::{Progress, ProgressSink, ignore};
pub use self::numbering::{CellNumbering, UserNumbered};
use self::save::Saver;
use crate::error::{InjectError, NotebookError};
use crate::notebook::Notebook;
use crate::papermill::{self, PapermillExecutionError};
use crate::parameters::{INJECTED_PARAMETERS_TAG, Parameters, inject_parameters};

/// Everything a run needs besides the notebook.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub parameters: Parameters,
    /// Kernelspec name; default: the notebook's.
    pub kernel_name: Option<String>,
    /// Language for parameter rendering; default: the notebook's.
    pub language: Option<String>,
    /// Recorded as `metadata.papermill.input_path`.
    pub input_label: String,
    /// Recorded as `metadata.papermill.output_path`.
    pub output_label: String,
    /// Where the notebook is saved during and after the run; `None` keeps it in memory only.
    pub save_to: Option<PathBuf>,
    /// Write the parameterised notebook and stop.
    pub prepare_only: bool,
    pub cells: CellOptions,
    /// Kernel start: working directory, environment, start timeout.
    pub launch: LaunchOptions,
    /// Where the kernel is started: here (from `specs`), or on a gateway (from its kernelspecs).
    pub location: KernelLocation,
}

/// How a run ended. A run that could not start at all is an [`RunError`] instead.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every cell ran (a `SystemExit(0)` counts as success, as in papermill).
    Succeeded,
    /// `prepare_only`: parameterised, not executed.
    Prepared,
    /// A cell raised; the notebook carries papermill's error markers.
    Failed(PapermillExecutionError),
    /// A cell ran past the cell timeout.
    TimedOut { cell_index: usize, message: String },
    /// The kernel died during cell `cell_index`.
    KernelDied { cell_index: usize, reason: String },
    /// Cancelled by the caller during cell `cell_index`.
    Cancelled { cell_index: usize },
}

/// Why a run could not be done at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Inject(#[from] InjectError),
    #[error("No kernel name found in notebook and no override provided.")]
    NoKernelName,
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error("cannot save the output notebook: {0}")]
    Save(#[from] NotebookError),
}

/// The clock a run reads; tests pass a fixed one.
pub type Clock = fn() -> DateTime<Utc>;

/// Runs `notebook` as papermill's `execute_notebook` does; `notebook` ends as the output notebook.
pub async fn run_notebook(
    notebook: &mut Notebook,
    request: &RunRequest,
    specs: &KernelSpecs,
    sink: &mut dyn ProgressSink,
    cancel: CancellationToken,
) -> Result<Outcome, RunError> {
    run_notebook_with_clock(notebook, request, specs, sink, cancel, Utc::now).await
}

/// [`run_notebook`] with an explicit clock for papermill's timestamps.
pub async fn run_notebook_with_clock(
    notebook: &mut Notebook,
    request: &RunRequest,
    specs: &KernelSpecs,
    sink: &mut dyn ProgressSink,
    cancel: CancellationToken,
    now: Clock,
) -> Result<Outcome, RunError> {
    let injected_cell = prepare(notebook, request, sink)?;
    if request.prepare_only {
        if let Some(path) = request.save_to.clone() {
            let snapshot = notebook.clone();
            blocking(move || snapshot.write_atomic(&path)).await?;
        }
        return Ok(Outcome::Prepared);
    }
    let kernel_name = kernel_name(notebook, request)?;
    // Find the kernelspec before touching the output: an unknown kernel is a usage error. A gateway
    // knows its own kernelspecs.
    let start = match &request.location {
        KernelLocation::Local => Start::Local(Box::new(specs.find_current(&kernel_name).await?)),
        KernelLocation::Gateway(gateway) => Start::Gateway(gateway),
    };

    // Saves between steps go to a background writer; the last one is synchronous and synced.
    let saver = request.save_to.as_deref().map(Saver::new);
    let save = |notebook: &Notebook| -> Result<(), RunError> {
        match &saver {
            Some(saver) => Ok(saver.offer(notebook)?),
            None => Ok(()),
        }
    };
    papermill::notebook_start(notebook, now());
    save(notebook)?;
    sink.report(Progress::Started {
        total: notebook.cells().len(),
        injected_cell,
    });

    let started = match start {
        Start::Local(spec) => nbgate_kernel::start(*spec, request.launch.clone()).await,
        Start::Gateway(gateway) => {
            nbgate_kernel::gateway::start(gateway, &kernel_name, request.launch.clone()).await
        }
    };
    let executed = match started {
        Ok(kernel) => {
            sink.report(Progress::KernelReady {
                kernel: kernel_name.clone(),
                id: kernel.id().to_owned(),
                location: kernel.location().to_owned(),
            });
            let result = execute_cells(notebook, &kernel, request, sink, cancel, now, &save).await;
            // A dead or hung kernel is stopped the hard way by shutdown's escalation.
            let _ = kernel.shutdown().await;
            result
        }
        Err(error) => Err(RunError::Kernel(error)),
    };
    papermill::notebook_complete(notebook, now());
    let outcome = match executed {
        Ok(outcome) => outcome,
        Err(error) => {
            save_final(saver, notebook).await?;
            return Err(error);
        }
    };
    let outcome = match outcome {
        Outcome::Succeeded if !request.cells.allow_errors => {
            match papermill::find_execution_error(notebook) {
                Some(error) => {
                    papermill::insert_error_markers(notebook, &error);
                    Outcome::Failed(error)
                }
                None => Outcome::Succeeded,
            }
        }
        other => other,
    };
    save_final(saver, notebook).await?;
    Ok(outcome)
}

/// The final save: waits for the background writer, then writes the notebook synced. Both block (a
/// thread join, an fsync), so they run on the blocking pool, not on the run's async thread.
async fn save_final(saver: Option<Saver>, notebook: &Notebook) -> Result<(), RunError> {
    let Some(saver) = saver else {
        return Ok(());
    };
    let snapshot = notebook.clone();
    Ok(blocking(move || saver.finish(&snapshot)).await?)
}

/// Runs `work` on tokio's blocking pool; a panic in it is resumed here, as if it had run inline.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

/// What a run starts its kernel from.
enum Start<'a> {
    Local(Box<nbgate_kernel::KernelSpec>),
    Gateway(&'a nbgate_kernel::Gateway),
}

/// Load normalisation, parameters, papermill metadata, removal of old error markers. Returns the
/// index of the injected cell when the injection added one.
fn prepare(
    notebook: &mut Notebook,
    request: &RunRequest,
    sink: &mut dyn ProgressSink,
) -> Result<Option<usize>, RunError> {
    papermill::normalize_loaded(notebook);
    let injection = inject_parameters(
        notebook,
        &request.parameters,
        request.kernel_name.as_deref(),
        request.language.as_deref(),
    )?;
    for warning in injection.warnings {
        sink.report(Progress::Warning(warning.to_string()));
    }
    papermill::prepare_metadata(notebook, &request.input_label, &request.output_label);
    papermill::remove_error_markers(notebook);
    // Found again: removing an earlier run's error markers may have moved it.
    let injected_cell = notebook
        .cells()
        .iter()
        .position(|cell| cell.has_tag(INJECTED_PARAMETERS_TAG));
    Ok(injected_cell.filter(|_| injection.added))
}

/// The kernelspec to run: the override, else the notebook's (`python` meaning `python3`, as nbclient).
fn kernel_name(notebook: &Notebook, request: &RunRequest) -> Result<String, RunError> {
    let name = request
        .kernel_name
        .as_deref()
        .or_else(|| notebook.kernel_name())
        .filter(|name| !name.is_empty())
        .ok_or(RunError::NoKernelName)?;
    Ok(if name == "python" { "python3" } else { name }.to_owned())
}

/// The cell loop: papermill's `papermill_execute_cells` followed by the `language_info` update.
async fn execute_cells(
    notebook: &mut Notebook,
    kernel: &Kernel,
    request: &RunRequest,
    sink: &mut dyn ProgressSink,
    cancel: CancellationToken,
    now: Clock,
    save: &(dyn Fn(&Notebook) -> Result<(), RunError> + Sync),
) -> Result<Outcome, RunError> {
    let mut runner = CellRunner::new(kernel, request.cells.clone(), cancel);
    let total = notebook.cells().len();
    for index in 0..total {
        papermill::cell_start(notebook, index, now());
        save(notebook)?;
        sink.report(Progress::CellStarted { index, total });
        let end = runner.execute(notebook, index, sink).await;
        if end == CellEnd::Raised {
            papermill::cell_exception(notebook, index);
        }
        papermill::cell_complete(notebook, index, now());
        save(notebook)?;
        sink.report(Progress::CellFinished {
            index,
            total,
            failed: end == CellEnd::Raised,
        });
        match end {
            CellEnd::Done => {}
            CellEnd::Raised => break,
            CellEnd::TimedOut { message } => {
                return Ok(Outcome::TimedOut {
                    cell_index: index,
                    message,
                });
            }
            CellEnd::IopubTimeout => {
                return Ok(Outcome::TimedOut {
                    cell_index: index,
                    message: "Timeout waiting for IOPub output".into(),
                });
            }
            CellEnd::KernelDied { reason } => {
                return Ok(Outcome::KernelDied {
                    cell_index: index,
                    reason,
                });
            }
            CellEnd::Cancelled => return Ok(Outcome::Cancelled { cell_index: index }),
        }
    }
    if let Some(language_info) = kernel.kernel_info().get("language_info") {
        notebook
            .metadata_mut()
            .insert("language_info".into(), language_info.clone());
    }
    Ok(Outcome::Succeeded)
}

/// A cell timeout from seconds as users give them (`None`, zero or negative: no limit).
pub fn cell_timeout_from_seconds(seconds: Option<f64>) -> Option<Duration> {
    seconds
        .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
        .map(Duration::from_secs_f64)
}

//! What runs a notebook for the worker. [`ExecutorRunner`] is the real one (nbgate-executor on a real
//! kernel); tests of the loop under paused time plug in one that needs no process.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use nbgate_executor::Notebook;
use nbgate_executor::run::{Outcome, ProgressSink, RunRequest, UserNumbered, run_notebook};
use nbgate_kernel::{KernelLocation, KernelSpecs};
use tokio_util::sync::CancellationToken;

/// A boxed future, so runners can be trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One run to do: the input notebook (parsed) and the executor's request (`save_to` set).
pub struct RunJob {
    pub notebook: Notebook,
    pub request: RunRequest,
    /// The execution's machine type: where its kernel starts, its variables and limits.
    pub machine_type: Option<nbgate_kernel::MachineType>,
}

/// Runs notebooks. `Err` is a run that could not be done at all (unknown kernel, kernel failed to
/// start, output not writable), with the message to record. Progress and outcomes number cells as
/// the user's notebook does (`nbgate_executor::run::UserNumbered`: the injected-parameters cell not
/// counted).
pub trait Runner: Send + Sync + 'static {
    fn run<'a>(
        &'a self,
        job: RunJob,
        sink: Box<dyn ProgressSink + 'a>,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<Outcome, String>>;

    /// The kernelspecs executions may name (for validation and the environments list).
    fn specs(&self) -> &KernelSpecs;

    /// Where runs start their kernels (a gateway knows its own kernelspecs, not [`Runner::specs`]).
    fn location(&self) -> &KernelLocation {
        &KernelLocation::Local
    }
}

/// The executor on real kernels.
pub struct ExecutorRunner {
    specs: KernelSpecs,
    fork_server: bool,
    start_timeout: Option<Duration>,
    max_output_bytes: Option<Option<usize>>,
    location: KernelLocation,
}

impl ExecutorRunner {
    pub fn new(specs: KernelSpecs) -> ExecutorRunner {
        ExecutorRunner {
            specs,
            fork_server: false,
            start_timeout: None,
            max_output_bytes: None,
            location: KernelLocation::Local,
        }
    }

    /// Starts every run's kernel there (default: on this machine).
    pub fn with_location(mut self, location: KernelLocation) -> ExecutorRunner {
        self.location = location;
        self
    }

    /// Gives up on a kernel that is not ready after `timeout` (default: the kernel crate's).
    pub fn with_start_timeout(mut self, timeout: Duration) -> ExecutorRunner {
        self.start_timeout = Some(timeout);
        self
    }

    /// Keeps at most this many bytes of output per cell (`None`: everything; default: the executor's).
    pub fn with_max_output_bytes(mut self, limit: Option<usize>) -> ExecutorRunner {
        self.max_output_bytes = Some(limit);
        self
    }

    /// Starts ipykernel kernels from the fork server (`nbgate_kernel::LaunchOptions::fork_server`).
    pub fn with_fork_server(mut self, fork_server: bool) -> ExecutorRunner {
        self.fork_server = fork_server;
        self
    }
}

impl Runner for ExecutorRunner {
    fn run<'a>(
        &'a self,
        job: RunJob,
        mut sink: Box<dyn ProgressSink + 'a>,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<Outcome, String>> {
        Box::pin(async move {
            let RunJob {
                mut notebook,
                mut request,
                machine_type,
            } = job;
            request.launch.fork_server = self.fork_server;
            request.location = self.location.clone();
            if let Some(machine_type) = &machine_type {
                request.location = machine_type.apply(&mut request.launch);
            }
            if let Some(timeout) = self.start_timeout {
                request.launch.start_timeout = timeout;
            }
            if let Some(limit) = self.max_output_bytes {
                request.cells.max_output_bytes = limit;
            }
            // Progress and outcomes count the user's cells, not the injected-parameters cell.
            let mut sink = UserNumbered::new(&mut *sink);
            let outcome = run_notebook(&mut notebook, &request, &self.specs, &mut sink, cancel)
                .await
                .map_err(|error| error.to_string())?;
            Ok(sink.numbering().user_outcome(outcome))
        })
    }

    fn specs(&self) -> &KernelSpecs {
        &self.specs
    }

    fn location(&self) -> &KernelLocation {
        &self.location
    }
}

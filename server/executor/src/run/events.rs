//! What a run reports while it goes: for the CLI's progress bar and `--log-output` now, and for the
//! API's live progress later.

use serde_json::Value;

use crate::values::RecordedValue;

/// One step of a run, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Execution begins: `total` cells (all cells, as papermill's progress bar counts them), the
    /// injected-parameters cell at `injected_cell` when the injection added it (not when it replaced
    /// an earlier run's). Indices here are the run's; [`super::UserNumbered`] gives the user's.
    Started {
        total: usize,
        injected_cell: Option<usize>,
    },
    /// The kernel is ready: kernelspec `kernel`, its `id` (the gateway's kernel id for a gateway
    /// kernel) and its `location` (`"local"` or the gateway's URL, as [`nbgate_kernel::Kernel::location`]).
    KernelReady {
        kernel: String,
        id: String,
        location: String,
    },
    /// Cell `index` (0-based) of `total` starts.
    CellStarted { index: usize, total: usize },
    /// Cell `index` got a new output.
    Output { index: usize, output: Value },
    /// Cell `index` finished (`failed` when it raised).
    CellFinished {
        index: usize,
        total: usize,
        failed: bool,
    },
    /// The cell at `index` recorded a value (scrapbook's `glue`, papermill's `record`); a name
    /// recorded again replaces the earlier value ([`crate::values::RecordedValues`]).
    Recorded {
        index: usize,
        name: String,
        value: RecordedValue,
    },
    /// Something the user should hear about (papermill logs these as warnings).
    Warning(String),
}

/// Receives progress. Implemented for any `FnMut(Progress)`.
pub trait ProgressSink: Send {
    fn report(&mut self, progress: Progress);
}

impl<F: FnMut(Progress) + Send> ProgressSink for F {
    fn report(&mut self, progress: Progress) {
        self(progress)
    }
}

/// A sink that ignores everything.
pub fn ignore() -> impl ProgressSink {
    |_: Progress| {}
}

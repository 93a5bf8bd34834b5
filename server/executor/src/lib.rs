//! nbgate-executor: run one notebook on one kernel, the papermill way.
//!
//! Map of the crate:
//! - [`notebook`]: the `.ipynb` document — parse and check, upgrade to 4.5, edit cells, write
//!   exactly as `nbformat.writes` (atomically).
//! - [`pyjson`]: JSON and float text exactly as Python prints them (shared by the writer and the
//!   Python translator).
//! - [`parameters`]: typed parameter values, CLI/YAML/JSON input, discovery from the `parameters`
//!   cell, translation into each kernel language, injection into the notebook.
//! - [`papermill`]: what papermill does around execution — load normalisation, metadata
//!   lifecycle (`metadata.papermill`, nbclient timing), error marker cells, the execution error.
//! - [`error`]: one error enum per concern.
//! - [`outputs`]: iopub messages → nbformat outputs (nbclient's display-id and clear_output rules).
//! - [`values`]: recorded values (scrapbook's `glue`, papermill's `record`) read from display messages.
//! - [`run`]: one run — prepare, start the kernel (through `nbgate-kernel`), execute cell by cell with
//!   timeouts and cancellation, save after every cell, record the outcome; progress events.
//!   Everything other than `run` is pure: no kernel, no sockets, no clock.
//!
//! Absent on purpose: HTTP, SQL, process spawning.

pub mod error;
pub mod notebook;
pub mod outputs;
pub mod papermill;
pub mod parameters;
pub mod pyjson;
pub mod run;
pub mod values;

pub use error::{InjectError, NotebookError, ParametersError, TranslateError};
pub use notebook::{Cell, CellType, Notebook};
pub use parameters::{ParamValue, Parameters};

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
//! - `run` (to come): the execution loop — kernel messages to nbformat outputs, timeouts,
//!   progress events. Everything above is pure: no kernel, no sockets, no clock.
//!
//! Absent on purpose: HTTP, SQL, process spawning.

pub mod error;
pub mod notebook;
pub mod papermill;
pub mod parameters;
pub mod pyjson;

pub use error::{InjectError, NotebookError, ParametersError, TranslateError};
pub use notebook::{Cell, CellType, Notebook};
pub use parameters::{ParamValue, Parameters};

//! Notebook parameters: typed values, where they come from (CLI, YAML, JSON), what a notebook
//! declares (discovery from its `parameters` cell), how they become code (translators) and how
//! they enter the notebook (injection), all as papermill does.

mod strings;
pub mod translate;
mod values;

pub use translate::{Translator, render_parameters};
pub use values::{ParamValue, Parameters, python_float, python_int, resolve_cli_value};

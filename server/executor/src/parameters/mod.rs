//! Notebook parameters: typed values, where they come from (CLI, YAML, JSON), what a notebook
//! declares (discovery from its `parameters` cell), how they become code (translators) and how
//! they enter the notebook (injection), all as papermill does.

pub mod discover;
mod literal;
mod strings;
pub mod translate;
mod values;

pub use discover::{
    ParamKind, ParameterSpec, discover_parameters, format_notebook_help, inspect_source,
};
pub use literal::parse_python_literal;
pub use translate::{Translator, render_parameters};
pub use values::{ParamValue, Parameters, python_float, python_int, resolve_cli_value};

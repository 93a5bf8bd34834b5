//! Notebook parameters: typed values, where they come from (CLI, YAML, JSON), what a notebook
//! declares (discovery from its `parameters` cell), how they become code (translators) and how
//! they enter the notebook (injection), all as papermill does.
//!
//! Merging as the papermill CLI does (later wins, first insertion keeps its place): build one
//! [`Parameters`] and [`Parameters::extend`] it with, in order, inject-paths values, each `-f`
//! file ([`parameters_from_file`]), each `-y` text ([`parameters_from_yaml`]), each `-p` pair
//! ([`resolve_cli_value`]) and each `-r` pair (raw strings).

pub mod discover;
pub mod inject;
mod literal;
mod strings;
pub mod translate;
mod values;
mod yaml;

pub use discover::{
    ParamKind, ParameterSpec, discover_parameters, format_notebook_help, inspect_source,
};
pub use inject::{
    INJECTED_PARAMETERS_TAG, InjectWarning, Injection, PARAMETERS_TAG, inject_parameters,
};
pub use literal::parse_python_literal;
pub use translate::{Translator, check_name, render_parameters};
pub use values::{ParamValue, Parameters, python_float, python_int, resolve_cli_value};
pub use yaml::{parameters_from_file, parameters_from_yaml};

//! Errors of the executor crate, one enum per concern. Each variant carries the facts a user needs
//! to fix the problem: which cell, which field, what was found, what is available.

use std::path::PathBuf;

/// A notebook that cannot be read, understood or written.
#[derive(Debug, thiserror::Error)]
pub enum NotebookError {
    #[error("cannot read notebook {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write notebook {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("notebook is not valid JSON: {message} (line {line}, column {column})")]
    Json {
        message: String,
        line: usize,
        column: usize,
    },
    #[error("notebook must be a JSON object, found {found}")]
    NotAnObject { found: &'static str },
    #[error(
        "notebook format {found} is not supported: nbgate runs nbformat 4 notebooks; \
         convert it with `jupyter nbconvert --to notebook --nbformat 4 <file>` \
         or by opening and saving it in JupyterLab"
    )]
    UnsupportedVersion { found: String },
    #[error("notebook field `{field}` is missing")]
    MissingField { field: String },
    #[error("notebook field `{field}` must be {expected}, found {found}")]
    InvalidField {
        field: String,
        expected: &'static str,
        found: String,
    },
}

/// Parameters given as YAML text (JSON included) that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ParametersError {
    #[error("cannot read parameters file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parameters are not valid YAML: {message}")]
    Yaml { message: String },
    #[error("parameters must be a mapping of names to values, found {found}")]
    NotAMapping { found: &'static str },
    #[error("parameters YAML has {count} documents; give exactly one")]
    MultipleDocuments { count: usize },
    #[error("parameters YAML uses the tag `{tag}`, which has no safe meaning")]
    UnsupportedTag { tag: String },
    #[error("parameters YAML value {value:?} is not valid for the tag `{tag}`")]
    InvalidTaggedValue { tag: String, value: String },
    #[error("parameters YAML uses a merge key (`<<`), which nbgate does not support")]
    MergeKey,
    #[error("parameters YAML refers to an unknown anchor")]
    UnknownAnchor,
}

/// Parameters that cannot be written as code of the kernel's language.
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    #[error(
        "no parameter translator for kernel '{kernel_name}' or language '{language}' \
         (supported: {})", supported.join(", ")
    )]
    NoTranslator {
        kernel_name: String,
        language: String,
        supported: Vec<&'static str>,
    },
    #[error("{language} parameters cannot hold {what} (parameter `{name}`)")]
    Unsupported {
        language: &'static str,
        what: &'static str,
        name: String,
    },
    #[error(
        "`{name}` is not a valid parameter name: use letters, digits and `_`, not starting with a digit"
    )]
    InvalidName { name: String },
}

/// Parameters that cannot be injected into a notebook.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    #[error("no kernel name found in the notebook (metadata.kernelspec.name) and none given")]
    NoKernelName,
    #[error(
        "no language found in the notebook (metadata.language_info.name or \
         metadata.kernelspec.language) and none given"
    )]
    NoLanguage,
    #[error(transparent)]
    Translate(#[from] TranslateError),
}

/// The JSON type name of a value, for error messages.
pub(crate) fn json_type_name(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

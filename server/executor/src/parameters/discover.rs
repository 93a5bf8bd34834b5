//! What a notebook declares in its `parameters` cell: papermill's `PythonTranslator.inspect`
//! plus a typed default for forms, and the `--help-notebook` text.

use std::sync::LazyLock;

use regex::Regex;

use crate::notebook::{Notebook, python_splitlines};
use crate::parameters::literal::parse_python_literal;
use crate::parameters::values::is_python_space;
use crate::parameters::{ParamValue, Translator};

/// One parameter declared in the `parameters` cell.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterSpec {
    pub name: String,
    /// papermill's `inferred_type_name`: the annotation, else the `# type:` comment, else `"None"`.
    pub type_name: String,
    /// The default as written in the cell.
    pub default: String,
    /// The trailing comment.
    pub help: String,
    /// The type a form should offer.
    pub kind: ParamKind,
    /// The default as a value, when it is a plain literal.
    pub default_value: Option<ParamValue>,
}

/// The value type of a parameter, for forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Int,
    Float,
    Bool,
    Str,
    List,
    Dict,
    Null,
    Unknown,
}

impl ParamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ParamKind::Int => "int",
            ParamKind::Float => "float",
            ParamKind::Bool => "bool",
            ParamKind::Str => "str",
            ParamKind::List => "list",
            ParamKind::Dict => "dict",
            ParamKind::Null => "null",
            ParamKind::Unknown => "unknown",
        }
    }

    fn of_value(value: &ParamValue) -> ParamKind {
        match value {
            ParamValue::Null => ParamKind::Null,
            ParamValue::Bool(_) => ParamKind::Bool,
            ParamValue::Int(_) | ParamValue::BigInt(_) => ParamKind::Int,
            ParamValue::Float(_) => ParamKind::Float,
            ParamValue::Str(_) => ParamKind::Str,
            ParamValue::List(_) => ParamKind::List,
            ParamValue::Dict(_) => ParamKind::Dict,
        }
    }

    /// The kind an annotation names, if it is a plain one.
    fn of_annotation(type_name: &str) -> Option<ParamKind> {
        let base = type_name.split('[').next().unwrap_or("").trim();
        Some(match base {
            "int" => ParamKind::Int,
            "float" => ParamKind::Float,
            "bool" => ParamKind::Bool,
            "str" => ParamKind::Str,
            "list" | "List" | "tuple" | "Tuple" | "Sequence" => ParamKind::List,
            "dict" | "Dict" | "Mapping" => ParamKind::Dict,
            "NoneType" => ParamKind::Null,
            _ => return None,
        })
    }
}

/// papermill's `PARAMETER_PATTERN`.
static PARAMETER_PATTERN: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r#"^(?P<target>\w[\w_]*)\s*(:\s*["']?(?P<annotation>\w[\w_\[\],\s]*)["']?\s*)?=\s*(?P<value>.*?)(\s*#\s*(type:\s*(?P<type_comment>[^\s]*)\s*)?(?P<help>.*))?$"#,
    )
    .ok()
});

/// The parameters declared in the first cell tagged `parameters`, or `None` when there is no
/// such cell. Only Python is understood (as in papermill): a notebook whose kernel or language
/// has another translator gives an empty list; an unknown language is read as Python. Lines
/// papermill cannot parse are skipped with a warning.
pub fn discover_parameters(notebook: &Notebook) -> Option<Vec<ParameterSpec>> {
    let index = notebook.first_tagged_cell("parameters")?;
    let kernel_name = notebook.kernel_name().unwrap_or("");
    let language = notebook.language().unwrap_or("");
    match Translator::find(kernel_name, language) {
        Ok(translator) if !translator.supports_discovery() => {
            tracing::warn!(
                "Translator for '{language}' language does not support parameter introspection."
            );
            Some(Vec::new())
        }
        _ => Some(inspect_source(&notebook.cell_source(index))),
    }
}

/// `PythonTranslator.inspect` on a cell's source.
pub fn inspect_source(source: &str) -> Vec<ParameterSpec> {
    let Some(pattern) = PARAMETER_PATTERN.as_ref() else {
        return Vec::new();
    };
    group_definitions(source)
        .iter()
        .filter(|definition| !definition.is_empty())
        .filter_map(|definition| pattern.captures(definition))
        .map(|captures| {
            let text = |name: &str| {
                captures
                    .name(name)
                    .map(|m| m.as_str())
                    .filter(|s| !s.is_empty())
            };
            let type_name = text("annotation")
                .or(text("type_comment"))
                .unwrap_or("None");
            let default = text("value")
                .unwrap_or("")
                .trim_matches(is_python_space)
                .to_owned();
            let default_value = parse_python_literal(&default);
            let kind = ParamKind::of_annotation(type_name)
                .or(default_value.as_ref().map(ParamKind::of_value))
                .unwrap_or(ParamKind::Unknown);
            ParameterSpec {
                name: text("target").unwrap_or("").trim().to_owned(),
                type_name: type_name.trim_matches(is_python_space).to_owned(),
                default,
                help: text("help")
                    .unwrap_or("")
                    .trim_matches(is_python_space)
                    .to_owned(),
                kind,
                default_value,
            }
        })
        .collect()
}

/// papermill's grouping: a definition runs from a line with `=` up to the next one; blank and
/// comment lines are skipped, and only the last line keeps its comment.
fn group_definitions(source: &str) -> Vec<String> {
    let mut grouped = Vec::new();
    let mut accumulator: Vec<&str> = Vec::new();
    for (number, line) in python_splitlines(source, false).into_iter().enumerate() {
        let stripped = line.trim_matches(is_python_space);
        if stripped.is_empty() || stripped.starts_with('#') {
            continue;
        }
        let equals = line.matches('=').count();
        if equals > 0 {
            grouped.push(flatten(&accumulator));
            accumulator.clear();
            if equals > 1 {
                tracing::warn!("Unable to parse line {} '{line}'.", number + 1);
                continue;
            }
        }
        accumulator.push(line);
    }
    grouped.push(flatten(&accumulator));
    grouped
}

fn flatten(lines: &[&str]) -> String {
    let Some((last, earlier)) = lines.split_last() else {
        return String::new();
    };
    let mut flat = String::new();
    for line in earlier {
        let code = line.split('#').next().unwrap_or("");
        flat.push_str(code.trim_matches(is_python_space));
    }
    flat.push_str(last.trim_matches(is_python_space));
    flat
}

/// The text `papermill --help-notebook` prints after its usage line (`display_notebook_help`),
/// each line ending with `\n`. `parameters` is `None` when the notebook has no `parameters` cell
/// (papermill then exits 1).
pub fn format_notebook_help(notebook_path: &str, parameters: Option<&[ParameterSpec]>) -> String {
    let mut out = format!("\nParameters inferred for notebook '{notebook_path}':\n");
    let Some(parameters) = parameters else {
        out.push_str("\n  No cell tagged 'parameters'\n");
        return out;
    };
    if parameters.is_empty() {
        out.push_str(
            "\n  Can't infer anything about this notebook's parameters. It may not have any parameter defined.\n",
        );
        return out;
    }
    for parameter in parameters {
        let type_name = if parameter.type_name == "None" {
            "Unknown type"
        } else {
            &parameter.type_name
        };
        let definition = format!(
            "  {}: {type_name} (default {})",
            parameter.name, parameter.default
        );
        let line = if definition.chars().count() > 30 {
            if parameter.help.is_empty() {
                definition
            } else {
                format!("{definition}\n{}{}", " ".repeat(34), parameter.help)
            }
        } else {
            format!("{definition:<34}{}", parameter.help)
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
#[path = "discover_tests.rs"]
mod tests;

//! Putting parameters into a notebook: papermill's `parameterize_notebook`, plus the
//! unknown-parameter check `execute_notebook` does first.

use serde_json::Value;

use crate::error::InjectError;
use crate::notebook::{Cell, Notebook, object_entry};
use crate::parameters::discover::inspect_source;
use crate::parameters::{Parameters, Translator};

/// Tag of the cell papermill generates.
pub const INJECTED_PARAMETERS_TAG: &str = "injected-parameters";
/// Tag of the cell that declares a notebook's parameters.
pub const PARAMETERS_TAG: &str = "parameters";

/// What happened during an injection that the user should hear about (papermill logs these as
/// warnings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InjectWarning {
    /// `Input notebook does not contain a cell with tag 'parameters'`: the cell went to the top.
    NoParametersCell,
    /// `Translator for '<language>' language does not support parameter introspection.`
    DiscoveryUnsupported { language: String },
    /// `Passed unknown parameter: <name>`.
    UnknownParameter { name: String },
}

impl std::fmt::Display for InjectWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InjectWarning::NoParametersCell => write!(
                f,
                "Input notebook does not contain a cell with tag 'parameters'"
            ),
            InjectWarning::DiscoveryUnsupported { language } => {
                write!(
                    f,
                    "Translator for '{language}' language does not support parameter introspection."
                )
            }
            InjectWarning::UnknownParameter { name } => {
                write!(f, "Passed unknown parameter: {name}")
            }
        }
    }
}

/// Where the injected cell went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    /// Index of the injected cell, `None` when there were no parameters (nothing changes then).
    pub cell_index: Option<usize>,
    /// Whether that cell is new: `false` when it replaced the injected cell of an earlier run,
    /// which the user's notebook already had.
    pub added: bool,
    pub warnings: Vec<InjectWarning>,
}

/// `parameterize_notebook` as `execute_notebook` runs it. With no parameters nothing changes.
/// Otherwise: the kernel name and language come from the overrides, else the notebook; the
/// parameters are rendered by the translator found for them; the notebook is upgraded to 4.5;
/// a new code cell tagged `injected-parameters` replaces the existing one in place, else goes
/// right after the first `parameters` cell, else at the top (with a warning); and
/// `metadata.papermill.parameters` records the values.
pub fn inject_parameters(
    notebook: &mut Notebook,
    parameters: &Parameters,
    kernel_name_override: Option<&str>,
    language_override: Option<&str>,
) -> Result<Injection, InjectError> {
    if parameters.is_empty() {
        return Ok(Injection {
            cell_index: None,
            added: false,
            warnings: Vec::new(),
        });
    }
    let kernel_name = kernel_name_override
        .or(notebook.kernel_name())
        .ok_or(InjectError::NoKernelName)?
        .to_owned();
    let language = language_override
        .or(notebook.language())
        .ok_or(InjectError::NoLanguage)?
        .to_owned();
    let translator = Translator::find(&kernel_name, &language)?;
    let mut warnings = unknown_parameters(notebook, parameters, translator, &language);
    let source = translator.render(parameters, "Parameters")?;

    notebook.upgrade();
    let mut cell = Cell::new_code(&source);
    cell.metadata_mut()
        .insert("tags".into(), Value::from(vec![INJECTED_PARAMETERS_TAG]));
    let cells = notebook.cells_mut();
    let injected = cells
        .iter()
        .position(|cell| cell.has_tag(INJECTED_PARAMETERS_TAG));
    let declared = cells.iter().position(|cell| cell.has_tag(PARAMETERS_TAG));
    let cell_index = match (injected, declared) {
        (Some(index), _) => {
            cells[index] = cell;
            index
        }
        (None, Some(index)) => {
            cells.insert(index + 1, cell);
            index + 1
        }
        (None, None) => {
            warnings.push(InjectWarning::NoParametersCell);
            cells.insert(0, cell);
            0
        }
    };
    let added = injected.is_none();
    let papermill = object_entry(notebook.metadata_mut(), "papermill");
    papermill.insert("parameters".into(), Value::Object(parameters.to_json()));
    Ok(Injection {
        cell_index: Some(cell_index),
        added,
        warnings,
    })
}

/// `_infer_parameters` and the `Passed unknown parameter` loop.
fn unknown_parameters(
    notebook: &Notebook,
    parameters: &Parameters,
    translator: Translator,
    language: &str,
) -> Vec<InjectWarning> {
    let mut warnings = Vec::new();
    let declared: Vec<String> = match notebook.first_tagged_cell(PARAMETERS_TAG) {
        None => Vec::new(),
        Some(_) if !translator.supports_discovery() => {
            warnings.push(InjectWarning::DiscoveryUnsupported {
                language: language.to_owned(),
            });
            Vec::new()
        }
        Some(index) => inspect_source(&notebook.cell_source(index))
            .into_iter()
            .map(|spec| spec.name)
            .collect(),
    };
    for name in parameters.names() {
        if !declared.iter().any(|known| known == name) {
            warnings.push(InjectWarning::UnknownParameter {
                name: name.to_owned(),
            });
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parameters::ParamValue;
    use serde_json::json;

    fn notebook(metadata: Value, cells: Value) -> Notebook {
        let text =
            json!({"nbformat": 4, "nbformat_minor": 4, "metadata": metadata, "cells": cells})
                .to_string();
        Notebook::parse(&text).unwrap_or_else(|e| panic!("fixture: {e}"))
    }

    fn code(source: &str, tags: &[&str]) -> Value {
        json!({"cell_type": "code", "source": source, "metadata": {"tags": tags}, "outputs": [], "execution_count": null})
    }

    fn python() -> Value {
        json!({"kernelspec": {"name": "python3", "language": "python"}, "papermill": {"parameters": {"old": 1}}})
    }

    fn params(entries: &[(&str, ParamValue)]) -> Parameters {
        entries
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect()
    }

    fn sources(notebook: &Notebook) -> Vec<&str> {
        notebook.cells().iter().map(Cell::source).collect()
    }

    #[test]
    fn inserts_after_the_first_parameters_cell() -> Result<(), InjectError> {
        let mut nb = notebook(
            python(),
            json!([
                code("import x", &[]),
                code("a = 1", &["parameters"]),
                code("b = 2", &["parameters"])
            ]),
        );
        let injection = inject_parameters(
            &mut nb,
            &params(&[
                ("a", ParamValue::Int(5)),
                ("zz", ParamValue::Str("q".into())),
            ]),
            None,
            None,
        )?;
        assert_eq!((injection.cell_index, injection.added), (Some(2), true));
        assert_eq!(
            injection.warnings,
            [InjectWarning::UnknownParameter { name: "zz".into() }]
        );
        assert_eq!(
            sources(&nb),
            [
                "import x",
                "a = 1",
                "# Parameters\na = 5\nzz = \"q\"\n",
                "b = 2"
            ]
        );
        let injected = &nb.cells()[2];
        // nbformat.v4.new_code_cell + tags, nothing copied from the parameters cell.
        assert_eq!(
            injected.metadata().cloned().map(Value::Object),
            Some(json!({"tags": ["injected-parameters"]}))
        );
        assert_eq!(injected.fields().get("execution_count"), Some(&Value::Null));
        assert_eq!(nb.nbformat_minor(), 5);
        assert!(nb.cells().iter().all(|cell| cell.id().is_some()));
        assert_eq!(
            nb.metadata()["papermill"]["parameters"],
            json!({"a": 5, "zz": "q"})
        );
        Ok(())
    }

    #[test]
    fn replaces_an_injected_cell_in_place_with_a_new_id() -> Result<(), InjectError> {
        let mut nb = notebook(
            python(),
            json!([
                code("a = 1", &["parameters"]),
                code("x", &[]),
                code("# Parameters\na = 2\n", &["injected-parameters"])
            ]),
        );
        nb.upgrade();
        let old_id = nb.cells()[2].id().map(str::to_owned);
        let injection = inject_parameters(
            &mut nb,
            &params(&[("a", ParamValue::Float(f64::NAN))]),
            None,
            None,
        )?;
        assert_eq!(
            injection,
            Injection {
                cell_index: Some(2),
                added: false,
                warnings: vec![]
            }
        );
        assert_eq!(
            sources(&nb),
            ["a = 1", "x", "# Parameters\na = float('nan')\n"]
        );
        assert_ne!(nb.cells()[2].id().map(str::to_owned), old_id);
        assert_eq!(
            nb.metadata()["papermill"]["parameters"],
            json!({"a": "nan"})
        );
        Ok(())
    }

    #[test]
    fn goes_to_the_top_without_a_parameters_cell() -> Result<(), InjectError> {
        let mut nb = notebook(python(), json!([code("x", &[])]));
        let injection = inject_parameters(
            &mut nb,
            &params(&[("a", ParamValue::Bool(true))]),
            None,
            None,
        )?;
        assert_eq!((injection.cell_index, injection.added), (Some(0), true));
        assert_eq!(
            injection.warnings,
            [
                InjectWarning::UnknownParameter { name: "a".into() },
                InjectWarning::NoParametersCell
            ]
        );
        assert_eq!(sources(&nb), ["# Parameters\na = True\n", "x"]);
        Ok(())
    }

    #[test]
    fn no_parameters_changes_nothing() -> Result<(), InjectError> {
        let mut nb = notebook(json!({}), json!([code("x", &["parameters"])]));
        let before = nb.clone();
        assert_eq!(
            inject_parameters(&mut nb, &Parameters::new(), None, None)?,
            Injection {
                cell_index: None,
                added: false,
                warnings: vec![]
            }
        );
        assert_eq!(nb, before);
        Ok(())
    }

    #[test]
    fn overrides_and_other_languages() -> Result<(), InjectError> {
        let mut nb = notebook(
            json!({"kernelspec": {"name": "ir", "language": "R"}}),
            json!([code("a <- 1", &["parameters"])]),
        );
        let injection =
            inject_parameters(&mut nb, &params(&[("a", ParamValue::Int(2))]), None, None)?;
        assert_eq!(
            injection.warnings,
            [
                InjectWarning::DiscoveryUnsupported {
                    language: "R".into()
                },
                InjectWarning::UnknownParameter { name: "a".into() },
            ]
        );
        assert_eq!(nb.cell_source(1), "# Parameters\na = 2\n");
        let mut bare = notebook(json!({}), json!([]));
        inject_parameters(
            &mut bare,
            &params(&[("a", ParamValue::Int(2))]),
            Some("bash"),
            Some("bash"),
        )?;
        assert_eq!(bare.cell_source(0), "# Parameters\na=2\n");
        Ok(())
    }

    #[test]
    fn errors_name_what_is_missing() {
        let one = params(&[("a", ParamValue::Int(1))]);
        let cases = [
            (
                json!({}),
                None,
                None,
                "no kernel name found in the notebook (metadata.kernelspec.name) and none given",
            ),
            (
                json!({"kernelspec": {"name": "k"}}),
                None,
                None,
                "no language found in the notebook (metadata.language_info.name or metadata.kernelspec.language) and none given",
            ),
            (
                json!({}),
                Some("k"),
                Some("cobol"),
                "no parameter translator for kernel 'k' or language 'cobol' (supported: python, R, scala, julia, matlab, .net-csharp, .net-fsharp, .net-powershell, pysparkkernel, sparkkernel, sparkrkernel, bash)",
            ),
        ];
        for (metadata, kernel, language, expected) in cases {
            let mut nb = notebook(metadata, json!([]));
            let error = inject_parameters(&mut nb, &one, kernel, language)
                .err()
                .map(|e| e.to_string());
            assert_eq!(error.as_deref(), Some(expected));
            assert!(nb.cells().is_empty());
        }
    }
}

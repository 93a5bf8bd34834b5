//! `nbgate params NB [--json]`: the parameters a notebook declares, as papermill's `--help-notebook`
//! prints them, or typed JSON for tools.

use nbgate_executor::Notebook;
use nbgate_executor::parameters::{ParameterSpec, discover_parameters, format_notebook_help};
use serde_json::{Value, json};

use crate::Failure;
use crate::cli::ParamsArgs;

pub fn params(args: ParamsArgs) -> Result<(), Failure> {
    let notebook =
        Notebook::read(&args.notebook).map_err(|error| Failure::usage(error.to_string()))?;
    let parameters = discover_parameters(&notebook);
    let label = args.notebook.display().to_string();
    if args.json {
        let language = notebook.language().unwrap_or("");
        let body = json!({
            "language": language,
            "has_parameters_cell": parameters.is_some(),
            "parameters": parameters.iter().flatten().map(spec_json).collect::<Vec<_>>(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&body).unwrap_or_default()
        );
        return Ok(());
    }
    print!(
        "Usage: nbgate run [OPTIONS] NOTEBOOK_PATH [OUTPUT_PATH]\n{}",
        format_notebook_help(&label, parameters.as_deref())
    );
    match parameters {
        Some(_) => Ok(()),
        None => Err(Failure {
            code: 1,
            message: format!("{label} has no cell tagged 'parameters'"),
        }),
    }
}

fn spec_json(spec: &ParameterSpec) -> Value {
    json!({
        "name": spec.name,
        "type": spec.kind.as_str(),
        "inferred_type_name": spec.type_name,
        "default": spec.default_value.as_ref().map(|value| value.to_json()),
        "default_source": spec.default,
        "help": spec.help,
    })
}

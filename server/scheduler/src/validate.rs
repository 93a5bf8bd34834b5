//! Checks on what users submit: parameters against the notebook's `parameters` cell, kernels against
//! the kernelspecs, policies' ranges, webhook URLs; a schedule's checks field by field (what creating
//! one and a preview both run). Every error says what is wrong and what is valid.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, FixedOffset};
use nbgate_executor::Notebook;
use nbgate_executor::parameters::{
    ParamKind, ParamValue, ParameterSpec, check_name, discover_parameters,
};
use nbgate_kernel::kernelspec::SpecsRead;
use serde_json::Value;

use crate::error::ValidationError;
use crate::model::{ParameterInfo, ParameterValues, Recurrence, ScheduleSpec};
use crate::timing::{Timing, parse_timezone};
use crate::{expect, outputs, paths};

/// Parses a notebook read from disk.
pub fn parse_notebook(path: &str, bytes: &[u8]) -> Result<Notebook, ValidationError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ValidationError::UnreadableNotebook {
        path: path.into(),
        reason: "it is not UTF-8".into(),
    })?;
    Notebook::parse(text).map_err(|error| ValidationError::UnreadableNotebook {
        path: path.into(),
        reason: error.to_string(),
    })
}

/// Checks `values` against the notebook's parameters cell.
pub fn check_parameters(
    notebook: &Notebook,
    values: &ParameterValues,
    allow_undeclared: bool,
) -> Result<(), ValidationError> {
    let Some(declared) = discover_parameters(notebook) else {
        if values.is_empty() || allow_undeclared {
            return identifiers(values);
        }
        return Err(ValidationError::NoParametersCell {
            given: values.keys().cloned().collect(),
        });
    };
    let unknown: Vec<String> = values
        .keys()
        .filter(|name| !declared.iter().any(|spec| &spec.name == *name))
        .cloned()
        .collect();
    if !unknown.is_empty() && !allow_undeclared {
        return Err(ValidationError::UnknownParameters {
            unknown,
            known: declared.iter().map(|spec| spec.name.clone()).collect(),
        });
    }
    for spec in &declared {
        if let Some(value) = values.get(&spec.name) {
            check_type(spec, value)?;
        }
    }
    identifiers(values)
}

/// Names become code in every language: undeclared ones must be identifiers too (declared ones are).
fn identifiers(values: &ParameterValues) -> Result<(), ValidationError> {
    for name in values.keys() {
        check_name(name)
            .map_err(|error| ValidationError::InvalidParameterName(error.to_string()))?;
    }
    Ok(())
}

fn check_type(spec: &ParameterSpec, value: &Value) -> Result<(), ValidationError> {
    let fits = match spec.kind {
        // An integer of any size, as Python's `json` reads it (`1.0` and `1e3` are floats).
        ParamKind::Int => {
            matches!(value, Value::Number(number) if ParamValue::from_json_number(number).is_int())
        }
        ParamKind::Float => value.is_number(),
        ParamKind::Bool => value.is_boolean(),
        ParamKind::Str => value.is_string(),
        ParamKind::List => value.is_array(),
        ParamKind::Dict => value.is_object(),
        // A `None` default or an expression: any value.
        ParamKind::Null | ParamKind::Unknown => true,
    };
    // null stands for Python's None, accepted everywhere as papermill does.
    if fits || value.is_null() {
        return Ok(());
    }
    Err(ValidationError::WrongParameterType {
        name: spec.name.clone(),
        expected: expected(spec.kind).into(),
        default: spec.default.clone(),
        got: json_type(value).into(),
    })
}

fn expected(kind: ParamKind) -> &'static str {
    match kind {
        ParamKind::Int => "an integer",
        ParamKind::Float => "a number",
        ParamKind::Bool => "a boolean",
        ParamKind::Str => "a string",
        ParamKind::List => "a list",
        ParamKind::Dict => "an object",
        ParamKind::Null | ParamKind::Unknown => "any value",
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(number) if ParamValue::from_json_number(number).is_int() => "an integer",
        Value::Number(_) => "a float",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The parameters of a notebook, for forms.
pub fn parameter_infos(notebook: &Notebook) -> Option<Vec<ParameterInfo>> {
    discover_parameters(notebook).map(|specs| {
        specs
            .into_iter()
            .map(|spec| ParameterInfo {
                name: spec.name,
                kind: spec.kind.as_str().into(),
                default: spec.default,
                default_value: spec.default_value.map(|value| value.to_json()),
                help: spec.help,
            })
            .collect()
    })
}

/// Checks the kernel to run: the one given, else the notebook's, must exist. Specs without any
/// directory (`nbgate serve --gateway-url`: kernels start on a gateway, from its kernelspecs) check
/// nothing here; the run names the gateway's kernelspecs if it has no such kernel.
pub fn check_kernel(
    specs: &SpecsRead,
    kernel: Option<&str>,
    notebook: &Notebook,
) -> Result<(), ValidationError> {
    if specs.dirs().is_empty() {
        return Ok(());
    }
    let available = || {
        let mut names: Vec<String> = (specs.specs().iter()).map(|s| s.name.clone()).collect();
        names.sort();
        names
    };
    let name = match kernel.or_else(|| notebook.kernel_name()) {
        Some("python") => "python3",
        Some(name) if !name.is_empty() => name,
        _ => {
            return Err(ValidationError::NoKernel {
                available: available(),
            });
        }
    };
    if specs.spec(name).is_none() {
        return Err(ValidationError::KernelNotFound {
            name: name.into(),
            available: available(),
        });
    }
    Ok(())
}

/// A webhook URL the notifier can call: `http://host[:port][/path]`.
pub fn check_webhook(url: &str) -> Result<(), ValidationError> {
    crate::notify::parse_http_url(url)
        .map(|_| ())
        .map_err(|reason| ValidationError::InvalidWebhook {
            url: url.into(),
            reason,
        })
}

/// `value` must be within `min..=max`.
pub fn check_range(
    field: &'static str,
    value: u32,
    min: u32,
    max: u32,
    constraint: &'static str,
) -> Result<(), ValidationError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ValidationError::OutOfRange {
            field,
            constraint,
            value: value.to_string(),
        })
    }
}

/// One field of a schedule checked: the field as the API names it (the recurrence's is `cron` or
/// `every`) and what is wrong with it, if anything.
pub type FieldCheck = (&'static str, Result<(), ValidationError>);

/// The checks of a schedule's fields that need no notebook, in the order creating a schedule reports
/// the first failure. A preview runs those of the fields it is given.
pub fn schedule_field_checks(root: &Path, spec: &ScheduleSpec) -> Vec<FieldCheck> {
    let recurrence = match spec.recurrence {
        Recurrence::Every(_) => "every",
        _ => "cron",
    };
    let name = match paths::is_valid_name(&spec.name) {
        true => Ok(()),
        false => Err(ValidationError::InvalidName {
            name: spec.name.clone(),
        }),
    };
    let retention = |retention| check_range("retention", retention, 1, u32::MAX, "at least 1");
    vec![
        ("name", name),
        ("timezone", parse_timezone(&spec.timezone).map(drop)),
        // The zone is checked on its own just above.
        (recurrence, Timing::new(&spec.recurrence, "UTC").map(drop)),
        (
            "max_concurrent",
            check_range("max_concurrent", spec.max_concurrent, 1, 1000, "1 to 1000"),
        ),
        (
            "retries",
            check_range("retries", spec.retries, 0, 100, "0 to 100"),
        ),
        ("retention", spec.retention.map_or(Ok(()), retention)),
        (
            "notify",
            spec.notify
                .as_ref()
                .map_or(Ok(()), |notify| check_webhook(&notify.url)),
        ),
        (
            "output_dir",
            paths::output_dir(root, &spec.output_dir).map(drop),
        ),
        ("outputs", outputs::check_patterns(&spec.outputs)),
        ("expect", expect::check_rules(&spec.expect)),
        (
            "stale_after",
            spec.stale_after.map_or(Ok(()), outputs::check_stale_after),
        ),
    ]
}

/// The checks of a schedule that need its notebook: the parameters, then the kernel.
pub fn schedule_notebook_checks(
    specs: &SpecsRead,
    spec: &ScheduleSpec,
    notebook: &Notebook,
) -> Vec<FieldCheck> {
    let allow = spec.allow_undeclared_parameters;
    vec![
        (
            "parameters",
            check_parameters(notebook, &spec.parameters, allow),
        ),
        (
            "kernel",
            check_kernel(specs, spec.kernel.as_deref(), notebook),
        ),
    ]
}

/// A schedule as it would be, stored nowhere (`SchedulerHandle::preview_schedule`).
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulePreview {
    /// What is wrong, by field (named as in [`FieldCheck`], and `notebook`); empty when all is well.
    pub errors: BTreeMap<&'static str, ValidationError>,
    /// The recurrence in words with its zone, when both are valid.
    pub description: Option<String>,
    /// The next fire times after now, in the schedule's zone (empty without a valid recurrence).
    pub next_runs: Vec<DateTime<FixedOffset>>,
}

//! `parameters_from` references (`UPSTREAM.values.NAME`, `UPSTREAM.parameters.NAME`,
//! `fire_time`) and `fire_time_parameter`: checked when a schedule is created or edited, resolved
//! into the execution's parameters when its run starts.

use std::collections::BTreeMap;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Utc};
use nbgate_executor::Notebook;
use nbgate_executor::parameters::discover_parameters;
use serde_json::Value;

use super::{dependants, upstreams};
use crate::context::Ctx;
use crate::error::{Result, ValidationError};
use crate::model::{Execution, ExecutionStatus, Recurrence, Schedule, ScheduleSpec};
use crate::paths;

/// The format of an injected fire time when the schedule names none.
pub const DEFAULT_FIRE_TIME_FORMAT: &str = "%Y-%m-%d";

/// Where a parameter's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// A value the upstream's execution recorded.
    Value { upstream: String, name: String },
    /// A parameter the upstream's execution ran with.
    Parameter { upstream: String, name: String },
    /// The run's fire time, formatted.
    FireTime,
}

impl Reference {
    pub fn parse(text: &str) -> std::result::Result<Reference, String> {
        if text == "fire_time" {
            return Ok(Reference::FireTime);
        }
        let mut parts = text.splitn(3, '.');
        let (Some(upstream), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(
                "expected UPSTREAM.values.NAME, UPSTREAM.parameters.NAME or fire_time".into(),
            );
        };
        if !paths::is_valid_name(upstream) {
            return Err(format!(
                "{upstream:?} is not a schedule name (1 to 128 of a-z, 0-9 and _)"
            ));
        }
        if name.is_empty() {
            return Err(format!("no name after {upstream}.{kind}."));
        }
        let (upstream, name) = (upstream.to_owned(), name.to_owned());
        match kind {
            "values" => Ok(Reference::Value { upstream, name }),
            "parameters" => Ok(Reference::Parameter { upstream, name }),
            other => Err(format!(
                "{other:?} is neither `values` nor `parameters` (UPSTREAM.values.NAME, \
                 UPSTREAM.parameters.NAME or fire_time)"
            )),
        }
    }

    fn upstream(&self) -> Option<&str> {
        match self {
            Reference::Value { upstream, .. } | Reference::Parameter { upstream, .. } => {
                Some(upstream)
            }
            Reference::FireTime => None,
        }
    }
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ValidationError {
    ValidationError::InvalidPipeline {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Checks a schedule's pipeline fields against the notebook and the other schedules (`id`: the
/// schedule edited, `None` for a new one; `old_name`: its name before the edit).
pub(crate) fn check(
    spec: &ScheduleSpec,
    id: Option<&str>,
    old_name: Option<&str>,
    notebook: &Notebook,
    schedules: &[Schedule],
) -> Result<(), ValidationError> {
    let others: Vec<&Schedule> = schedules
        .iter()
        .filter(|s| Some(s.id.as_str()) != id)
        .collect();
    if let Some(old) = old_name
        && old != spec.name
    {
        let names: Vec<&str> = dependants(schedules, old)
            .into_iter()
            .map(|s| s.spec.name.as_str())
            .collect();
        if !names.is_empty() {
            return Err(invalid(
                "name",
                format!(
                    "{names:?} run after {old:?} by name: change their `after` before renaming it"
                ),
            ));
        }
    }
    if let Recurrence::After(after) = &spec.recurrence {
        if after.schedules.is_empty() {
            return Err(invalid("after.schedules", "name at least one schedule"));
        }
        for (i, name) in after.schedules.iter().enumerate() {
            if after.schedules[..i].contains(name) {
                return Err(invalid(
                    "after.schedules",
                    format!("{name:?} is listed twice"),
                ));
            }
            if name != &spec.name && !others.iter().any(|s| &s.spec.name == name) {
                return Err(invalid(
                    "after.schedules",
                    format!("no schedule is named {name:?}"),
                ));
            }
        }
        if let Some(cycle) = find_cycle(spec, &others) {
            return Err(ValidationError::Cycle { cycle });
        }
    }
    let declared: Option<Vec<String>> =
        discover_parameters(notebook).map(|specs| specs.into_iter().map(|s| s.name).collect());
    let declared_here = |field: &str, parameter: &str| -> Result<(), ValidationError> {
        match &declared {
            Some(names) if names.iter().any(|n| n == parameter) => Ok(()),
            Some(names) => Err(invalid(
                field,
                format!(
                    "the notebook's parameters cell has no {parameter:?}; it declares {names:?}"
                ),
            )),
            None => Err(invalid(
                field,
                format!(
                    "the notebook has no cell tagged `parameters`, so {parameter:?} cannot be \
                     given a value"
                ),
            )),
        }
    };
    for (parameter, text) in &spec.parameters_from {
        let field = format!("parameters_from.{parameter}");
        declared_here(&field, parameter)?;
        let reference = Reference::parse(text)
            .map_err(|reason| invalid(&field, format!("{text:?}: {reason}")))?;
        if let Some(upstream) = reference.upstream()
            && !upstreams(spec).iter().any(|u| u == upstream)
        {
            return Err(invalid(
                &field,
                format!(
                    "{text:?} reads {upstream:?}, which is not in this schedule's `after` \
                     ({:?})",
                    upstreams(spec)
                ),
            ));
        }
        if spec.parameters.contains_key(parameter) {
            return Err(invalid(
                &field,
                format!("{parameter:?} is also in `parameters`: give it one source"),
            ));
        }
    }
    if let Some(parameter) = &spec.fire_time_parameter {
        declared_here("fire_time_parameter", parameter)?;
    }
    if let Some(format) = &spec.fire_time_format {
        check_format(format)?;
    }
    Ok(())
}

/// A strftime format chrono understands, and not empty.
pub(crate) fn check_format(format: &str) -> Result<(), ValidationError> {
    if format.is_empty() || StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
        return Err(invalid(
            "fire_time_format",
            format!("{format:?} is not a strftime format such as \"%Y-%m-%d\""),
        ));
    }
    Ok(())
}

/// The cycle `spec`'s `after` would close, as names from it back to it.
fn find_cycle(spec: &ScheduleSpec, others: &[&Schedule]) -> Option<Vec<String>> {
    let graph: BTreeMap<&str, &[String]> = others
        .iter()
        .map(|s| (s.spec.name.as_str(), upstreams(&s.spec)))
        .chain([(spec.name.as_str(), upstreams(spec))])
        .collect();
    // Depth-first from the schedule along its upstreams; a path back to it is the cycle.
    let mut stack: Vec<(String, Vec<String>)> = vec![(spec.name.clone(), vec![spec.name.clone()])];
    let mut seen: Vec<String> = Vec::new();
    while let Some((name, path)) = stack.pop() {
        for next in graph.get(name.as_str()).copied().unwrap_or_default() {
            let mut longer = path.clone();
            longer.push(next.clone());
            if next == &spec.name {
                // Written in the direction runs go: upstream → dependant.
                longer.reverse();
                return Some(longer);
            }
            if !seen.contains(next) {
                seen.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

/// The fire time formatted as the execution's schedule asks.
pub(crate) fn format_fire_time(at: DateTime<Utc>, format: Option<&str>, timezone: &str) -> String {
    let format = format.unwrap_or(DEFAULT_FIRE_TIME_FORMAT);
    match crate::timing::parse_timezone(timezone) {
        Ok(tz) => at.with_timezone(&tz).format(format).to_string(),
        Err(_) => at.format(format).to_string(),
    }
}

/// Resolves the execution's `parameters_from` and fire time into its parameters (once; a retry or
/// a rerun keeps them). `Err` is the reason the run fails: a reference with no value.
pub(crate) async fn resolve(ctx: &Ctx, execution: &mut Execution) -> Result<(), String> {
    let Some(pipeline) = execution.run.pipeline.clone() else {
        return Ok(());
    };
    if pipeline.resolved {
        return Ok(());
    }
    let mut resolved = serde_json::Map::new();
    if let Some(parameter) = &pipeline.fire_time_parameter {
        let at = execution.fire_time.unwrap_or(execution.created_at);
        let text = format_fire_time(at, pipeline.fire_time_format.as_deref(), &pipeline.timezone);
        resolved.insert(parameter.clone(), Value::String(text));
    }
    for (parameter, text) in &pipeline.parameters_from {
        let fail = |why: String| format!("parameters_from {parameter} = {text:?}: {why}");
        let reference = Reference::parse(text).map_err(fail)?;
        let value = match reference {
            Reference::FireTime => Value::String(format_fire_time(
                execution.fire_time.unwrap_or(execution.created_at),
                pipeline.fire_time_format.as_deref(),
                &pipeline.timezone,
            )),
            Reference::Value { upstream, name } => {
                let source = upstream_execution(ctx, &pipeline.upstreams, &upstream)
                    .await
                    .map_err(fail)?;
                let id = source.id.clone();
                let values = ctx
                    .db
                    .call(move |store| store.execution_values(&id))
                    .await
                    .map_err(|error| fail(error.to_string()))?;
                let Some((_, value)) = values.into_iter().find(|(n, _)| n == &name) else {
                    return Err(fail(format!(
                        "{upstream}'s execution {} recorded no value named {name:?}",
                        source.name
                    )));
                };
                match value {
                    nbgate_executor::values::RecordedValue::Other { encoder, .. } => {
                        return Err(fail(format!(
                            "{upstream}'s value {name:?} was recorded with the {encoder:?} \
                             encoder: only json and text values can be passed"
                        )));
                    }
                    other => other.to_json(),
                }
            }
            Reference::Parameter { upstream, name } => {
                let source = upstream_execution(ctx, &pipeline.upstreams, &upstream)
                    .await
                    .map_err(fail)?;
                match source.parameters.get(&name) {
                    Some(value) => value.clone(),
                    None => {
                        return Err(fail(format!(
                            "{upstream}'s execution {} ran without a parameter {name:?}",
                            source.name
                        )));
                    }
                }
            }
        };
        resolved.insert(parameter.clone(), value);
    }
    execution.parameters.extend(resolved);
    if let Some(pipeline) = &mut execution.run.pipeline {
        pipeline.resolved = true;
    }
    Ok(())
}

/// The upstream execution this one follows; for a run not fired by its upstreams (run now), the
/// upstream schedule's latest successful execution.
async fn upstream_execution(
    ctx: &Ctx,
    upstreams: &BTreeMap<String, String>,
    upstream: &str,
) -> Result<Execution, String> {
    let (id, name) = (upstreams.get(upstream).cloned(), upstream.to_owned());
    let found = ctx
        .db
        .call(move |store| match id {
            Some(id) => store.get_execution(&id),
            None => {
                let Some(schedule) = store.get_schedule_by_name(&name)? else {
                    return Ok(None);
                };
                Ok(store
                    .schedule_executions(&schedule.id)?
                    .into_iter()
                    .find(|e| e.status == ExecutionStatus::Succeeded))
            }
        })
        .await
        .map_err(|error| error.to_string())?;
    found.ok_or_else(|| match upstreams.get(upstream) {
        Some(id) => format!("the execution {id} of {upstream} is gone"),
        None => format!("{upstream} has no successful execution to read"),
    })
}

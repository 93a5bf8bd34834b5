//! Pipelines from the command line: `schedules create|update --after A --param-from P=A.values.V`,
//! `schedules backfill NAME --from D --to D`, `schedules sweep NAME -g P=1,2,3 [--wait]` and
//! `executions sweep ID` (the sweep's table), and `executions rerun` (in `client_cmd.rs`).

use nbgate_api::executor::wire::{QueuedDto, SweepDto};
use nbgate_executor::parameters::resolve_cli_value;
use nbgate_scheduler::ExecutionStatus;
use serde_json::{Map, Value, json};

use super::args::{AfterOn, ScheduleOptions};
use super::http::{Client, encode};
use super::values::cell;
use super::{print_json, print_table, read, schedule_path, wait, when_at};
use crate::Failure;

/// `--after`, `--on`, `--param-from`, `--fire-time-parameter`, `--fire-time-format` into the body.
pub(super) fn fill(
    options: &ScheduleOptions,
    body: &mut Map<String, Value>,
) -> Result<(), Failure> {
    if !options.after.is_empty() {
        let on = match options.on.unwrap_or(AfterOn::Success) {
            AfterOn::Success => "success",
            AfterOn::Failure => "failure",
            AfterOn::Completion => "completion",
        };
        body.insert(
            "after".into(),
            json!({"schedules": options.after, "on": on}),
        );
    }
    if !options.param_from.is_empty() {
        let mut from = Map::new();
        for pair in &options.param_from {
            let Some((name, reference)) = pair.split_once('=') else {
                return Err(Failure::usage(format!(
                    "--param-from {pair:?}: give NAME=REFERENCE (threshold=prepare.values.accuracy)"
                )));
            };
            from.insert(name.trim().to_owned(), json!(reference.trim()));
        }
        body.insert("parameters_from".into(), Value::Object(from));
    }
    if let Some(name) = &options.fire_time_parameter {
        body.insert("fire_time_parameter".into(), json!(name));
    }
    if let Some(format) = &options.fire_time_format {
        body.insert("fire_time_format".into(), json!(format));
    }
    Ok(())
}

pub(super) fn backfill(
    client: &Client,
    schedule: &str,
    [from, to]: [String; 2],
    downstream: bool,
    json_out: bool,
) -> Result<(), Failure> {
    let body = json!({"from": from, "to": to, "downstream": downstream});
    let answer = client.json("POST", &schedule_path(schedule, "/backfill"), Some(&body))?;
    if json_out {
        print_json(&answer);
        return Ok(());
    }
    let queued: QueuedDto = read(answer, "the executions queued")?;
    let rows = queued
        .executions
        .iter()
        .map(|e| {
            vec![
                e.id.clone(),
                e.status.to_string(),
                when_at(e.fire_time.as_deref()),
                e.name.clone(),
            ]
        })
        .collect();
    print_table(&["ID", "STATUS", "FIRE TIME (UTC)", "NAME"], rows);
    Ok(())
}

/// `NAME=V1,V2,…` (each typed like `-p`'s values) or `NAME=[JSON, …]`.
fn grid_entry(text: &str) -> Result<(String, Value), Failure> {
    let usage = |why: &str| Failure::usage(format!("-g {text:?}: {why}"));
    let (name, values) = text
        .split_once('=')
        .ok_or_else(|| usage("give NAME=V1,V2,… (LABEL_BUY_COUNT=2,3,4)"))?;
    let values = values.trim();
    let list = if values.starts_with('[') {
        match serde_json::from_str(values) {
            Ok(Value::Array(list)) => list,
            _ => return Err(usage("not a JSON list")),
        }
    } else {
        (values.split(','))
            .map(|value| resolve_cli_value(value.trim()).to_json())
            .collect()
    };
    Ok((name.trim().to_owned(), Value::Array(list)))
}

pub(super) fn sweep(
    client: &Client,
    schedule: &str,
    grid: &[String],
    wait_all: bool,
    json_out: bool,
) -> Result<(), Failure> {
    let mut entries = Map::new();
    for text in grid {
        let (name, values) = grid_entry(text)?;
        entries.insert(name, values);
    }
    let body = json!({"grid": entries});
    let answer = client.json("POST", &schedule_path(schedule, "/sweep"), Some(&body))?;
    let queued: QueuedDto = read(answer.clone(), "the executions queued")?;
    let sweep_id = queued.sweep_id.unwrap_or_default();
    if !wait_all {
        if json_out {
            print_json(&answer);
        } else {
            println!(
                "sweep {sweep_id}: {} executions queued",
                queued.executions.len()
            );
            println!("(its table: nbgate executions sweep {sweep_id})");
        }
        return Ok(());
    }
    for execution in &queued.executions {
        wait(client, &execution.id)?;
    }
    let table = sweep_table(client, &sweep_id, json_out)?;
    let failed = table
        .rows
        .iter()
        .filter(|row| row.status != ExecutionStatus::Succeeded)
        .count();
    match failed {
        0 => Ok(()),
        n => Err(Failure::run(format!(
            "{n} of {} executions of sweep {sweep_id} did not succeed",
            table.rows.len()
        ))),
    }
}

/// A parameter in one cell: text as it is, anything else as JSON.
fn plain(value: &Value) -> String {
    value.as_str().map_or_else(|| cell(value), str::to_owned)
}

/// Prints the sweep's table (or its JSON) and returns it.
pub(super) fn sweep_table(
    client: &Client,
    sweep_id: &str,
    json_out: bool,
) -> Result<SweepDto, Failure> {
    let answer = client.json("GET", &format!("/api/sweeps/{}", encode(sweep_id)), None)?;
    let table: SweepDto = read(answer.clone(), "a sweep")?;
    if json_out {
        print_json(&answer);
        return Ok(table);
    }
    let mut names: Vec<&String> = Vec::new();
    for row in &table.rows {
        for name in row.values.keys() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    let mut headers: Vec<&str> = vec!["ID", "STATUS"];
    headers.extend(table.varied.iter().map(String::as_str));
    headers.extend(names.iter().map(|name| name.as_str()));
    let rows = table
        .rows
        .iter()
        .map(|row| {
            let mut cells = vec![row.execution_id.clone(), row.status.to_string()];
            for name in &table.varied {
                cells.push(row.parameters.get(name).map_or_else(|| "-".into(), plain));
            }
            for name in &names {
                cells.push(row.values.get(*name).map_or_else(|| "-".into(), cell));
            }
            cells
        })
        .collect();
    print_table(&headers, rows);
    Ok(table)
}

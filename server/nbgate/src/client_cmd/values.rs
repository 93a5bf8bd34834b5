//! `nbgate executions values ID` and `nbgate schedules values NAME [--name N] [--limit K]`: recorded
//! values as a table (NAME, VALUE; a schedule's with each run's time and status), or the server's
//! JSON with `--json`.

use nbgate_api::executor::wire::{ExecutionDto, PointDto, SeriesDto};
use serde_json::Value;

use super::http::{Client, encode};
use super::{execution_path, print_json, print_table, read, schedule_path, text, when_at};
use crate::Failure;

/// A value in one cell: JSON text, or `<encoder> first line of the summary` for other encoders.
pub(super) fn cell(value: &Value) -> String {
    match value {
        Value::Object(object) if object.len() == 2 && object.contains_key("encoder") => {
            let encoder = text(&value["encoder"]);
            match value["summary"].as_str().and_then(|s| s.lines().next()) {
                Some(line) => format!("<{encoder}> {line}"),
                None => format!("<{encoder}>"),
            }
        }
        other => other.to_string(),
    }
}

pub(super) fn execution_values(client: &Client, id: &str, json_out: bool) -> Result<(), Failure> {
    let execution = client.json("GET", &execution_path(id, ""), None)?;
    let execution: ExecutionDto = read(execution, "an execution")?;
    let values = execution.values.unwrap_or_default();
    if json_out {
        print_json(&Value::Object(values));
        return Ok(());
    }
    let rows = values
        .iter()
        .map(|(name, value)| vec![name.clone(), cell(value)])
        .collect();
    print_table(&["NAME", "VALUE"], rows);
    Ok(())
}

pub(super) fn schedule_values(
    client: &Client,
    schedule: &str,
    name: Option<&str>,
    limit: Option<usize>,
    json_out: bool,
) -> Result<(), Failure> {
    let mut query = Vec::new();
    if let Some(name) = name {
        query.push(format!("name={}", encode(name)));
    }
    if let Some(limit) = limit {
        query.push(format!("limit={limit}"));
    }
    let mut path = schedule_path(schedule, "/values");
    if !query.is_empty() {
        path = format!("{path}?{}", query.join("&"));
    }
    let answer = client.json("GET", &path, None)?;
    if json_out {
        print_json(&answer);
        return Ok(());
    }
    let answer: SeriesDto = read(answer, "a series of values")?;
    let mut rows = Vec::new();
    for (name, points) in answer.series {
        let points: Vec<PointDto> = read(points, "a series of values")?;
        for point in points {
            let at = point.fire_time.as_deref().unwrap_or(&point.created_at);
            rows.push(vec![
                name.clone(),
                when_at(Some(at)),
                point.status.to_string(),
                cell(&point.value),
                point.execution_id,
            ]);
        }
    }
    print_table(&["NAME", "RUN (UTC)", "STATUS", "VALUE", "EXECUTION"], rows);
    Ok(())
}

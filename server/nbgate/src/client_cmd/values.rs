//! `nbgate executions values ID` and `nbgate schedules values NAME [--name N] [--limit K]`: recorded
//! values as a table (NAME, VALUE; a schedule's with each run's time and status), or the server's
//! JSON with `--json`.

use serde_json::{Value, json};

use super::http::{Client, encode};
use super::{execution_path, print_json, print_table, schedule_path, status_of, text, when};
use crate::Failure;

/// A value in one cell: JSON text, or `<encoder> first line of the summary` for other encoders.
fn cell(value: &Value) -> String {
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
    let values = execution
        .get("values")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if json_out {
        print_json(&values);
        return Ok(());
    }
    let rows = values
        .as_object()
        .into_iter()
        .flatten()
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
    let mut rows = Vec::new();
    for (name, points) in answer["series"].as_object().into_iter().flatten() {
        for point in points.as_array().into_iter().flatten() {
            let at = match &point["fire_time"] {
                Value::Null => &point["created_at"],
                fire_time => fire_time,
            };
            rows.push(vec![
                name.clone(),
                when(at),
                status_of(point).to_owned(),
                cell(&point["value"]),
                text(&point["execution_id"]),
            ]);
        }
    }
    print_table(&["NAME", "RUN (UTC)", "STATUS", "VALUE", "EXECUTION"], rows);
    Ok(())
}

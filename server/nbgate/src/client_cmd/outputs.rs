//! `nbgate executions outputs ID` (PATH, BYTES, ROWS, COLUMNS, MODIFIED) and
//! `nbgate executions preview ID PATH [--limit N]` (the table's first rows), or the server's JSON
//! with `--json`.

use serde_json::Value;

use super::http::{Client, encode};
use super::{execution_path, print_json, print_table, text, when};
use crate::Failure;

pub(super) fn execution_outputs(client: &Client, id: &str, json_out: bool) -> Result<(), Failure> {
    let answer = client.json("GET", &execution_path(id, "/outputs"), None)?;
    let outputs = answer["outputs"].as_array().cloned().unwrap_or_default();
    if json_out {
        print_json(&Value::Array(outputs));
        return Ok(());
    }
    let number = |value: &Value| value.as_u64().map_or("-".to_owned(), |n| n.to_string());
    let rows = outputs
        .iter()
        .map(|file| {
            let columns = file["columns"]
                .as_array()
                .map_or("-".to_owned(), |columns| {
                    columns
                        .iter()
                        .map(|c| format!("{}:{}", text(&c["name"]), text(&c["type"])))
                        .collect::<Vec<_>>()
                        .join(", ")
                });
            vec![
                text(&file["path"]),
                number(&file["bytes"]),
                number(&file["rows"]),
                when(&file["modified"]),
                columns,
            ]
        })
        .collect();
    print_table(&["PATH", "BYTES", "ROWS", "MODIFIED", "COLUMNS"], rows);
    Ok(())
}

pub(super) fn preview(
    client: &Client,
    id: &str,
    path: &str,
    limit: usize,
    json_out: bool,
) -> Result<(), Failure> {
    let query = format!("/outputs/preview?path={}&limit={limit}", encode(path));
    let table = client.json("GET", &execution_path(id, &query), None)?;
    if json_out {
        print_json(&table);
        return Ok(());
    }
    let headers: Vec<String> = table["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|column| text(&column["name"]))
        .collect();
    let rows = table["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|row| {
            row.as_array()
                .into_iter()
                .flatten()
                .map(|cell| match cell {
                    Value::String(text) => text.replace('\n', " "),
                    Value::Null => String::new(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    print_table(&headers, rows);
    Ok(())
}

//! `nbgate executions outputs ID` (PATH, BYTES, ROWS, COLUMNS, MODIFIED) and
//! `nbgate executions preview ID PATH [--limit N]` (the table's first rows), or the server's JSON
//! with `--json`.

use nbgate_api::executor::wire::{OutputsDto, PreviewDto};
use serde_json::Value;

use super::http::{Client, encode};
use super::{execution_path, print_json, print_table, read, when_at};
use crate::Failure;

pub(super) fn execution_outputs(client: &Client, id: &str, json_out: bool) -> Result<(), Failure> {
    let answer = client.json("GET", &execution_path(id, "/outputs"), None)?;
    if json_out {
        print_json(&answer["outputs"]);
        return Ok(());
    }
    let answer: OutputsDto = read(answer, "a list of output files")?;
    let rows = answer
        .outputs
        .into_iter()
        .map(|file| {
            let columns = file.columns.map_or("-".to_owned(), |columns| {
                columns
                    .iter()
                    .map(|c| format!("{}:{}", c.name, c.kind))
                    .collect::<Vec<_>>()
                    .join(", ")
            });
            vec![
                file.path,
                file.bytes.to_string(),
                file.rows.map_or("-".to_owned(), |n| n.to_string()),
                when_at(Some(&file.modified)),
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
    let table: PreviewDto = read(table, "a table preview")?;
    let headers: Vec<String> = table
        .columns
        .into_iter()
        .map(|column| column.name)
        .collect();
    let rows = table
        .rows
        .into_iter()
        .map(|row| {
            row.iter()
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

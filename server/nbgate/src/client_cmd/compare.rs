//! `nbgate executions compare A B`: what differs between two executions (parameters, recorded
//! values, output files, cells) as one table, or the server's JSON with `--json`.

use nbgate_api::executor::wire::{ComparisonDto, OutputSideDto};
use serde_json::Value;

use super::http::{Client, encode};
use super::{execution_path, print_json, print_table, read};
use crate::Failure;

/// Characters of a value or a cell's outputs shown in one table cell.
const WIDTH: usize = 60;

pub(super) fn compare(client: &Client, a: &str, b: &str, json_out: bool) -> Result<(), Failure> {
    let path = execution_path(a, &format!("/compare/{}", encode(b)));
    let answer = client.json("GET", &path, None)?;
    if json_out {
        print_json(&answer);
        return Ok(());
    }
    let rows = rows(&read(answer, "a comparison")?);
    if rows.is_empty() {
        println!("no differences between {a} and {b}");
        return Ok(());
    }
    print_table(&["WHAT", "NAME", "A", "B"], rows);
    Ok(())
}

/// The table's rows: parameters, values, outputs, then cells.
fn rows(answer: &ComparisonDto) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for (kind, pairs) in [("parameter", &answer.parameters), ("value", &answer.values)] {
        for (name, pair) in pairs {
            rows.push(vec![
                kind.to_owned(),
                name.clone(),
                value_cell(&pair[0]),
                value_cell(&pair[1]),
            ]);
        }
    }
    for output in &answer.outputs {
        rows.push(vec![
            "output".to_owned(),
            output.path.clone(),
            file_cell(output.a.as_ref()),
            file_cell(output.b.as_ref()),
        ]);
    }
    for cell in &answer.cells {
        let what = match (cell.source_changed, cell.outputs_changed) {
            (true, true) => "source, outputs",
            (true, false) => "source",
            _ => "outputs",
        };
        rows.push(vec![
            format!("cell {}", cell.index),
            what.to_owned(),
            summary_cell(cell.a.as_deref()),
            summary_cell(cell.b.as_deref()),
        ]);
    }
    rows
}

fn shorten(text: &str) -> String {
    let one_line = text.trim().replace('\n', " ⏎ ");
    if one_line.chars().count() <= WIDTH {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(WIDTH - 1).collect();
    cut.push('…');
    cut
}

fn value_cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        other => shorten(&other.to_string()),
    }
}

/// `158 rows, 2048 B, sha256 0123456789ab` or `-` (not recorded on that side).
fn file_cell(side: Option<&OutputSideDto>) -> String {
    let Some(side) = side else {
        return "-".to_owned();
    };
    let sha = side.sha256.get(..12).unwrap_or(&side.sha256);
    match side.rows {
        Some(rows) => format!("{rows} rows, {} B, sha256 {sha}", side.bytes),
        None => format!("{} B, sha256 {sha}", side.bytes),
    }
}

fn summary_cell(side: Option<&str>) -> String {
    match side {
        None => "(no such cell)".to_owned(),
        Some("") => "(no output)".to_owned(),
        Some(text) => shorten(text),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn typed(answer: Value) -> ComparisonDto {
        nbgate_api::executor::wire::from_json(answer).expect("a comparison")
    }

    #[test]
    fn every_kind_of_change_is_a_row() {
        let answer = json!({
            "parameters": {"alpha": [0.5, 0.7]},
            "values": {"accuracy": [0.9, null]},
            "outputs": [{"path": "out.csv", "a": null,
                "b": {"sha256": "abcdef0123456789", "bytes": 10, "rows": 2}}],
            "cells": [{"index": 3, "source_changed": false, "outputs_changed": true,
                "a": "1\n2\n", "b": null}],
        });
        assert_eq!(
            rows(&typed(answer)),
            vec![
                vec!["parameter", "alpha", "0.5", "0.7"],
                vec!["value", "accuracy", "0.9", "-"],
                vec![
                    "output",
                    "out.csv",
                    "-",
                    "2 rows, 10 B, sha256 abcdef012345"
                ],
                vec!["cell 3", "outputs", "1 ⏎ 2", "(no such cell)"],
            ]
        );
        let empty = json!({"parameters": {}, "values": {}, "outputs": [], "cells": []});
        assert!(rows(&typed(empty)).is_empty());
    }

    #[test]
    fn long_text_is_cut_to_the_width() {
        let long = "x".repeat(200);
        assert_eq!(shorten(&long).chars().count(), WIDTH);
    }
}

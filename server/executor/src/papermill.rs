//! What papermill does to a notebook around execution, as pure functions: load normalisation,
//! `metadata.papermill` bookkeeping (`NotebookExecutionManager`), nbclient timing metadata, the
//! error marker cells and `PapermillExecutionError`. Time is always passed in.

use std::fmt;
use std::sync::LazyLock;

use chrono::{DateTime, SecondsFormat, Utc};
use regex::Regex;
use serde_json::{Map, Value, json};

use crate::notebook::{Cell, Notebook, object_entry};

/// The papermill version whose behaviour and metadata nbgate reproduces.
pub const PAPERMILL_VERSION: &str = "2.7.0";
/// Tag of the two markdown cells papermill adds when a cell fails.
pub const ERROR_MARKER_TAG: &str = "papermill-error-cell-tag";

const ERROR_STYLE: &str = r#"style="color:red; font-family:Helvetica Neue, Helvetica, Arial, sans-serif; font-size:2em;""#;

/// `load_notebook_node` after reading: upgrade to 4.5, default `metadata.papermill`, and
/// `tags: []` / `papermill: {}` on every cell lacking them.
pub fn normalize_loaded(notebook: &mut Notebook) {
    notebook.upgrade();
    if !notebook.metadata().contains_key("papermill") {
        notebook.metadata_mut().insert(
            "papermill".into(),
            json!({
                "default_parameters": {},
                "parameters": {},
                "environment_variables": {},
                "version": PAPERMILL_VERSION,
            }),
        );
    }
    for cell in notebook.cells_mut() {
        let metadata = cell.metadata_mut();
        metadata.entry("tags").or_insert_with(|| json!([]));
        metadata.entry("papermill").or_insert_with(|| json!({}));
    }
}

/// `remove_error_markers`: drops the marker cells a previous failed run left.
pub fn remove_error_markers(notebook: &mut Notebook) {
    notebook
        .cells_mut()
        .retain(|cell| !cell.has_tag(ERROR_MARKER_TAG));
}

/// `prepare_notebook_metadata` (without report mode): records where the run reads and writes.
pub fn prepare_metadata(notebook: &mut Notebook, input_path: &str, output_path: &str) {
    let papermill = object_entry(notebook.metadata_mut(), "papermill");
    papermill.insert("input_path".into(), input_path.into());
    papermill.insert("output_path".into(), output_path.into());
}

/// Python's `datetime.isoformat()` of a UTC time: microseconds (dropped when zero), `+00:00`.
pub fn papermill_timestamp(time: DateTime<Utc>) -> String {
    let micros = time.timestamp_subsec_micros();
    let base = time.format("%Y-%m-%dT%H:%M:%S");
    if micros == 0 {
        format!("{base}+00:00")
    } else {
        format!("{base}.{micros:06}+00:00")
    }
}

/// `(end - start).total_seconds()` at microsecond resolution, like Python's `timedelta`.
fn duration_seconds(start: DateTime<Utc>, end: DateTime<Utc>) -> Value {
    let micros = (truncate_to_micros(end) - truncate_to_micros(start))
        .num_microseconds()
        .unwrap_or(0);
    serde_json::Number::from_f64(micros as f64 / 1e6).map_or(Value::Null, Value::Number)
}

fn truncate_to_micros(time: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = time.timestamp_subsec_nanos() % 1_000;
    time - chrono::Duration::nanoseconds(i64::from(nanos))
}

fn papermill_metadata(notebook: &mut Notebook) -> &mut Map<String, Value> {
    object_entry(notebook.metadata_mut(), "papermill")
}

fn cell_papermill(cell: &mut Cell) -> &mut Map<String, Value> {
    object_entry(cell.metadata_mut(), "papermill")
}

/// `notebook_start`: stamps the start, resets every cell to `pending`, clears code cells'
/// execution counts and outputs.
pub fn notebook_start(notebook: &mut Notebook, now: DateTime<Utc>) {
    let papermill = papermill_metadata(notebook);
    papermill.insert("start_time".into(), papermill_timestamp(now).into());
    papermill.insert("end_time".into(), Value::Null);
    papermill.insert("duration".into(), Value::Null);
    papermill.insert("exception".into(), Value::Null);
    for cell in notebook.cells_mut() {
        cell.metadata_mut().insert(
            "papermill".into(),
            json!({"exception": null, "start_time": null, "end_time": null, "duration": null, "status": "pending"}),
        );
        if cell.is_code() {
            cell.fields_mut()
                .insert("execution_count".into(), Value::Null);
            cell.outputs_mut().clear();
        }
    }
}

/// `cell_start`: the cell is `running`, no exception yet.
pub fn cell_start(notebook: &mut Notebook, index: usize, now: DateTime<Utc>) {
    if let Some(cell) = notebook.cell_mut(index) {
        let papermill = cell_papermill(cell);
        papermill.insert("start_time".into(), papermill_timestamp(now).into());
        papermill.insert("status".into(), "running".into());
        papermill.insert("exception".into(), false.into());
    }
}

/// `cell_exception`: the cell `failed`, and so did the notebook.
pub fn cell_exception(notebook: &mut Notebook, index: usize) {
    if let Some(cell) = notebook.cell_mut(index) {
        let papermill = cell_papermill(cell);
        papermill.insert("exception".into(), true.into());
        papermill.insert("status".into(), "failed".into());
    }
    papermill_metadata(notebook).insert("exception".into(), true.into());
}

/// `cell_complete`: end time, duration from the recorded start, `completed` unless `failed`.
pub fn cell_complete(notebook: &mut Notebook, index: usize, now: DateTime<Utc>) {
    let Some(cell) = notebook.cell_mut(index) else {
        return;
    };
    let papermill = cell_papermill(cell);
    papermill.insert("end_time".into(), papermill_timestamp(now).into());
    let start = papermill
        .get("start_time")
        .and_then(Value::as_str)
        .and_then(parse_timestamp);
    if let Some(start) = start {
        papermill.insert("duration".into(), duration_seconds(start, now));
    }
    if papermill.get("status").and_then(Value::as_str) != Some("failed") {
        papermill.insert("status".into(), "completed".into());
    }
}

/// `notebook_complete`: end time and duration; cells still `pending` before the first `failed`
/// one become `completed`.
pub fn notebook_complete(notebook: &mut Notebook, now: DateTime<Utc>) {
    let papermill = papermill_metadata(notebook);
    papermill.insert("end_time".into(), papermill_timestamp(now).into());
    let start = papermill
        .get("start_time")
        .and_then(Value::as_str)
        .and_then(parse_timestamp);
    if let Some(start) = start {
        papermill.insert("duration".into(), duration_seconds(start, now));
    }
    for cell in notebook.cells_mut() {
        let papermill = cell_papermill(cell);
        match papermill.get("status").and_then(Value::as_str) {
            Some("failed") => break,
            Some("pending") => {
                papermill.insert("status".into(), "completed".into());
            }
            _ => {}
        }
    }
}

fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// The four moments nbclient records in `cell.metadata.execution` (`record_timing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimingEvent {
    Busy,
    ExecuteInput,
    ExecuteReply,
    Idle,
}

impl TimingEvent {
    pub fn key(self) -> &'static str {
        match self {
            TimingEvent::Busy => "iopub.status.busy",
            TimingEvent::ExecuteInput => "iopub.execute_input",
            TimingEvent::ExecuteReply => "shell.execute_reply",
            TimingEvent::Idle => "iopub.status.idle",
        }
    }
}

/// nbclient's timestamp: `%Y-%m-%dT%H:%M:%S.%fZ` (always six fraction digits).
pub fn nbclient_timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A message `header.date` as nbclient stores it: parsed and re-formatted when it is a date
/// (the wall-clock fields in the header's own offset, then `Z`, as `strftime` does); otherwise
/// the text as given.
pub fn timing_from_header_date(date: &str) -> String {
    match DateTime::parse_from_rfc3339(date) {
        Ok(time) => time.format("%Y-%m-%dT%H:%M:%S.%6fZ").to_string(),
        Err(_) => date.to_owned(),
    }
}

/// Before execution nbclient resets `metadata.execution` to `{}`.
pub fn clear_execution_timing(cell: &mut Cell) {
    cell.metadata_mut().insert("execution".into(), json!({}));
}

/// Records one timing stamp in `metadata.execution`.
pub fn record_execution_timing(cell: &mut Cell, event: TimingEvent, timestamp: &str) {
    object_entry(cell.metadata_mut(), "execution").insert(event.key().into(), timestamp.into());
}

/// A failed cell found after execution (`PapermillExecutionError`).
#[derive(Debug, Clone, PartialEq)]
pub struct PapermillExecutionError {
    pub cell_index: usize,
    pub execution_count: Option<i64>,
    pub source: String,
    pub ename: String,
    pub evalue: String,
    pub traceback: Vec<String>,
}

impl fmt::Display for PapermillExecutionError {
    /// papermill's `__str__`: a rule, the prompt, the traceback without ANSI colours.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f)?;
        writeln!(f, "{}", "-".repeat(75))?;
        writeln!(f, "Exception encountered at \"In [{}]\":", self.prompt())?;
        writeln!(f, "{}", strip_color(&self.traceback.join("\n")))
    }
}

impl std::error::Error for PapermillExecutionError {}

impl PapermillExecutionError {
    /// Python's `str(exec_count)`: the number, or `None`.
    fn prompt(&self) -> String {
        self.execution_count
            .map_or_else(|| "None".to_owned(), |count| count.to_string())
    }
}

/// papermill's `strip_color`: removes ANSI colour and erase-line sequences.
pub fn strip_color(text: &str) -> String {
    static COLORS: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new("\x1b\\[(K|.*?m)").ok());
    match COLORS.as_ref() {
        Some(colors) => colors.replace_all(text, "").into_owned(),
        None => text.to_owned(),
    }
}

/// `raise_for_execution_errors`' scan: the error papermill would raise, if any.
///
/// Faithful to papermill's loop: an `error` output with `ename == "SystemExit"` and evalue `""` or
/// `"0"` is ignored; a later cell with an error output replaces an earlier one (papermill's
/// inner `break` does not leave the cell loop); a cell marked `exception: true` without an error
/// output stops the scan when nothing was found before it.
pub fn find_execution_error(notebook: &Notebook) -> Option<PapermillExecutionError> {
    let mut found = None;
    for (index, cell) in notebook.cells().iter().enumerate() {
        let mut has_sys_exit = false;
        for output in cell.outputs() {
            if output.get("output_type").and_then(Value::as_str) != Some("error") {
                continue;
            }
            let text = |key: &str| {
                output
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            let (ename, evalue) = (text("ename"), text("evalue"));
            if ename == "SystemExit" && (evalue.is_empty() || evalue == "0") {
                has_sys_exit = true;
                continue;
            }
            let traceback = output
                .get("traceback")
                .and_then(Value::as_array)
                .map(|lines| {
                    lines
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                });
            found = Some(error_for(
                index,
                cell,
                ename,
                evalue,
                traceback.unwrap_or_default(),
            ));
            break;
        }
        let marked = cell
            .metadata()
            .and_then(|m| m.get("papermill"))
            .and_then(|p| p.get("exception"));
        if found.is_none() && !has_sys_exit && marked == Some(&Value::Bool(true)) {
            return Some(error_for(
                index,
                cell,
                "CellExecutionError".into(),
                String::new(),
                Vec::new(),
            ));
        }
    }
    found
}

fn error_for(
    index: usize,
    cell: &Cell,
    ename: String,
    evalue: String,
    traceback: Vec<String>,
) -> PapermillExecutionError {
    PapermillExecutionError {
        cell_index: index,
        execution_count: cell.execution_count(),
        source: cell.source().to_owned(),
        ename,
        evalue,
        traceback,
    }
}

/// The two markdown cells papermill adds for a failure: an anchor right before the failing cell
/// and a banner at the top linking to it. The failing cell ends up at `cell_index + 2`.
pub fn insert_error_markers(notebook: &mut Notebook, error: &PapermillExecutionError) {
    let banner = format!(
        "<span {ERROR_STYLE}>An Exception was encountered at '<a href=\"#papermill-error-cell\">In [{}]</a>'.</span>",
        error.prompt()
    );
    let anchor = format!(
        "<span id=\"papermill-error-cell\" {ERROR_STYLE}>Execution using papermill encountered an exception here and stopped:</span>"
    );
    let marker = |source: &str| {
        let mut cell = Cell::new_markdown(source);
        cell.metadata_mut()
            .insert("tags".into(), json!([ERROR_MARKER_TAG]));
        cell
    };
    notebook.upgrade();
    let cells = notebook.cells_mut();
    let at = error.cell_index.min(cells.len());
    cells.insert(at, marker(&anchor));
    cells.insert(0, marker(&banner));
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn at(second: u32, micros: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, second)
            .single()
            .map(|t| t + chrono::Duration::microseconds(micros.into()))
            .unwrap_or_default()
    }

    fn lifecycle_notebook() -> Notebook {
        // Written by nbformat.writes: a 4.5 notebook with cell ids c0..c3 and old outputs.
        Notebook::parse(include_str!("notebook/testdata/lifecycle.ipynb"))
            .unwrap_or_else(|e| panic!("fixture: {e}"))
    }

    #[test]
    fn timestamps_like_python() {
        // datetime.isoformat() and nbclient's strftime("%Y-%m-%dT%H:%M:%S.%fZ").
        let precise = at(57, 907_971) + chrono::Duration::nanoseconds(999);
        assert_eq!(
            papermill_timestamp(precise),
            "2026-01-01T00:00:57.907971+00:00"
        );
        assert_eq!(papermill_timestamp(at(5, 0)), "2026-01-01T00:00:05+00:00");
        assert_eq!(nbclient_timestamp(at(5, 0)), "2026-01-01T00:00:05.000000Z");
        assert_eq!(nbclient_timestamp(precise), "2026-01-01T00:00:57.907971Z");
        assert_eq!(
            timing_from_header_date("2026-01-01T00:00:05.123Z"),
            "2026-01-01T00:00:05.123000Z"
        );
        assert_eq!(timing_from_header_date("not a date"), "not a date");
        // timedelta.total_seconds(): 61.500001 and 0.1.
        assert_eq!(
            duration_seconds(at(0, 0), at(1, 500_001) + chrono::Duration::minutes(1)),
            json!(61.500001)
        );
        assert_eq!(duration_seconds(at(0, 0), at(0, 100_000)), json!(0.1));
    }

    #[test]
    fn lifecycle_matches_notebook_execution_manager() {
        let mut notebook = lifecycle_notebook();
        normalize_loaded(&mut notebook);
        notebook_start(&mut notebook, at(0, 0));
        cell_start(&mut notebook, 0, at(2, 0));
        cell_complete(&mut notebook, 0, at(4, 0));
        cell_start(&mut notebook, 1, at(6, 0));
        cell_complete(&mut notebook, 1, at(8, 0));
        cell_start(&mut notebook, 2, at(10, 0));
        cell_exception(&mut notebook, 2);
        cell_complete(&mut notebook, 2, at(12, 0));
        notebook_complete(&mut notebook, at(14, 0));
        // From papermill 2.7.0's NotebookExecutionManager driven with the same clock.
        let done = |start: u32, end: u32, exception: bool, status: &str| {
            json!({"tags": [], "papermill": {
            "duration": 2.0, "end_time": format!("2026-01-01T00:00:{end:02}+00:00"), "exception": exception,
            "start_time": format!("2026-01-01T00:00:{start:02}+00:00"), "status": status}})
        };
        let expected_cells = [
            done(2, 4, false, "completed"),
            done(6, 8, false, "completed"),
            done(10, 12, true, "failed"),
            json!({"tags": [], "papermill": {"duration": null, "end_time": null, "exception": null, "start_time": null, "status": "pending"}}),
        ];
        for (cell, expected) in notebook.cells().iter().zip(expected_cells) {
            assert_eq!(cell.metadata().cloned().map(Value::Object), Some(expected));
        }
        assert_eq!(
            notebook.metadata()["papermill"],
            json!({
                "default_parameters": {}, "duration": 14.0, "end_time": "2026-01-01T00:00:14+00:00",
                "environment_variables": {}, "exception": true, "parameters": {},
                "start_time": "2026-01-01T00:00:00+00:00", "version": "2.7.0"
            })
        );
        let counts: Vec<_> = notebook
            .cells()
            .iter()
            .map(|c| c.fields().get("execution_count").cloned())
            .collect();
        assert_eq!(
            counts,
            [
                Some(Value::Null),
                None,
                Some(Value::Null),
                Some(Value::Null)
            ]
        );
        assert!(notebook.cells()[0].outputs().is_empty());
    }

    #[test]
    fn notebook_complete_marks_pending_cells_before_a_failure() {
        let mut notebook = lifecycle_notebook();
        notebook_start(&mut notebook, at(0, 0));
        cell_exception(&mut notebook, 2);
        notebook_complete(&mut notebook, at(1, 0));
        let statuses: Vec<_> = notebook
            .cells()
            .iter()
            .map(|c| c.metadata().map(|m| m["papermill"]["status"].clone()))
            .collect();
        assert_eq!(
            statuses,
            [
                Some(json!("completed")),
                Some(json!("completed")),
                Some(json!("failed")),
                Some(json!("pending"))
            ]
        );
    }

    #[test]
    fn loaded_notebooks_get_papermill_defaults_but_keep_existing()
    -> Result<(), crate::NotebookError> {
        let mut notebook = Notebook::parse(
            r#"{"nbformat": 4, "nbformat_minor": 5, "metadata": {"papermill": {"parameters": {"a": 1}}},
            "cells": [{"cell_type": "raw", "id": "r", "source": "", "metadata": {"tags": ["x"], "papermill": {"k": 1}}}]}"#,
        )?;
        normalize_loaded(&mut notebook);
        assert_eq!(
            notebook.metadata()["papermill"],
            json!({"parameters": {"a": 1}})
        );
        assert_eq!(
            notebook.cells()[0].metadata().cloned().map(Value::Object),
            Some(json!({"tags": ["x"], "papermill": {"k": 1}}))
        );
        prepare_metadata(&mut notebook, "in.ipynb", "out/o.ipynb");
        assert_eq!(
            notebook.metadata()["papermill"],
            json!({"parameters": {"a": 1}, "input_path": "in.ipynb", "output_path": "out/o.ipynb"})
        );
        Ok(())
    }

    #[test]
    fn timing_metadata() {
        let mut cell = Cell::new_code("x");
        record_execution_timing(&mut cell, TimingEvent::Busy, "t0");
        clear_execution_timing(&mut cell);
        for (event, stamp) in [
            (TimingEvent::Busy, "t1"),
            (TimingEvent::ExecuteInput, "t2"),
            (TimingEvent::ExecuteReply, "t3"),
            (TimingEvent::Idle, "t4"),
        ] {
            record_execution_timing(&mut cell, event, stamp);
        }
        assert_eq!(
            cell.metadata().map(|m| m["execution"].clone()),
            Some(json!({
                "iopub.status.busy": "t1", "iopub.execute_input": "t2", "shell.execute_reply": "t3", "iopub.status.idle": "t4"
            }))
        );
    }

    #[test]
    fn execution_error_display_matches_papermill() {
        // str(PapermillExecutionError(...)) with papermill 2.7.0.
        let error = PapermillExecutionError {
            cell_index: 2,
            execution_count: Some(7),
            source: "src".into(),
            ename: "ValueError".into(),
            evalue: "bad".into(),
            traceback: vec![
                "\u{1b}[0;31mValueError\u{1b}[0m: bad".into(),
                "\u{1b}[Kline2".into(),
            ],
        };
        let rule = "-".repeat(75);
        assert_eq!(
            error.to_string(),
            format!("\n{rule}\nException encountered at \"In [7]\":\nValueError: bad\nline2\n")
        );
        let bare = PapermillExecutionError {
            execution_count: None,
            traceback: vec![],
            ..error
        };
        assert_eq!(
            bare.to_string(),
            format!("\n{rule}\nException encountered at \"In [None]\":\n\n")
        );
    }

    fn with_outputs(outputs: &[(usize, Value)], marked: &[usize]) -> Notebook {
        let mut notebook = lifecycle_notebook();
        for (index, output) in outputs {
            if let Some(cell) = notebook.cell_mut(*index) {
                cell.outputs_mut().push(output.clone());
            }
        }
        for index in marked {
            if let Some(cell) = notebook.cell_mut(*index) {
                cell.metadata_mut()
                    .insert("papermill".into(), json!({"exception": true}));
            }
        }
        notebook
    }

    fn error_output(ename: &str, evalue: &str) -> Value {
        json!({"output_type": "error", "ename": ename, "evalue": evalue, "traceback": [format!("{ename}: {evalue}")]})
    }

    #[test]
    fn finds_errors_the_papermill_way() {
        let found = |notebook: &Notebook| {
            find_execution_error(notebook).map(|e| (e.cell_index, e.ename, e.evalue))
        };
        let clean = with_outputs(&[], &[]);
        assert_eq!(found(&clean), None);
        // sys.exit() / sys.exit(0) are not errors, even on a failed cell.
        assert_eq!(
            found(&with_outputs(&[(0, error_output("SystemExit", "0"))], &[0])),
            None
        );
        assert_eq!(
            found(&with_outputs(&[(0, error_output("SystemExit", ""))], &[])),
            None
        );
        let one = with_outputs(&[(2, error_output("SystemExit", "1"))], &[2]);
        assert_eq!(found(&one), Some((2, "SystemExit".into(), "1".into())));
        // A later error output wins over an earlier one.
        let two = with_outputs(
            &[
                (0, error_output("KeyError", "a")),
                (3, error_output("ValueError", "b")),
            ],
            &[],
        );
        assert_eq!(found(&two), Some((3, "ValueError".into(), "b".into())));
        // A failed cell without an error output.
        assert_eq!(
            found(&with_outputs(&[], &[2])),
            Some((2, "CellExecutionError".into(), String::new()))
        );
        let details = find_execution_error(&one);
        assert_eq!(
            details
                .as_ref()
                .map(|e| (e.source.as_str(), e.execution_count, e.traceback.len())),
            Some(("b", None, 1))
        );
    }

    #[test]
    fn error_markers_like_papermill() {
        let mut notebook = with_outputs(&[(2, error_output("ValueError", "b"))], &[]);
        if let Some(cell) = notebook.cell_mut(2) {
            cell.fields_mut().insert("execution_count".into(), json!(3));
        }
        let error = find_execution_error(&notebook).unwrap_or_else(|| panic!("error expected"));
        insert_error_markers(&mut notebook, &error);
        let sources: Vec<&str> = notebook.cells().iter().map(Cell::source).collect();
        // ERROR_MESSAGE_TEMPLATE % "3" and ERROR_ANCHOR_MSG from papermill/execute.py.
        assert_eq!(
            sources,
            [
                "<span style=\"color:red; font-family:Helvetica Neue, Helvetica, Arial, sans-serif; font-size:2em;\">An Exception was encountered at '<a href=\"#papermill-error-cell\">In [3]</a>'.</span>",
                "a",
                "m",
                "<span id=\"papermill-error-cell\" style=\"color:red; font-family:Helvetica Neue, Helvetica, Arial, sans-serif; font-size:2em;\">Execution using papermill encountered an exception here and stopped:</span>",
                "b",
                "c",
            ]
        );
        assert!(
            notebook.cells()[0].has_tag(ERROR_MARKER_TAG)
                && notebook.cells()[3].has_tag(ERROR_MARKER_TAG)
        );
        remove_error_markers(&mut notebook);
        assert_eq!(
            notebook
                .cells()
                .iter()
                .map(Cell::source)
                .collect::<Vec<_>>(),
            ["a", "m", "b", "c"]
        );
    }
}

//! Two executions compared: the parameters, recorded values and output files that differ, and the
//! notebook cells whose source or outputs differ ([`SchedulerHandle::compare_executions`]).
//!
//! Cells are aligned by the user's index: the injected-parameters cell and papermill's error-marker
//! cells are left out first. A cell's outputs are compared by their text (streams, merged per
//! stream name; `text/plain`; errors' `ename: evalue`) and images by the SHA-256 of their base64
//! data; execution counts, metadata and other MIME types are not compared. [`diff_cells`] is pure.

use nbgate_executor::papermill::ERROR_MARKER_TAG;
use nbgate_executor::parameters::inject::INJECTED_PARAMETERS_TAG;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::error::{Result, SchedulerError, StoreError, ValidationError};
use crate::outputs::OutputFile;
use crate::paths;
use crate::service::SchedulerHandle;

/// Bytes of a cell side's summary kept (cut at a character boundary, then `…`).
pub const SUMMARY_BYTES: usize = 4096;

/// What differs between two executions; only changed entries are listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// name → `[a, b]`, `null` for a side that lacks the parameter.
    pub parameters: Map<String, Value>,
    /// name → `[a, b]` of recorded values, `null` for a side that did not record it.
    pub values: Map<String, Value>,
    /// Recorded output files by path, in path order.
    pub outputs: Vec<OutputChange>,
    /// Cells by the user's index.
    pub cells: Vec<CellChange>,
}

/// A recorded output file that differs (or was recorded on one side only).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputChange {
    pub path: String,
    pub a: Option<OutputSide>,
    pub b: Option<OutputSide>,
}

/// One side of an [`OutputChange`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputSide {
    pub sha256: String,
    pub bytes: u64,
    pub rows: Option<u64>,
}

/// A cell whose source or outputs differ. `a`/`b`: that side's outputs summarised (text, images as
/// `<image/png sha256:…>`, at most [`SUMMARY_BYTES`]), `null` when the notebook has no such cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellChange {
    pub index: usize,
    pub source_changed: bool,
    pub outputs_changed: bool,
    pub a: Option<String>,
    pub b: Option<String>,
}

impl SchedulerHandle {
    /// Compares execution `a` with execution `b` (either unknown: not found). Both output notebooks
    /// are read on the blocking pool, confined to the root; a notebook not written yet has no cells.
    pub async fn compare_executions(&self, a: &str, b: &str) -> Result<Comparison> {
        let (exec_a, exec_b) = (self.get_execution(a).await?, self.get_execution(b).await?);
        let values_a = self.execution_values(a).await?;
        let values_b = self.execution_values(b).await?;
        let outputs_a = self.execution_outputs(a).await?;
        let outputs_b = self.execution_outputs(b).await?;
        let path_a = paths::confine(&self.ctx.root, &exec_a.output_path)?;
        let path_b = paths::confine(&self.ctx.root, &exec_b.output_path)?;
        let (notebook_a, notebook_b) = tokio::task::spawn_blocking(move || {
            Ok::<_, SchedulerError>((
                read_notebook(&path_a, &exec_a.output_path)?,
                read_notebook(&path_b, &exec_b.output_path)?,
            ))
        })
        .await
        .map_err(|_| StoreError::Task)??;
        let values = |values: Vec<(String, crate::values::RecordedValue)>| {
            values
                .into_iter()
                .map(|(name, value)| (name, value.to_json()))
                .collect::<Map<String, Value>>()
        };
        Ok(Comparison {
            parameters: diff_maps(&exec_a.parameters, &exec_b.parameters),
            values: diff_maps(&values(values_a), &values(values_b)),
            outputs: diff_outputs(&outputs_a, &outputs_b),
            cells: diff_cells(&notebook_a, &notebook_b),
        })
    }
}

/// The notebook at `path` (`Value::Null` when it does not exist yet).
fn read_notebook(path: &std::path::Path, shown: &str) -> Result<Value> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Value::Null),
        Err(source) => {
            return Err(SchedulerError::Io {
                action: "read",
                path: path.to_owned(),
                source,
            });
        }
    };
    serde_json::from_slice(&bytes).map_err(|error| {
        ValidationError::UnreadableNotebook {
            path: shown.to_owned(),
            reason: error.to_string(),
        }
        .into()
    })
}

/// Names whose values differ: `name → [a, b]`, a missing side `null`; `a`'s order, then `b`'s.
pub fn diff_maps(a: &Map<String, Value>, b: &Map<String, Value>) -> Map<String, Value> {
    let mut changed = Map::new();
    for name in a.keys().chain(b.keys()) {
        let (left, right) = (a.get(name), b.get(name));
        if left != right && !changed.contains_key(name) {
            changed.insert(name.clone(), json!([left, right]));
        }
    }
    changed
}

/// Output files whose hash, size or rows differ, or recorded on one side only; by path.
pub fn diff_outputs(a: &[OutputFile], b: &[OutputFile]) -> Vec<OutputChange> {
    let side = |files: &[OutputFile], path: &str| {
        files
            .iter()
            .find(|file| file.path == path)
            .map(|file| OutputSide {
                sha256: file.sha256.clone(),
                bytes: file.bytes,
                rows: file.rows,
            })
    };
    let mut paths: Vec<&str> = a.iter().chain(b).map(|file| file.path.as_str()).collect();
    paths.sort_unstable();
    paths.dedup();
    paths
        .into_iter()
        .filter_map(|path| {
            let (left, right) = (side(a, path), side(b, path));
            (left != right).then(|| OutputChange {
                path: path.to_owned(),
                a: left,
                b: right,
            })
        })
        .collect()
}

/// The cells of two notebooks (nbformat 4 JSON; anything else has no cells) whose source or
/// outputs differ, aligned by the user's index.
pub fn diff_cells(a: &Value, b: &Value) -> Vec<CellChange> {
    let (cells_a, cells_b) = (user_cells(a), user_cells(b));
    let mut changes = Vec::new();
    for index in 0..cells_a.len().max(cells_b.len()) {
        let (left, right) = (cells_a.get(index), cells_b.get(index));
        let source_changed = left.map(|c| source(c)) != right.map(|c| source(c));
        let (outs_a, outs_b) = (left.map(|c| outputs(c)), right.map(|c| outputs(c)));
        let outputs_changed = outs_a != outs_b;
        if source_changed || outputs_changed {
            changes.push(CellChange {
                index,
                source_changed,
                outputs_changed,
                a: outs_a.as_deref().map(summary),
                b: outs_b.as_deref().map(summary),
            });
        }
    }
    changes
}

/// The user's cells: all but the injected-parameters cell and papermill's error markers.
fn user_cells(notebook: &Value) -> Vec<&Value> {
    let tagged = |cell: &Value, tag: &str| {
        cell["metadata"]["tags"]
            .as_array()
            .is_some_and(|tags| tags.iter().any(|t| t.as_str() == Some(tag)))
    };
    notebook["cells"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|cell| !tagged(cell, INJECTED_PARAMETERS_TAG) && !tagged(cell, ERROR_MARKER_TAG))
        .collect()
}

/// A multiline string of nbformat: a string, or a list of strings to join.
fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

fn source(cell: &Value) -> String {
    text(&cell["source"])
}

/// What a cell's outputs are compared by, in order.
#[derive(Debug, PartialEq)]
enum Compared {
    Stream(String, String),
    Text(String),
    Image(String, String),
    Error(String),
}

fn outputs(cell: &Value) -> Vec<Compared> {
    let mut compared = Vec::new();
    for output in cell["outputs"].as_array().into_iter().flatten() {
        match output["output_type"].as_str() {
            Some("stream") => {
                let name = output["name"].as_str().unwrap_or("stdout");
                let chunk = text(&output["text"]);
                match compared.last_mut() {
                    Some(Compared::Stream(last, joined)) if last == name => joined.push_str(&chunk),
                    _ => compared.push(Compared::Stream(name.to_owned(), chunk)),
                }
            }
            Some("execute_result" | "display_data") => {
                let data = &output["data"];
                for (mime, value) in data.as_object().into_iter().flatten() {
                    if mime.starts_with("image/") {
                        let digest = Sha256::digest(text(value).trim().as_bytes());
                        let hex = digest.iter().map(|byte| format!("{byte:02x}")).collect();
                        compared.push(Compared::Image(mime.clone(), hex));
                    }
                }
                if !data["text/plain"].is_null() {
                    compared.push(Compared::Text(text(&data["text/plain"])));
                }
            }
            Some("error") => compared.push(Compared::Error(format!(
                "{}: {}",
                output["ename"].as_str().unwrap_or_default(),
                output["evalue"].as_str().unwrap_or_default()
            ))),
            _ => {}
        }
    }
    compared
}

/// A cell side's outputs as text, at most [`SUMMARY_BYTES`].
fn summary(outputs: &[Compared]) -> String {
    let mut text = String::new();
    for output in outputs {
        match output {
            Compared::Stream(_, chunk) => text.push_str(chunk),
            Compared::Text(plain) => {
                text.push_str(plain);
                text.push('\n');
            }
            Compared::Image(mime, hash) => text.push_str(&format!("<{mime} sha256:{hash}>\n")),
            Compared::Error(error) => {
                text.push_str(error);
                text.push('\n');
            }
        }
    }
    if text.len() > SUMMARY_BYTES {
        let mut cut = SUMMARY_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
#[path = "compare_tests.rs"]
mod tests;

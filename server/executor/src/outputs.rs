//! IOPub messages → nbformat outputs, with nbclient's semantics.
//!
//! What a kernel publishes for one cell becomes that cell's `outputs`: streams, display data, execute
//! results and errors are appended in order (streams are not merged); `update_display_data` replaces
//! the data of every earlier output with the same `display_id` in any cell, without adding one;
//! `clear_output` clears now, or with `wait` just before the next output is added; `execute_input` and
//! friends carry the execution count. The collector holds the display-id map that spans cells.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::notebook::Cell;

/// What one message did to the cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A new output was appended (its index in the cell's outputs).
    Appended(usize),
    /// Outputs were changed in place (display update or immediate clear).
    Changed,
    /// The kernel finished with this request (`status: idle`).
    Idle,
    /// Nothing visible changed.
    None,
}

/// Collects outputs into a notebook's cells, message by message.
#[derive(Debug, Default)]
pub struct OutputCollector {
    /// display_id → cell index → indices of outputs showing it.
    displays: HashMap<String, HashMap<usize, Vec<usize>>>,
    /// `clear_output(wait=True)` seen: clear before the next output is added.
    clear_pending: bool,
    /// Most bytes of output one cell keeps (`None`: no limit). Memory stays bounded during a flood.
    limit: Option<usize>,
    /// Bytes of output the current cell holds.
    cell_bytes: usize,
    /// The current cell passed the limit: its further outputs are dropped (errors excepted).
    truncated: bool,
}

impl OutputCollector {
    /// A collector without an output limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// A collector that keeps at most `limit` bytes of output per cell, then one note saying so.
    pub fn with_limit(limit: Option<usize>) -> Self {
        Self {
            limit,
            ..Self::default()
        }
    }

    /// Starts a new cell (a pending wait-clear never carries over).
    pub fn start_cell(&mut self) {
        self.clear_pending = false;
        self.cell_bytes = 0;
        self.truncated = false;
    }

    /// Applies one iopub message of `msg_type` with `content` to cell `index` of `cells`.
    pub fn apply(
        &mut self,
        cells: &mut [Cell],
        index: usize,
        msg_type: &str,
        content: &Value,
    ) -> Effect {
        let Some(cell) = cells.get_mut(index) else {
            return Effect::None;
        };
        if let Some(count) = content.get("execution_count") {
            cell.fields_mut()
                .insert("execution_count".into(), count.clone());
        }
        match msg_type {
            "status" => {
                return match content.get("execution_state").and_then(Value::as_str) {
                    Some("idle") => Effect::Idle,
                    _ => Effect::None,
                };
            }
            "clear_output" => {
                if content
                    .get("wait")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                {
                    self.clear_pending = true;
                    return Effect::None;
                }
                cell.outputs_mut().clear();
                self.forget_cell(index);
                self.cell_bytes = 0;
                self.truncated = false;
                return Effect::Changed;
            }
            _ => {}
        }
        let display_id = match msg_type {
            "execute_result" | "display_data" | "update_display_data" => content
                .get("transient")
                .and_then(|transient| transient.get("display_id"))
                .and_then(Value::as_str)
                .filter(|id| !id.is_empty())
                .map(str::to_owned),
            _ => None,
        };
        let mut changed = false;
        if let Some(id) = &display_id {
            changed = self.update_display(cells, id, content);
        }
        if msg_type == "update_display_data" {
            return if changed {
                Effect::Changed
            } else {
                Effect::None
            };
        }
        let Some(output) = output_from_message(msg_type, content) else {
            return if changed {
                Effect::Changed
            } else {
                Effect::None
            };
        };
        let outputs = cells[index].outputs_mut();
        if self.clear_pending {
            outputs.clear();
            self.clear_pending = false;
            self.forget_cell(index);
            self.cell_bytes = 0;
            self.truncated = false;
        }
        let position = outputs.len();
        // Errors are always kept: they say why the cell failed.
        if msg_type != "error"
            && let Some(limit) = self.limit
        {
            if self.truncated {
                return Effect::None;
            }
            let size = output_size(&output);
            if self.cell_bytes + size > limit {
                self.truncated = true;
                outputs.push(truncation_note(limit));
                return Effect::Appended(position);
            }
            self.cell_bytes += size;
        }
        if let Some(id) = display_id {
            self.displays
                .entry(id)
                .or_default()
                .entry(index)
                .or_default()
                .push(position);
        }
        outputs.push(output);
        Effect::Appended(position)
    }

    /// Replaces data and metadata of every recorded output showing `id`. Unknown ids are ignored.
    fn update_display(&self, cells: &mut [Cell], id: &str, content: &Value) -> bool {
        let Some(places) = self.displays.get(id) else {
            return false;
        };
        let data = content.get("data").cloned().unwrap_or_else(|| json!({}));
        let metadata = content
            .get("metadata")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let mut changed = false;
        for (cell, indices) in places {
            for output in indices {
                if let Some(target) = cells
                    .get_mut(*cell)
                    .and_then(|cell| cell.outputs_mut().get_mut(*output))
                {
                    target["data"] = data.clone();
                    target["metadata"] = metadata.clone();
                    changed = true;
                }
            }
        }
        changed
    }

    fn forget_cell(&mut self, index: usize) {
        for places in self.displays.values_mut() {
            places.remove(&index);
        }
    }
}

/// Bytes of payload an output holds (stream text, display data): what the limit counts.
fn output_size(output: &Value) -> usize {
    fn strings(value: &Value) -> usize {
        match value {
            Value::String(text) => text.len(),
            Value::Array(items) => items.iter().map(strings).sum(),
            Value::Object(fields) => fields.values().map(strings).sum(),
            _ => 0,
        }
    }
    ["text", "data"]
        .iter()
        .filter_map(|field| output.get(field))
        .map(strings)
        .sum()
}

/// The stderr note a truncated cell ends with.
fn truncation_note(limit: usize) -> Value {
    json!({
        "output_type": "stream",
        "name": "stderr",
        "text": format!(
            "[nbgate] This cell's output passed {limit} bytes; the rest was not kept. \
             Raise the limit with --max-output-bytes (0 keeps everything).\n"
        ),
    })
}

/// nbformat's `output_from_msg`: the output a message creates, if it creates one.
pub fn output_from_message(msg_type: &str, content: &Value) -> Option<Value> {
    let field = |name: &str, default: Value| content.get(name).cloned().unwrap_or(default);
    let mut output = Map::new();
    output.insert("output_type".into(), json!(msg_type));
    match msg_type {
        "stream" => {
            output.insert("name".into(), field("name", json!("stdout")));
            output.insert("text".into(), field("text", json!("")));
        }
        "display_data" => {
            output.insert("data".into(), field("data", json!({})));
            output.insert("metadata".into(), field("metadata", json!({})));
        }
        "execute_result" => {
            output.insert("data".into(), field("data", json!({})));
            output.insert("metadata".into(), field("metadata", json!({})));
            output.insert(
                "execution_count".into(),
                field("execution_count", Value::Null),
            );
        }
        "error" => {
            output.insert("ename".into(), field("ename", json!("")));
            output.insert("evalue".into(), field("evalue", json!("")));
            output.insert("traceback".into(), field("traceback", json!([])));
        }
        _ => return None,
    }
    Some(Value::Object(output))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(n: usize) -> Vec<Cell> {
        (0..n).map(|_| Cell::new_code("")).collect()
    }

    fn display(id: &str, text: &str) -> Value {
        json!({"data": {"text/plain": text}, "metadata": {}, "transient": {"display_id": id}})
    }

    fn texts(cell: &Cell) -> Vec<String> {
        cell.outputs()
            .iter()
            .map(|output| {
                output["text"]
                    .as_str()
                    .or(output["data"]["text/plain"].as_str())
                    .unwrap_or("?")
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn streams_are_appended_without_merging() {
        let mut cells = cells(1);
        let mut collector = OutputCollector::new();
        for text in ["1\n", "2\n"] {
            collector.apply(
                &mut cells,
                0,
                "stream",
                &json!({"name": "stdout", "text": text}),
            );
        }
        assert_eq!(texts(&cells[0]), ["1\n", "2\n"]);
        assert_eq!(cells[0].outputs()[0]["output_type"], "stream");
    }

    #[test]
    fn execution_count_comes_from_the_kernel() {
        let mut cells = cells(1);
        let mut collector = OutputCollector::new();
        collector.apply(
            &mut cells,
            0,
            "execute_input",
            &json!({"code": "1", "execution_count": 7}),
        );
        assert_eq!(cells[0].execution_count(), Some(7));
        let effect = collector.apply(
            &mut cells,
            0,
            "execute_result",
            &json!({"data": {"text/plain": "1"}, "metadata": {}, "execution_count": 7}),
        );
        assert_eq!(effect, Effect::Appended(0));
        assert_eq!(
            cells[0].outputs()[0],
            json!({"output_type": "execute_result", "data": {"text/plain": "1"}, "metadata": {}, "execution_count": 7})
        );
    }

    #[test]
    fn display_updates_reach_earlier_cells_and_transient_is_dropped() {
        let mut cells = cells(2);
        let mut collector = OutputCollector::new();
        collector.apply(&mut cells, 0, "display_data", &display("d1", "first"));
        assert!(cells[0].outputs()[0].get("transient").is_none());
        let effect = collector.apply(
            &mut cells,
            1,
            "update_display_data",
            &display("d1", "updated"),
        );
        assert_eq!(effect, Effect::Changed);
        assert_eq!(texts(&cells[0]), ["updated"]);
        assert!(texts(&cells[1]).is_empty(), "an update adds no output");
        // A new display with a known id is appended and also updates the earlier ones.
        collector.apply(&mut cells, 1, "display_data", &display("d1", "again"));
        assert_eq!(texts(&cells[0]), ["again"]);
        assert_eq!(texts(&cells[1]), ["again"]);
        // Unknown ids are ignored.
        let effect = collector.apply(&mut cells, 1, "update_display_data", &display("zz", "x"));
        assert_eq!(effect, Effect::None);
    }

    #[test]
    fn clear_output_now_and_wait() {
        let mut cells = cells(1);
        let mut collector = OutputCollector::new();
        let stream = |text: &str| json!({"name": "stdout", "text": text});
        collector.apply(&mut cells, 0, "stream", &stream("a"));
        collector.apply(&mut cells, 0, "clear_output", &json!({"wait": false}));
        assert!(texts(&cells[0]).is_empty());
        collector.apply(&mut cells, 0, "stream", &stream("b"));
        collector.apply(&mut cells, 0, "clear_output", &json!({"wait": true}));
        assert_eq!(
            texts(&cells[0]),
            ["b"],
            "wait keeps outputs until the next one"
        );
        collector.apply(&mut cells, 0, "stream", &stream("c"));
        assert_eq!(texts(&cells[0]), ["c"]);
    }

    #[test]
    fn wait_clear_is_not_triggered_by_updates_and_ends_with_the_cell() {
        let mut cells = cells(2);
        let mut collector = OutputCollector::new();
        collector.apply(&mut cells, 0, "display_data", &display("d", "x"));
        collector.apply(&mut cells, 0, "clear_output", &json!({"wait": true}));
        collector.apply(&mut cells, 0, "update_display_data", &display("d", "y"));
        assert_eq!(texts(&cells[0]), ["y"]);
        collector.start_cell();
        collector.apply(
            &mut cells,
            1,
            "stream",
            &json!({"name": "stdout", "text": "z"}),
        );
        assert_eq!(texts(&cells[0]), ["y"]);
        assert_eq!(texts(&cells[1]), ["z"]);
    }

    #[test]
    fn cleared_cells_leave_the_display_map() {
        let mut cells = cells(1);
        let mut collector = OutputCollector::new();
        collector.apply(&mut cells, 0, "display_data", &display("d", "x"));
        collector.apply(&mut cells, 0, "clear_output", &json!({"wait": false}));
        collector.apply(
            &mut cells,
            0,
            "stream",
            &json!({"name": "stdout", "text": "s"}),
        );
        collector.apply(&mut cells, 0, "update_display_data", &display("d", "late"));
        assert_eq!(
            texts(&cells[0]),
            ["s"],
            "the stream at index 0 is not the old display"
        );
    }

    #[test]
    fn a_flood_is_cut_at_the_limit_with_a_note_and_errors_still_recorded() {
        let mut cells = cells(2);
        let mut collector = OutputCollector::with_limit(Some(10));
        let stream = |text: &str| json!({"name": "stdout", "text": text});
        assert_eq!(
            collector.apply(&mut cells, 0, "stream", &stream("12345")),
            Effect::Appended(0)
        );
        assert_eq!(
            collector.apply(&mut cells, 0, "stream", &stream("678")),
            Effect::Appended(1)
        );
        // Crossing the limit appends the note once; later output is dropped.
        assert_eq!(
            collector.apply(&mut cells, 0, "stream", &stream("90abc")),
            Effect::Appended(2)
        );
        assert_eq!(
            collector.apply(&mut cells, 0, "stream", &stream("more")),
            Effect::None
        );
        let error = json!({"ename": "E", "evalue": "v", "traceback": []});
        assert_eq!(
            collector.apply(&mut cells, 0, "error", &error),
            Effect::Appended(3)
        );
        let texts = texts(&cells[0]);
        assert_eq!(texts[..2], ["12345", "678"]);
        assert!(texts[2].contains("passed 10 bytes"), "{texts:?}");
        // The next cell starts with a fresh budget.
        collector.start_cell();
        assert_eq!(
            collector.apply(&mut cells, 1, "stream", &stream("new")),
            Effect::Appended(0)
        );
    }

    #[test]
    fn errors_and_idle() {
        let mut cells = cells(1);
        let mut collector = OutputCollector::new();
        collector.apply(
            &mut cells,
            0,
            "error",
            &json!({"ename": "ZeroDivisionError", "evalue": "division by zero", "traceback": ["t"]}),
        );
        assert_eq!(
            cells[0].outputs()[0],
            json!({"output_type": "error", "ename": "ZeroDivisionError", "evalue": "division by zero", "traceback": ["t"]})
        );
        let idle = collector.apply(&mut cells, 0, "status", &json!({"execution_state": "idle"}));
        assert_eq!(idle, Effect::Idle);
        let other = collector.apply(&mut cells, 0, "comm_open", &json!({}));
        assert_eq!(other, Effect::None);
    }
}

//! Normalising executed notebooks so that runs of the same case compare equal: the rules of
//! `tests/fixtures/README.md` (and `tests/fixtures/normalize.py`, their Python twin).

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value, json};

static RANDOM_ID: LazyLock<Regex> = LazyLock::new(|| Regex::new("^[0-9a-f]{8}$").expect("regex"));
static VALID_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[a-zA-Z0-9_-]{1,64}$").expect("regex"));
static ANSI: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]").expect("regex"));
static PATHS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"/tmp/ipykernel_\d+/\d+\.py", "<ipykernel-cell>"),
        (
            r#"(?:[A-Za-z]:)?[^\s"'(<>:]*/(?:site|dist)-packages/"#,
            "<site-packages>/",
        ),
        (
            r#"(?:[A-Za-z]:)?[^\s"'(<>:]*/lib/python3\.\d+/"#,
            "<stdlib>/",
        ),
        (r"0x[0-9a-fA-F]{8,16}\b", "0x<addr>"),
    ]
    .into_iter()
    .map(|(pattern, replacement)| (Regex::new(pattern).expect("regex"), replacement))
    .collect()
});

/// Parses notebook text, accepting the bare `NaN`/`Infinity`/`-Infinity` Python's json writes (they
/// become the strings `"nan"`, `"inf"`, `"-inf"`, which is how nbgate stores such values).
pub fn parse_lenient(text: &str) -> Value {
    let mut cleaned = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            cleaned.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let token = [
            ("-Infinity", "\"-inf\""),
            ("Infinity", "\"inf\""),
            ("NaN", "\"nan\""),
        ]
        .into_iter()
        .find(|(token, _)| rest.starts_with(token));
        if let Some((token, replacement)) = token {
            cleaned.push_str(replacement);
            rest = &rest[token.len()..];
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        cleaned.push(c);
        rest = &rest[c.len_utf8()..];
    }
    serde_json::from_str(&cleaned).unwrap_or_else(|error| panic!("not JSON: {error}"))
}

fn join(value: &Value) -> Value {
    match value {
        Value::Array(lines) if lines.iter().all(Value::is_string) => {
            Value::String(lines.iter().filter_map(Value::as_str).collect())
        }
        other => other.clone(),
    }
}

/// Output text without colours, installation paths or addresses.
pub fn normalize_text(text: &str) -> String {
    let mut text = ANSI.replace_all(text, "").into_owned();
    for (pattern, replacement) in PATHS.iter() {
        text = pattern.replace_all(&text, *replacement).into_owned();
    }
    text
}

fn placeholder_times(papermill: &mut Map<String, Value>) {
    for key in ["start_time", "end_time", "duration"] {
        if papermill.get(key).is_some_and(|value| !value.is_null()) {
            papermill.insert(key.into(), json!(format!("<{key}>")));
        }
    }
}

fn file_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_owned()
}

fn normalize_output(output: &mut Map<String, Value>) {
    match output.get("output_type").and_then(Value::as_str) {
        Some("stream") => {
            let text = join(output.get("text").unwrap_or(&json!("")));
            output.insert(
                "text".into(),
                json!(normalize_text(text.as_str().unwrap_or(""))),
            );
        }
        Some("error") => {
            let traceback: Vec<Value> = output
                .get("traceback")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|line| json!(normalize_text(line.as_str().unwrap_or(""))))
                .collect();
            output.insert("traceback".into(), Value::Array(traceback));
            let evalue = normalize_text(output.get("evalue").and_then(Value::as_str).unwrap_or(""));
            output.insert("evalue".into(), json!(evalue));
        }
        _ => {}
    }
    if let Some(Value::Object(data)) = output.get_mut("data") {
        for (mime, value) in data.iter_mut() {
            if mime == "application/json" || mime.ends_with("+json") {
                continue;
            }
            let mut joined = join(value);
            if let (Some(text), true) = (joined.as_str(), mime.starts_with("text/")) {
                joined = json!(normalize_text(text));
            }
            *value = joined;
        }
    }
}

/// The normalised copy of a notebook.
pub fn normalize(notebook: &Value) -> Value {
    let mut notebook = notebook.clone();
    if let Some(Value::Object(papermill)) = notebook.pointer_mut("/metadata/papermill") {
        placeholder_times(papermill);
        papermill.remove("version");
        for key in ["input_path", "output_path"] {
            if let Some(path) = papermill.get(key).and_then(Value::as_str).map(file_name) {
                papermill.insert(key.into(), json!(path));
            }
        }
    }
    if let Some(Value::Object(info)) = notebook.pointer_mut("/metadata/language_info")
        && info.contains_key("version")
    {
        info.insert("version".into(), json!("<version>"));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(Value::Array(cells)) = notebook.get_mut("cells") {
        for cell in cells.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(id) = cell.get("id").cloned() {
                let text = id.as_str().unwrap_or("");
                let replacement = if !VALID_ID.is_match(text) {
                    Some(format!("<INVALID id {id}>"))
                } else if seen.contains(text) {
                    Some(format!("<DUPLICATE id {id}>"))
                } else if RANDOM_ID.is_match(text) {
                    Some("<random-id>".to_owned())
                } else {
                    None
                };
                seen.insert(text.to_owned());
                if let Some(replacement) = replacement {
                    cell.insert("id".into(), json!(replacement));
                }
            }
            let source = join(cell.get("source").unwrap_or(&json!("")));
            cell.insert("source".into(), source);
            if let Some(Value::Object(metadata)) = cell.get_mut("metadata") {
                if let Some(Value::Object(papermill)) = metadata.get_mut("papermill") {
                    placeholder_times(papermill);
                }
                if let Some(Value::Object(execution)) = metadata.get_mut("execution") {
                    for value in execution.values_mut() {
                        *value = json!("<timestamp>");
                    }
                }
            }
            if let Some(Value::Array(outputs)) = cell.get_mut("outputs") {
                for output in outputs.iter_mut().filter_map(Value::as_object_mut) {
                    normalize_output(output);
                }
            }
            if let Some(Value::Object(attachments)) = cell.get_mut("attachments") {
                for attachment in attachments.values_mut().filter_map(Value::as_object_mut) {
                    for value in attachment.values_mut() {
                        *value = join(value);
                    }
                }
            }
        }
    }
    notebook
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_non_finite_tokens_become_strings_outside_strings_only() {
        let value =
            parse_lenient(r#"{"a": NaN, "b": -Infinity, "c": "NaN \" Infinity", "d": Infinity}"#);
        assert_eq!(
            value,
            json!({"a": "nan", "b": "-inf", "c": "NaN \" Infinity", "d": "inf"})
        );
    }

    #[test]
    fn volatile_fields_are_replaced_and_the_rest_kept() {
        let notebook = json!({
            "metadata": {"papermill": {"start_time": "t", "end_time": null, "version": "2.7.0",
                                       "input_path": "a/b/in.ipynb", "parameters": {"x": 1}},
                         "language_info": {"name": "python", "version": "3.11.7"}},
            "cells": [{"id": "0123abcd", "source": ["a\n", "b"], "metadata": {"execution": {"iopub.status.busy": "x"}},
                       "outputs": [{"output_type": "stream", "name": "stdout",
                                    "text": ["\u{1b}[0;31mred\u{1b}[0m /x/lib/python3.11/site-packages/k.py\n"]}]},
                      {"id": "c01", "source": "", "metadata": {}}]
        });
        assert_eq!(
            normalize(&notebook),
            json!({
                "metadata": {"papermill": {"start_time": "<start_time>", "end_time": null,
                                           "input_path": "in.ipynb", "parameters": {"x": 1}},
                             "language_info": {"name": "python", "version": "<version>"}},
                "cells": [{"id": "<random-id>", "source": "a\nb", "metadata": {"execution": {"iopub.status.busy": "<timestamp>"}},
                           "outputs": [{"output_type": "stream", "name": "stdout", "text": "red <site-packages>/k.py\n"}]},
                          {"id": "c01", "source": "", "metadata": {}}]
            })
        );
    }
}

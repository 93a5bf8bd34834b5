//! Multi-line strings on disk: nbformat stores `source`, stream `text` and textual mime data as
//! lists of lines (`split_lines` on write, `rejoin_lines` on read, `nbformat/v4/rwbase.py`).

use serde_json::{Map, Value};

/// Python's `str.splitlines(keepends)`: splits on `\n`, `\r`, `\r\n`, `\v`, `\f`, `\x1c`–`\x1e`,
/// `\x85`, `\u2028` and `\u2029`.
pub fn python_splitlines(text: &str, keep_ends: bool) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((index, ch)) = chars.next() {
        let is_break = matches!(
            ch,
            '\n' | '\r'
                | '\u{b}'
                | '\u{c}'
                | '\u{1c}'
                | '\u{1d}'
                | '\u{1e}'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if !is_break {
            continue;
        }
        let mut end = index + ch.len_utf8();
        if ch == '\r' && chars.peek().is_some_and(|&(_, next)| next == '\n') {
            chars.next();
            end += 1;
        }
        lines.push(if keep_ends {
            &text[start..end]
        } else {
            &text[start..index]
        });
        start = end;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

fn split_value(value: &mut Value) {
    if let Value::String(text) = value {
        let lines = python_splitlines(text, true)
            .into_iter()
            .map(|line| Value::String(line.to_owned()))
            .collect();
        *value = Value::Array(lines);
    }
}

/// Joins a list of strings into one string; anything else is left as it is.
fn join_value(value: &mut Value) {
    let joined = match value {
        Value::Array(items) => items
            .iter()
            .map(Value::as_str)
            .collect::<Option<Vec<&str>>>()
            .map(|parts| parts.concat()),
        _ => None,
    };
    if let Some(joined) = joined {
        *value = Value::String(joined);
    }
}

/// `_is_json_mime`: JSON mime types hold structured data, never joined.
fn is_json_mime(mime: &str) -> bool {
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// `_split_mimebundle`: only `text/*`, JavaScript and SVG values are split.
fn split_mimebundle(bundle: &mut Value) {
    if let Value::Object(bundle) = bundle {
        for (mime, value) in bundle.iter_mut() {
            if mime.starts_with("text/")
                || mime == "application/javascript"
                || mime == "image/svg+xml"
            {
                split_value(value);
            }
        }
    }
}

fn rejoin_mimebundle(bundle: &mut Value) {
    if let Value::Object(bundle) = bundle {
        for (mime, value) in bundle.iter_mut() {
            if !is_json_mime(mime) {
                join_value(value);
            }
        }
    }
}

fn for_each_attachment(cell: &mut Map<String, Value>, action: fn(&mut Value)) {
    if let Some(Value::Object(attachments)) = cell.get_mut("attachments") {
        attachments.values_mut().for_each(action);
    }
}

/// `split_lines` for one cell, on the way to disk.
pub fn split_cell(cell: &mut Map<String, Value>) {
    if let Some(source) = cell.get_mut("source") {
        split_value(source);
    }
    for_each_attachment(cell, split_mimebundle);
    if cell.get("cell_type").and_then(Value::as_str) != Some("code") {
        return;
    }
    let Some(Value::Array(outputs)) = cell.get_mut("outputs") else {
        return;
    };
    for output in outputs.iter_mut().filter_map(Value::as_object_mut) {
        match output.get("output_type").and_then(Value::as_str) {
            Some("execute_result" | "display_data") => {
                if let Some(data) = output.get_mut("data") {
                    split_mimebundle(data);
                }
            }
            Some("stream") => {
                if let Some(text) = output.get_mut("text") {
                    split_value(text);
                }
            }
            _ => {}
        }
    }
}

/// `rejoin_lines` for one cell, on the way from disk.
pub fn rejoin_cell(cell: &mut Map<String, Value>) {
    if let Some(source) = cell.get_mut("source") {
        join_value(source);
    }
    for_each_attachment(cell, rejoin_mimebundle);
    if cell.get("cell_type").and_then(Value::as_str) != Some("code") {
        return;
    }
    let Some(Value::Array(outputs)) = cell.get_mut("outputs") else {
        return;
    };
    for output in outputs.iter_mut().filter_map(Value::as_object_mut) {
        match output.get("output_type").and_then(Value::as_str) {
            Some("execute_result" | "display_data") => {
                if let Some(data) = output.get_mut("data") {
                    rejoin_mimebundle(data);
                }
            }
            Some(_) => {
                if let Some(text) = output.get_mut("text") {
                    join_value(text);
                }
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn splitlines_matches_python() {
        // Expected lists from Python's str.splitlines(True) / str.splitlines().
        let cases: &[(&str, &[&str], &[&str])] = &[
            ("", &[], &[]),
            ("a", &["a"], &["a"]),
            ("a\n", &["a\n"], &["a"]),
            ("a\nb", &["a\n", "b"], &["a", "b"]),
            (
                "a\r\nb\rc\n\n",
                &["a\r\n", "b\r", "c\n", "\n"],
                &["a", "b", "c", ""],
            ),
            (
                "x\u{b}y\u{c}z\u{1c}w\u{85}v\u{2028}u\u{2029}",
                &[
                    "x\u{b}",
                    "y\u{c}",
                    "z\u{1c}",
                    "w\u{85}",
                    "v\u{2028}",
                    "u\u{2029}",
                ],
                &["x", "y", "z", "w", "v", "u"],
            ),
            ("tab\tstays", &["tab\tstays"], &["tab\tstays"]),
        ];
        for (text, with_ends, without_ends) in cases {
            assert_eq!(
                python_splitlines(text, true),
                *with_ends,
                "{text:?} keepends"
            );
            assert_eq!(python_splitlines(text, false), *without_ends, "{text:?}");
        }
    }

    #[test]
    fn split_then_rejoin_round_trips() {
        let original = json!({
            "cell_type": "code",
            "source": "a\nb",
            "attachments": {"x.png": {"image/png": "AAAA\nBBBB", "text/plain": "t\nu"}},
            "outputs": [
                {"output_type": "stream", "name": "stdout", "text": "1\n2\n"},
                {"output_type": "display_data", "data": {
                    "text/plain": "p\nq", "image/svg+xml": "<svg>\n</svg>", "application/javascript": "a;\nb;",
                    "image/png": "iVBOR\nw0K", "application/json": {"k": "v\nw"}, "application/vnd.x+json": ["a\n", "b"]
                }, "metadata": {}},
                {"output_type": "error", "ename": "E", "evalue": "v", "traceback": ["l1\n", "l2"]}
            ]
        });
        let mut split = original.clone();
        if let Value::Object(cell) = &mut split {
            split_cell(cell);
        }
        // As nbformat.writes splits it (checked with nbformat 5.11.1).
        assert_eq!(
            split,
            json!({
                "cell_type": "code",
                "source": ["a\n", "b"],
                "attachments": {"x.png": {"image/png": "AAAA\nBBBB", "text/plain": ["t\n", "u"]}},
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": ["1\n", "2\n"]},
                    {"output_type": "display_data", "data": {
                        "text/plain": ["p\n", "q"], "image/svg+xml": ["<svg>\n", "</svg>"], "application/javascript": ["a;\n", "b;"],
                        "image/png": "iVBOR\nw0K", "application/json": {"k": "v\nw"}, "application/vnd.x+json": ["a\n", "b"]
                    }, "metadata": {}},
                    {"output_type": "error", "ename": "E", "evalue": "v", "traceback": ["l1\n", "l2"]}
                ]
            })
        );
        let mut rejoined = split;
        if let Value::Object(cell) = &mut rejoined {
            rejoin_cell(cell);
        }
        let mut expected = original;
        // The JSON mime type list stays a list; everything else is back to strings.
        expected["outputs"][1]["data"]["application/vnd.x+json"] = json!(["a\n", "b"]);
        assert_eq!(rejoined, expected);
    }
}

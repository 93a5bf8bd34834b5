//! Recorded values: what a notebook records with scrapbook (`sb.glue`) or papermill's legacy
//! `pm.record`, taken from the kernel's display messages as the run goes (never by re-reading the
//! output notebook).
//!
//! What scrapbook 0.5 publishes (`scrapbook/api.py`): `sb.glue(name, data)` is one `display_data`
//! whose only mimetype is `application/scrapbook.scrap.<encoder>+json`, holding
//! `{"name", "data", "encoder", "version"}` (encoder `text` for a str, `json` for other JSON values,
//! `pandas` for a DataFrame: base64 Parquet), with metadata `{"scrapbook": {"name", "data": true,
//! "display": false}}`. `display=True` adds a second `display_data` right after it, the value's own
//! rendering (`text/plain`, `text/html`, …) with metadata `{"scrapbook": {"name", "data": false,
//! "display": true}}`; a value no encoder takes (an IPython display object) is only that rendering.
//! papermill 1.x's `pm.record(name, value)` published `application/papermill.record+json` holding
//! `{name: value}`, and `pm.display(name, obj)` a rendering with metadata `{"papermill": {"name"}}`.
//!
//! Values of the `json` and `text` encoders are kept as they are (JSON numbers keep their text);
//! others are kept by name and encoder with the `text/plain` rendering published with them, if any:
//! never dropped silently. Pure: no kernel, no I/O.

use serde_json::{Map, Value, json};

/// The mimetype prefix of a scrapbook scrap (`…<encoder>+json`).
pub const SCRAP_MIMETYPE_PREFIX: &str = "application/scrapbook.scrap.";
/// papermill's legacy `pm.record` mimetype.
pub const RECORD_MIMETYPE: &str = "application/papermill.record+json";
/// A JSON value whose text is longer than this is recorded as [`RecordedValue::Other`] saying so.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// A summary (`text/plain` rendering) keeps at most this many characters.
pub const MAX_SUMMARY_CHARS: usize = 4000;

/// One recorded value.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordedValue {
    /// The `json` encoder, or `pm.record`: the JSON value, numbers exact.
    Json(Value),
    /// The `text` encoder.
    Text(String),
    /// Any other encoder (`pandas`, `arrow`, `display` for a rendering only, a custom one), or a
    /// JSON value too large to keep: the encoder and a summary (the `text/plain` rendering).
    Other {
        encoder: String,
        summary: Option<String>,
    },
}

impl RecordedValue {
    /// The scrapbook encoder name.
    pub fn encoder(&self) -> &str {
        match self {
            RecordedValue::Json(_) => "json",
            RecordedValue::Text(_) => "text",
            RecordedValue::Other { encoder, .. } => encoder,
        }
    }

    /// The value as the API and `--values-json` give it: the JSON value, a string for the text
    /// encoder, `{"encoder", "summary"}` for the others.
    pub fn to_json(&self) -> Value {
        match self {
            RecordedValue::Json(value) => value.clone(),
            RecordedValue::Text(text) => Value::String(text.clone()),
            RecordedValue::Other { encoder, summary } => {
                json!({"encoder": encoder, "summary": summary})
            }
        }
    }

    /// One line for a terminal: JSON text, or `<encoder> first line of the summary`.
    pub fn one_line(&self) -> String {
        match self {
            RecordedValue::Json(value) => value.to_string(),
            RecordedValue::Text(text) => Value::String(text.clone()).to_string(),
            RecordedValue::Other { encoder, summary } => {
                let first = summary.as_deref().and_then(|s| s.lines().next());
                match first {
                    Some(line) => format!("<{encoder}> {line}"),
                    None => format!("<{encoder}>"),
                }
            }
        }
    }
}

/// A run's values by name, in the order names were first recorded; a name recorded again keeps
/// its first position and its last value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordedValues(Vec<(String, RecordedValue)>);

impl RecordedValues {
    pub fn new() -> RecordedValues {
        RecordedValues::default()
    }

    /// Records `value` under `name`, replacing an earlier value of that name.
    pub fn record(&mut self, name: String, value: RecordedValue) {
        match self.0.iter_mut().find(|(known, _)| *known == name) {
            Some((_, slot)) => *slot = value,
            None => self.0.push((name, value)),
        }
    }

    pub fn get(&self, name: &str) -> Option<&RecordedValue> {
        self.0
            .iter()
            .find(|(known, _)| known == name)
            .map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &RecordedValue)> {
        self.0.iter().map(|(name, value)| (name.as_str(), value))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `{name: value}` as [`RecordedValue::to_json`] gives each.
    pub fn to_json(&self) -> Value {
        Value::Object(
            self.iter()
                .map(|(name, value)| (name.to_owned(), value.to_json()))
                .collect::<Map<String, Value>>(),
        )
    }
}

/// Reads recorded values out of one cell's display messages, in order. It remembers the data scrap
/// just published so that the rendering scrapbook's `display=True` sends after it gives that value
/// its summary instead of replacing it.
#[derive(Debug, Default)]
pub struct ValueExtractor {
    /// Names (and values) recorded by the previous display message.
    last: Vec<(String, RecordedValue)>,
}

impl ValueExtractor {
    pub fn new() -> ValueExtractor {
        ValueExtractor::default()
    }

    /// A new cell: a rendering never pairs with a scrap of another cell.
    pub fn start_cell(&mut self) {
        self.last.clear();
    }

    /// The values an iopub message of `msg_type` with `content` records (usually none), in order.
    pub fn extract(&mut self, msg_type: &str, content: &Value) -> Vec<(String, RecordedValue)> {
        if !matches!(
            msg_type,
            "display_data" | "update_display_data" | "execute_result"
        ) {
            return Vec::new();
        }
        let Some(data) = content.get("data").and_then(Value::as_object) else {
            return Vec::new();
        };
        let metadata = content.get("metadata");
        let recorded = data_scraps(data, metadata);
        if !recorded.is_empty() {
            self.last = recorded.clone();
            return recorded;
        }
        let last = std::mem::take(&mut self.last);
        let Some(name) = display_name(metadata) else {
            return Vec::new();
        };
        let summary = text_plain(data);
        match last.into_iter().find(|(known, _)| *known == name) {
            // The rendering of the scrap just recorded: a summary for a value kept by encoder only.
            Some((_, RecordedValue::Other { encoder, .. })) => {
                vec![(name, RecordedValue::Other { encoder, summary })]
            }
            Some(_) => Vec::new(),
            None => vec![(
                name,
                RecordedValue::Other {
                    encoder: "display".into(),
                    summary,
                },
            )],
        }
    }
}

/// The scraps and records in one message's data bundle.
fn data_scraps(
    data: &Map<String, Value>,
    metadata: Option<&Value>,
) -> Vec<(String, RecordedValue)> {
    let mut found = Vec::new();
    for (mimetype, payload) in data {
        if mimetype == RECORD_MIMETYPE {
            if let Some(record) = payload.as_object() {
                for (name, value) in record {
                    found.push((name.clone(), json_value(value)));
                }
            }
            continue;
        }
        let Some(mime_encoder) = mimetype
            .strip_prefix(SCRAP_MIMETYPE_PREFIX)
            .and_then(|rest| rest.strip_suffix("+json"))
        else {
            continue;
        };
        let name = payload
            .get("name")
            .and_then(Value::as_str)
            .or_else(|| metadata_name(metadata, "scrapbook"));
        let Some(name) = name else {
            continue;
        };
        let encoder = payload
            .get("encoder")
            .and_then(Value::as_str)
            .unwrap_or(mime_encoder);
        let inner = payload.get("data").unwrap_or(&Value::Null);
        let value = match encoder {
            "json" => json_value(inner),
            "text" => RecordedValue::Text(match inner {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            }),
            other => RecordedValue::Other {
                encoder: other.to_owned(),
                summary: text_plain(data),
            },
        };
        found.push((name.to_owned(), value));
    }
    found
}

/// A JSON value, or a note in its place when it is too large to keep.
fn json_value(value: &Value) -> RecordedValue {
    let bytes = serde_json::to_string(value).map_or(0, |text| text.len());
    if bytes > MAX_VALUE_BYTES {
        RecordedValue::Other {
            encoder: "json".into(),
            summary: Some(format!(
                "not kept: {bytes} bytes of JSON, more than the limit of {MAX_VALUE_BYTES}"
            )),
        }
    } else {
        RecordedValue::Json(value.clone())
    }
}

/// The name of a named rendering: scrapbook's `display=True` or papermill's `pm.display`.
fn display_name(metadata: Option<&Value>) -> Option<String> {
    let scrapbook = metadata.and_then(|m| m.get("scrapbook"));
    if scrapbook
        .and_then(|s| s.get("display"))
        .and_then(Value::as_bool)
        == Some(true)
    {
        return metadata_name(metadata, "scrapbook").map(str::to_owned);
    }
    metadata_name(metadata, "papermill").map(str::to_owned)
}

fn metadata_name<'a>(metadata: Option<&'a Value>, key: &str) -> Option<&'a str> {
    metadata?
        .get(key)?
        .get("name")?
        .as_str()
        .filter(|name| !name.is_empty())
}

/// The bundle's `text/plain` (a string, or nbformat's list of lines), cut to [`MAX_SUMMARY_CHARS`].
fn text_plain(data: &Map<String, Value>) -> Option<String> {
    let text = match data.get("text/plain")? {
        Value::String(text) => text.clone(),
        Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect(),
        _ => return None,
    };
    Some(match text.char_indices().nth(MAX_SUMMARY_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    })
}

#[cfg(test)]
#[path = "values_tests.rs"]
mod tests;

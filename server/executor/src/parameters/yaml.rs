//! Parameters from YAML (`-y`, `-f x.yaml`) with PyYAML `SafeLoader` semantics minus timestamps
//! (papermill's `NoDatesSafeLoader`, YAML 1.1); a JSON file (`-f x.json`) is read as YAML too, as
//! papermill reads it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::TScalarStyle;

use crate::error::ParametersError;
use crate::parameters::{ParamValue, Parameters};

/// `yaml.load(text, Loader=NoDatesSafeLoader) or {}`: a mapping of parameters (empty text gives
/// none). Keys that are not strings are written as Python's `str()` of them.
pub fn parameters_from_yaml(text: &str) -> Result<Parameters, ParametersError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    loop {
        let (event, _) = parser.next_token().map_err(|error| ParametersError::Yaml {
            message: error.to_string(),
        })?;
        if event == Event::StreamEnd {
            break;
        }
        builder.event(event)?;
    }
    match builder.documents.len() {
        0 => Ok(Parameters::new()),
        1 => match builder.documents.pop() {
            Some(ParamValue::Dict(entries)) => Ok(entries.into_iter().collect()),
            Some(ParamValue::Null) | None => Ok(Parameters::new()),
            Some(other) => Err(ParametersError::NotAMapping {
                found: kind_name(&other),
            }),
        },
        count => Err(ParametersError::MultipleDocuments { count }),
    }
}

/// `-f PATH`: the file's text as YAML, whatever its name, as papermill reads it. JSON is YAML
/// here too, with YAML 1.1's scalars: in a `.json` file `1e5` is the string "1e5" and `1.0e+5` a
/// float, for papermill as for nbgate.
pub fn parameters_from_file(path: &Path) -> Result<Parameters, ParametersError> {
    let text = std::fs::read_to_string(path).map_err(|source| ParametersError::Read {
        path: path.to_owned(),
        source,
    })?;
    parameters_from_yaml(&text)
}

fn kind_name(value: &ParamValue) -> &'static str {
    match value {
        ParamValue::Null => "nothing",
        ParamValue::Bool(_) => "a boolean",
        ParamValue::Int(_) | ParamValue::BigInt(_) => "an integer",
        ParamValue::Float(_) => "a float",
        ParamValue::Str(_) => "a string",
        ParamValue::List(_) => "a list",
        ParamValue::Dict(_) => "a mapping",
    }
}

/// A collection being built: a list, or a mapping waiting for a key or a value.
enum Frame {
    List {
        anchor: usize,
        items: Vec<ParamValue>,
    },
    Map {
        anchor: usize,
        entries: Vec<(String, ParamValue)>,
        key: Option<String>,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, ParamValue>,
    documents: Vec<ParamValue>,
}

impl Builder {
    fn event(&mut self, event: Event) -> Result<(), ParametersError> {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let is_merge_key = style == TScalarStyle::Plain && text == "<<" && tag.is_none();
                let expecting_key = matches!(self.stack.last(), Some(Frame::Map { key: None, .. }));
                if is_merge_key && expecting_key {
                    return Err(ParametersError::MergeKey);
                }
                let value = resolve_scalar(text, style, tag.as_ref())?;
                self.complete(anchor, value);
            }
            Event::Alias(anchor) => {
                let value = self
                    .anchors
                    .get(&anchor)
                    .cloned()
                    .ok_or(ParametersError::UnknownAnchor)?;
                self.complete(0, value);
            }
            Event::SequenceStart(anchor, tag) => {
                check_collection_tag(tag.as_ref(), "seq")?;
                self.stack.push(Frame::List {
                    anchor,
                    items: Vec::new(),
                });
            }
            Event::MappingStart(anchor, tag) => {
                check_collection_tag(tag.as_ref(), "map")?;
                self.stack.push(Frame::Map {
                    anchor,
                    entries: Vec::new(),
                    key: None,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (anchor, value) = match self.stack.pop() {
                    Some(Frame::List { anchor, items }) => (anchor, ParamValue::List(items)),
                    Some(Frame::Map {
                        anchor, entries, ..
                    }) => (anchor, ParamValue::Dict(entries)),
                    None => return Ok(()),
                };
                self.complete(anchor, value);
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
        Ok(())
    }

    /// A finished node goes into its parent (or becomes the document).
    fn complete(&mut self, anchor: usize, value: ParamValue) {
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
        match self.stack.last_mut() {
            None => self.documents.push(value),
            Some(Frame::List { items, .. }) => items.push(value),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(value.python_str()),
                Some(name) => match entries.iter_mut().find(|(existing, _)| *existing == name) {
                    Some((_, slot)) => *slot = value,
                    None => entries.push((name, value)),
                },
            },
        }
    }
}

const CORE_TAG: &str = "tag:yaml.org,2002:";

fn check_collection_tag(tag: Option<&Tag>, expected: &str) -> Result<(), ParametersError> {
    match tag {
        None => Ok(()),
        Some(tag) if tag.handle == CORE_TAG && tag.suffix == expected => Ok(()),
        Some(tag) if tag.handle == "!" && tag.suffix.is_empty() => Ok(()),
        Some(tag) => Err(ParametersError::UnsupportedTag {
            tag: format!("{}{}", tag.handle, tag.suffix),
        }),
    }
}

fn resolve_scalar(
    text: String,
    style: TScalarStyle,
    tag: Option<&Tag>,
) -> Result<ParamValue, ParametersError> {
    let Some(tag) = tag else {
        return Ok(if style == TScalarStyle::Plain {
            resolve_plain(&text)
        } else {
            ParamValue::Str(text)
        });
    };
    let invalid = || ParametersError::InvalidTaggedValue {
        tag: format!("{}{}", tag.handle, tag.suffix),
        value: text.clone(),
    };
    if tag.handle == "!" && tag.suffix.is_empty() {
        return Ok(ParamValue::Str(text));
    }
    if tag.handle != CORE_TAG {
        return Err(ParametersError::UnsupportedTag {
            tag: format!("{}{}", tag.handle, tag.suffix),
        });
    }
    let resolved = resolve_plain(&text);
    match (tag.suffix.as_str(), resolved) {
        ("str", _) => Ok(ParamValue::Str(text)),
        ("null", ParamValue::Null) => Ok(ParamValue::Null),
        ("bool", value @ ParamValue::Bool(_)) => Ok(value),
        ("int", value @ (ParamValue::Int(_) | ParamValue::BigInt(_))) => Ok(value),
        ("float", value @ ParamValue::Float(_)) => Ok(value),
        ("float", ParamValue::Int(number)) => Ok(ParamValue::Float(number as f64)),
        ("float", _) => crate::parameters::python_float(&text.replace('_', ""))
            .map(ParamValue::Float)
            .ok_or_else(invalid),
        ("null" | "bool" | "int", _) => Err(invalid()),
        _ => Err(ParametersError::UnsupportedTag {
            tag: format!("{}{}", tag.handle, tag.suffix),
        }),
    }
}

/// PyYAML's implicit resolvers (bool, float, int, null; no timestamp) and constructors.
static BOOL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$")
        .ok()
});
static FLOAT: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?",
        r"|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?",
        r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*",
        r"|[-+]?\.(?:inf|Inf|INF)",
        r"|\.(?:nan|NaN|NAN))$"
    ))
    .ok()
});
static INT: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:[-+]?0b[0-1_]+",
        r"|[-+]?0[0-7_]+",
        r"|[-+]?(?:0|[1-9][0-9_]*)",
        r"|[-+]?0x[0-9a-fA-F_]+",
        r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$"
    ))
    .ok()
});

fn matches(pattern: &LazyLock<Option<Regex>>, text: &str) -> bool {
    pattern.as_ref().is_some_and(|regex| regex.is_match(text))
}

fn resolve_plain(text: &str) -> ParamValue {
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return ParamValue::Null;
    }
    if matches(&BOOL, text) {
        return ParamValue::Bool(
            matches!(text.as_bytes().first(), Some(b'y' | b'Y' | b't' | b'T'))
                || text.eq_ignore_ascii_case("on"),
        );
    }
    // PyYAML tries the float resolver before the int one.
    if let Some(value) = construct_float(text).filter(|_| matches(&FLOAT, text)) {
        return ParamValue::Float(value);
    }
    if let Some(value) = construct_int(text).filter(|_| matches(&INT, text)) {
        return value;
    }
    ParamValue::Str(text.to_owned())
}

fn split_sign(text: &str) -> (bool, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    }
}

/// `construct_yaml_int`.
fn construct_int(text: &str) -> Option<ParamValue> {
    let cleaned = text.replace('_', "");
    let (negative, body) = split_sign(&cleaned);
    let signed = |magnitude: i128| if negative { -magnitude } else { magnitude };
    if body == "0" {
        return Some(ParamValue::Int(0));
    }
    let radix_value = |digits: &str, radix: u32| {
        i128::from_str_radix(digits, radix)
            .ok()
            .map(|m| ParamValue::Int(signed(m)))
    };
    if let Some(digits) = body.strip_prefix("0b") {
        return radix_value(digits, 2);
    }
    if let Some(digits) = body.strip_prefix("0x") {
        return radix_value(digits, 16);
    }
    if body.starts_with('0') {
        return radix_value(body, 8);
    }
    if body.contains(':') {
        let mut value: i128 = 0;
        for part in body.split(':') {
            value = value
                .checked_mul(60)?
                .checked_add(part.parse::<i128>().ok()?)?;
        }
        return Some(ParamValue::Int(signed(value)));
    }
    Some(ParamValue::int_from_digits(negative, body))
}

/// `construct_yaml_float`.
fn construct_float(text: &str) -> Option<f64> {
    let cleaned = text.replace('_', "").to_ascii_lowercase();
    let (negative, body) = split_sign(&cleaned);
    let sign = if negative { -1.0 } else { 1.0 };
    match body {
        ".inf" => return Some(sign * f64::INFINITY),
        ".nan" => return Some(f64::NAN),
        _ => {}
    }
    if body.contains(':') {
        let mut value = 0.0;
        for part in body.split(':') {
            value = value * 60.0 + crate::parameters::python_float(part)?;
        }
        return Some(sign * value);
    }
    crate::parameters::python_float(body).map(|value| sign * value)
}

#[cfg(test)]
#[path = "yaml_tests.rs"]
mod tests;

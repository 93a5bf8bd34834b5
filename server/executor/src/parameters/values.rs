//! Parameter values: the Python types papermill passes to its translators, and their JSON form.

use serde_json::{Map, Number, Value};

use crate::pyjson::py_float_repr;

/// One parameter value. Like a Python value from `json`/`yaml`/the CLI, it may be an integer of
/// any size or a non-finite float, which JSON cannot hold.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Null,
    Bool(bool),
    Int(i128),
    /// An integer outside `i128`, as canonical decimal digits (`-` sign, no leading zeros).
    BigInt(String),
    Float(f64),
    Str(String),
    List(Vec<ParamValue>),
    /// String keys in insertion order, later duplicates replacing earlier values in place.
    Dict(Vec<(String, ParamValue)>),
}

impl ParamValue {
    /// Python's `str(value)`, used where papermill stringifies (dict keys from YAML, Bash).
    pub fn python_str(&self) -> String {
        match self {
            ParamValue::Null => "None".into(),
            ParamValue::Bool(true) => "True".into(),
            ParamValue::Bool(false) => "False".into(),
            ParamValue::Int(number) => number.to_string(),
            ParamValue::BigInt(digits) => digits.clone(),
            ParamValue::Float(number) => py_float_repr(*number),
            ParamValue::Str(text) => text.clone(),
            ParamValue::List(_) | ParamValue::Dict(_) => {
                crate::parameters::translate::python_literal(self)
            }
        }
    }

    /// The JSON form stored in `metadata.papermill.parameters`, as papermill writes it: integers
    /// of any size are exact JSON integers (serde_json's `arbitrary_precision` keeps their digits).
    ///
    /// The one difference: Python writes non-finite floats as the bare tokens `NaN`/`Infinity`,
    /// which strict JSON readers (JupyterLab's `JSON.parse`, serde_json) reject, so they are stored
    /// as the strings `"nan"`, `"inf"` and `"-inf"` instead. The injected cell always carries the
    /// exact value (`float('nan')`).
    pub fn to_json(&self) -> Value {
        match self {
            ParamValue::Null => Value::Null,
            ParamValue::Bool(flag) => Value::Bool(*flag),
            ParamValue::Int(number) => Number::from_i128(*number)
                .map_or_else(|| big_json_int(&number.to_string()), Value::Number),
            ParamValue::BigInt(digits) => big_json_int(digits),
            ParamValue::Float(number) => Number::from_f64(*number)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(py_float_repr(*number))),
            ParamValue::Str(text) => Value::String(text.clone()),
            ParamValue::List(items) => {
                Value::Array(items.iter().map(ParamValue::to_json).collect())
            }
            ParamValue::Dict(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(key, value)| (key.clone(), value.to_json()))
                    .collect(),
            ),
        }
    }

    /// A JSON value as a parameter, as Python's `json.loads` reads it: integers stay integers of any
    /// size, `1.0` and `1e3` are floats.
    pub fn from_json(value: &Value) -> ParamValue {
        match value {
            Value::Null => ParamValue::Null,
            Value::Bool(flag) => ParamValue::Bool(*flag),
            Value::Number(number) => ParamValue::from_json_number(number),
            Value::String(text) => ParamValue::Str(text.clone()),
            Value::Array(items) => {
                ParamValue::List(items.iter().map(ParamValue::from_json).collect())
            }
            Value::Object(map) => ParamValue::Dict(
                map.iter()
                    .map(|(key, value)| (key.clone(), ParamValue::from_json(value)))
                    .collect(),
            ),
        }
    }

    /// A JSON number from its text (serde_json's `arbitrary_precision` keeps it): without a
    /// fraction or an exponent it is an integer of any size, otherwise a float, `±inf` when out of
    /// range (Python's `json.loads('1e400')` is `inf` too).
    pub fn from_json_number(number: &Number) -> ParamValue {
        let text = number.as_str();
        if text.contains(['.', 'e', 'E']) {
            // Valid JSON number text is valid for Rust's float parser; NaN is unreachable.
            return ParamValue::Float(text.parse().unwrap_or(f64::NAN));
        }
        match text.strip_prefix('-') {
            Some(digits) => ParamValue::int_from_digits(true, digits),
            None => ParamValue::int_from_digits(false, text),
        }
    }

    /// Whether this is an integer (of any size).
    pub fn is_int(&self) -> bool {
        matches!(self, ParamValue::Int(_) | ParamValue::BigInt(_))
    }

    /// An integer from decimal digits, kept exact whatever its size.
    pub(crate) fn int_from_digits(negative: bool, digits: &str) -> ParamValue {
        let trimmed = digits.trim_start_matches('0');
        let magnitude = if trimmed.is_empty() { "0" } else { trimmed };
        let sign = if negative && magnitude != "0" {
            "-"
        } else {
            ""
        };
        let canonical = format!("{sign}{magnitude}");
        canonical
            .parse::<i128>()
            .map(ParamValue::Int)
            .unwrap_or(ParamValue::BigInt(canonical))
    }
}

/// A JSON integer from canonical decimal digits (`-` sign, no leading zeros), exact at any size.
fn big_json_int(digits: &str) -> Value {
    serde_json::from_str::<Number>(digits)
        .map(Value::Number)
        .unwrap_or_else(|_| Value::String(digits.to_owned()))
}

/// Parameters by name, in insertion order. Setting an existing name replaces its value and keeps
/// its position, like a Python dict, so merged parameters keep papermill's order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parameters {
    entries: Vec<(String, ParamValue)>,
}

impl Parameters {
    pub fn new() -> Parameters {
        Parameters::default()
    }

    /// `dict[name] = value`.
    pub fn insert(&mut self, name: impl Into<String>, value: ParamValue) {
        let name = name.into();
        match self
            .entries
            .iter_mut()
            .find(|(existing, _)| *existing == name)
        {
            Some((_, slot)) => *slot = value,
            None => self.entries.push((name, value)),
        }
    }

    /// `dict.update(other)`.
    pub fn extend(&mut self, other: Parameters) {
        for (name, value) in other.entries {
            self.insert(name, value);
        }
    }

    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.entries
            .iter()
            .find(|(existing, _)| existing == name)
            .map(|(_, value)| value)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &ParamValue)> {
        self.entries
            .iter()
            .map(|(name, value)| (name.as_str(), value))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(name, _)| name.as_str())
    }

    /// The JSON object stored in `metadata.papermill.parameters` (see [`ParamValue::to_json`]).
    pub fn to_json(&self) -> Map<String, Value> {
        self.entries
            .iter()
            .map(|(name, value)| (name.clone(), value.to_json()))
            .collect()
    }

    /// Parameters from a JSON object (e.g. an API request body).
    pub fn from_json_object(object: &Map<String, Value>) -> Parameters {
        object
            .iter()
            .map(|(name, value)| (name.clone(), ParamValue::from_json(value)))
            .collect()
    }
}

impl FromIterator<(String, ParamValue)> for Parameters {
    fn from_iter<I: IntoIterator<Item = (String, ParamValue)>>(items: I) -> Parameters {
        let mut parameters = Parameters::new();
        for (name, value) in items {
            parameters.insert(name, value);
        }
        parameters
    }
}

/// papermill's `_resolve_type` for `-p NAME VALUE`: exactly `True`/`False`/`None`, else what
/// Python's `int()` accepts, else what `float()` accepts, else the text as a string.
pub fn resolve_cli_value(text: &str) -> ParamValue {
    match text {
        "True" => ParamValue::Bool(true),
        "False" => ParamValue::Bool(false),
        "None" => ParamValue::Null,
        _ => python_int(text)
            .or_else(|| python_float(text).map(ParamValue::Float))
            .unwrap_or_else(|| ParamValue::Str(text.to_owned())),
    }
}

/// Python's `int(text)`: surrounding whitespace, a sign, decimal digits (any script) with single
/// underscores between them.
pub fn python_int(text: &str) -> Option<ParamValue> {
    let body = text.trim_matches(is_python_space);
    let (negative, body) = split_sign(body);
    let digits = python_digits(body)?;
    Some(ParamValue::int_from_digits(negative, &digits))
}

/// Python's `float(text)`: whitespace, sign, `inf`/`infinity`/`nan` in any case, or a decimal
/// number with optional fraction and exponent and single underscores between digits.
pub fn python_float(text: &str) -> Option<f64> {
    let body = text.trim_matches(is_python_space);
    let (negative, body) = split_sign(body);
    let sign = if negative { -1.0 } else { 1.0 };
    match body.to_ascii_lowercase().as_str() {
        "inf" | "infinity" => return Some(sign * f64::INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(position) => (&body[..position], Some(&body[position + 1..])),
        None => (body, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (mantissa, None),
    };
    let whole = if whole.is_empty() {
        String::new()
    } else {
        python_digits(whole)?
    };
    let fraction = match fraction {
        Some("") | None => String::new(),
        Some(fraction) => python_digits(fraction)?,
    };
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let exponent = match exponent {
        None => String::new(),
        Some(exponent) => {
            let (exponent_negative, exponent_digits) = split_sign(exponent);
            let sign = if exponent_negative { "-" } else { "" };
            format!("e{sign}{}", python_digits(exponent_digits)?)
        }
    };
    let whole = if whole.is_empty() {
        "0"
    } else {
        whole.as_str()
    };
    let fraction = if fraction.is_empty() {
        "0"
    } else {
        fraction.as_str()
    };
    format!("{whole}.{fraction}{exponent}")
        .parse::<f64>()
        .ok()
        .map(|value| sign * value)
}

fn split_sign(text: &str) -> (bool, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    }
}

/// Decimal digits with single underscores between them, as ASCII digits.
fn python_digits(text: &str) -> Option<String> {
    let mut digits = String::with_capacity(text.len());
    let mut previous_was_digit = false;
    for ch in text.chars() {
        if ch == '_' {
            if !previous_was_digit {
                return None;
            }
            previous_was_digit = false;
            continue;
        }
        digits.push(decimal_digit(ch)?);
        previous_was_digit = true;
    }
    (previous_was_digit && !digits.is_empty()).then_some(digits)
}

/// The ASCII digit for a Unicode decimal digit (category Nd) of the common scripts.
fn decimal_digit(ch: char) -> Option<char> {
    const ZEROS: &[u32] = &[
        0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66,
        0xDE6, 0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
        0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0,
        0xFF10, 0x104A0, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6,
    ];
    let code = u32::from(ch);
    ZEROS
        .iter()
        .find(|&&zero| (zero..zero + 10).contains(&code))
        .and_then(|zero| char::from_digit(code - zero, 10))
}

/// `str.isspace()` for the characters `str.strip()` removes.
pub(crate) fn is_python_space(ch: char) -> bool {
    ch.is_whitespace() || matches!(ch, '\u{1c}'..='\u{1f}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cli_values_resolve_like_papermill() {
        use ParamValue::*;
        // Expected values from papermill.cli._resolve_type (papermill 2.7.0).
        let cases: Vec<(&str, ParamValue)> = vec![
            ("True", Bool(true)),
            ("False", Bool(false)),
            ("None", Null),
            ("true", Str("true".into())),
            ("none", Str("none".into())),
            ("1", Int(1)),
            ("-12", Int(-12)),
            ("+5", Int(5)),
            (" 7 ", Int(7)),
            ("\t8\n", Int(8)),
            ("1_000", Int(1000)),
            ("010", Int(10)),
            ("-0", Int(0)),
            ("٣", Int(3)),
            ("１２", Int(12)),
            ("1180591620717411303424", Int(1180591620717411303424)),
            (
                "-123456789012345678901234567890123456789012",
                BigInt("-123456789012345678901234567890123456789012".into()),
            ),
            ("1__0", Str("1__0".into())),
            ("_1", Str("_1".into())),
            ("1_", Str("1_".into())),
            ("0x10", Str("0x10".into())),
            ("1e3", Float(1000.0)),
            ("1.5", Float(1.5)),
            ("-.5", Float(-0.5)),
            ("5.", Float(5.0)),
            ("1_0.2_5", Float(10.25)),
            ("1E-2", Float(0.01)),
            ("inf", Float(f64::INFINITY)),
            ("-Infinity", Float(f64::NEG_INFINITY)),
            ("+INF", Float(f64::INFINITY)),
            ("1e", Str("1e".into())),
            (".", Str(".".into())),
            ("1._5", Str("1._5".into())),
            ("", Str("".into())),
            ("hello world", Str("hello world".into())),
            ("1,000", Str("1,000".into())),
        ];
        for (text, expected) in cases {
            assert_eq!(resolve_cli_value(text), expected, "{text:?}");
        }
        assert!(matches!(resolve_cli_value("nan"), Float(value) if value.is_nan()));
        assert!(matches!(resolve_cli_value("-NaN"), Float(value) if value.is_nan()));
    }

    #[test]
    fn parameters_keep_first_insertion_order() {
        let mut parameters: Parameters = [
            ("b".to_owned(), ParamValue::Int(1)),
            ("a".to_owned(), ParamValue::Int(2)),
        ]
        .into_iter()
        .collect();
        parameters.insert("b", ParamValue::Int(3));
        parameters.insert("c", ParamValue::Null);
        assert_eq!(parameters.names().collect::<Vec<_>>(), ["b", "a", "c"]);
        assert_eq!(parameters.get("b"), Some(&ParamValue::Int(3)));
        assert_eq!(parameters.len(), 3);
    }

    #[test]
    fn json_round_trip_and_unrepresentable_values() {
        let value = json!({"i": 1, "f": 1.0, "s": "x", "l": [null, true], "d": {"k": -2}});
        assert_eq!(ParamValue::from_json(&value).to_json(), value);
        let cases = [
            (ParamValue::Float(f64::NAN), json!("nan")),
            (ParamValue::Float(f64::NEG_INFINITY), json!("-inf")),
        ];
        for (param, expected) in cases {
            assert_eq!(param.to_json(), expected, "{param:?}");
        }
    }

    #[test]
    fn json_numbers_are_exact_at_any_size() {
        use ParamValue::*;
        // JSON text and what Python's json.loads makes of it.
        let big = "-123456789012345678901234567890123456789012";
        let cases: Vec<(&str, ParamValue)> = vec![
            ("9007199254740993", Int(9007199254740993)),
            ("99999999999999999999999", Int(99999999999999999999999)),
            ("-1180591620717411303424", Int(-1180591620717411303424)),
            (big, BigInt(big.into())),
            ("18446744073709551615", Int(u64::MAX.into())),
            ("-0", Int(0)),
            ("1.0", Float(1.0)),
            ("-0.0", Float(-0.0)),
            ("1e16", Float(1e16)),
            ("1E+2", Float(100.0)),
            ("12345678901234567890.5", Float(12345678901234567890.5)),
            ("1e400", Float(f64::INFINITY)),
        ];
        for (text, expected) in cases {
            let value: Value = serde_json::from_str(text).expect(text);
            let param = ParamValue::from_json(&value);
            assert_eq!(param, expected, "{text}");
            let written = serde_json::to_string(&param.to_json()).expect("serialises");
            if param.is_int() {
                // Integers are written back digit for digit ("-0" is the integer 0).
                let canonical = if text == "-0" { "0" } else { text };
                assert_eq!(written, canonical, "{text}");
            }
            let reread: Value = serde_json::from_str(&written).expect("JSON");
            let reread = match reread {
                Value::String(text) if text == "inf" => Float(f64::INFINITY),
                other => ParamValue::from_json(&other),
            };
            assert_eq!(reread, expected, "{text} written as {written}");
        }
    }
}

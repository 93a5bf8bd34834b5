//! JSON text exactly as Python writes it.
//!
//! nbformat writes notebooks with `json.dumps(nb, indent=1, sort_keys=True, separators=(",", ": "),
//! ensure_ascii=False)`, and papermill renders floats with Python's `repr`. Matching both byte for
//! byte keeps our output notebooks diff-identical to papermill's.

use serde_json::Value;

/// `json.dumps(value, indent=1, sort_keys=True, separators=(",", ": "), ensure_ascii=False)`.
///
/// Keys are sorted by code point (UTF-8 byte order is the same order), non-ASCII text is kept,
/// control characters are escaped the Python way (`\n`, `\u001b`), floats use [`py_float_repr`].
/// No trailing newline, like Python.
pub fn to_python_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, 0);
    out
}

/// Appends [`to_python_json`] of `value` as it is written nested `depth` levels deep (its inner lines
/// indented accordingly).
pub fn write_python_json(out: &mut String, value: &Value, depth: usize) {
    write_value(out, value, depth);
}

fn write_value(out: &mut String, value: &Value, depth: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        // The number's own text (serde_json's `arbitrary_precision`): integers digit for digit
        // at any size, as Python's `int`; floats as Python's `repr`, except out-of-range ones
        // (`1e400`), kept as written so the file stays strict JSON.
        Value::Number(number) => {
            let text = number.as_str();
            match text.parse::<f64>() {
                Ok(float) if float.is_finite() && text.contains(['.', 'e', 'E']) => {
                    out.push_str(&py_float_repr(float));
                }
                _ => out.push_str(text),
            }
        }
        Value::String(text) => push_json_string(out, text),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                newline_indent(out, depth + 1);
                write_value(out, item, depth + 1);
            }
            newline_indent(out, depth);
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|left, right| left.0.cmp(right.0));
            out.push('{');
            for (position, (key, item)) in entries.into_iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                newline_indent(out, depth + 1);
                push_json_string(out, key);
                out.push_str(": ");
                write_value(out, item, depth + 1);
            }
            newline_indent(out, depth);
            out.push('}');
        }
    }
}

fn newline_indent(out: &mut String, depth: usize) {
    out.push('\n');
    out.extend(std::iter::repeat_n(' ', depth));
}

/// A JSON string literal as Python's `json` module writes it with `ensure_ascii=False`.
pub fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            control if u32::from(control) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", u32::from(control)));
            }
            other => out.push(other),
        }
    }
    out.push('"');
}

/// Python's `repr(float)`: the shortest digits that round-trip, in exponent form when the decimal
/// exponent is < -4 or >= 16 (`1e+16`, `1e-05`), otherwise positional with at least one decimal
/// (`1000000000000000.0`, `-0.0`). Non-finite values are `nan`, `inf` and `-inf`.
pub fn py_float_repr(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_owned();
    }
    if value.is_infinite() {
        return if value < 0.0 { "-inf" } else { "inf" }.to_owned();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.2345e-5", "1e16", "0e0".
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();

    if !(-4..16).contains(&exponent) {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        return format!(
            "{sign}{first}{fraction}e{exponent_sign}{:02}",
            exponent.unsigned_abs()
        );
    }
    // Positional: the decimal point goes after `exponent + 1` digits.
    let point = exponent + 1;
    if point <= 0 {
        let zeros = "0".repeat(point.unsigned_abs() as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let point = point as usize;
    if digits.len() <= point {
        let zeros = "0".repeat(point - digits.len());
        format!("{sign}{digits}{zeros}.0")
    } else {
        let (whole, fraction) = digits.split_at(point);
        format!("{sign}{whole}.{fraction}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn float_repr_matches_python() {
        // Expected strings from `python -c 'print(repr(x))'` (CPython 3.11).
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1e-5, "1e-05"),
            (1e-4, "0.0001"),
            (0.00012345, "0.00012345"),
            (1.1, "1.1"),
            (0.1 + 0.2, "0.30000000000000004"),
            (123456789.125, "123456789.125"),
            (1.5e300, "1.5e+300"),
            (-2.5e-300, "-2.5e-300"),
            (1.2345e16, "1.2345e+16"),
            (9999999999999998.0, "9999999999999998.0"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (2.25, "2.25"),
            (100.0, "100.0"),
        ];
        for (value, expected) in cases {
            assert_eq!(py_float_repr(*value), *expected, "repr({value:?})");
        }
    }

    #[test]
    fn dumps_like_python() {
        // Expected strings from json.dumps(v, indent=1, sort_keys=True, separators=(",", ": "),
        // ensure_ascii=False).
        let cases: &[(Value, &str)] = &[
            (json!({}), "{}"),
            (json!([]), "[]"),
            (
                json!({"b": 1, "a": [1.0, "x"], "é": {}}),
                "{\n \"a\": [\n  1.0,\n  \"x\"\n ],\n \"b\": 1,\n \"é\": {}\n}",
            ),
            (
                json!("tab\tnl\ncr\r\u{1b}[0m\u{0}\u{7f}é😍\"\\"),
                "\"tab\\tnl\\ncr\\r\\u001b[0m\\u0000\u{7f}é😍\\\"\\\\\"",
            ),
            (
                json!([1e16, -0.0, 1e-5, 12345678901234567u64, -3]),
                "[\n 1e+16,\n -0.0,\n 1e-05,\n 12345678901234567,\n -3\n]",
            ),
            (
                json!({"Z": null, "a": true, "B": false}),
                "{\n \"B\": false,\n \"Z\": null,\n \"a\": true\n}",
            ),
            (json!("\u{8}\u{c}"), "\"\\b\\f\""),
            (
                serde_json::from_str(
                    "[99999999999999999999999, -1180591620717411303424, 1E+2, 1.50, 1e400]",
                )
                .expect("JSON"),
                "[\n 99999999999999999999999,\n -1180591620717411303424,\n 100.0,\n 1.5,\n 1e+400\n]",
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(to_python_json(value), *expected, "{value}");
        }
    }
}

//! Expectations: rules an execution or schedule declares (`expect`) on what a run recorded, checked
//! at creation and evaluated after a run that otherwise succeeded. A rule is one of
//!
//! - `NAME OP NUMBER` on a recorded value (`accuracy >= 0.8`),
//! - `rows(GLOB) OP NUMBER` on the rows of the recorded outputs whose path (relative to the
//!   notebook's folder, as `outputs` patterns are) matches GLOB, summed,
//! - `exists NAME`: a value named NAME was recorded,
//!
//! with OP one of `< <= > >= == !=`. Numbers are compared as `f64` (a JSON number recorded with more
//! digits than an `f64` holds is rounded to the nearest one first).

use std::path::Path;

use crate::error::ValidationError;
use crate::model::ExecutionError;
use crate::outputs::OutputFile;
use crate::values::RecordedValue;

/// Rules an execution or schedule may declare.
pub const MAX_RULES: usize = 64;
/// The error name of an execution that ran but did not meet its expectations.
pub const ENAME: &str = "ExpectationFailed";

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Op::Lt => left < right,
            Op::Le => left <= right,
            Op::Gt => left > right,
            Op::Ge => left >= right,
            Op::Eq => left == right,
            Op::Ne => left != right,
        }
    }
}

/// One parsed rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    Value { name: String, op: Op, number: f64 },
    Rows { glob: String, op: Op, number: f64 },
    Exists { name: String },
}

/// Why a rule does not parse: the 1-based character position and what was expected there.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub position: usize,
    pub reason: String,
}

fn error<T>(position: usize, reason: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        position: position + 1,
        reason: reason.into(),
    })
}

/// Parses one rule.
pub fn parse(rule: &str) -> Result<Rule, ParseError> {
    let chars: Vec<char> = rule.chars().collect();
    let start = chars.iter().take_while(|c| c.is_whitespace()).count();
    if start == chars.len() {
        return error(
            0,
            "the rule is empty; write `NAME OP NUMBER`, `rows(GLOB) OP NUMBER` or `exists NAME`",
        );
    }
    let rest: String = chars[start..].iter().collect();
    if let Some(name) = rest.strip_prefix("exists")
        && name.starts_with(char::is_whitespace)
    {
        let name = name.trim();
        if name.is_empty() {
            return error(chars.len(), "`exists` needs a value name");
        }
        return Ok(Rule::Exists { name: name.into() });
    }
    if let Some(after) = rest.strip_prefix("rows(") {
        let open = start + 5;
        let Some(close) = after.find(')') else {
            return error(chars.len(), "`rows(` needs a closing `)`");
        };
        let glob = after[..close].trim();
        if glob.is_empty() {
            return error(
                open,
                "`rows()` needs a glob pattern, e.g. rows(output/*.csv)",
            );
        }
        if let Err(e) = glob::Pattern::new(glob) {
            return error(open + e.pos, format!("invalid glob: {}", e.msg));
        }
        let tail_at = open + after[..=close].chars().count();
        let (op, number) = comparison(&chars, tail_at)?;
        return Ok(Rule::Rows {
            glob: glob.into(),
            op,
            number,
        });
    }
    let Some(op_at) = chars
        .iter()
        .position(|c| matches!(c, '<' | '>' | '=' | '!'))
    else {
        return error(
            chars.len(),
            "expected an operator (< <= > >= == !=) after the value name",
        );
    };
    let name: String = chars[..op_at].iter().collect::<String>().trim().into();
    if name.is_empty() {
        return error(op_at, "expected a value name before the operator");
    }
    let (op, number) = comparison(&chars, op_at)?;
    Ok(Rule::Value { name, op, number })
}

/// `OP NUMBER` from `at` to the end.
fn comparison(chars: &[char], at: usize) -> Result<(Op, f64), ParseError> {
    let mut at = at;
    while chars.get(at).is_some_and(|c| c.is_whitespace()) {
        at += 1;
    }
    let two: String = chars.iter().skip(at).take(2).collect();
    let (op, width) = match two.as_str() {
        "<=" => (Op::Le, 2),
        ">=" => (Op::Ge, 2),
        "==" => (Op::Eq, 2),
        "!=" => (Op::Ne, 2),
        _ => match chars.get(at) {
            Some('<') => (Op::Lt, 1),
            Some('>') => (Op::Gt, 1),
            _ => return error(at, "expected an operator: one of < <= > >= == !="),
        },
    };
    let number_at = at + width;
    let text: String = chars[number_at..].iter().collect();
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return error(chars.len(), "expected a number after the operator");
    }
    let offset = number_at + text.chars().take_while(|c| c.is_whitespace()).count();
    // `inf`, `nan` and the like parse as f64 but are not numbers a rule can mean.
    let numeric = trimmed
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E'));
    match trimmed.parse::<f64>() {
        Ok(number) if numeric && number.is_finite() => Ok((op, number)),
        _ => error(offset, format!("expected a finite number, got {trimmed:?}")),
    }
}

/// Checks the rules an execution or schedule declares.
pub fn check_rules(rules: &[String]) -> Result<(), ValidationError> {
    if rules.len() > MAX_RULES {
        return Err(ValidationError::OutOfRange {
            field: "expect",
            constraint: "at most 64 rules",
            value: rules.len().to_string(),
        });
    }
    for rule in rules {
        if rule.len() > 1024 {
            return Err(ValidationError::InvalidExpectation {
                rule: rule.chars().take(64).collect::<String>() + "…",
                reason: "use at most 1024 characters".into(),
            });
        }
        parse(rule).map_err(|e| ValidationError::InvalidExpectation {
            rule: rule.clone(),
            reason: format!("at character {}: {}", e.position, e.reason),
        })?;
    }
    Ok(())
}

/// Evaluates `rules` on what a run recorded; `folder` is the notebook's folder relative to the root
/// (output paths are matched relative to it). `None` when every rule holds, else the error the
/// execution ends with (each failing rule, `; `-separated, in its `evalue`).
pub fn evaluate(
    rules: &[String],
    values: &[(String, RecordedValue)],
    outputs: &[OutputFile],
    folder: &Path,
) -> Option<ExecutionError> {
    let failures: Vec<String> = rules
        .iter()
        .filter_map(|text| {
            let rule = match parse(text) {
                Ok(rule) => rule,
                Err(e) => return Some(format!("{text}: does not parse ({})", e.reason)),
            };
            check(&rule, values, outputs, folder).map(|why| format!("{}: {why}", text.trim()))
        })
        .collect();
    if failures.is_empty() {
        return None;
    }
    Some(ExecutionError {
        cell_index: None,
        ename: ENAME.into(),
        evalue: failures.join("; "),
        traceback: Vec::new(),
    })
}

/// Why the rule does not hold, or `None`.
fn check(
    rule: &Rule,
    values: &[(String, RecordedValue)],
    outputs: &[OutputFile],
    folder: &Path,
) -> Option<String> {
    let find = |name: &str| values.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    match rule {
        Rule::Exists { name } => find(name)
            .is_none()
            .then(|| format!("{name} was not recorded")),
        Rule::Value { name, op, number } => {
            let Some(value) = find(name) else {
                return Some(format!("{name} was not recorded"));
            };
            let shown = value.to_json().to_string();
            match value {
                RecordedValue::Json(serde_json::Value::Number(n)) => match n.as_f64() {
                    Some(v) if op.holds(v, *number) => None,
                    Some(_) => Some(format!("was {shown}")),
                    None => Some(format!("was {shown}, not a number an f64 holds")),
                },
                RecordedValue::Other { encoder, .. } => Some(format!(
                    "{name} is not a number (recorded with the {encoder} encoder)"
                )),
                _ => Some(format!("was {shown}, not a number")),
            }
        }
        Rule::Rows { glob, op, number } => {
            let pattern = glob::Pattern::new(glob).ok()?;
            let options = glob::MatchOptions {
                case_sensitive: true,
                require_literal_separator: true,
                require_literal_leading_dot: false,
            };
            let matched: Vec<&OutputFile> = outputs
                .iter()
                .filter(|file| {
                    let path = Path::new(&file.path);
                    let relative = path.strip_prefix(folder).unwrap_or(path);
                    pattern.matches_path_with(relative, options)
                })
                .collect();
            let rows: u64 = matched.iter().filter_map(|file| file.rows).sum();
            if op.holds(rows as f64, *number) {
                return None;
            }
            Some(match matched.len() {
                0 => format!("was 0 (no recorded output matches {glob})"),
                1 => format!("was {rows}"),
                n => format!("was {rows} (over {n} recorded outputs)"),
            })
        }
    }
}

#[cfg(test)]
#[path = "expect_tests.rs"]
mod tests;

//! A small reader of Python literals, for the defaults written in a `parameters` cell: numbers
//! (underscores, exponents, hex/octal/binary, signs), strings (every quote style, `r`/`u`
//! prefixes, escapes, implicit concatenation), `True`/`False`/`None`, lists, tuples (as lists),
//! dicts with string keys, and `float('nan')`/`float('inf')`. Anything else is `None`.

use crate::parameters::ParamValue;
use crate::parameters::values::{is_python_space, python_float, python_int};

/// The value of `text` if it is a plain Python literal.
pub fn parse_python_literal(text: &str) -> Option<ParamValue> {
    let mut reader = Reader {
        chars: text.chars().collect(),
        at: 0,
    };
    let value = reader.value()?;
    reader.skip_space();
    (reader.at == reader.chars.len()).then_some(value)
}

struct Reader {
    chars: Vec<char>,
    at: usize,
}

impl Reader {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(is_python_space) {
            self.at += 1;
        }
    }

    fn eat(&mut self, expected: char) -> bool {
        self.skip_space();
        let found = self.peek() == Some(expected);
        if found {
            self.at += 1;
        }
        found
    }

    fn value(&mut self) -> Option<ParamValue> {
        self.skip_space();
        match self.peek()? {
            '[' => {
                self.at += 1;
                self.sequence(']').map(ParamValue::List)
            }
            '(' => {
                self.at += 1;
                self.parenthesized()
            }
            '{' => {
                self.at += 1;
                self.dict()
            }
            '-' | '+' => {
                let negative = self.peek() == Some('-');
                self.at += 1;
                match self.value()? {
                    ParamValue::Int(number) if negative => {
                        Some(ParamValue::Int(number.checked_neg()?))
                    }
                    ParamValue::BigInt(digits) if negative => Some(ParamValue::int_from_digits(
                        !digits.starts_with('-'),
                        digits.trim_start_matches('-'),
                    )),
                    ParamValue::Float(number) if negative => Some(ParamValue::Float(-number)),
                    number
                    @ (ParamValue::Int(_) | ParamValue::BigInt(_) | ParamValue::Float(_)) => {
                        Some(number)
                    }
                    _ => None,
                }
            }
            '0'..='9' | '.' => self.number(),
            '\'' | '"' => self.strings(),
            ch if ch.is_alphabetic() || ch == '_' => {
                let word = self.word();
                match word.as_str() {
                    "True" => Some(ParamValue::Bool(true)),
                    "False" => Some(ParamValue::Bool(false)),
                    "None" => Some(ParamValue::Null),
                    "float" => self.float_call(),
                    prefix
                        if is_string_prefix(prefix) && matches!(self.peek(), Some('\'' | '"')) =>
                    {
                        self.at -= word.chars().count();
                        self.strings()
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn word(&mut self) -> String {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|ch| ch.is_alphanumeric() || ch == '_')
        {
            self.at += 1;
        }
        self.chars[start..self.at].iter().collect()
    }

    fn sequence(&mut self, close: char) -> Option<Vec<ParamValue>> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Some(items);
            }
            items.push(self.value()?);
            if !self.eat(',') {
                return self.eat(close).then_some(items);
            }
        }
    }

    /// `(x)` is `x`; `()`, `(x,)` and `(x, y)` are tuples.
    fn parenthesized(&mut self) -> Option<ParamValue> {
        if self.eat(')') {
            return Some(ParamValue::List(Vec::new()));
        }
        let first = self.value()?;
        if self.eat(')') {
            return Some(first);
        }
        if !self.eat(',') {
            return None;
        }
        let mut items = vec![first];
        items.extend(self.sequence(')')?);
        Some(ParamValue::List(items))
    }

    fn dict(&mut self) -> Option<ParamValue> {
        let mut entries: Vec<(String, ParamValue)> = Vec::new();
        loop {
            if self.eat('}') {
                return Some(ParamValue::Dict(entries));
            }
            let ParamValue::Str(key) = self.value()? else {
                return None;
            };
            if !self.eat(':') {
                return None;
            }
            let value = self.value()?;
            match entries.iter_mut().find(|(existing, _)| *existing == key) {
                Some((_, slot)) => *slot = value,
                None => entries.push((key, value)),
            }
            if !self.eat(',') {
                return self.eat('}').then_some(ParamValue::Dict(entries));
            }
        }
    }

    /// `float('nan')`, `float("inf")`, `float('-inf')`, `float('1.5')`.
    fn float_call(&mut self) -> Option<ParamValue> {
        if !self.eat('(') {
            return None;
        }
        let ParamValue::Str(text) = self.value()? else {
            return None;
        };
        self.eat(')').then_some(())?;
        python_float(&text).map(ParamValue::Float)
    }

    fn number(&mut self) -> Option<ParamValue> {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '.')
        {
            let previous = self.peek();
            self.at += 1;
            // An exponent sign belongs to the number.
            if matches!(previous, Some('e' | 'E')) && matches!(self.peek(), Some('+' | '-')) {
                let is_hex = self.chars[start..self.at]
                    .iter()
                    .collect::<String>()
                    .to_ascii_lowercase()
                    .starts_with("0x");
                if !is_hex {
                    self.at += 1;
                }
            }
        }
        let text: String = self.chars[start..self.at].iter().collect();
        let lower = text.to_ascii_lowercase();
        for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
            if let Some(digits) = lower.strip_prefix(prefix) {
                let digits = digits.strip_prefix('_').unwrap_or(digits);
                if digits.is_empty()
                    || digits.starts_with('_')
                    || digits.ends_with('_')
                    || digits.contains("__")
                {
                    return None;
                }
                return i128::from_str_radix(&digits.replace('_', ""), radix)
                    .ok()
                    .map(ParamValue::Int);
            }
        }
        let is_float = lower.contains(['.', 'e']);
        if !is_float {
            // Python literals forbid leading zeros in non-zero decimal integers.
            if lower.len() > 1
                && lower.starts_with('0')
                && lower.chars().any(|ch| ch.is_ascii_digit() && ch != '0')
            {
                return None;
            }
            return python_int(&text)
                .filter(|_| text.chars().all(|c| c.is_ascii_digit() || c == '_'));
        }
        let ascii_only = text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '_' | '.' | 'e' | 'E' | '+' | '-'));
        if !ascii_only {
            return None;
        }
        python_float(&text).map(ParamValue::Float)
    }

    /// One or more adjacent string literals, concatenated.
    fn strings(&mut self) -> Option<ParamValue> {
        let mut text = String::new();
        loop {
            text.push_str(&self.string()?);
            let checkpoint = self.at;
            self.skip_space();
            let prefix_len = self.chars[self.at..]
                .iter()
                .take_while(|ch| ch.is_ascii_alphabetic())
                .count();
            let prefix: String = self.chars[self.at..self.at + prefix_len].iter().collect();
            let next_quote = self.chars.get(self.at + prefix_len).copied();
            if !(is_string_prefix(&prefix) && matches!(next_quote, Some('\'' | '"'))) {
                self.at = checkpoint;
                return Some(ParamValue::Str(text));
            }
        }
    }

    fn string(&mut self) -> Option<String> {
        let mut raw = false;
        while let Some(ch) = self.peek().filter(char::is_ascii_alphabetic) {
            match ch.to_ascii_lowercase() {
                'r' => raw = true,
                'u' => {}
                _ => return None, // bytes and f-strings are not plain values
            }
            self.at += 1;
        }
        let quote = self.peek()?;
        let triple = self
            .chars
            .get(self.at..self.at + 3)
            .is_some_and(|three| three.iter().all(|&c| c == quote));
        self.at += if triple { 3 } else { 1 };
        let mut text = String::new();
        loop {
            let ch = self.peek()?;
            if ch == quote
                && (!triple
                    || self
                        .chars
                        .get(self.at..self.at + 3)
                        .is_some_and(|t| t.iter().all(|&c| c == quote)))
            {
                self.at += if triple { 3 } else { 1 };
                return Some(text);
            }
            if ch == '\n' && !triple {
                return None;
            }
            self.at += 1;
            if ch != '\\' {
                text.push(ch);
                continue;
            }
            let escaped = self.peek()?;
            self.at += 1;
            if raw {
                text.push('\\');
                text.push(escaped);
                continue;
            }
            match escaped {
                '\n' => {}
                '\\' | '\'' | '"' => text.push(escaped),
                'n' => text.push('\n'),
                't' => text.push('\t'),
                'r' => text.push('\r'),
                'a' => text.push('\u{7}'),
                'b' => text.push('\u{8}'),
                'f' => text.push('\u{c}'),
                'v' => text.push('\u{b}'),
                '0'..='7' => {
                    let mut code = escaped.to_digit(8)?;
                    for _ in 0..2 {
                        match self.peek().and_then(|c| c.to_digit(8)) {
                            Some(digit) => {
                                code = code * 8 + digit;
                                self.at += 1;
                            }
                            None => break,
                        }
                    }
                    text.push(char::from_u32(code)?);
                }
                'x' => text.push(self.hex_escape(2)?),
                'u' => text.push(self.hex_escape(4)?),
                'U' => text.push(self.hex_escape(8)?),
                other => {
                    // Unknown escapes keep the backslash (`\d` stays `\d`); `\N{...}` is not read.
                    if other == 'N' {
                        return None;
                    }
                    text.push('\\');
                    text.push(other);
                }
            }
        }
    }

    fn hex_escape(&mut self, count: usize) -> Option<char> {
        let digits: String = self.chars.get(self.at..self.at + count)?.iter().collect();
        self.at += count;
        char::from_u32(u32::from_str_radix(&digits, 16).ok()?)
    }
}

fn is_string_prefix(prefix: &str) -> bool {
    matches!(prefix.to_ascii_lowercase().as_str(), "" | "r" | "u")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ParamValue::*;

    fn s(text: &str) -> ParamValue {
        Str(text.to_owned())
    }

    #[test]
    fn reads_what_ast_literal_eval_reads() {
        // Expected values from Python's ast.literal_eval.
        let cases: Vec<(&str, Option<ParamValue>)> = vec![
            ("60", Some(Int(60))),
            ("-3", Some(Int(-3))),
            ("+3", Some(Int(3))),
            ("1_000_000", Some(Int(1_000_000))),
            ("0x1F", Some(Int(31))),
            ("0o17", Some(Int(15))),
            ("0b101", Some(Int(5))),
            ("0", Some(Int(0))),
            ("00", Some(Int(0))),
            ("010", None),
            ("2.25", Some(Float(2.25))),
            ("-2.3432", Some(Float(-2.3432))),
            ("1e3", Some(Float(1000.0))),
            ("1E-3", Some(Float(0.001))),
            (".5", Some(Float(0.5))),
            ("5.", Some(Float(5.0))),
            ("1_0.5e1_0", Some(Float(105000000000.0))),
            ("- 4", Some(Int(-4))),
            ("-(4)", Some(Int(-4))),
            ("(4)", Some(Int(4))),
            ("(4,)", Some(List(vec![Int(4)]))),
            ("-(4,)", None),
            ("True", Some(Bool(true))),
            ("False", Some(Bool(false))),
            ("None", Some(Null)),
            ("true", None),
            ("'single'", Some(s("single"))),
            ("\"double\"", Some(s("double"))),
            ("'''triple'''", Some(s("triple"))),
            ("\"\"\"tri\"ple\"\"\"", Some(s("tri\"ple"))),
            ("'it\\'s'", Some(s("it's"))),
            (
                "'a\\nb\\t\\x41\\u00e9\\U0001F60D\\101\\0'",
                Some(s("a\nb\tAé😍A\0")),
            ),
            ("r'C:\\dir\\n'", Some(s("C:\\dir\\n"))),
            ("u'x'", Some(s("x"))),
            ("'a' 'b' \"c\"", Some(s("abc"))),
            ("'\\d'", Some(s("\\d"))),
            ("b'x'", None),
            ("f'{x}'", None),
            ("'unterminated", None),
            (
                "['Hello','World']",
                Some(List(vec![s("Hello"), s("World")])),
            ),
            (
                "[1, [2.0, None], ]",
                Some(List(vec![Int(1), List(vec![Float(2.0), Null])])),
            ),
            ("(1, 'a')", Some(List(vec![Int(1), s("a")]))),
            ("()", Some(List(vec![]))),
            (
                "{'a': 1, \"b\": [True], 'a': 2}",
                Some(Dict(vec![
                    ("a".into(), Int(2)),
                    ("b".into(), List(vec![Bool(true)])),
                ])),
            ),
            ("{}", Some(Dict(vec![]))),
            ("{1: 'x'}", None),
            ("{1, 2}", None),
            ("[1, 2", None),
            ("[1 2]", None),
            ("float('nan')", Some(Float(f64::NAN))),
            ("float(\"-inf\")", Some(Float(f64::NEG_INFINITY))),
            ("os.getcwd()", None),
            ("a == 3", None),
            ("x", None),
            ("1 + 2", None),
            ("1j", None),
            ("", None),
            (
                "123456789012345678901234567890123456789012",
                Some(BigInt("123456789012345678901234567890123456789012".into())),
            ),
        ];
        for (text, expected) in cases {
            let parsed = parse_python_literal(text);
            let same = match (&parsed, &expected) {
                (Some(Float(a)), Some(Float(b))) if a.is_nan() && b.is_nan() => true,
                _ => parsed == expected,
            };
            assert!(same, "{text:?}: {parsed:?} != {expected:?}");
        }
    }
}

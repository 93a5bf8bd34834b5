//! String literals for each kernel language (see `translate.rs` for why they differ from
//! papermill outside Python).

use std::fmt::Write as _;

/// papermill's `translate_escaped_str`: `unicode_escape`, then `"` → `\"`, in double quotes.
pub fn python(text: &str) -> String {
    let mut out = String::from("\"");
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            _ => push_unicode_escape(&mut out, ch),
        }
    }
    out.push('"');
    out
}

/// Python's `codecs.unicode_escape` for one character.
fn push_unicode_escape(out: &mut String, ch: char) {
    let code = u32::from(ch);
    match ch {
        '\\' => out.push_str("\\\\"),
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        _ if code < 0x20 || (0x7f..0x100).contains(&code) => push_hex(out, "\\x", code, 2),
        _ if code >= 0x10000 => push_hex(out, "\\U", code, 8),
        _ if code >= 0x100 => push_hex(out, "\\u", code, 4),
        _ => out.push(ch),
    }
}

fn push_hex(out: &mut String, prefix: &str, code: u32, width: usize) {
    let _ = write!(out, "{prefix}{code:0width$x}");
}

/// R: papermill's escaping, but `\u00NN` for U+0080–U+00FF (R reads `\xe9` as a raw byte).
/// NUL is rejected before this is called.
pub fn r(text: &str) -> String {
    let mut out = String::from("\"");
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\u{80}'..='\u{ff}' => push_hex(&mut out, "\\u", u32::from(ch), 4),
            _ => push_unicode_escape(&mut out, ch),
        }
    }
    out.push('"');
    out
}

/// Julia: like R, plus `\$` so that `$name` and `$(code)` are not interpolated.
pub fn julia(text: &str) -> String {
    let mut out = String::from("\"");
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '$' => out.push_str("\\$"),
            '\u{80}'..='\u{ff}' => push_hex(&mut out, "\\u", u32::from(ch), 4),
            _ => push_unicode_escape(&mut out, ch),
        }
    }
    out.push('"');
    out
}

/// Scala (`astral_as_u8 = false`: UTF-16 surrogate pairs) and C#/F# (`true`: `\UXXXXXXXX`):
/// printable ASCII as is, the usual backslash escapes, `\uXXXX` for everything else.
pub fn java_like(text: &str, astral_as_u8: bool) -> String {
    let mut out = String::from("\"");
    for ch in text.chars() {
        let code = u32::from(ch);
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            ' '..='~' => out.push(ch),
            _ if code >= 0x10000 && astral_as_u8 => push_hex(&mut out, "\\U", code, 8),
            _ => {
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    push_hex(&mut out, "\\u", u32::from(*unit), 4);
                }
            }
        }
    }
    out.push('"');
    out
}

/// Matlab string: no escapes exist, `"` is doubled, control characters are concatenated as
/// `char(N)`: `("a" + char(10) + "b")`.
pub fn matlab_string(text: &str) -> String {
    matlab_pieces(text, '"', " + ", ("(", ")"))
}

/// Matlab char array (dict keys, papermill's `__translate_char_array`): `'` doubled, control
/// characters concatenated: `['a' char(10) 'b']`.
pub fn matlab_char_array(text: &str) -> String {
    matlab_pieces(text, '\'', " ", ("[", "]"))
}

fn matlab_pieces(text: &str, quote: char, joiner: &str, (open, close): (&str, &str)) -> String {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut has_literal = false;
    for ch in text.chars() {
        if ch.is_control() && u32::from(ch) < 0x80 {
            if has_literal {
                pieces.push(format!("{quote}{literal}{quote}"));
                literal.clear();
                has_literal = false;
            }
            pieces.push(format!("char({})", u32::from(ch)));
            continue;
        }
        has_literal = true;
        literal.push(ch);
        if ch == quote {
            literal.push(quote);
        }
    }
    if has_literal || pieces.is_empty() {
        pieces.push(format!("{quote}{literal}{quote}"));
    }
    if pieces.len() == 1 {
        pieces.concat()
    } else {
        format!("{open}{}{close}", pieces.join(joiner))
    }
}

/// PowerShell double-quoted string with backtick escapes: `` `" ``, `` `$ ``, ``` `` ```, smart
/// quotes, `` `n `` and friends; other control characters as `$([char]N)`.
pub fn powershell(text: &str) -> String {
    let mut out = String::from("\"");
    for ch in text.chars() {
        match ch {
            '`' | '"' | '$' | '\u{201c}' | '\u{201d}' | '\u{201e}' => {
                out.push('`');
                out.push(ch);
            }
            '\0' => out.push_str("`0"),
            '\u{7}' => out.push_str("`a"),
            '\u{8}' => out.push_str("`b"),
            '\u{c}' => out.push_str("`f"),
            '\n' => out.push_str("`n"),
            '\r' => out.push_str("`r"),
            '\t' => out.push_str("`t"),
            '\u{b}' => out.push_str("`v"),
            _ if ch.is_control() => {
                let _ = write!(out, "$([char]{})", u32::from(ch));
            }
            _ => out.push(ch),
        }
    }
    out.push('"');
    out
}

/// Python's `shlex.quote`. NUL is rejected before this is called.
pub fn shlex_quote(text: &str) -> String {
    if text.is_empty() {
        return "''".to_owned();
    }
    let safe = |ch: char| ch.is_ascii_alphanumeric() || "_@%+=:,./-".contains(ch);
    if text.chars().all(safe) {
        return text.to_owned();
    }
    format!("'{}'", text.replace('\'', "'\"'\"'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_matches_papermill() {
        // Expected from papermill's PythonTranslator.translate_str (papermill 2.7.0).
        let cases = [
            ("foo", r#""foo""#),
            ("é", r#""\xe9""#),
            ("😍", r#""\U0001f60d""#),
            ("q\"uote", r#""q\"uote""#),
            ("back\\slash", r#""back\\slash""#),
            ("it's", r#""it's""#),
            ("a\nb\tc\rd\0\u{7f}\u{1b}", r#""a\nb\tc\rd\x00\x7f\x1b""#),
            ("Ā中\u{ffff}", r#""\u0100\u4e2d\uffff""#),
            ("\\\"", r#""\\\"""#),
        ];
        for (text, expected) in cases {
            assert_eq!(python(text), expected, "{text:?}");
        }
    }

    #[test]
    fn shlex_matches_python() {
        // Expected from Python's shlex.quote.
        let cases = [
            ("foo", "foo"),
            ("", "''"),
            ("foo's", r#"'foo'"'"'s'"#),
            ("shell ( is ) <dumb>", "'shell ( is ) <dumb>'"),
            ("a@b%c+d=e:f,g.h/i-j_k", "a@b%c+d=e:f,g.h/i-j_k"),
            ("é", "'é'"),
            ("$(rm -rf /)", "'$(rm -rf /)'"),
        ];
        for (text, expected) in cases {
            assert_eq!(shlex_quote(text), expected, "{text:?}");
        }
    }

    #[test]
    fn other_languages_read_back_the_same_text() {
        let text = "é😍\"$x\\\n\u{1b}`'";
        assert_eq!(r(text), r#""\u00e9\U0001f60d\"$x\\\n\x1b`'""#);
        assert_eq!(julia(text), r#""\u00e9\U0001f60d\"\$x\\\n\x1b`'""#);
        assert_eq!(
            java_like(text, false),
            r#""\u00e9\ud83d\ude0d\"$x\\\n\u001b`'""#
        );
        assert_eq!(
            java_like(text, true),
            r#""\u00e9\U0001f60d\"$x\\\n\u001b`'""#
        );
        assert_eq!(
            matlab_string(text),
            "(\"é😍\"\"$x\\\" + char(10) + char(27) + \"`'\")"
        );
        assert_eq!(
            matlab_char_array(text),
            "['é😍\"$x\\' char(10) char(27) '`''']"
        );
        assert_eq!(matlab_string(""), "\"\"");
        assert_eq!(matlab_char_array("\n"), "char(10)");
        assert_eq!(powershell(text), "\"é😍`\"`$x\\`n$([char]27)``'\"");
        assert_eq!(powershell("“smart”"), "\"`“smart`”\"");
    }
}

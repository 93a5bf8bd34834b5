//! Parameters as source code of the kernel's language: papermill's translators
//! (`papermill/translators.py`).
//!
//! Python output is papermill's byte for byte — *without* black: papermill reformats the Python
//! cell with `black` when it is importable (a long list is then exploded one item per line), and
//! nbgate never does. Short cells are identical either way.
//!
//! A string value is always rendered as a string literal that the language reads back as exactly
//! the same text, whatever it contains. papermill's shared escaping (`unicode_escape`, giving
//! `\xe9` for "é") is only right for Python, so the other languages deviate where papermill's
//! text would read back differently or run code:
//! - R and Julia: `\u00e9` instead of the raw byte `\xe9`; Julia also escapes `$` (interpolation).
//! - Scala, C#, F#: only escapes the language has (`\uXXXX`, `\UXXXXXXXX`; no `\x`).
//! - Matlab: no backslash escapes exist, so text is kept raw, `"` doubled, and control characters
//!   are concatenated as `char(N)`.
//! - PowerShell: backtick escapes for `` ` ``, `"`, `$`, smart quotes and control characters
//!   (papermill leaves `$(...)` live).
//! - Bash: `shlex.quote`, as papermill.
//!
//! Non-finite floats become each language's spelling (`NaN`, `Inf`, `Double.NaN`, `nan`, ...)
//! where papermill writes Python's `nan`/`inf`, which those languages cannot read. Strings that
//! a language cannot hold at all (NUL in R and Bash) are an error, never a truncated value.

use crate::error::TranslateError;
use crate::parameters::{ParamValue, Parameters, strings};
use crate::pyjson::py_float_repr;

/// A language's parameter translator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Translator {
    Python,
    R,
    Scala,
    Julia,
    Matlab,
    CSharp,
    FSharp,
    PowerShell,
    Bash,
}

/// papermill's registry: kernel names and language names, looked up in that order.
const REGISTRY: &[(&str, Translator)] = &[
    ("python", Translator::Python),
    ("R", Translator::R),
    ("scala", Translator::Scala),
    ("julia", Translator::Julia),
    ("matlab", Translator::Matlab),
    (".net-csharp", Translator::CSharp),
    (".net-fsharp", Translator::FSharp),
    (".net-powershell", Translator::PowerShell),
    ("pysparkkernel", Translator::Python),
    ("sparkkernel", Translator::Scala),
    ("sparkrkernel", Translator::R),
    ("bash", Translator::Bash),
];

/// `translate_parameters(kernel_name, language, parameters, comment)`.
pub fn render_parameters(
    kernel_name: &str,
    language: &str,
    parameters: &Parameters,
    comment: &str,
) -> Result<String, TranslateError> {
    Translator::find(kernel_name, language)?.render(parameters, comment)
}

/// A Python literal for `value`, as the Python translator writes it.
pub fn python_literal(value: &ParamValue) -> String {
    // Python can hold every value, so the fallible path never fails here.
    Translator::Python.value("", value).unwrap_or_default()
}

impl Translator {
    /// The translator registered for `kernel_name`, else for `language`.
    pub fn find(kernel_name: &str, language: &str) -> Result<Translator, TranslateError> {
        let lookup = |key: &str| {
            REGISTRY
                .iter()
                .find(|(name, _)| *name == key)
                .map(|(_, translator)| *translator)
        };
        lookup(kernel_name)
            .or_else(|| lookup(language))
            .ok_or_else(|| TranslateError::NoTranslator {
                kernel_name: kernel_name.to_owned(),
                language: language.to_owned(),
                supported: REGISTRY.iter().map(|(name, _)| *name).collect(),
            })
    }

    /// The language's name, for messages.
    pub fn language(self) -> &'static str {
        match self {
            Translator::Python => "Python",
            Translator::R => "R",
            Translator::Scala => "Scala",
            Translator::Julia => "Julia",
            Translator::Matlab => "Matlab",
            Translator::CSharp => "C#",
            Translator::FSharp => "F#",
            Translator::PowerShell => "PowerShell",
            Translator::Bash => "Bash",
        }
    }

    /// papermill can read parameters back (`inspect`) only from Python cells.
    pub fn supports_discovery(self) -> bool {
        self == Translator::Python
    }

    /// `codify`: the comment line, then one assignment per parameter, each ending with `\n`.
    pub fn render(self, parameters: &Parameters, comment: &str) -> Result<String, TranslateError> {
        let mut content = format!("{}\n", self.comment(comment));
        for (name, value) in parameters.iter() {
            check_name(name)?;
            let rendered = self.value(name, value)?;
            content.push_str(&self.assign(name, &rendered)?);
            content.push_str(if self == Translator::Matlab {
                ";\n"
            } else {
                "\n"
            });
        }
        Ok(content)
    }

    fn comment(self, text: &str) -> String {
        let line = match self {
            Translator::Scala | Translator::CSharp => format!("// {text}"),
            Translator::Matlab => format!("% {text}"),
            Translator::FSharp => format!("(* {text} *)"),
            _ => format!("# {text}"),
        };
        line.trim().to_owned()
    }

    fn assign(self, name: &str, value: &str) -> Result<String, TranslateError> {
        Ok(match self {
            Translator::R => {
                // Leading `_` is not legal in R names; papermill drops it.
                let name = name.trim_start_matches('_');
                if name.is_empty() {
                    return Err(TranslateError::InvalidName {
                        name: name.to_owned(),
                    });
                }
                format!("{name} = {value}")
            }
            Translator::Scala => format!("val {name} = {value}"),
            Translator::CSharp => format!("var {name} = {value};"),
            Translator::FSharp => format!("let {name} = {value}"),
            Translator::PowerShell => format!("${name} = {value}"),
            Translator::Bash => format!("{name}={value}"),
            Translator::Python | Translator::Julia | Translator::Matlab => {
                format!("{name} = {value}")
            }
        })
    }

    /// `translate(value)`; `name` is the parameter it belongs to, for errors.
    fn value(self, name: &str, value: &ParamValue) -> Result<String, TranslateError> {
        let unsupported = |what| TranslateError::Unsupported {
            language: self.language(),
            what,
            name: name.to_owned(),
        };
        Ok(match value {
            ParamValue::Null => match self {
                Translator::Python | Translator::Scala | Translator::FSharp => "None".into(),
                Translator::R => "NULL".into(),
                Translator::Julia => "nothing".into(),
                Translator::Matlab => "NaN".into(),
                Translator::PowerShell => "$Null".into(),
                Translator::Bash => String::new(),
                Translator::CSharp => return Err(unsupported("None (null)")),
            },
            ParamValue::Bool(flag) => match (self, flag) {
                (Translator::Python, true) => "True".into(),
                (Translator::Python, false) => "False".into(),
                (Translator::R, true) => "TRUE".into(),
                (Translator::R, false) => "FALSE".into(),
                (Translator::PowerShell, true) => "$True".into(),
                (Translator::PowerShell, false) => "$False".into(),
                (_, true) => "true".into(),
                (_, false) => "false".into(),
            },
            ParamValue::Int(number) => self.integer(
                number.to_string(),
                !(-2147483648..=2147483647).contains(number),
            ),
            ParamValue::BigInt(digits) => self.integer(digits.clone(), true),
            ParamValue::Float(number) => self.float(*number),
            ParamValue::Str(text) => self.string(name, text)?,
            ParamValue::List(items) => {
                let items = items
                    .iter()
                    .map(|item| self.value(name, item))
                    .collect::<Result<Vec<_>, _>>()?;
                match self {
                    Translator::Python | Translator::Julia => format!("[{}]", items.join(", ")),
                    Translator::R => format!("list({})", items.join(", ")),
                    Translator::Scala => format!("Seq({})", items.join(", ")),
                    Translator::Matlab => format!("{{{}}}", items.join(", ")),
                    Translator::CSharp => format!("new [] {{ {} }}", items.join(", ")),
                    Translator::FSharp => format!("[ {} ]", items.join("; ")),
                    Translator::PowerShell => format!("@({})", items.join(", ")),
                    Translator::Bash => format!("({})", items.join(" ")),
                }
            }
            ParamValue::Dict(entries) => self.dict(name, entries)?,
        })
    }

    fn integer(self, digits: String, outside_int32: bool) -> String {
        let long = matches!(
            self,
            Translator::Scala | Translator::CSharp | Translator::FSharp
        );
        if long && outside_int32 {
            format!("{digits}L")
        } else {
            digits
        }
    }

    fn float(self, number: f64) -> String {
        if number.is_finite() {
            return py_float_repr(number);
        }
        let (nan, infinity, negative_infinity) = match self {
            Translator::Python => ("float('nan')", "float('inf')", "float('-inf')"),
            Translator::PowerShell => (
                "[double]::NaN",
                "[double]::PositiveInfinity",
                "[double]::NegativeInfinity",
            ),
            Translator::R | Translator::Julia | Translator::Matlab => ("NaN", "Inf", "-Inf"),
            Translator::Scala => (
                "Double.NaN",
                "Double.PositiveInfinity",
                "Double.NegativeInfinity",
            ),
            Translator::CSharp => (
                "double.NaN",
                "double.PositiveInfinity",
                "double.NegativeInfinity",
            ),
            Translator::FSharp => ("nan", "infinity", "-infinity"),
            Translator::Bash => ("nan", "inf", "-inf"),
        };
        let spelled = if number.is_nan() {
            nan
        } else if number < 0.0 {
            negative_infinity
        } else {
            infinity
        };
        spelled.to_owned()
    }

    fn dict(self, name: &str, entries: &[(String, ParamValue)]) -> Result<String, TranslateError> {
        let mut keys = Vec::with_capacity(entries.len());
        let mut values = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            keys.push(match self {
                Translator::Matlab => strings::matlab_char_array(key),
                _ => self.string(name, key)?,
            });
            values.push(self.value(name, value)?);
        }
        let pairs = |format_pair: fn(&str, &str) -> String| -> Vec<String> {
            keys.iter()
                .zip(&values)
                .map(|(key, value)| format_pair(key, value))
                .collect()
        };
        Ok(match self {
            Translator::Python => format!("{{{}}}", pairs(|k, v| format!("{k}: {v}")).join(", ")),
            Translator::R => format!("list({})", pairs(|k, v| format!("{k} = {v}")).join(", ")),
            Translator::Scala => format!("Map({})", pairs(|k, v| format!("{k} -> {v}")).join(", ")),
            Translator::Julia => {
                format!("Dict({})", pairs(|k, v| format!("{k} => {v}")).join(", "))
            }
            Translator::Matlab => format!(
                "containers.Map({{{}}}, {{{}}})",
                keys.join(", "),
                values.join(", ")
            ),
            Translator::CSharp => {
                format!(
                    "new Dictionary<string,Object>{{ {} }}",
                    pairs(|k, v| format!("{{ {k} , {v} }}")).join(", ")
                )
            }
            Translator::FSharp => {
                format!(
                    "[ {} ] |> Map.ofList",
                    pairs(|k, v| format!("({k}, {v} :> IComparable)")).join("; ")
                )
            }
            Translator::PowerShell => {
                format!("@{{{}}}", pairs(|k, v| format!("{k} = {v}")).join("\n "))
            }
            Translator::Bash => {
                return Err(TranslateError::Unsupported {
                    language: "Bash",
                    what: "a dict",
                    name: name.to_owned(),
                });
            }
        })
    }

    fn string(self, name: &str, text: &str) -> Result<String, TranslateError> {
        let cannot_hold_nul = matches!(self, Translator::R | Translator::Bash);
        if cannot_hold_nul && text.contains('\0') {
            return Err(TranslateError::Unsupported {
                language: self.language(),
                what: "a string containing a NUL character",
                name: name.to_owned(),
            });
        }
        Ok(match self {
            Translator::Python => strings::python(text),
            Translator::R => strings::r(text),
            Translator::Julia => strings::julia(text),
            Translator::Scala => strings::java_like(text, false),
            Translator::CSharp | Translator::FSharp => strings::java_like(text, true),
            Translator::Matlab => strings::matlab_string(text),
            Translator::PowerShell => strings::powershell(text),
            Translator::Bash => strings::shlex_quote(text),
        })
    }
}

/// Python's `str.isidentifier()`, close enough: a letter or `_`, then letters, digits or `_`.
/// papermill does not check names; nbgate does, so a name can never carry code.
pub fn check_name(name: &str) -> Result<(), TranslateError> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|first| first == '_' || first.is_alphabetic())
        && chars.all(|ch| ch == '_' || ch.is_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(TranslateError::InvalidName {
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
#[path = "translate_tests.rs"]
mod tests;

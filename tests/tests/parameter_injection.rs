//! No parameter string ever runs as code: hostile strings (every way out of a Python literal — quotes,
//! backslashes, line breaks Python or nbformat may split on, NUL, format syntax, comments — each
//! carrying a payload that would create a marker file) are injected with `nbgate run` into a notebook
//! on a real ipykernel. The kernel must see every value exactly, and the marker must never appear.
//! Prints its figure: `parameter injection: N strings, F mismatches, marker: absent`.

use std::path::Path;
use std::process::{Command, Stdio};

use nbgate_tests::JupyterEnv;
use serde_json::{Map, Value, json};

/// What each hostile string tries to run: create `PWNED` in the working directory.
const PAYLOAD: &str = "__import__('pathlib').Path('PWNED').write_text('x')";

/// Hostile strings: each breaker around the payload, in several arrangements.
fn hostile_strings() -> Vec<String> {
    let breakers = [
        "'",
        "\"",
        "'''",
        "\"\"\"",
        "\\'",
        "\\\"",
        "\\",
        "\\\\'",
        "\n",
        "\r",
        "\r\n",
        "\u{2028}",
        "\u{2029}",
        "\u{85}",
        "\u{b}",
        "\u{c}",
        "\u{1c}",
        "\u{1e}",
        "\0",
        "\t",
        "#",
        "\\n",
        "\\x00",
        "\\N{DIGIT ONE}",
        "{",
        "}",
        "%s",
        "${",
        "`",
        "\u{202e}",
        "\u{feff}",
        "\u{1F600}",
        "é",
        "\u{300}",
    ];
    let mut strings = Vec::new();
    for breaker in breakers {
        strings.push(format!("{breaker}; {PAYLOAD}; {breaker}"));
        strings.push(format!("{breaker}\n{PAYLOAD}\n{breaker}"));
        strings.push(format!("x{breaker})\n{PAYLOAD}  # "));
        strings.push(breaker.to_owned());
    }
    strings.extend(
        [
            "'\n__import__('pathlib').Path('PWNED').write_text('x')\n'",
            "\"\"\"; __import__('pathlib').Path('PWNED').write_text('x'); \"\"\"",
            "{__import__('pathlib').Path('PWNED').write_text('x')}",
            "f'{__import__(\"pathlib\").Path(\"PWNED\").write_text(\"x\")}'",
            "\\'; __import__('pathlib').Path('PWNED').write_text('x'); #",
            "a\\",
            "",
            " ",
            "None",
            "True",
            "1e3",
            "[1, 2]",
            "{'a': 1}",
            "$(touch PWNED)",
            "`touch PWNED`",
        ]
        .map(str::to_owned),
    );
    strings.push("x".repeat(100_000));
    strings
}

/// `nbgate ARGS…` in the environment's work directory; panics unless it succeeds.
fn nbgate_ok(env: &JupyterEnv, args: &[&str]) {
    let output = env.nbgate(args);
    assert!(
        output.status.success(),
        "nbgate {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("the file was written"))
        .expect("JSON")
}

/// Each sent string that did not arrive exactly, with what arrived.
fn mismatches<'a>(sent: &[String], got: impl Iterator<Item = Option<&'a str>>) -> Vec<String> {
    sent.iter()
        .zip(got)
        .filter(|(sent, got)| *got != Some(sent.as_str()))
        .map(|(sent, got)| format!("{sent:?} arrived as {got:?}"))
        .collect()
}

fn notebook(names: &[String]) -> Value {
    let declared: String = names.iter().map(|name| format!("{name} = ''\n")).collect();
    let check = format!(
        "import json, pathlib\npathlib.Path('seen.json').write_text(json.dumps(\
         {{'strings': [{}], 'nested': nested}}))",
        names.join(", ")
    );
    let cell = |source: &str, tags: &[&str]| {
        json!({"cell_type": "code", "id": format!("c{}", source.len()), "execution_count": null,
               "metadata": {"tags": tags}, "outputs": [], "source": source})
    };
    json!({"nbformat": 4, "nbformat_minor": 5,
           "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
           "cells": [cell(&format!("{declared}nested = None\n"), &["parameters"]), cell(&check, &[])]})
}

#[test]
fn hostile_parameter_strings_reach_the_kernel_as_values_and_never_run() {
    let env = JupyterEnv::new();
    let work = env.work();
    let strings = hostile_strings();
    let names: Vec<String> = (0..strings.len()).map(|i| format!("p{i}")).collect();
    let mut parameters: Map<String, Value> = names
        .iter()
        .zip(&strings)
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    // The same strings as list items and as dict keys and values.
    let nested = json!({
        "list": strings,
        "dict": strings.iter().map(|s| (s.clone(), Value::String(s.clone()))).collect::<Map<_, _>>(),
    });
    parameters.insert("nested".into(), nested.clone());
    std::fs::write(work.join("input.ipynb"), notebook(&names).to_string()).expect("write notebook");
    std::fs::write(
        work.join("params.json"),
        Value::Object(parameters).to_string(),
    )
    .expect("write parameters");

    let cwd = work.to_str().expect("UTF-8 path");
    nbgate_ok(
        &env,
        &[
            "run",
            "input.ipynb",
            "out.ipynb",
            "-f",
            "params.json",
            "--cwd",
            cwd,
        ],
    );
    let seen = read_json(&work.join("seen.json"));
    let seen_strings = seen["strings"].as_array().expect("strings");
    let mismatches = mismatches(&strings, seen_strings.iter().map(Value::as_str));
    let nested_ok = seen["nested"] == nested;
    let marker = Path::new(&work).join("PWNED").exists();
    println!(
        "parameter injection (python, real kernel): {} strings (+ the same nested in a list and a dict), \
         {} mismatches, nested {}, marker: {}",
        strings.len(),
        mismatches.len(),
        if nested_ok { "exact" } else { "DIFFERENT" },
        if marker { "CREATED" } else { "absent" }
    );
    assert_eq!(seen_strings.len(), strings.len());
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    assert!(nested_ok, "nested values differ: {}", seen["nested"]);
    assert!(!marker, "a parameter string ran as code");

    // Raw CLI strings (`-r`, kept as strings) take the same path.
    nbgate_ok(
        &env,
        &[
            "run",
            "input.ipynb",
            "out2.ipynb",
            "--cwd",
            cwd,
            "-r",
            "p0",
            "'; __import__('pathlib').Path('PWNED').write_text('x'); '",
            "-p",
            "p1",
            "\"\"\"\n__import__('pathlib').Path('PWNED').write_text('x')\n\"\"\"",
        ],
    );
    assert!(!work.join("PWNED").exists(), "a CLI parameter ran as code");
    env.assert_no_survivors(std::time::Duration::from_secs(10));
}

/// The same strings rendered for a Bash notebook (`--prepare-only`, no kernel needed) and run by the
/// real `bash`: each variable holds exactly the string, and no payload (`$(…)`, backticks, quotes,
/// line breaks) runs. Strings with NUL, which Bash cannot hold, are refused with exit code 2.
#[test]
fn hostile_strings_in_a_bash_notebook_stay_strings() {
    let env = JupyterEnv::new();
    let work = env.work();
    let mut strings: Vec<String> = hostile_strings()
        .into_iter()
        .map(|s| {
            s.replace(
                "__import__('pathlib').Path('PWNED').write_text('x')",
                "touch PWNED",
            )
        })
        .filter(|s| !s.contains('\0'))
        .collect();
    strings.extend(
        [
            "$(touch PWNED)",
            "`touch PWNED`",
            "'$(touch PWNED)'",
            "\"; touch PWNED; \"",
            "${PATH}",
            "$((1+1))",
            "!!",
            "*",
            "~",
        ]
        .map(str::to_owned),
    );
    let notebook = json!({"nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "bash", "display_name": "Bash", "language": "bash"}},
        "cells": [{"cell_type": "code", "id": "p", "metadata": {"tags": ["parameters"]}, "outputs": [],
                   "execution_count": null, "source": ""}]});
    std::fs::write(work.join("bash.ipynb"), notebook.to_string()).expect("notebook");
    let parameters: Map<String, Value> = strings
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("p{i}"), Value::String(s.clone())))
        .collect();
    std::fs::write(
        work.join("bash.json"),
        Value::Object(parameters).to_string(),
    )
    .expect("params");
    nbgate_ok(
        &env,
        &[
            "run",
            "bash.ipynb",
            "prepared.ipynb",
            "--prepare-only",
            "-f",
            "bash.json",
        ],
    );
    let prepared = read_json(&work.join("prepared.ipynb"));
    let injected = prepared["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .find(|cell| {
            cell["metadata"]["tags"]
                .as_array()
                .is_some_and(|tags| tags.contains(&json!("injected-parameters")))
        })
        .expect("an injected cell");
    let mut script = match &injected["source"] {
        Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect::<String>(),
        other => other.as_str().unwrap_or_default().to_owned(),
    };
    for i in 0..strings.len() {
        script.push_str(&format!("printf '%s\\0' \"$p{i}\"\n"));
    }
    let output = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &script])
        .current_dir(&work)
        .stdin(Stdio::null())
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Vec<String> = output
        .stdout
        .split(|b| *b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    let mismatches = mismatches(&strings, seen.iter().map(|s| Some(s.as_str())));
    let marker = work.join("PWNED").exists();
    println!(
        "parameter injection (bash, real shell): {} strings, {} mismatches, marker: {}",
        strings.len(),
        mismatches.len(),
        if marker { "CREATED" } else { "absent" }
    );
    assert_eq!(seen.len(), strings.len() + 1, "one value per variable");
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    assert!(!marker, "a Bash parameter ran as code");
    // NUL cannot be held by Bash: refused, never cut short.
    let output = env.nbgate(&[
        "run",
        "bash.ipynb",
        "nul.ipynb",
        "--prepare-only",
        "-y",
        "p0: \"a\\0b\"",
    ]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

use std::path::Path;

use chrono::{TimeZone, Utc};
use serde_json::json;

use super::*;

fn value(name: &str, v: serde_json::Value) -> (String, RecordedValue) {
    (name.into(), RecordedValue::Json(v))
}

fn output(path: &str, rows: Option<u64>) -> OutputFile {
    OutputFile {
        path: path.into(),
        bytes: 10,
        modified: Utc.timestamp_opt(0, 0).single().expect("a time"),
        sha256: String::new(),
        rows,
        columns: None,
    }
}

#[test]
fn parses_the_three_kinds_of_rule() {
    assert_eq!(
        parse("accuracy >= 0.8").expect("parses"),
        Rule::Value {
            name: "accuracy".into(),
            op: Op::Ge,
            number: 0.8
        }
    );
    assert_eq!(
        parse("  précision<1e-2").expect("parses"),
        Rule::Value {
            name: "précision".into(),
            op: Op::Lt,
            number: 0.01
        }
    );
    assert_eq!(
        parse("rows(output/*.csv) > 100").expect("parses"),
        Rule::Rows {
            glob: "output/*.csv".into(),
            op: Op::Gt,
            number: 100.0
        }
    );
    assert_eq!(
        parse("exists recall").expect("parses"),
        Rule::Exists {
            name: "recall".into()
        }
    );
    for (text, op) in [
        ("n < 1", Op::Lt),
        ("n <= 1", Op::Le),
        ("n > 1", Op::Gt),
        ("n == 1", Op::Eq),
        ("n != -1.5", Op::Ne),
    ] {
        assert!(
            matches!(parse(text), Ok(Rule::Value { op: o, .. }) if o == op),
            "{text}"
        );
    }
}

#[test]
fn malformed_rules_say_where_and_why() {
    let cases = [
        ("", 1, "empty"),
        ("accuracy", 9, "expected an operator"),
        ("accuracy => 0.8", 10, "expected an operator"),
        ("accuracy >= ", 13, "expected a number"),
        (
            "accuracy >= high",
            13,
            "expected a finite number, got \"high\"",
        ),
        ("accuracy >= inf", 13, "finite number"),
        (">= 3", 1, "expected a value name"),
        ("rows(out/*.csv > 3", 19, "closing `)`"),
        ("rows() > 3", 6, "needs a glob"),
        ("rows(out/[.csv) > 3", 10, "invalid glob"),
        ("exists ", 8, "needs a value name"),
    ];
    for (text, position, reason) in cases {
        let error = parse(text).expect_err(text);
        assert_eq!(error.position, position, "{text}: {error:?}");
        assert!(error.reason.contains(reason), "{text}: {error:?}");
    }
    let error = check_rules(&["accuracy >= 0.8".into(), "accuracy >= high".into()])
        .expect_err("second rule");
    assert_eq!(
        error.to_string(),
        "invalid expectation \"accuracy >= high\": at character 13: expected a finite number, got \"high\""
    );
}

#[test]
fn all_rules_holding_is_no_error() {
    let values = [value("accuracy", json!(0.91)), value("n", json!(3))];
    let outputs = [
        output("nb/out/a.csv", Some(100)),
        output("nb/out/b.csv", Some(58)),
    ];
    let rules = [
        "accuracy >= 0.8".to_string(),
        "n == 3".into(),
        "exists accuracy".into(),
        "rows(out/*.csv) == 158".into(),
    ];
    assert_eq!(evaluate(&rules, &values, &outputs, Path::new("nb")), None);
}

#[test]
fn failing_rules_name_the_rule_and_the_value() {
    let values = [
        value("accuracy", json!(0.71)),
        ("label".into(), RecordedValue::Text("good".into())),
        (
            "frame".into(),
            RecordedValue::Other {
                encoder: "pandas".into(),
                summary: None,
            },
        ),
    ];
    let outputs = [output("out/a.csv", Some(7))];
    let one = |rule: &str| {
        evaluate(&[rule.to_string()], &values, &outputs, Path::new("")).map(|e| (e.ename, e.evalue))
    };
    assert_eq!(
        one("accuracy >= 0.8"),
        Some((ENAME.into(), "accuracy >= 0.8: was 0.71".into()))
    );
    assert_eq!(
        one("recall >= 0.8").expect("fails").1,
        "recall >= 0.8: recall was not recorded"
    );
    assert_eq!(
        one("exists recall").expect("fails").1,
        "exists recall: recall was not recorded"
    );
    assert_eq!(
        one("label > 1").expect("fails").1,
        "label > 1: was \"good\", not a number"
    );
    assert_eq!(
        one("frame > 1").expect("fails").1,
        "frame > 1: frame is not a number (recorded with the pandas encoder)"
    );
    assert_eq!(
        one("rows(out/*.csv) >= 8").expect("fails").1,
        "rows(out/*.csv) >= 8: was 7"
    );
    assert_eq!(
        one("rows(other/*.csv) > 0").expect("fails").1,
        "rows(other/*.csv) > 0: was 0 (no recorded output matches other/*.csv)"
    );
    let both = evaluate(
        &["accuracy < 0.5".to_string(), "accuracy > 0.9".into()],
        &values,
        &outputs,
        Path::new(""),
    )
    .expect("fails");
    assert_eq!(
        both.evalue,
        "accuracy < 0.5: was 0.71; accuracy > 0.9: was 0.71"
    );
    assert_eq!(both.cell_index, None);
}

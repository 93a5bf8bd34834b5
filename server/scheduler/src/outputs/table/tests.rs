use std::io::Write;

use serde_json::json;

use super::*;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    path
}

fn kinds(columns: &[Column]) -> Vec<(&str, &str)> {
    columns
        .iter()
        .map(|c| (c.name.as_str(), c.kind.as_str()))
        .collect()
}

#[test]
fn csv_rows_columns_and_hash() {
    let dir = tempfile::tempdir().expect("tmp");
    let text =
        "id,score,ok,label,empty\n001,0.5,true,\"a, quoted\nline\",\n2,1,False,b,\n3,,true,c,\n";
    let path = write(&dir, "p.csv", text);
    let described = describe(&path).expect("describe");
    assert_eq!(described.rows, Some(3));
    assert_eq!(described.bytes, text.len() as u64);
    assert_eq!(
        described.sha256,
        hex::encode(Sha256::digest(text.as_bytes()))
    );
    let columns = described.columns.expect("columns");
    assert_eq!(
        kinds(&columns),
        [
            ("id", "integer"),
            ("score", "float"),
            ("ok", "boolean"),
            ("label", "string"),
            ("empty", "null")
        ]
    );
    let preview = preview(&path, "p.csv", 2).expect("preview");
    assert_eq!(
        preview.rows,
        vec![
            vec![
                json!(1),
                json!(0.5),
                json!(true),
                json!("a, quoted\nline"),
                json!(null)
            ],
            vec![json!(2), json!(1), json!(false), json!("b"), json!(null)],
        ]
    );
}

#[test]
fn tsv_and_json_lines() {
    let dir = tempfile::tempdir().expect("tmp");
    let tsv = write(&dir, "t.TSV", "a\tb\n1\tx\n2\ty\n");
    let described = describe(&tsv).expect("tsv");
    assert_eq!(described.rows, Some(2));
    assert_eq!(
        kinds(&described.columns.expect("columns")),
        [("a", "integer"), ("b", "string")]
    );
    let jsonl = write(
        &dir,
        "j.jsonl",
        "{\"a\": 1, \"b\": \"x\"}\n\n{\"a\": 2.5, \"c\": [1]}\n{\"a\": null, \"b\": \"y\"}",
    );
    let described = describe(&jsonl).expect("jsonl");
    assert_eq!(described.rows, Some(3));
    assert_eq!(
        kinds(&described.columns.expect("columns")),
        [("a", "float"), ("b", "string"), ("c", "array")]
    );
    let preview = preview(&jsonl, "j.jsonl", 50).expect("preview");
    assert_eq!(
        preview.rows,
        vec![
            vec![json!(1), json!("x"), json!(null)],
            vec![json!(2.5), json!(null), json!([1])],
            vec![json!(null), json!("y"), json!(null)],
        ]
    );
}

#[test]
fn json_lines_past_the_sample_are_counted() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("big.ndjson");
    let mut file = std::fs::File::create(&path).expect("create");
    for i in 0..(SAMPLE_ROWS + 500) {
        writeln!(file, "{{\"i\": {i}}}").expect("write");
        if i % 100 == 0 {
            writeln!(file, "   ").expect("blank");
        }
    }
    write!(file, "{{\"i\": -1}}").expect("last line without newline");
    drop(file);
    assert_eq!(
        describe(&path).expect("describe").rows,
        Some(SAMPLE_ROWS as u64 + 501)
    );
}

#[test]
fn other_files_are_hashed_only_and_not_previewed() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = write(&dir, "model.bin", "\u{0}\u{1}");
    let described = describe(&path).expect("describe");
    assert_eq!(
        (described.rows, described.columns, described.bytes),
        (None, None, 2)
    );
    let error = preview(&path, "model.bin", 5).expect_err("not a table");
    assert!(error.to_string().contains("not a table"), "{error}");
}

//! The cell diff of two notebooks, and the parameter/value maps' diff.

use serde_json::{Value, json};

use super::*;

fn code(source: &str, outputs: Value) -> Value {
    json!({"cell_type": "code", "metadata": {}, "source": source, "outputs": outputs,
        "execution_count": 1})
}

fn tagged(source: &str, tag: &str) -> Value {
    json!({"cell_type": "code", "metadata": {"tags": [tag]}, "source": source, "outputs": []})
}

fn stream(text: &str) -> Value {
    json!({"output_type": "stream", "name": "stdout", "text": text})
}

fn notebook(cells: Vec<Value>) -> Value {
    json!({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells})
}

#[test]
fn identical_notebooks_have_no_changes() {
    let nb = notebook(vec![
        code("print(1)", json!([stream("1\n")])),
        code(
            "x",
            json!([{"output_type": "execute_result", "execution_count": 2,
            "data": {"text/plain": "3"}, "metadata": {}}]),
        ),
    ]);
    assert_eq!(diff_cells(&nb, &nb), vec![]);
}

#[test]
fn changed_stream_text_is_reported_with_both_sides() {
    let a = notebook(vec![code("print(x)", json!([stream("1\n")]))]);
    let b = notebook(vec![code("print(x)", json!([stream("2\n")]))]);
    assert_eq!(
        diff_cells(&a, &b),
        vec![CellChange {
            index: 0,
            source_changed: false,
            outputs_changed: true,
            a: Some("1\n".into()),
            b: Some("2\n".into()),
        }]
    );
}

#[test]
fn injected_parameters_and_error_markers_do_not_shift_indexes() {
    let a = notebook(vec![
        code("a = 1", json!([])),
        tagged("a = 2", "injected-parameters"),
        code("print(a)", json!([stream("2\n")])),
    ]);
    let b = notebook(vec![
        tagged("error marker", "papermill-error-cell-tag"),
        code("a = 1", json!([])),
        code("print(a)", json!([stream("1\n")])),
    ]);
    let changes = diff_cells(&a, &b);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].index, 1);
    assert!(!changes[0].source_changed);
}

#[test]
fn execution_counts_split_streams_and_list_sources_are_not_changes() {
    let a = notebook(vec![code("print(1)\nprint(2)", json!([stream("1\n2\n")]))]);
    let mut split = code("", json!([stream("1\n"), stream("2\n")]));
    split["source"] = json!(["print(1)\n", "print(2)"]);
    split["execution_count"] = json!(7);
    assert_eq!(diff_cells(&a, &notebook(vec![split])), vec![]);
}

#[test]
fn images_are_compared_by_hash_and_errors_by_text() {
    let image = |data: &str| {
        json!([{"output_type": "display_data", "metadata": {},
            "data": {"image/png": data, "text/plain": "<Figure>"}}])
    };
    let same = diff_cells(
        &notebook(vec![code("plot()", image("QUJD\n"))]),
        &notebook(vec![code("plot()", image("QUJD\n"))]),
    );
    assert_eq!(same, vec![]);
    let changes = diff_cells(
        &notebook(vec![code("plot()", image("QUJD"))]),
        &notebook(vec![code("plot()", image("REVG"))]),
    );
    assert_eq!(changes.len(), 1);
    let a = changes[0].a.as_deref().expect("side a has the cell");
    assert!(a.starts_with("<image/png sha256:"), "{a}");
    assert!(a.ends_with("<Figure>\n"), "{a}");

    let error = |evalue: &str| {
        json!([{"output_type": "error", "ename": "ValueError", "evalue": evalue,
            "traceback": ["..."]}])
    };
    let changes = diff_cells(
        &notebook(vec![code("f()", error("bad"))]),
        &notebook(vec![code("f()", error("worse"))]),
    );
    assert_eq!(changes[0].a.as_deref(), Some("ValueError: bad\n"));
    assert_eq!(changes[0].b.as_deref(), Some("ValueError: worse\n"));
}

#[test]
fn a_cell_on_one_side_only_and_a_changed_source() {
    let a = notebook(vec![code("x = 1", json!([]))]);
    let b = notebook(vec![
        code("x = 2", json!([])),
        code("print(x)", json!([stream("2\n")])),
    ]);
    let changes = diff_cells(&a, &b);
    assert_eq!(changes.len(), 2);
    assert!(changes[0].source_changed && !changes[0].outputs_changed);
    assert_eq!(changes[1].index, 1);
    assert_eq!(changes[1].a, None);
    assert_eq!(changes[1].b.as_deref(), Some("2\n"));
    // A notebook not written yet has no cells.
    assert_eq!(diff_cells(&Value::Null, &a).len(), 1);
}

#[test]
fn summaries_are_cut_at_a_character_boundary() {
    let long = "é".repeat(SUMMARY_BYTES);
    let changes = diff_cells(
        &notebook(vec![code("p", json!([stream(&long)]))]),
        &notebook(vec![code("p", json!([]))]),
    );
    let a = changes[0].a.as_deref().expect("side a has the cell");
    assert!(a.len() <= SUMMARY_BYTES + '…'.len_utf8());
    assert!(a.ends_with('…'));
    assert_eq!(changes[0].b.as_deref(), Some(""));
}

#[test]
fn maps_list_changed_and_one_sided_names() {
    let a = json!({"alpha": 0.5, "n": 1})
        .as_object()
        .expect("an object")
        .clone();
    let b = json!({"alpha": 0.7, "n": 1, "new": "x"})
        .as_object()
        .expect("an object")
        .clone();
    assert_eq!(
        Value::Object(diff_maps(&a, &b)),
        json!({"alpha": [0.5, 0.7], "new": [null, "x"]})
    );
    assert!(diff_maps(&a, &a).is_empty());
}

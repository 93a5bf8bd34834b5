use super::*;

/// The `display_data` content scrapbook 0.5's `glue` publishes for a data scrap.
fn scrap(name: &str, encoder: &str, data: Value) -> Value {
    json!({
        "data": {format!("{SCRAP_MIMETYPE_PREFIX}{encoder}+json"):
            {"name": name, "data": data, "encoder": encoder, "version": 1}},
        "metadata": {"scrapbook": {"name": name, "data": true, "display": false}},
        "transient": {},
    })
}

/// The rendering `display=True` publishes after it.
fn rendering(name: &str, text: &str) -> Value {
    json!({
        "data": {"text/plain": text, "text/html": "<b>x</b>"},
        "metadata": {"scrapbook": {"name": name, "data": false, "display": true}},
        "transient": {},
    })
}

fn number(text: &str) -> Value {
    serde_json::from_str(text).expect("json")
}

#[test]
fn json_and_text_scraps_are_kept_as_they_are() {
    let mut extractor = ValueExtractor::new();
    let accuracy = extractor.extract("display_data", &scrap("accuracy", "json", number("0.91")));
    assert_eq!(
        accuracy,
        [("accuracy".into(), RecordedValue::Json(number("0.91")))]
    );
    // A 30-digit integer keeps every digit.
    let big = "123456789012345678901234567890";
    let recorded = extractor.extract("display_data", &scrap("big", "json", number(big)));
    assert_eq!(recorded[0].1.to_json().to_string(), big);
    let text = extractor.extract("display_data", &scrap("note", "text", json!("ok")));
    assert_eq!(text, [("note".into(), RecordedValue::Text("ok".into()))]);
    // An execute_result or a display update carries scraps the same way.
    let updated = extractor.extract("update_display_data", &scrap("n", "json", json!([1, 2])));
    assert_eq!(updated, [("n".into(), RecordedValue::Json(json!([1, 2])))]);
    let result = extractor.extract("execute_result", &scrap("m", "json", json!({"a": 1})));
    assert_eq!(result.len(), 1);
}

#[test]
fn other_encoders_are_kept_by_encoder_with_their_rendering() {
    let mut extractor = ValueExtractor::new();
    let frame = extractor.extract("display_data", &scrap("table", "pandas", json!("UEFSMQ==")));
    assert_eq!(
        frame,
        [(
            "table".into(),
            RecordedValue::Other {
                encoder: "pandas".into(),
                summary: None
            }
        )]
    );
    // display=True: the rendering right after gives the summary.
    let shown = extractor.extract("display_data", &rendering("table", "   a\n0  1"));
    assert_eq!(
        shown,
        [(
            "table".into(),
            RecordedValue::Other {
                encoder: "pandas".into(),
                summary: Some("   a\n0  1".into())
            }
        )]
    );
    assert_eq!(
        shown[0].1.to_json(),
        json!({"encoder": "pandas", "summary": "   a\n0  1"})
    );
    assert_eq!(shown[0].1.one_line(), "<pandas>    a");
}

#[test]
fn a_rendering_after_a_json_scrap_leaves_the_value() {
    let mut extractor = ValueExtractor::new();
    extractor.extract("display_data", &scrap("score", "json", json!(3)));
    assert!(
        extractor
            .extract("display_data", &rendering("score", "3"))
            .is_empty()
    );
}

#[test]
fn a_rendering_alone_is_a_display_value() {
    let mut extractor = ValueExtractor::new();
    let shown = extractor.extract("display_data", &rendering("chart", "<Figure>"));
    assert_eq!(
        shown,
        [(
            "chart".into(),
            RecordedValue::Other {
                encoder: "display".into(),
                summary: Some("<Figure>".into())
            }
        )]
    );
    // A rendering in a later cell is not paired with a scrap of an earlier one.
    extractor.extract("display_data", &scrap("x", "json", json!(1)));
    extractor.start_cell();
    assert_eq!(
        extractor.extract("display_data", &rendering("x", "1"))[0]
            .1
            .encoder(),
        "display"
    );
    // papermill's pm.display.
    let legacy = json!({"data": {"text/plain": "hi"}, "metadata": {"papermill": {"name": "old"}}});
    assert_eq!(extractor.extract("display_data", &legacy)[0].0, "old");
}

#[test]
fn papermill_records_and_plain_outputs() {
    let mut extractor = ValueExtractor::new();
    let record = json!({"data": {RECORD_MIMETYPE: {"rows": 158}}, "metadata": {}});
    assert_eq!(
        extractor.extract("display_data", &record),
        [("rows".into(), RecordedValue::Json(json!(158)))]
    );
    let plain = json!({"data": {"text/plain": "42"}, "metadata": {}});
    assert!(extractor.extract("execute_result", &plain).is_empty());
    assert!(
        extractor
            .extract("stream", &json!({"name": "stdout", "text": "x"}))
            .is_empty()
    );
    // A scrap without a name records nothing (and does not panic).
    let nameless = json!({"data": {"application/scrapbook.scrap.json+json": {"data": 1}}});
    assert!(extractor.extract("display_data", &nameless).is_empty());
}

#[test]
fn values_too_large_are_noted_not_kept() {
    let mut extractor = ValueExtractor::new();
    let huge = Value::String("x".repeat(MAX_VALUE_BYTES + 1));
    let recorded = extractor.extract("display_data", &scrap("huge", "json", huge));
    match &recorded[0].1 {
        RecordedValue::Other { encoder, summary } => {
            assert_eq!(encoder, "json");
            assert!(summary.as_deref().expect("summary").contains("not kept"));
        }
        other => panic!("kept {other:?}"),
    }
    let long = "y".repeat(MAX_SUMMARY_CHARS + 10);
    let shown = extractor.extract("display_data", &rendering("long", &long));
    let RecordedValue::Other { summary, .. } = &shown[0].1 else {
        panic!("{shown:?}")
    };
    assert_eq!(
        summary.as_deref().expect("summary").chars().count(),
        MAX_SUMMARY_CHARS + 1
    );
}

#[test]
fn a_name_recorded_again_keeps_its_place_and_last_value() {
    let mut values = RecordedValues::new();
    values.record("a".into(), RecordedValue::Json(json!(1)));
    values.record("précision".into(), RecordedValue::Json(json!(2)));
    values.record("a".into(), RecordedValue::Text("last".into()));
    assert_eq!(values.len(), 2);
    assert_eq!(values.get("a"), Some(&RecordedValue::Text("last".into())));
    assert_eq!(
        values.to_json().to_string(),
        r#"{"a":"last","précision":2}"#
    );
}

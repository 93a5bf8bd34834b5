use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use serde_json::json;

use super::*;
use crate::error::ValidationError;
use crate::outputs::table;

const SCHEMA: &str = "message m {
    REQUIRED INT64 id;
    OPTIONAL DOUBLE score;
    OPTIONAL BOOLEAN ok;
    OPTIONAL BYTE_ARRAY label (STRING);
    OPTIONAL INT64 at (TIMESTAMP(MICROS,true));
    OPTIONAL INT64 local (TIMESTAMP(NANOS,false));
    OPTIONAL INT32 day (DATE);
    OPTIONAL INT64 price (DECIMAL(12,2));
    OPTIONAL BYTE_ARRAY blob;
}";

/// Writes rows `0..rows` in row groups of `group` rows; row `i` has `id = i`, a null score when
/// `i % 3 == 2`, and values derived from `i` elsewhere.
fn write(path: &Path, rows: i64, group: i64, compression: Compression) {
    let schema = Arc::new(parse_message_type(SCHEMA).expect("schema"));
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(compression)
            .build(),
    );
    let file = File::create(path).expect("create");
    let mut writer = SerializedFileWriter::new(file, schema, props).expect("writer");
    let mut start = 0;
    while start < rows {
        let ids: Vec<i64> = (start..(start + group).min(rows)).collect();
        let defined: Vec<i16> = ids.iter().map(|i| i16::from(i % 3 != 2)).collect();
        let present: Vec<i64> = ids.iter().copied().filter(|i| i % 3 != 2).collect();
        let mut group_writer = writer.next_row_group().expect("group");
        let mut index = 0;
        while let Some(mut column) = group_writer.next_column().expect("column") {
            let all = Some(&vec![1i16; ids.len()][..]);
            let def = Some(&defined[..]);
            match index {
                0 => column.typed::<Int64Type>().write_batch(&ids, None, None),
                1 => column.typed::<DoubleType>().write_batch(
                    &present.iter().map(|i| *i as f64 + 0.5).collect::<Vec<_>>(),
                    def,
                    None,
                ),
                2 => column.typed::<BoolType>().write_batch(
                    &ids.iter().map(|i| i % 2 == 0).collect::<Vec<_>>(),
                    all,
                    None,
                ),
                3 => column.typed::<ByteArrayType>().write_batch(
                    &ids.iter()
                        .map(|i| ByteArray::from(format!("row {i}, é").as_str()))
                        .collect::<Vec<_>>(),
                    all,
                    None,
                ),
                // 2026-01-02T03:04:05Z plus i seconds and 250 µs.
                4 => column.typed::<Int64Type>().write_batch(
                    &ids.iter()
                        .map(|i| (1_767_323_045 + i) * 1_000_000 + 250)
                        .collect::<Vec<_>>(),
                    all,
                    None,
                ),
                5 => column.typed::<Int64Type>().write_batch(
                    &ids.iter()
                        .map(|i| 1_767_323_045_000_000_000 + i)
                        .collect::<Vec<_>>(),
                    all,
                    None,
                ),
                // 2026-01-02 plus i days.
                6 => column.typed::<Int32Type>().write_batch(
                    &ids.iter().map(|i| 20_455 + *i as i32).collect::<Vec<_>>(),
                    all,
                    None,
                ),
                7 => column.typed::<Int64Type>().write_batch(
                    &ids.iter().map(|i| -5 + i * 100_001).collect::<Vec<_>>(),
                    all,
                    None,
                ),
                _ => column.typed::<ByteArrayType>().write_batch(
                    &ids.iter()
                        .map(|i| ByteArray::from(vec![0xff, *i as u8]))
                        .collect::<Vec<_>>(),
                    all,
                    None,
                ),
            }
            .expect("values");
            column.close().expect("close column");
            index += 1;
        }
        group_writer.close().expect("close group");
        start += group;
    }
    writer.close().expect("close file");
}

fn file(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

fn kinds(columns: &[Column]) -> Vec<(&str, &str)> {
    columns
        .iter()
        .map(|c| (c.name.as_str(), c.kind.as_str()))
        .collect()
}

#[test]
fn rows_and_columns_come_from_the_footer_and_values_are_typed() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = file(&dir, "p.parquet");
    write(&path, 5, 3, Compression::SNAPPY);
    let described = table::describe(&path).expect("describe");
    let bytes = std::fs::read(&path).expect("read");
    assert_eq!(described.bytes, bytes.len() as u64);
    assert_eq!(described.rows, Some(5));
    assert_eq!(
        kinds(&described.columns.expect("columns")),
        [
            ("id", "integer"),
            ("score", "float"),
            ("ok", "boolean"),
            ("label", "string"),
            ("at", "timestamp"),
            ("local", "timestamp"),
            ("day", "date"),
            ("price", "decimal"),
            ("blob", "byte_array"),
        ]
    );
    let preview = table::preview(&path, "p.parquet", 3).expect("preview");
    assert_eq!(preview.columns.len(), 9);
    assert_eq!(
        preview.rows,
        vec![
            vec![
                json!(0),
                json!(0.5),
                json!(true),
                json!("row 0, é"),
                json!("2026-01-02T03:04:05.000250Z"),
                json!("2026-01-02T03:04:05"),
                json!("2026-01-02"),
                "-0.05".parse::<Value>().expect("number"),
                json!("ff00"),
            ],
            vec![
                json!(1),
                json!(1.5),
                json!(false),
                json!("row 1, é"),
                json!("2026-01-02T03:04:06.000250Z"),
                json!("2026-01-02T03:04:05.000000001"),
                json!("2026-01-03"),
                "999.96".parse::<Value>().expect("number"),
                json!("ff01"),
            ],
            vec![
                json!(2),
                json!(null),
                json!(true),
                json!("row 2, é"),
                json!("2026-01-02T03:04:07.000250Z"),
                json!("2026-01-02T03:04:05.000000002"),
                json!("2026-01-04"),
                "1999.97".parse::<Value>().expect("number"),
                json!("ff02"),
            ],
        ]
    );
    // Decimals keep their digits as JSON numbers.
    assert_eq!(
        serde_json::to_string(&preview.rows[0][7]).expect("text"),
        "-0.05"
    );
}

#[test]
fn a_preview_spans_row_groups_and_stops_at_the_limit() {
    let dir = tempfile::tempdir().expect("tmp");
    for (name, compression) in [
        ("snappy.parquet", Compression::SNAPPY),
        ("gzip.parquet", Compression::GZIP(Default::default())),
        ("zstd.parquet", Compression::ZSTD(Default::default())),
        ("plain.parquet", Compression::UNCOMPRESSED),
    ] {
        let path = file(&dir, name);
        write(&path, 100, 7, compression);
        assert_eq!(table::describe(&path).expect(name).rows, Some(100));
        let ids = |limit: usize| -> Vec<Value> {
            preview(&path, limit)
                .expect(name)
                .rows
                .into_iter()
                .map(|row| row[0].clone())
                .collect()
        };
        assert_eq!(ids(3), [json!(0), json!(1), json!(2)], "{name}");
        assert_eq!(ids(20), (0..20).map(Value::from).collect::<Vec<_>>());
        assert_eq!(
            ids(1000).len(),
            100,
            "{name}: all rows when fewer than the limit"
        );
    }
}

#[test]
fn a_preview_reads_only_the_row_groups_it_needs() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = file(&dir, "damaged.parquet");
    write(&path, 30, 10, Compression::SNAPPY);
    // Overwrite the second row group's pages; the footer stays intact.
    let reader = open(&path).expect("open");
    let (start, length) = reader.metadata().row_group(1).column(0).byte_range();
    drop(reader);
    let mut bytes = std::fs::read(&path).expect("read");
    for byte in &mut bytes[start as usize..(start + length) as usize] {
        *byte = 0xee;
    }
    std::fs::write(&path, &bytes).expect("write");

    assert_eq!(table::describe(&path).expect("describe").rows, Some(30));
    assert_eq!(preview(&path, 10).expect("first group").rows.len(), 10);
    let error = table::preview(&path, "damaged.parquet", 11).expect_err("second group");
    let message = error.to_string();
    assert!(
        message.starts_with(
            "output \"damaged.parquet\" cannot be previewed: it is not a valid Parquet file"
        ),
        "{message}"
    );
}

#[test]
fn a_corrupt_file_is_hashed_without_a_shape_and_not_previewed() {
    let dir = tempfile::tempdir().expect("tmp");
    let good = file(&dir, "good.parquet");
    write(&good, 10, 10, Compression::SNAPPY);
    let bytes = std::fs::read(&good).expect("read");
    let cases: [(&str, Vec<u8>); 4] = [
        ("text.parquet", b"id,score\n1,0.5\n".to_vec()),
        ("empty.parquet", Vec::new()),
        ("truncated.parquet", bytes[..bytes.len() / 2].to_vec()),
        // The magic bytes kept, the footer's length pointing before the start of the file.
        ("footer.PARQUET", {
            let mut broken = bytes.clone();
            let n = broken.len();
            broken[n - 8..n - 4].copy_from_slice(&u32::MAX.to_le_bytes());
            broken
        }),
    ];
    for (name, content) in cases {
        let path = file(&dir, name);
        std::fs::write(&path, &content).expect("write");
        let described = table::describe(&path).expect(name);
        assert_eq!(
            (described.bytes, described.rows, described.columns),
            (content.len() as u64, None, None),
            "{name}"
        );
        let error = table::preview(&path, name, 5).expect_err(name);
        assert!(
            matches!(
                error,
                crate::error::SchedulerError::Validation(ValidationError::UnreadableTable { .. })
            ),
            "{name}: {error}"
        );
        assert!(
            error.to_string().contains("not a valid Parquet file"),
            "{name}: {error}"
        );
    }
}

#[test]
fn floats_times_and_nested_values_as_json() {
    assert_eq!(float(format!("{:?}", 0.1f32)), json!(0.1));
    assert_eq!(float(format!("{:?}", 1e300f64)).as_f64(), Some(1e300));
    assert_eq!(float(format!("{:?}", f64::NAN)), Value::Null);
    assert_eq!(float(format!("{:?}", f64::INFINITY)), Value::Null);
    assert_eq!(time_of_day(3_723_004, 1_000), json!("01:02:03.004"));
    assert_eq!(
        time_of_day(-1, 1_000),
        json!(-1),
        "out of range: the raw number"
    );
    assert_eq!(value(&Field::Date(i32::MAX), Hint::NONE), json!(i32::MAX));
    let row = parquet::record::Row::new(vec![
        ("a".into(), Field::Int(1)),
        ("b".into(), Field::Str("x".into())),
    ]);
    assert_eq!(
        value(&Field::Group(row), Hint::NONE),
        json!({"a": 1, "b": "x"})
    );
}

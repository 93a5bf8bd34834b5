//! Parquet output files, read with the `parquet` crate's record API (no arrow). [`shape`] reads only
//! the footer: the row count is the file's metadata, the columns its schema's top-level fields, typed
//! in the vocabulary of the CSV inference where one fits (`integer`, `float`, `boolean`, `string`,
//! `array`, `object`, `null`) and by their Parquet logical or physical type name otherwise (`decimal`,
//! `date`, `time`, `timestamp`, `uuid`, `map`, `byte_array`, …). [`preview`] decodes the first row
//! groups only, as many as `limit` rows need, page by page.
//!
//! A file is not trusted: a reader error or a panic inside the crate (a corrupt footer or page) is
//! an error naming the file, never a crash of the server.

use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use chrono::{DateTime, NaiveTime, SecondsFormat};
use parquet::basic::{
    Compression, ConvertedType, LogicalType, Repetition, TimeUnit, Type as Physical,
};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use parquet::record::reader::TreeBuilder;
use parquet::schema::types::Type;
use serde_json::{Map, Number, Value};

use super::table::{Column, Preview};

/// Why a Parquet file cannot be read (the message names what is wrong with it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(String);

/// The file's row count and top-level columns, from its footer only.
pub fn shape(path: &Path) -> Result<(u64, Vec<Column>), Unreadable> {
    guarded(|| {
        let reader = open(path)?;
        let metadata = reader.metadata().file_metadata();
        let rows = u64::try_from(metadata.num_rows())
            .map_err(|_| Unreadable(format!("its footer gives {} rows", metadata.num_rows())))?;
        let columns = metadata
            .schema()
            .get_fields()
            .iter()
            .map(|field| Column {
                name: field.name().to_owned(),
                kind: kind(field).into(),
            })
            .collect();
        Ok((rows, columns))
    })
}

/// The first `limit` rows, decoding only the row groups they are in.
pub fn preview(path: &Path, limit: usize) -> Result<Preview, Unreadable> {
    guarded(|| {
        let reader = open(path)?;
        let metadata = reader.metadata();
        let fields = metadata.file_metadata().schema().get_fields();
        let columns: Vec<Column> = fields
            .iter()
            .map(|field| Column {
                name: field.name().to_owned(),
                kind: kind(field).into(),
            })
            .collect();
        let hints: Vec<Hint> = fields.iter().map(|field| Hint::of(field)).collect();
        let descr = metadata.file_metadata().schema_descr_ptr();
        let mut rows: Vec<Vec<Value>> = Vec::new();
        for index in 0..metadata.num_row_groups() {
            if rows.len() >= limit {
                break;
            }
            let group = metadata.row_group(index);
            if let Some(codec) = group
                .columns()
                .iter()
                .map(|column| column.compression())
                .find(|codec| !readable(*codec))
            {
                return Err(Unreadable(format!(
                    "its data is compressed with {codec}, which nbgate does not read (rows and \
                     columns come from the footer); write it with snappy, gzip, zstd or no \
                     compression to preview it"
                )));
            }
            let group_reader = reader
                .get_row_group(index)
                .map_err(|error| corrupt(&error))?;
            // Decode no more values per column than the rows still wanted.
            let batch = (limit - rows.len()).clamp(1, 1024);
            let records = TreeBuilder::new()
                .with_batch_size(batch)
                .as_iter(descr.clone(), &*group_reader)
                .map_err(|error| corrupt(&error))?;
            for record in records.take(limit - rows.len()) {
                let record = record.map_err(|error| corrupt(&error))?;
                rows.push(
                    record
                        .get_column_iter()
                        .zip(hints.iter().chain(std::iter::repeat(&Hint::NONE)))
                        .map(|((_, field), hint)| value(field, *hint))
                        .collect(),
                );
            }
        }
        Ok(Preview { columns, rows })
    })
}

/// Runs `read`, turning a panic inside the parquet crate (a corrupt file) into an error.
fn guarded<T>(read: impl FnOnce() -> Result<T, Unreadable>) -> Result<T, Unreadable> {
    catch_unwind(AssertUnwindSafe(read)).unwrap_or_else(|panic| {
        let detail = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("the reader stopped");
        Err(Unreadable(format!(
            "it is not a valid Parquet file ({detail})"
        )))
    })
}

fn open(path: &Path) -> Result<SerializedFileReader<File>, Unreadable> {
    let file = File::open(path).map_err(|error| Unreadable(format!("cannot open it: {error}")))?;
    SerializedFileReader::new(file).map_err(|error| corrupt(&error))
}

fn corrupt(error: &parquet::errors::ParquetError) -> Unreadable {
    Unreadable(format!("it is not a valid Parquet file ({error})"))
}

/// Codecs this build decodes (the `parquet` features in the workspace manifest).
fn readable(codec: Compression) -> bool {
    matches!(
        codec,
        Compression::UNCOMPRESSED
            | Compression::SNAPPY
            | Compression::GZIP(_)
            | Compression::ZSTD(_)
    )
}

/// A top-level field's type: the CSV inference's word where one fits, else Parquet's name.
fn kind(field: &Type) -> &'static str {
    let info = field.get_basic_info();
    if info.has_repetition() && info.repetition() == Repetition::REPEATED {
        return "array";
    }
    if !field.is_primitive() {
        return match (info.logical_type_ref(), info.converted_type()) {
            (Some(LogicalType::List), _) | (_, ConvertedType::LIST) => "array",
            (Some(LogicalType::Map), _)
            | (_, ConvertedType::MAP | ConvertedType::MAP_KEY_VALUE) => "map",
            (Some(LogicalType::Variant(_)), _) => "variant",
            _ => "object",
        };
    }
    if let Some(logical) = info.logical_type_ref() {
        let name = match logical {
            LogicalType::String | LogicalType::Enum | LogicalType::Json => "string",
            LogicalType::Integer(_) => "integer",
            LogicalType::Float16 => "float",
            LogicalType::Decimal(_) => "decimal",
            LogicalType::Date => "date",
            LogicalType::Time(_) => "time",
            LogicalType::Timestamp(_) => "timestamp",
            LogicalType::Uuid => "uuid",
            LogicalType::Bson => "bson",
            LogicalType::Unknown => "null",
            LogicalType::Geometry(_) => "geometry",
            LogicalType::Geography(_) => "geography",
            _ => "",
        };
        if !name.is_empty() {
            return name;
        }
    }
    match info.converted_type() {
        ConvertedType::UTF8 | ConvertedType::ENUM | ConvertedType::JSON => return "string",
        ConvertedType::INT_8
        | ConvertedType::INT_16
        | ConvertedType::INT_32
        | ConvertedType::INT_64
        | ConvertedType::UINT_8
        | ConvertedType::UINT_16
        | ConvertedType::UINT_32
        | ConvertedType::UINT_64 => return "integer",
        ConvertedType::DECIMAL => return "decimal",
        ConvertedType::DATE => return "date",
        ConvertedType::TIME_MILLIS | ConvertedType::TIME_MICROS => return "time",
        ConvertedType::TIMESTAMP_MILLIS | ConvertedType::TIMESTAMP_MICROS => return "timestamp",
        ConvertedType::INTERVAL => return "interval",
        ConvertedType::BSON => return "bson",
        _ => {}
    }
    match field.get_physical_type() {
        Physical::BOOLEAN => "boolean",
        Physical::INT32 | Physical::INT64 => "integer",
        // Legacy timestamps (Spark, pandas with `use_deprecated_int96_timestamps`).
        Physical::INT96 => "timestamp",
        Physical::FLOAT | Physical::DOUBLE => "float",
        Physical::BYTE_ARRAY => "byte_array",
        Physical::FIXED_LEN_BYTE_ARRAY => "fixed_len_byte_array",
    }
}

/// What a top-level column's logical type says about its raw values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hint {
    /// A timestamp's instant is in UTC (RFC 3339 with `Z`), not a wall time without zone.
    utc: bool,
    /// Nanoseconds, which the record API hands over as plain `i64`: a timestamp or a time of day.
    nanos: Option<Nanos>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nanos {
    Timestamp,
    Time,
}

impl Hint {
    /// Nested values: timestamps as the legacy converted types define them (UTC).
    const NONE: Hint = Hint {
        utc: true,
        nanos: None,
    };

    fn of(field: &Type) -> Hint {
        if !field.is_primitive() {
            return Hint::NONE;
        }
        match field.get_basic_info().logical_type_ref() {
            Some(LogicalType::Timestamp(timestamp)) => Hint {
                utc: timestamp.is_adjusted_to_u_t_c,
                nanos: (timestamp.unit == TimeUnit::NANOS).then_some(Nanos::Timestamp),
            },
            Some(LogicalType::Time(time)) => Hint {
                utc: true,
                nanos: (time.unit == TimeUnit::NANOS).then_some(Nanos::Time),
            },
            _ if field.get_physical_type() == Physical::INT96 => Hint {
                utc: false,
                nanos: None,
            },
            _ => Hint::NONE,
        }
    }
}

/// A value as JSON: numbers as numbers (decimals keep their digits), dates and times as ISO 8601
/// text, binary as its UTF-8 text or else hex, lists as arrays, groups and maps as objects.
fn value(field: &Field, hint: Hint) -> Value {
    match field {
        Field::Null => Value::Null,
        Field::Bool(b) => Value::Bool(*b),
        Field::Byte(n) => Value::from(*n),
        Field::Short(n) => Value::from(*n),
        Field::Int(n) => Value::from(*n),
        Field::Long(n) => match hint.nanos {
            Some(Nanos::Timestamp) => timestamp(DateTime::from_timestamp_nanos(*n), hint.utc),
            Some(Nanos::Time) => time_of_day(*n, 1_000_000_000),
            None => Value::from(*n),
        },
        Field::UByte(n) => Value::from(*n),
        Field::UShort(n) => Value::from(*n),
        Field::UInt(n) => Value::from(*n),
        Field::ULong(n) => Value::from(*n),
        Field::Float16(n) => float(format!("{:?}", f32::from(*n))),
        Field::Float(n) => float(format!("{n:?}")),
        Field::Double(n) => float(format!("{n:?}")),
        Field::Decimal(_) => {
            let text = field.to_string();
            text.parse::<Number>()
                .map_or(Value::String(text), Value::Number)
        }
        Field::Str(s) => Value::String(s.clone()),
        Field::Bytes(bytes) => match std::str::from_utf8(bytes.data()) {
            Ok(text) => Value::String(text.to_owned()),
            Err(_) => Value::String(hex::encode(bytes.data())),
        },
        Field::Date(days) => DateTime::from_timestamp(i64::from(*days) * 86_400, 0)
            .map_or(Value::from(*days), |at| {
                Value::String(at.format("%Y-%m-%d").to_string())
            }),
        Field::TimeMillis(ms) => time_of_day(i64::from(*ms), 1_000),
        Field::TimeMicros(us) => time_of_day(*us, 1_000_000),
        Field::TimestampMillis(ms) => match DateTime::from_timestamp_millis(*ms) {
            Some(at) => timestamp(at, hint.utc),
            None => Value::from(*ms),
        },
        Field::TimestampMicros(us) => match DateTime::from_timestamp_micros(*us) {
            Some(at) => timestamp(at, hint.utc),
            None => Value::from(*us),
        },
        Field::Group(row) => Value::Object(
            row.get_column_iter()
                .map(|(name, field)| (name.clone(), value(field, Hint::NONE)))
                .collect(),
        ),
        Field::ListInternal(list) => Value::Array(
            list.elements()
                .iter()
                .map(|field| value(field, Hint::NONE))
                .collect(),
        ),
        Field::MapInternal(map) => {
            let mut object = Map::new();
            for (key, field) in map.entries() {
                let key = match value(key, Hint::NONE) {
                    Value::String(text) => text,
                    other => other.to_string(),
                };
                object.insert(key, value(field, Hint::NONE));
            }
            Value::Object(object)
        }
    }
}

/// A float by its shortest exact text (`0.1`, `1e300`); NaN and infinities, which JSON lacks, as null.
fn float(text: String) -> Value {
    text.parse::<Number>().map_or(Value::Null, Value::Number)
}

fn timestamp(at: DateTime<chrono::Utc>, utc: bool) -> Value {
    Value::String(if utc {
        at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    } else {
        at.naive_utc().format("%Y-%m-%dT%H:%M:%S%.f").to_string()
    })
}

/// A time of day given in `per_second` units since midnight (`HH:MM:SS[.fff]`).
fn time_of_day(units: i64, per_second: i64) -> Value {
    let (seconds, fraction) = (units.div_euclid(per_second), units.rem_euclid(per_second));
    let nanos = fraction * (1_000_000_000 / per_second);
    u32::try_from(seconds)
        .ok()
        .zip(u32::try_from(nanos).ok())
        .and_then(|(seconds, nanos)| NaiveTime::from_num_seconds_from_midnight_opt(seconds, nanos))
        .map_or(Value::from(units), |time| {
            Value::String(time.format("%H:%M:%S%.f").to_string())
        })
}

#[cfg(test)]
mod tests;

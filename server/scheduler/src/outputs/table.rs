//! Tables in output files, read by streaming: CSV and TSV (the `csv` crate; the first line is the
//! header), JSON lines (one object per line; columns in order of first appearance) and Parquet
//! ([`super::parquet_table`]: rows and columns from the footer). [`describe`] reads a file once, in
//! fixed-size buffers, hashing it (SHA-256) and counting its rows as it goes; column types come from
//! the first [`SAMPLE_ROWS`] rows. [`preview`] reads only the first rows (and at most
//! [`PREVIEW_MAX_BYTES`] of a text table; of a Parquet file, the row groups they are in). Other files
//! are hashed only.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

use super::parquet_table;
use crate::error::{Result, SchedulerError, ValidationError};

/// Rows whose values decide the column types.
pub const SAMPLE_ROWS: usize = 1000;
/// A preview reads at most this much of a file.
pub const PREVIEW_MAX_BYTES: u64 = 64 << 20;
/// A JSON line longer than this stops the description of a JSON lines file (it is still hashed).
const MAX_JSON_LINE: usize = 16 << 20;
const BUFFER: usize = 256 << 10;

/// A table's column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    /// `integer`, `float`, `boolean`, `string`, or for JSON lines also `object`, `array`, `null`;
    /// for Parquet these where they fit, else the Parquet type's name (`timestamp`, `decimal`, …).
    #[serde(rename = "type")]
    pub kind: String,
}

/// The first rows of a table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preview {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}

/// A file's size, hash and, for a table, shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Described {
    pub bytes: u64,
    pub sha256: String,
    pub rows: Option<u64>,
    pub columns: Option<Vec<Column>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Delimited(u8),
    JsonLines,
    Parquet,
}

fn format_of(path: &Path) -> Option<Format> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    let extension = name.rsplit('.').next()?;
    match extension {
        "csv" => Some(Format::Delimited(b',')),
        "tsv" | "tab" => Some(Format::Delimited(b'\t')),
        "jsonl" | "ndjson" => Some(Format::JsonLines),
        "parquet" | "pq" => Some(Format::Parquet),
        _ => None,
    }
}

/// Passes reads through while hashing and counting them.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

impl<R: Read> Hashing<R> {
    /// Reads the rest, so the hash covers the whole file.
    fn finish(mut self) -> io::Result<(u64, String)> {
        let mut buf = vec![0; BUFFER];
        while self.read(&mut buf)? > 0 {}
        Ok((self.bytes, hex::encode(self.hasher.finalize())))
    }
}

/// Hashes `path` and, for a table, counts its rows and infers its columns, in one streaming pass.
pub fn describe(path: &Path) -> io::Result<Described> {
    let file = File::open(path)?;
    let mut hashing = Hashing {
        inner: file,
        hasher: Sha256::new(),
        bytes: 0,
    };
    let shape = match format_of(path) {
        Some(Format::Delimited(delimiter)) => delimited_shape(&mut hashing, delimiter),
        Some(Format::JsonLines) => json_lines_shape(&mut hashing),
        Some(Format::Parquet) | None => None,
    };
    let (bytes, sha256) = hashing.finish()?;
    // A Parquet file's shape is in its footer: read after the hash, without the data.
    let shape = match format_of(path) {
        Some(Format::Parquet) => parquet_table::shape(path)
            .inspect_err(|error| {
                tracing::warn!(
                    path = %path.display(),
                    %error,
                    "an output Parquet file is recorded without rows and columns"
                );
            })
            .ok(),
        _ => shape,
    };
    let (rows, columns) = match shape {
        Some((rows, columns)) => (Some(rows), Some(columns)),
        None => (None, None),
    };
    Ok(Described {
        bytes,
        sha256,
        rows,
        columns,
    })
}

fn delimited_reader<R: Read>(reader: R, delimiter: u8) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(true)
        .buffer_capacity(BUFFER)
        .from_reader(reader)
}

fn delimited_shape<R: Read>(reader: R, delimiter: u8) -> Option<(u64, Vec<Column>)> {
    let mut csv = delimited_reader(reader, delimiter);
    let names: Vec<String> = csv
        .byte_headers()
        .ok()?
        .iter()
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .collect();
    let mut kinds = vec![Kind::Empty; names.len()];
    let mut record = csv::ByteRecord::new();
    let mut rows = 0u64;
    while csv.read_byte_record(&mut record).ok()? {
        if rows < SAMPLE_ROWS as u64 {
            for (kind, field) in kinds.iter_mut().zip(record.iter()) {
                *kind = kind.join(Kind::of_text(field));
            }
        }
        rows += 1;
    }
    Some((rows, columns(names, &kinds)))
}

fn json_lines_shape<R: Read>(reader: R) -> Option<(u64, Vec<Column>)> {
    let mut reader = BufReader::with_capacity(BUFFER, reader);
    let mut names: Vec<String> = Vec::new();
    let mut kinds: Vec<Kind> = Vec::new();
    let mut line = Vec::new();
    let mut rows = 0u64;
    while rows < SAMPLE_ROWS as u64 {
        line.clear();
        let read = (&mut reader)
            .take(MAX_JSON_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .ok()?;
        if read == 0 {
            return Some((rows, columns(names, &kinds)));
        }
        if line.len() > MAX_JSON_LINE {
            return None;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        rows += 1;
        if let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(&line) {
            for (name, value) in object {
                let kind = Kind::of_json(&value);
                match names.iter().position(|known| *known == name) {
                    Some(i) => kinds[i] = kinds[i].join(kind),
                    None => {
                        names.push(name);
                        kinds.push(Kind::Empty.join(kind));
                    }
                }
            }
        }
    }
    // Past the sample: count the lines that are not blank, a buffer at a time.
    let mut blank = true;
    loop {
        let buf = reader.fill_buf().ok()?;
        if buf.is_empty() {
            break;
        }
        for byte in buf {
            if *byte == b'\n' {
                if !blank {
                    rows += 1;
                }
                blank = true;
            } else if !byte.is_ascii_whitespace() {
                blank = false;
            }
        }
        let n = buf.len();
        reader.consume(n);
    }
    if !blank {
        rows += 1;
    }
    Some((rows, columns(names, &kinds)))
}

/// A column's type as far as the sample shows, widening as values come (integer ⊂ float; any
/// mixture else is a string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// No value yet (empty fields and JSON nulls do not decide).
    Empty,
    Integer,
    Float,
    Boolean,
    String,
    Object,
    Array,
}

impl Kind {
    fn of_text(field: &[u8]) -> Kind {
        let Ok(text) = std::str::from_utf8(field) else {
            return Kind::String;
        };
        let text = text.trim();
        if text.is_empty() {
            Kind::Empty
        } else if text.parse::<i64>().is_ok() {
            Kind::Integer
        } else if text.parse::<f64>().is_ok() {
            Kind::Float
        } else if text.eq_ignore_ascii_case("true") || text.eq_ignore_ascii_case("false") {
            Kind::Boolean
        } else {
            Kind::String
        }
    }

    fn of_json(value: &Value) -> Kind {
        match value {
            Value::Null => Kind::Empty,
            Value::Bool(_) => Kind::Boolean,
            Value::Number(n) if n.is_i64() || n.is_u64() => Kind::Integer,
            Value::Number(_) => Kind::Float,
            Value::String(_) => Kind::String,
            Value::Array(_) => Kind::Array,
            Value::Object(_) => Kind::Object,
        }
    }

    fn join(self, other: Kind) -> Kind {
        match (self, other) {
            (a, b) if a == b => a,
            (Kind::Empty, b) => b,
            (a, Kind::Empty) => a,
            (Kind::Integer, Kind::Float) | (Kind::Float, Kind::Integer) => Kind::Float,
            _ => Kind::String,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Empty => "null",
            Kind::Integer => "integer",
            Kind::Float => "float",
            Kind::Boolean => "boolean",
            Kind::String => "string",
            Kind::Object => "object",
            Kind::Array => "array",
        }
    }
}

fn columns(names: Vec<String>, kinds: &[Kind]) -> Vec<Column> {
    names
        .into_iter()
        .zip(kinds.iter().copied().chain(std::iter::repeat(Kind::Empty)))
        .map(|(name, kind)| Column {
            name,
            kind: kind.name().into(),
        })
        .collect()
}

/// The first `limit` rows of the table at `path` (`label` names it in errors).
pub fn preview(path: &Path, label: &str, limit: usize) -> Result<Preview> {
    let format =
        format_of(path).ok_or_else(|| ValidationError::NotATable { path: label.into() })?;
    let file = File::open(path).map_err(|error| SchedulerError::io("open", path, error))?;
    let bounded = file.take(PREVIEW_MAX_BYTES);
    Ok(match format {
        Format::Delimited(delimiter) => delimited_preview(bounded, delimiter, limit),
        Format::JsonLines => json_lines_preview(bounded, limit),
        Format::Parquet => parquet_table::preview(path, limit).map_err(|error| {
            ValidationError::UnreadableTable {
                path: label.into(),
                reason: error.to_string(),
            }
        })?,
    })
}

fn delimited_preview<R: Read>(reader: R, delimiter: u8, limit: usize) -> Preview {
    let mut csv = delimited_reader(reader, delimiter);
    let names: Vec<String> = match csv.byte_headers() {
        Ok(headers) => headers
            .iter()
            .map(|name| String::from_utf8_lossy(name).into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    let mut texts: Vec<Vec<String>> = Vec::new();
    let mut record = csv::ByteRecord::new();
    while texts.len() < limit && matches!(csv.read_byte_record(&mut record), Ok(true)) {
        texts.push(
            record
                .iter()
                .map(|field| String::from_utf8_lossy(field).into_owned())
                .collect(),
        );
    }
    // A record cut by the byte bound is not shown.
    if csv.position().byte() >= PREVIEW_MAX_BYTES {
        texts.pop();
    }
    let mut kinds = vec![Kind::Empty; names.len()];
    for row in &texts {
        for (kind, text) in kinds.iter_mut().zip(row) {
            *kind = kind.join(Kind::of_text(text.as_bytes()));
        }
    }
    let rows = texts
        .into_iter()
        .map(|row| {
            row.into_iter()
                .enumerate()
                .map(|(i, text)| typed(text, kinds.get(i).copied().unwrap_or(Kind::String)))
                .collect()
        })
        .collect();
    Preview {
        columns: columns(names, &kinds),
        rows,
    }
}

/// A CSV field as the JSON value of its column's type (numbers keep their text).
fn typed(text: String, kind: Kind) -> Value {
    let trimmed = text.trim();
    if trimmed.is_empty() && kind != Kind::String {
        return Value::Null;
    }
    match kind {
        Kind::Integer | Kind::Float => match trimmed.parse::<Number>() {
            Ok(number) => Value::Number(number),
            // Not JSON's grammar (`007`, `+1`, `1.`): the value, without its spelling.
            Err(_) if kind == Kind::Integer && trimmed.parse::<i64>().is_ok() => {
                trimmed.parse::<i64>().map_or(Value::Null, Value::from)
            }
            Err(_) => trimmed
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map_or(Value::String(text), Value::Number),
        },
        Kind::Boolean => Value::Bool(trimmed.eq_ignore_ascii_case("true")),
        _ => Value::String(text),
    }
}

fn json_lines_preview<R: Read>(reader: R, limit: usize) -> Preview {
    let mut reader = BufReader::with_capacity(BUFFER, reader);
    let mut objects: Vec<Map<String, Value>> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut kinds: Vec<Kind> = Vec::new();
    let mut line = Vec::new();
    while objects.len() < limit {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let object = match serde_json::from_slice::<Value>(&line) {
            Ok(Value::Object(object)) => object,
            Ok(other) => Map::from_iter([("value".to_owned(), other)]),
            // A line cut by the byte bound, or not JSON: the preview stops there.
            Err(_) => break,
        };
        for (name, value) in &object {
            let kind = Kind::of_json(value);
            match names.iter().position(|known| known == name) {
                Some(i) => kinds[i] = kinds[i].join(kind),
                None => {
                    names.push(name.clone());
                    kinds.push(kind);
                }
            }
        }
        objects.push(object);
    }
    let rows = objects
        .into_iter()
        .map(|mut object| {
            names
                .iter()
                .map(|name| object.remove(name).unwrap_or(Value::Null))
                .collect()
        })
        .collect();
    Preview {
        columns: columns(names, &kinds),
        rows,
    }
}

#[cfg(test)]
mod tests;

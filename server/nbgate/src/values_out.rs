//! `nbgate run`'s recorded values: collected from the run's progress, printed one line each at the
//! end (on stderr, after the usual output, so that `-` output on stdout stays a notebook), and
//! written by `--values-json FILE` as one JSON object, atomically.

use std::io::Write;
use std::path::Path;

use nbgate_executor::run::{Progress, ProgressSink};
use nbgate_executor::values::RecordedValues;

/// Passes progress on to `inner`, keeping the values recorded (a name recorded again keeps the last).
pub struct Recording<'a> {
    inner: &'a mut dyn ProgressSink,
    pub values: RecordedValues,
}

impl<'a> Recording<'a> {
    pub fn new(inner: &'a mut dyn ProgressSink) -> Recording<'a> {
        Recording {
            inner,
            values: RecordedValues::new(),
        }
    }
}

impl ProgressSink for Recording<'_> {
    fn report(&mut self, progress: Progress) {
        if let Progress::Recorded { name, value, .. } = &progress {
            self.values.record(name.clone(), value.clone());
        }
        self.inner.report(progress);
    }
}

/// `name = value`, one line each, in the order the names were first recorded.
pub fn print(values: &RecordedValues, out: &mut dyn Write) {
    for (name, value) in values.iter() {
        let _ = writeln!(out, "{} = {}", name.escape_debug(), value.one_line());
    }
}

/// Writes `{name: value}` to `path` (temporary file in the same directory, then rename).
pub fn write_json(values: &RecordedValues, path: &Path) -> std::io::Result<()> {
    let text = format!("{}\n", serde_json::to_string_pretty(&values.to_json())?);
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut file = tempfile::Builder::new()
        .prefix(".nbgate-values-")
        .tempfile_in(directory)?;
    file.write_all(text.as_bytes())?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|error| error.error)?;
    Ok(())
}

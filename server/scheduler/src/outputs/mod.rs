//! Output files: the glob patterns an execution or schedule declares (`outputs`), checked at
//! creation; the files they match, snapshotted (size, mtime) before a run and compared after it, so
//! that what the run created or changed is recorded with its size, time, SHA-256 and, for tables, its
//! rows and columns ([`table`]); previews of a recorded table's first rows; a schedule's freshness.
//!
//! Everything that touches files runs on the blocking pool and streams: a 1 GB output is read once
//! (hash and row count in the same pass) in fixed-size buffers, and a preview reads only its first
//! rows. Matches are confined to the root: a match that resolves (through a symbolic link) outside it
//! is skipped with a warning and never read.

pub mod parquet_table;
pub mod table;

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::context::Ctx;
use crate::error::{Result, SchedulerError, ValidationError};
use crate::model::Execution;
use crate::service::{SchedulerHandle, not_found};
use crate::timing::Timing;

pub use table::{Column, Preview};

/// Patterns an execution or schedule may declare.
pub const MAX_PATTERNS: usize = 32;
/// Files recorded per execution at most (the newest matches beyond are dropped with a warning).
pub const MAX_FILES: usize = 1000;
/// Rows a preview answers at most.
pub const MAX_PREVIEW_ROWS: usize = 1000;

/// One file a run created or changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputFile {
    /// Relative to the root directory (symbolic links resolved).
    pub path: String,
    pub bytes: u64,
    pub modified: DateTime<Utc>,
    pub sha256: String,
    /// Data rows (header excluded) of a CSV, TSV or JSON lines file, or a Parquet file's row count
    /// (its footer's); `None` for other files and for a Parquet file that cannot be read.
    pub rows: Option<u64>,
    pub columns: Option<Vec<Column>>,
}

/// Whether a schedule's outputs are up to date.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Freshness {
    /// When its latest successful execution ended.
    pub last_success: Option<DateTime<Utc>>,
    /// The newest modification time among its executions' recorded outputs.
    pub last_output_at: Option<DateTime<Utc>>,
    /// No successful run (with outputs, when the schedule declares some) within `stale_after`, or
    /// twice the schedule's period.
    pub stale: bool,
}

/// What the store knows about a schedule's runs, for [`Freshness`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OutputTimes {
    pub last_success: Option<DateTime<Utc>>,
    /// The latest successful execution that recorded at least one output.
    pub last_success_with_outputs: Option<DateTime<Utc>>,
    pub last_output_at: Option<DateTime<Utc>>,
}

impl Freshness {
    /// Stale when the run that counts (a success, with outputs if `needs_outputs`) is older than
    /// `window` at `now`, or there is none.
    pub fn at(
        times: OutputTimes,
        needs_outputs: bool,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Freshness {
        let counted = if needs_outputs {
            times.last_success_with_outputs
        } else {
            times.last_success
        };
        let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        let stale = match counted {
            None => true,
            Some(at) => now.signed_duration_since(at) > window,
        };
        Freshness {
            last_success: times.last_success,
            last_output_at: times.last_output_at,
            stale,
        }
    }
}

/// Checks declared patterns: relative, no `..`, valid glob syntax.
pub fn check_patterns(patterns: &[String]) -> Result<(), ValidationError> {
    if patterns.len() > MAX_PATTERNS {
        return Err(ValidationError::OutOfRange {
            field: "outputs",
            constraint: "at most 32 patterns",
            value: patterns.len().to_string(),
        });
    }
    for pattern in patterns {
        check_pattern(pattern)?;
    }
    Ok(())
}

fn check_pattern(pattern: &str) -> Result<(), ValidationError> {
    let invalid = |reason: String| ValidationError::InvalidOutputPattern {
        pattern: pattern.into(),
        reason,
    };
    if pattern.trim().is_empty() {
        return Err(invalid("it is empty".into()));
    }
    if pattern.len() > 1024 || pattern.contains('\0') {
        return Err(invalid("use at most 1024 characters, no NUL".into()));
    }
    for component in Path::new(pattern).components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err(invalid("`..` is not allowed".into())),
            Component::RootDir | Component::Prefix(_) => {
                return Err(invalid(
                    "it must be relative to the notebook's folder (the kernel's working directory)"
                        .into(),
                ));
            }
        }
    }
    glob::Pattern::new(pattern).map_err(|error| invalid(error.to_string()))?;
    Ok(())
}

/// `stale_after` bounds: a second to a year.
pub fn check_stale_after(stale_after: Duration) -> Result<(), ValidationError> {
    if !(1..=366 * 86_400).contains(&stale_after.as_secs()) {
        return Err(ValidationError::OutOfRange {
            field: "stale_after",
            constraint: "1 second to 366 days",
            value: format!("{}", stale_after.as_secs_f64()),
        });
    }
    Ok(())
}

/// Size and modification time of each match before a run, by canonical path.
pub(crate) type Snapshot = HashMap<PathBuf, (u64, Option<SystemTime>)>;

/// The regular files under `root` that `patterns` match in `cwd`, canonical, each once.
fn matches(root: &Path, cwd: &Path, patterns: &[String]) -> Vec<(PathBuf, std::fs::Metadata)> {
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let base = glob::Pattern::escape(&cwd.to_string_lossy());
    let mut seen = std::collections::HashSet::new();
    let mut found = Vec::new();
    for pattern in patterns {
        let full = format!("{}/{}", base.trim_end_matches('/'), pattern);
        let Ok(paths) = glob::glob_with(&full, options) else {
            continue;
        };
        for path in paths.flatten() {
            let Ok(canonical) = path.canonicalize() else {
                continue;
            };
            if !canonical.starts_with(root) {
                tracing::warn!(
                    pattern,
                    path = %path.display(),
                    "an output match leads out of the root directory through a symbolic link: skipped"
                );
                continue;
            }
            let Ok(metadata) = std::fs::metadata(&canonical) else {
                continue;
            };
            if metadata.is_file() && seen.insert(canonical.clone()) {
                found.push((canonical, metadata));
            }
        }
    }
    found
}

/// What `patterns` match before a run.
pub(crate) fn snapshot(root: &Path, cwd: &Path, patterns: &[String]) -> Snapshot {
    matches(root, cwd, patterns)
        .into_iter()
        .map(|(path, metadata)| (path, (metadata.len(), metadata.modified().ok())))
        .collect()
}

/// The matches created or changed since `before`, described (hash, rows, columns). A file that
/// cannot be read is logged and left out.
pub(crate) fn collect(
    root: &Path,
    cwd: &Path,
    patterns: &[String],
    before: &Snapshot,
) -> Vec<OutputFile> {
    let mut changed: Vec<(PathBuf, std::fs::Metadata)> = matches(root, cwd, patterns)
        .into_iter()
        .filter(|(path, metadata)| {
            before.get(path) != Some(&(metadata.len(), metadata.modified().ok()))
        })
        .collect();
    changed.sort_by(|a, b| a.0.cmp(&b.0));
    if changed.len() > MAX_FILES {
        tracing::warn!(
            matched = changed.len(),
            kept = MAX_FILES,
            "too many output files: the rest are not recorded"
        );
        changed.truncate(MAX_FILES);
    }
    let mut files = Vec::with_capacity(changed.len());
    for (path, metadata) in changed {
        let relative = path.strip_prefix(root).unwrap_or(&path);
        match table::describe(&path) {
            Ok(described) => files.push(OutputFile {
                path: relative.to_string_lossy().into_owned(),
                bytes: described.bytes,
                modified: metadata
                    .modified()
                    .map(DateTime::<Utc>::from)
                    .unwrap_or_else(|_| Utc::now()),
                sha256: described.sha256,
                rows: described.rows,
                columns: described.columns,
            }),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot read an output file");
            }
        }
    }
    files
}

/// The kernel's working directory for an execution: its notebook's folder.
pub(crate) fn working_dir(ctx: &Ctx, execution: &Execution) -> Option<PathBuf> {
    ctx.root
        .join(&execution.notebook)
        .parent()
        .map(Path::to_path_buf)
}

/// The worker's call before a run: what the execution's patterns match now (`None` without patterns).
pub(crate) async fn before_run(ctx: &Ctx, execution: &Execution) -> Option<Snapshot> {
    if execution.run.outputs.is_empty() {
        return None;
    }
    let cwd = working_dir(ctx, execution)?;
    let (root, patterns) = (ctx.root.clone(), execution.run.outputs.clone());
    tokio::task::spawn_blocking(move || snapshot(&root, &cwd, &patterns))
        .await
        .ok()
}

/// The worker's call after a run, however it ended: records what it created or changed.
pub(crate) async fn after_run(ctx: &Ctx, execution: &Execution, before: Option<Snapshot>) {
    let (Some(before), Some(cwd)) = (before, working_dir(ctx, execution)) else {
        return;
    };
    let (root, patterns) = (ctx.root.clone(), execution.run.outputs.clone());
    let Ok(files) =
        tokio::task::spawn_blocking(move || collect(&root, &cwd, &patterns, &before)).await
    else {
        return;
    };
    let id = execution.id.clone();
    if let Err(error) = ctx
        .store_until_written("record output files", move |store| {
            store.record_outputs(&id, &files)
        })
        .await
    {
        tracing::error!(execution = %execution.id, %error, "cannot record output files");
    }
}

impl SchedulerHandle {
    /// The files an execution's run created or changed that its `outputs` patterns match.
    pub async fn execution_outputs(&self, id: &str) -> Result<Vec<OutputFile>> {
        let key = id.to_owned();
        Ok(self
            .ctx
            .db
            .call(move |store| store.execution_outputs(&key))
            .await?)
    }

    /// The first `limit` rows of one of an execution's recorded outputs (a table). Only recorded
    /// paths are read, and only inside the root.
    pub async fn preview_output(&self, id: &str, path: &str, limit: usize) -> Result<Preview> {
        self.get_execution(id).await?;
        let recorded = self.execution_outputs(id).await?;
        if !recorded.iter().any(|file| file.path == path) {
            return Err(not_found("output file", path));
        }
        let root = self.ctx.root.clone();
        let relative = path.to_owned();
        let limit = limit.clamp(1, MAX_PREVIEW_ROWS);
        tokio::task::spawn_blocking(move || {
            let joined = crate::paths::confine(&root, &relative)?;
            let canonical = match joined.canonicalize() {
                Ok(canonical) => canonical,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    return Err(not_found("output file", &relative));
                }
                Err(error) => return Err(SchedulerError::io("open", joined, error)),
            };
            if !canonical.starts_with(&root) {
                return Err(ValidationError::InvalidPath {
                    path: relative,
                    reason: "it leads out of the root directory through a symbolic link".into(),
                }
                .into());
            }
            table::preview(&canonical, &relative, limit)
        })
        .await
        .map_err(|_| crate::error::StoreError::Task)?
    }

    /// Whether a schedule's outputs are up to date (see [`Freshness`]).
    pub async fn schedule_freshness(&self, schedule_id: &str) -> Result<Freshness> {
        let schedule = self.get_schedule(schedule_id).await?;
        let id = schedule.id.clone();
        let times = self
            .ctx
            .db
            .call(move |store| store.output_times(&id))
            .await?;
        let now = self.ctx.now();
        let window = match schedule.spec.stale_after {
            Some(window) => window,
            None => period(&schedule.spec, now) * 2,
        };
        Ok(Freshness::at(
            times,
            !schedule.spec.outputs.is_empty(),
            window,
            now,
        ))
    }
}

/// The time between two consecutive fires after `now` (a day when it cannot be computed).
fn period(spec: &crate::model::ScheduleSpec, now: DateTime<Utc>) -> Duration {
    let day = Duration::from_secs(86_400);
    let Ok(timing) = Timing::new(&spec.recurrence, &spec.timezone) else {
        return day;
    };
    let first = timing.next_after(now);
    let second = first.and_then(|at| timing.next_after(at));
    match (first, second) {
        (Some(a), Some(b)) => (b - a).to_std().unwrap_or(day),
        _ => day,
    }
}

#[cfg(test)]
mod tests;

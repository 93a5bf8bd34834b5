//! What `GET /api/schedules` wrote for each schedule, kept while the schedule's stored row is
//! unchanged: listing 10,000 schedules parses and writes only the rows that changed since the last
//! listing. A schedule's newest execution is kept apart, with its summary as read: it changes as
//! the execution runs, and is written again then without the rest.
//!
//! Correct by construction: an item is reused only for a row equal, column for column, to the one
//! it was written from ([`StoredSchedule`] holds every column a listed schedule is made of, and the
//! [`ExecutionSummary`] every field of its newest execution in short), so an edit, a fire, a pause
//! or a run's progress made by any replica is seen at the next listing.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use nbgate_kernel::sync::lock;
use nbgate_scheduler::{ExecutionSummary, MAX_SCHEDULE_PAGE, Page, SchedulerError, StoredSchedule};

use super::ExecutorError;
use super::dto::{ExecutionSummaryDto, ScheduleDto};

/// A listed schedule as the API writes it: a [`ScheduleDto`] whose last field is `last_execution`.
/// Its JSON without that field's value is kept: written with `last_execution: null`, less this tail.
const NO_EXECUTION_TAIL: &[u8] = b"null}";

/// Schedules kept beyond those of the last whole listing before the items are dropped (a client
/// that only ever reads pages while schedules come and go).
const MAX_KEPT: usize = 2 * MAX_SCHEDULE_PAGE;

#[derive(Default)]
pub(super) struct ScheduleItems {
    by_id: Mutex<HashMap<String, Item>>,
}

/// A listed schedule's JSON in two parts, each kept with what it was written from.
#[derive(Clone)]
struct Item {
    row: StoredSchedule,
    /// The item up to `"last_execution":`.
    head: Part,
    latest: Option<ExecutionSummary>,
    /// `latest`'s JSON (or `null`) and the item's closing brace.
    tail: Part,
}

/// A written part of an item, shared by the listings that reuse it.
type Part = Arc<[u8]>;

impl ScheduleItems {
    /// The JSON of a page (a `PageDto` of `ScheduleDto`s), from the parts kept for unchanged rows
    /// and newest executions and new ones for the others. `whole`: the page is every schedule, so
    /// those not on it are gone.
    pub(super) fn write_page(
        &self,
        page: Page<(StoredSchedule, Option<ExecutionSummary>)>,
        whole: bool,
    ) -> Result<Vec<u8>, ExecutorError> {
        let kept: Vec<(Option<Part>, Option<Part>)> = {
            let by_id = lock(&self.by_id);
            (page.items.iter())
                .map(|(row, latest)| match by_id.get(&row.id) {
                    Some(item) => (
                        (item.row == *row).then(|| item.head.clone()),
                        (item.latest == *latest).then(|| item.tail.clone()),
                    ),
                    None => (None, None),
                })
                .collect()
        };
        let mut written = Vec::with_capacity(page.items.len());
        let mut changed = Vec::new();
        for ((row, latest), kept) in page.items.into_iter().zip(kept) {
            let item = match kept {
                (Some(head), Some(tail)) => Item {
                    row,
                    head,
                    latest,
                    tail,
                },
                (head, tail) => {
                    let head = match head {
                        Some(head) => head,
                        None => head_of(&row)?,
                    };
                    let tail = match tail {
                        Some(tail) => tail,
                        None => tail_of(latest.clone())?,
                    };
                    let item = Item {
                        row,
                        head,
                        latest,
                        tail,
                    };
                    changed.push(item.clone());
                    item
                }
            };
            written.push(item);
        }
        self.keep(changed, whole.then_some(&written));

        let size: usize = (written.iter())
            .map(|item| item.head.len() + item.tail.len() + 1)
            .sum();
        let mut body = Vec::with_capacity(size + 64);
        body.extend_from_slice(b"{\"items\":[");
        for (i, item) in written.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&item.head);
            body.extend_from_slice(&item.tail);
        }
        body.extend_from_slice(b"],\"next_cursor\":");
        serde_json::to_writer(&mut body, &page.next_cursor).map_err(|error| writing(&error))?;
        body.push(b'}');
        Ok(body)
    }

    /// Keeps the parts written anew; after a whole listing, only those of the schedules on it.
    fn keep(&self, changed: Vec<Item>, listed: Option<&Vec<Item>>) {
        let mut by_id = lock(&self.by_id);
        if let Some(listed) = listed {
            let ids: HashSet<&str> = listed.iter().map(|item| item.row.id.as_str()).collect();
            by_id.retain(|id, _| ids.contains(id.as_str()));
        } else if by_id.len() + changed.len() > MAX_KEPT {
            by_id.clear();
        }
        for item in changed {
            by_id.insert(item.row.id.clone(), item);
        }
    }

    /// Forgets a deleted schedule.
    pub(super) fn forget(&self, id: &str) {
        lock(&self.by_id).remove(id);
    }
}

/// A schedule's item up to its newest execution's value.
fn head_of(row: &StoredSchedule) -> Result<Part, ExecutorError> {
    let schedule = row.parse().map_err(SchedulerError::from)?;
    let mut json =
        serde_json::to_vec(&ScheduleDto::new(schedule, None)).map_err(|error| writing(&error))?;
    if !json.ends_with(NO_EXECUTION_TAIL) {
        return Err(ExecutorError::Internal(
            "a listed schedule's JSON does not end with its newest execution".into(),
        ));
    }
    json.truncate(json.len() - NO_EXECUTION_TAIL.len());
    Ok(json.into())
}

/// The rest of an item: its newest execution's value and the closing brace.
fn tail_of(latest: Option<ExecutionSummary>) -> Result<Part, ExecutorError> {
    let mut json = Vec::with_capacity(SUMMARY_BYTES);
    serde_json::to_writer(&mut json, &latest.map(ExecutionSummaryDto::from))
        .map_err(|error| writing(&error))?;
    json.push(b'}');
    Ok(json.into())
}

/// About the JSON of a newest execution in short, reserved for it at once.
const SUMMARY_BYTES: usize = 320;

fn writing(error: &serde_json::Error) -> ExecutorError {
    ExecutorError::Internal(format!("listing schedules: {error}"))
}

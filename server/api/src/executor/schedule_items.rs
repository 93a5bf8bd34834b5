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
use nbgate_scheduler::{ExecutionSummary, Page, SchedulerError, StoredSchedule};

use super::ExecutorError;
use super::dto::{ExecutionSummaryDto, ScheduleDto};

/// A listed schedule as the API writes it: a [`ScheduleDto`] whose last field is `last_execution`.
/// Its JSON without that field's value is kept: written with `last_execution: null`, less this tail.
const NO_EXECUTION_TAIL: &[u8] = b"null}";

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
    /// The JSON of a page (a `PageDto` of `ScheduleDto`s) of the schedules named after `after`
    /// (all from the first without it), from the parts kept for unchanged rows and newest
    /// executions and new ones for the others.
    pub(super) fn write_page(
        &self,
        page: Page<(StoredSchedule, Option<ExecutionSummary>)>,
        after: Option<&str>,
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
        // The page covers the names after `after`, up to its last one unless it is the last page.
        let last = (page.next_cursor.is_some())
            .then(|| written.last().map(|item| item.row.name.as_str()))
            .flatten();
        self.keep(changed, &written, (after, last));

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

    /// Keeps the parts written anew, and forgets the schedules the page's names would have listed
    /// but did not (deleted, or renamed out of it): what is kept is bounded by the schedules there
    /// are, however they are paged through.
    fn keep(
        &self,
        changed: Vec<Item>,
        listed: &[Item],
        (after, last): (Option<&str>, Option<&str>),
    ) {
        let covered = |name: &str| {
            after.is_none_or(|after| name > after) && last.is_none_or(|last| name <= last)
        };
        let ids: HashSet<&str> = listed.iter().map(|item| item.row.id.as_str()).collect();
        let mut by_id = lock(&self.by_id);
        by_id.retain(|id, item| !covered(&item.row.name) || ids.contains(id.as_str()));
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

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use nbgate_scheduler::{
        CellProgress, ExecutionStatus, Recurrence, RunHistory, Schedule, ScheduleSpec, SqliteStore,
        Store,
    };

    use super::*;
    use crate::executor::dto::PageDto;

    fn schedule(name: &str) -> Schedule {
        let at = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("time");
        let mut spec = ScheduleSpec::new(
            name,
            "report.ipynb",
            Recurrence::Cron("0 10 * * *".into()),
            "Asia/Tokyo",
        );
        spec.parameters
            .insert("label".into(), "quote \" and é".into());
        Schedule {
            id: format!("id-{name}"),
            spec,
            next_run: Some(at),
            last_fire: None,
            description: String::new(),
            snapshot_hash: None,
            created_at: at,
            updated_at: at,
        }
    }

    fn running(id: &str, cell: usize) -> ExecutionSummary {
        let at = Utc
            .with_ymd_and_hms(2026, 1, 2, 10, 0, 0)
            .single()
            .expect("time");
        ExecutionSummary {
            id: id.into(),
            name: format!("run {id}"),
            status: ExecutionStatus::Running,
            reason: None,
            fire_time: Some(at),
            created_at: at,
            started_at: Some(at),
            ended_at: None,
            progress: Some(CellProgress { cell, total: 3 }),
            error: None,
        }
    }

    /// A page as the store lists it, `latest` giving each schedule's newest execution by name.
    fn page(
        store: &SqliteStore,
        after: Option<&str>,
        limit: usize,
        latest: &dyn Fn(&str) -> Option<ExecutionSummary>,
    ) -> Page<(StoredSchedule, Option<ExecutionSummary>)> {
        let mut rows = store
            .list_schedules_with_latest(after, limit + 1)
            .expect("list");
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = more.then(|| "next".to_owned());
        let items = (rows.into_iter())
            .map(|(row, _)| {
                let newest = latest(&row.name);
                (row, newest)
            })
            .collect();
        Page { items, next_cursor }
    }

    /// What serde writes for the same page, item by item from the parsed schedules.
    fn expected(page: &Page<(StoredSchedule, Option<ExecutionSummary>)>) -> Vec<u8> {
        let items = (page.items.iter())
            .map(|(row, latest)| ScheduleDto::new(row.parse().expect("parse"), latest.clone()))
            .collect();
        let page = PageDto {
            items,
            next_cursor: page.next_cursor.clone(),
        };
        serde_json::to_vec(&page).expect("JSON")
    }

    fn kept(items: &ScheduleItems) -> Vec<String> {
        let mut ids: Vec<String> = lock(&items.by_id).keys().cloned().collect();
        ids.sort();
        ids
    }

    #[test]
    fn a_page_put_together_from_kept_parts_is_what_serde_writes() {
        let store = SqliteStore::in_memory().expect("store");
        for name in ["a", "b", "c"] {
            store.insert_schedule(&schedule(name)).expect("insert");
        }
        let items = ScheduleItems::default();
        for round in 0..4 {
            // b's run goes on a cell each round; a's row changes in round 2.
            if round == 2 {
                let mut edited = schedule("a");
                edited.spec.notebook = "other.ipynb".into();
                store.update_schedule(&edited).expect("update");
            }
            let latest = |name: &str| (name == "b").then(|| running("r1", round));
            let listed = page(&store, None, 10, &latest);
            let want = expected(&listed);
            let got = items.write_page(listed, None).expect("written");
            assert_eq!(
                String::from_utf8(got).expect("UTF-8"),
                String::from_utf8(want).expect("UTF-8")
            );
        }
        let listed = page(&store, None, 2, &|_| None);
        let want = expected(&listed);
        assert_eq!(items.write_page(listed, None).expect("written"), want);
    }

    #[test]
    fn what_is_kept_is_only_of_schedules_still_there() {
        let store = SqliteStore::in_memory().expect("store");
        for name in ["a", "b", "c", "d", "e"] {
            store.insert_schedule(&schedule(name)).expect("insert");
        }
        let items = ScheduleItems::default();
        let none = |_: &str| None;
        items
            .write_page(page(&store, None, 10, &none), None)
            .expect("all");
        assert_eq!(kept(&items), ["id-a", "id-b", "id-c", "id-d", "id-e"]);

        let at = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("time");
        for gone in ["id-b", "id-d"] {
            store
                .delete_schedule(gone, RunHistory::Delete, at)
                .expect("delete");
        }
        // A page from the first to c forgets b, not d (beyond it) ...
        items
            .write_page(page(&store, None, 2, &none), None)
            .expect("first page");
        assert_eq!(kept(&items), ["id-a", "id-c", "id-d", "id-e"]);
        // ... which the last page, the names after c, does.
        items
            .write_page(page(&store, Some("c"), 2, &none), Some("c"))
            .expect("last page");
        assert_eq!(kept(&items), ["id-a", "id-c", "id-e"]);
    }
}

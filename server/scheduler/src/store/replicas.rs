//! What several replicas sharing one store need from it, on both backends: claims of queued
//! executions (within each schedule's `max_concurrent`, decided in the claiming transaction, so two
//! replicas never exceed it together) and leases on running ones, renewed by their replica's
//! heartbeat and ended by any replica once expired. SQLite (one process) runs the same statements.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::model::{Execution, ExecutionStatus, Schedule};

/// Claims, leases and lost executions. Part of [`super::Store`]; every method is one transaction.
pub trait Replicas {
    /// Claims queued executions ready at `claim.now`, oldest first, reading one page of
    /// `claim.page` of them after the position `claim.after`: each is set `running`, started now,
    /// by `claim.replica`, leased until `claim.lease_until`, unless its schedule already runs its
    /// `max_concurrent` (counted in the store across replicas, under the schedule's row lock on
    /// PostgreSQL) or `accept` refuses it (this replica's own limits). At most `claim.want`. On
    /// PostgreSQL the rows are locked `FOR UPDATE SKIP LOCKED`: replicas claiming at once take
    /// different rows instead of queueing behind each other.
    fn claim_executions(
        &self,
        claim: &Claim,
        accept: &mut dyn FnMut(&Execution) -> bool,
    ) -> StoreResult<ClaimPage>;
    /// Extends to `until` the leases of `replica`'s running executions among `ids` (one
    /// statement); returns the ids renewed (the others ended, or were found lost by a replica).
    fn renew_leases(
        &self,
        replica: &str,
        ids: &[String],
        until: DateTime<Utc>,
    ) -> StoreResult<Vec<String>>;
    /// Ends every running execution whose lease expired before `now` (its replica stopped renewing
    /// it: killed, or cut off from the store) with what `end` makes of it (the ended row and its
    /// retry, if any), each exactly once however many replicas do this at once (row locks; the
    /// lease re-checked). Executions without a lease (started before leases existed) are left to
    /// their replica's recovery at start. Returns what was written.
    fn end_expired_leases(
        &self,
        now: DateTime<Utc>,
        end: &mut dyn FnMut(&Execution) -> (Execution, Option<Execution>),
    ) -> StoreResult<Vec<(Execution, Option<Execution>)>>;
}

/// What [`Replicas::claim_executions`] claims.
#[derive(Debug, Clone)]
pub struct Claim {
    pub replica: String,
    pub now: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
    /// Queued executions after this listing position (the previous page's last).
    pub after: Option<i64>,
    /// Queued executions read.
    pub page: usize,
    /// Most executions claimed (this replica's free slots).
    pub want: usize,
}

/// One page of a claim.
#[derive(Debug, Clone, Default)]
pub struct ClaimPage {
    /// Now running on the claiming replica.
    pub claimed: Vec<Execution>,
    /// The position of the last execution read, for the next page.
    pub last: Option<i64>,
    /// The page was full: more may be ready after `last`.
    pub more: bool,
}

/// Migration 11: the lease of a running execution (milliseconds; NULL when none), and at most one
/// first attempt per fire time of a schedule among the fires the loop records (`fired`, set by
/// `record_fire_batch` only: backfills and reruns repeat fire times on purpose).
pub(crate) const MIGRATION: &str = "ALTER TABLE executions ADD COLUMN lease_until BIGINT;
    ALTER TABLE executions ADD COLUMN fired INTEGER;
    CREATE INDEX executions_lease ON executions (status, lease_until);
    CREATE UNIQUE INDEX executions_one_fire ON executions (schedule_id, fire_time)
        WHERE fired = 1 AND attempt = 1;";

/// After `record_fire_batch` inserted the batch's executions (listing positions `?1` to `?2`,
/// excluded): drops a first attempt whose fire time of its schedule was recorded already (a
/// schedule's `next_fire` moved back by an edit on a replica whose clock is behind), so that fire
/// time runs once, and [`MARK_FIRED`] marks the others. Returns the ids dropped.
pub(crate) const DROP_REFIRED: &str = "DELETE FROM executions WHERE seq >= ?1 AND seq < ?2 \
    AND attempt = 1 AND fire_time IS NOT NULL AND EXISTS (SELECT 1 FROM executions o \
    WHERE o.schedule_id = executions.schedule_id AND o.fire_time = executions.fire_time \
    AND o.fired = 1 AND o.attempt = 1) RETURNING id";
/// See [`DROP_REFIRED`]: the batch's executions marked as the loop's fires (`executions_one_fire`).
pub(crate) const MARK_FIRED: &str = "UPDATE executions SET fired = 1 WHERE seq >= ?1 AND seq < ?2";

/// The reason of an execution whose replica's lease expired.
pub fn lost_reason(replica: Option<&str>) -> String {
    format!("replica {} lost", replica.unwrap_or("(unknown)"))
}

/// Running counts and limits of the schedules of one claim page.
pub(crate) struct Slots(HashMap<String, (u32, u32)>);

impl Slots {
    /// `schedules` (locked by the caller where rows lock) with their running counts; a schedule
    /// gone meanwhile runs one at a time.
    pub fn new(schedules: &[Schedule], running: &HashMap<String, u32>) -> Slots {
        Slots(
            schedules
                .iter()
                .map(|s| {
                    let count = running.get(&s.id).copied().unwrap_or(0);
                    (s.id.clone(), (s.spec.max_concurrent.max(1), count))
                })
                .collect(),
        )
    }

    /// Picks from `candidates` (queued, in order) what may run, marking each running.
    pub fn pick(
        &mut self,
        candidates: Vec<Execution>,
        claim: &Claim,
        accept: &mut dyn FnMut(&Execution) -> bool,
    ) -> Vec<Execution> {
        let mut claimed = Vec::new();
        for mut execution in candidates {
            if claimed.len() >= claim.want {
                break;
            }
            let slot = match &execution.schedule_id {
                Some(id) => Some(self.0.entry(id.clone()).or_insert((1, 0))),
                None => None,
            };
            if slot
                .as_ref()
                .is_some_and(|(limit, running)| running >= limit)
            {
                continue;
            }
            if !accept(&execution) {
                continue;
            }
            if let Some((_, running)) = slot {
                *running += 1;
            }
            execution.status = ExecutionStatus::Running;
            execution.started_at = Some(claim.now);
            execution.replica = Some(claim.replica.clone());
            claimed.push(execution);
        }
        claimed
    }
}

//! Pipelines: schedules that run after others, with values passed as parameters.
//!
//! - A schedule's recurrence may be [`Recurrence::After`]: it has no time of its own and fires once
//!   every listed upstream has ended as `on` says since it last fired (fan-in). When an
//!   execution's final attempt ends, [`ended`] offers its end to each dependant
//!   ([`Store::chain_end`](crate::store::Store::chain_end): the end waits in `pipeline_ends` until
//!   the dependant's other upstreams have ended; deciding and inserting the dependant's execution is
//!   one transaction, and an end is handled once per dependant, so recovery after a crash
//!   ([`recover`]) cannot run a step twice). An upstream that did not end as `on: success` (or
//!   `completion`) asks records the dependant `skipped` with the reason, and that skip travels down
//!   the chain. Executions of one chain share `run_id`, the first one's id.
//! - `parameters_from` and `fire_time_parameter` are copied into each execution's
//!   [`PipelineRun`] and resolved when it starts ([`refs::resolve`]): a reference with no value
//!   fails the run with the reason, never a default.
//! - `ops`: backfill, sweeps, rerun, a chain's executions, delete with dependants.

mod ops;
pub(crate) mod refs;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use self::ops::SweepRow;
pub use self::refs::Reference;
use crate::context::{Ctx, execution_name, unique_name};
use crate::engine::scheduled_draft;
use crate::error::StoreError;
use crate::model::{
    After, AfterOn, Execution, ExecutionStatus, PipelineRun, Recurrence, Schedule, ScheduleSpec,
};
use crate::store::{ChainEnd, ChainStep, Grouping, Store};

/// "After prepare_data succeeds", "After a and b end".
pub fn describe_after(after: &After) -> String {
    let names = match after.schedules.as_slice() {
        [] => String::from("nothing"),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    };
    let plural = after.schedules.len() > 1;
    let verb = match (after.on, plural) {
        (AfterOn::Success, false) => "succeeds",
        (AfterOn::Success, true) => "succeed",
        (AfterOn::Failure, false) => "fails",
        (AfterOn::Failure, true) => "fail",
        (AfterOn::Completion, false) => "ends",
        (AfterOn::Completion, true) => "end",
    };
    format!("After {names} {verb}")
}

/// The upstream names of a schedule that runs after others.
pub(crate) fn upstreams(spec: &ScheduleSpec) -> &[String] {
    match &spec.recurrence {
        Recurrence::After(after) => &after.schedules,
        _ => &[],
    }
}

/// What an execution of `spec` carries into its run (`None` when nothing).
pub(crate) fn run_config(spec: &ScheduleSpec) -> Option<PipelineRun> {
    if spec.parameters_from.is_empty() && spec.fire_time_parameter.is_none() {
        return None;
    }
    Some(PipelineRun {
        parameters_from: spec.parameters_from.clone(),
        fire_time_parameter: spec.fire_time_parameter.clone(),
        fire_time_format: spec.fire_time_format.clone(),
        timezone: spec.timezone.clone(),
        ..PipelineRun::default()
    })
}

/// The schedules that run after the one named `name`.
pub(crate) fn dependants<'a>(schedules: &'a [Schedule], name: &str) -> Vec<&'a Schedule> {
    schedules
        .iter()
        .filter(|s| upstreams(&s.spec).iter().any(|u| u == name))
        .collect()
}

/// Whether this end is the last word of its execution (no retry follows it).
fn is_final(execution: &Execution) -> bool {
    match execution.status {
        ExecutionStatus::Succeeded | ExecutionStatus::Skipped | ExecutionStatus::Cancelled => true,
        ExecutionStatus::Failed | ExecutionStatus::TimedOut => {
            execution.attempt >= execution.max_attempts
        }
        ExecutionStatus::Queued | ExecutionStatus::Running => false,
    }
}

fn matches(status: ExecutionStatus, on: AfterOn) -> bool {
    match on {
        AfterOn::Success => status == ExecutionStatus::Succeeded,
        AfterOn::Failure => matches!(
            status,
            ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Cancelled
        ),
        AfterOn::Completion => status.is_terminal() && status != ExecutionStatus::Skipped,
    }
}

fn how(status: ExecutionStatus) -> &'static str {
    match status {
        ExecutionStatus::Succeeded => "succeeded",
        ExecutionStatus::Failed => "failed",
        ExecutionStatus::TimedOut => "timed out",
        ExecutionStatus::Cancelled => "was cancelled",
        ExecutionStatus::Skipped => "was skipped",
        ExecutionStatus::Queued | ExecutionStatus::Running => "has not ended",
    }
}

/// An execution's final end was written: fires (or skips) the schedules that run after it, and
/// carries skips down the chain.
pub(crate) async fn ended(ctx: &Arc<Ctx>, execution: &Execution) {
    if !is_final(execution) {
        return;
    }
    let mut queue = vec![execution.clone()];
    while let Some(done) = queue.pop() {
        match offer(ctx, &done).await {
            Ok(made) => {
                for execution in made {
                    // A new execution: `created`, so that a list follows it in (not `status`,
                    // which only moves an execution it already lists).
                    ctx.events.created(&execution);
                    if execution.status == ExecutionStatus::Skipped {
                        queue.push(execution);
                    }
                }
            }
            Err(error) => {
                tracing::error!(execution = %done.id, %error, "cannot fire the schedules after it")
            }
        }
    }
    ctx.wake.notify_one();
}

/// Offers `done`'s end to every dependant of its schedule; returns the executions made.
async fn offer(ctx: &Arc<Ctx>, done: &Execution) -> Result<Vec<Execution>, StoreError> {
    let (Some(_), Some(upstream)) = (&done.schedule_id, done.schedule_name.clone()) else {
        return Ok(Vec::new());
    };
    if done.run.pipeline.as_ref().is_some_and(|p| p.no_downstream) {
        return Ok(Vec::new());
    }
    let done = done.clone();
    let now = ctx.now();
    let _naming = ctx.naming.lock().await;
    ctx.db
        .call(move |store| {
            let schedules = store.list_schedules()?;
            let mut made = Vec::new();
            for dependant in dependants(&schedules, &upstream) {
                if done.ended_at.is_some_and(|end| dependant.updated_at > end) {
                    continue; // changed after this end: it waits for the next one
                }
                if let Some(execution) = offer_one(store, dependant, &upstream, &done, now)? {
                    made.push(execution);
                }
            }
            Ok(made)
        })
        .await
}

fn offer_one(
    store: &dyn Store,
    dependant: &Schedule,
    upstream: &str,
    done: &Execution,
    now: DateTime<Utc>,
) -> Result<Option<Execution>, StoreError> {
    let Recurrence::After(after) = &dependant.spec.recurrence else {
        return Ok(None);
    };
    let end = ChainEnd {
        upstream: upstream.to_owned(),
        execution_id: done.id.clone(),
        status: done.status,
        run_id: done.run_id.clone(),
        fire_time: done.fire_time,
    };
    // The other upstreams' ends in the same chain, for a rerun whose partners were used already.
    let context = match &done.run_id {
        Some(run_id) if after.schedules.len() > 1 => {
            let chain = store.grouped_executions(Grouping::Run, run_id)?;
            after
                .schedules
                .iter()
                .filter(|name| *name != upstream)
                .filter_map(|name| {
                    chain
                        .iter()
                        .rev()
                        .find(|e| e.schedule_name.as_deref() == Some(name) && is_final(e))
                        .map(|e| ChainEnd {
                            upstream: name.clone(),
                            execution_id: e.id.clone(),
                            status: e.status,
                            run_id: e.run_id.clone(),
                            fire_time: e.fire_time,
                        })
                })
                .collect()
        }
        _ => Vec::new(),
    };
    let name = unique_name(store, execution_name(&dependant.spec.name, now), |_| false)?;
    let mut decide = |ends: &[ChainEnd]| decide(dependant, after, ends, name.clone(), now);
    let step = store.chain_end(
        &dependant.id,
        &end,
        &after.schedules,
        &context,
        &mut decide,
        now,
    )?;
    Ok(match step {
        ChainStep::Decided(made) => made.map(|execution| *execution),
        ChainStep::AlreadyHandled | ChainStep::Waiting => None,
    })
}

/// What a dependant makes of its upstreams' ends: a queued execution, a skipped one with the
/// reason, or nothing (paused, or `on: failure` and not every upstream failed).
fn decide(
    dependant: &Schedule,
    after: &After,
    ends: &[ChainEnd],
    name: String,
    now: DateTime<Utc>,
) -> Option<Execution> {
    if dependant.spec.paused {
        return None;
    }
    let unmet = ends.iter().find(|end| !matches(end.status, after.on));
    if unmet.is_some() && after.on == AfterOn::Failure {
        return None;
    }
    let first = ends.first()?;
    let mut execution = scheduled_draft(dependant, name, first.fire_time).queued(now);
    execution.run_id = first.run_id.clone().or(execution.run_id);
    let upstreams: BTreeMap<String, String> = ends
        .iter()
        .map(|end| (end.upstream.clone(), end.execution_id.clone()))
        .collect();
    execution
        .run
        .pipeline
        .get_or_insert_with(PipelineRun::default)
        .upstreams = upstreams;
    if let Some(end) = unmet {
        execution.status = ExecutionStatus::Skipped;
        execution.reason = Some(format!("upstream {} {}", end.upstream, how(end.status)));
        execution.ended_at = Some(now);
    }
    Some(execution)
}

/// At start: the latest final end of each upstream of each dependant that was not offered to it
/// (nbgate stopped between writing the end and firing the dependant) is offered now.
pub(crate) async fn recover(ctx: &Arc<Ctx>) -> Result<(), StoreError> {
    let pending = ctx
        .db
        .call(|store| {
            let schedules = store.list_schedules()?;
            let mut pending: Vec<Execution> = Vec::new();
            for dependant in &schedules {
                for name in upstreams(&dependant.spec) {
                    let Some(upstream) = schedules.iter().find(|s| &s.spec.name == name) else {
                        continue;
                    };
                    let latest = store
                        .schedule_executions(&upstream.id)?
                        .into_iter()
                        .find(|e| e.status.is_terminal());
                    let Some(latest) = latest else { continue };
                    let after_change = latest
                        .ended_at
                        .is_some_and(|end| end >= dependant.updated_at);
                    if is_final(&latest)
                        && after_change
                        && !store.chain_end_handled(&dependant.id, &latest.id)?
                        && !pending.iter().any(|p| p.id == latest.id)
                    {
                        pending.push(latest);
                    }
                }
            }
            Ok(pending)
        })
        .await?;
    for execution in pending {
        tracing::warn!(execution = %execution.name, "firing the schedules after it (nbgate stopped before it did)");
        ended(ctx, &execution).await;
    }
    Ok(())
}

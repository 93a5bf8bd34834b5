//! The scheduler loop: fire the schedules that are due, start the queued executions that may start,
//! then sleep until the next fire or retry back-off — or until the store changes or a worker ends
//! (`Ctx::wake`). It never polls. Also the recovery done once at start.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::{Clock, until};
use crate::context::{
    Ctx, Draft, Running, STOPPED_DURING_RUN, execution_name, output_path, retry_of, unique_name,
};
use crate::error::StoreError;
use crate::model::{Execution, ExecutionStatus, Overlap, RunConfig, Schedule};
use crate::store::Store;
use crate::timing::Timing;
use crate::worker;

/// Due schedules handled per store round trip.
const FIRE_BATCH: usize = 256;
/// Queued executions looked at per dispatch.
const DISPATCH_BATCH: usize = 512;
/// After a store error, wait this long before trying again (the error is logged).
const ERROR_BACKOFF: Duration = Duration::from_secs(1);

pub(crate) async fn run_loop(ctx: Arc<Ctx>) {
    loop {
        let now = ctx.now();
        let step = async {
            fire_due(&ctx, now).await?;
            dispatch(&ctx, now).await?;
            next_deadline(&ctx, now).await
        };
        let sleep = match step.await {
            Ok(Some(deadline)) => until(ctx.now(), deadline),
            Ok(None) => Duration::MAX,
            Err(error) => {
                tracing::error!(%error, "scheduler loop: store error");
                ERROR_BACKOFF
            }
        };
        let timer = async {
            match sleep {
                Duration::MAX => std::future::pending().await,
                sleep => tokio::time::sleep(sleep).await,
            }
        };
        tokio::select! {
            () = timer => {}
            () = ctx.wake.notified() => {}
            () = ctx.shutdown.cancelled() => return,
        }
    }
}

async fn next_deadline(ctx: &Ctx, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, StoreError> {
    let (fire, ready) = ctx
        .db
        .call(move |store| Ok((store.next_fire()?, store.next_ready_after(now)?)))
        .await?;
    Ok([fire, ready].into_iter().flatten().min())
}

/// Fires every due schedule. A batch of due schedules is decided and recorded in one store call (one
/// trip to the blocking pool, not three per schedule): with thousands of schedules due in the same
/// second, the last one's lateness is the batch's store work, not as many thread hand-offs.
async fn fire_due(ctx: &Ctx, now: DateTime<Utc>) -> Result<(), StoreError> {
    loop {
        let clock = ctx.clock.clone();
        let naming = ctx.naming.lock().await;
        let (fired, full) = ctx
            .db
            .call(move |store| {
                let due = store.due_schedules(now, FIRE_BATCH)?;
                let full = due.len() == FIRE_BATCH;
                let mut fired = Vec::with_capacity(due.len());
                for schedule in due {
                    fired.extend(fire_schedule(store, &*clock, schedule, now)?);
                }
                Ok((fired, full))
            })
            .await?;
        drop(naming);
        for (schedule_id, executions, retention) in fired {
            for execution in &executions {
                let reason = execution.reason.as_deref();
                ctx.events.status(&execution.id, execution.status, reason);
            }
            // Only schedules that keep the last N executions have anything to prune.
            if retention
                && executions
                    .iter()
                    .any(|e| e.status == ExecutionStatus::Skipped)
            {
                worker::apply_retention(ctx, &schedule_id).await;
            }
        }
        if !full {
            return Ok(());
        }
    }
}

/// Handles every fire time of `schedule` due at `now`, in one store transaction; returns the
/// schedule's id, the executions recorded and whether it has a retention limit (`None` when nothing
/// was recorded: paused or edited meanwhile).
fn fire_schedule(
    store: &dyn Store,
    clock: &dyn Clock,
    schedule: Schedule,
    now: DateTime<Utc>,
) -> Result<Option<(String, Vec<Execution>, bool)>, StoreError> {
    let Some(expected) = schedule.next_run else {
        return Ok(None);
    };
    let spec = &schedule.spec;
    let timing = match Timing::new(&spec.recurrence, &spec.timezone) {
        Ok(timing) => timing,
        Err(error) => {
            // Only a store edited by hand gets here: stop firing it rather than loop on it.
            tracing::error!(schedule = %spec.name, %error, "invalid schedule in the store; not firing it");
            store.record_fires(&schedule.id, expected, None, None, &[])?;
            return Ok(None);
        }
    };
    let fires = timing.fires_due(expected, now, spec.catchup);
    let next = timing.next_after(now);
    let active = store.active_count(&schedule.id)?;
    let tz = crate::timing::parse_timezone(&spec.timezone).unwrap_or(chrono_tz::UTC);
    // The overlap policy applies to the fire (or catch-up batch) as a whole: a batch that may run
    // is queued entirely and runs `max_concurrent` at a time.
    let skip = spec.overlap == Overlap::Skip && active >= spec.max_concurrent;
    // When this fire is actually handled, not when the step began: with many schedules due at once,
    // `created_at - fire_time` is then each fire's true lateness (bench/scheduler_scale.py lateness).
    let at = clock.now();
    let mut executions: Vec<Execution> = Vec::new();
    for fire in &fires {
        let taken: Vec<String> = executions.iter().map(|e| e.name.clone()).collect();
        let name = unique_name(store, execution_name(&spec.name, *fire, tz), &taken)?;
        let mut execution = scheduled_draft(&schedule, name, Some(*fire)).queued(at);
        if skip {
            execution.status = ExecutionStatus::Skipped;
            execution.ended_at = Some(at);
            execution.reason = Some(format!(
                "{active} execution(s) of this schedule already queued or running \
                 (max_concurrent {}, overlap skip)",
                spec.max_concurrent
            ));
        }
        executions.push(execution);
    }
    if fires.is_empty() {
        tracing::info!(schedule = %spec.name, missed_since = %expected, "missed fires dropped (catchup skip)");
    }
    let last = fires.last().copied().or(Some(expected));
    let recorded = store.record_fires(&schedule.id, expected, next, last, &executions)?;
    let retention = spec.retention.is_some();
    Ok(recorded.then_some((schedule.id, executions, retention)))
}

/// A new execution of `schedule` (a fire, or run now with `fire_time` `None`).
pub(crate) fn scheduled_draft(
    schedule: &Schedule,
    name: String,
    fire_time: Option<DateTime<Utc>>,
) -> Draft {
    let spec = &schedule.spec;
    Draft {
        output_path: output_path(&spec.output_dir, &spec.name, &name),
        name,
        schedule_id: Some(schedule.id.clone()),
        notebook: spec.notebook.clone(),
        parameters: spec.parameters.clone(),
        kernel: spec.kernel.clone(),
        max_attempts: spec.retries.saturating_add(1),
        fire_time,
        run: RunConfig {
            timeout: spec.timeout,
            cell_timeout: spec.cell_timeout,
            retry_delay: spec.retry_delay,
            snapshot: spec.input == crate::model::InputMode::Snapshot,
        },
    }
}

/// Starts queued executions that are ready, within the global and per-schedule limits.
async fn dispatch(ctx: &Arc<Ctx>, now: DateTime<Utc>) -> Result<(), StoreError> {
    if ctx.running().len() >= ctx.concurrency {
        return Ok(());
    }
    let ready = ctx
        .db
        .call(move |store| store.ready_executions(now, DISPATCH_BATCH))
        .await?;
    let mut limits: HashMap<String, u32> = HashMap::new();
    for mut execution in ready {
        if ctx.running().len() >= ctx.concurrency {
            break;
        }
        if let Some(schedule_id) = execution.schedule_id.clone() {
            let limit = match limits.get(&schedule_id) {
                Some(limit) => *limit,
                None => {
                    let id = schedule_id.clone();
                    let schedule = ctx.db.call(move |store| store.get_schedule(&id)).await?;
                    let limit = schedule.map_or(1, |s| s.spec.max_concurrent.max(1));
                    limits.insert(schedule_id.clone(), limit);
                    limit
                }
            };
            let running = ctx
                .running()
                .values()
                .filter(|r| r.schedule_id.as_deref() == Some(&schedule_id))
                .count();
            if running as u32 >= limit {
                continue;
            }
        }
        execution.status = ExecutionStatus::Running;
        execution.started_at = Some(now);
        let row = execution.clone();
        let started = ctx
            .db
            .call(move |store| store.update_execution_if(&row, ExecutionStatus::Queued))
            .await?;
        if !started {
            continue; // cancelled or deleted meanwhile
        }
        let cancel = ctx.shutdown.child_token();
        ctx.running().insert(
            execution.id.clone(),
            Running {
                schedule_id: execution.schedule_id.clone(),
                cancel: cancel.clone(),
                cause: None,
            },
        );
        ctx.events
            .status(&execution.id, ExecutionStatus::Running, None);
        ctx.tasks
            .spawn(worker::run_execution(ctx.clone(), execution, cancel));
    }
    Ok(())
}

/// At start: executions left `running` by a previous process are failed (their partial output
/// stays), and retried if attempts remain.
pub(crate) async fn recover(ctx: &Ctx) -> Result<usize, StoreError> {
    let now = ctx.now();
    let stale = ctx
        .db
        .call(|store| store.executions_with_status(ExecutionStatus::Running))
        .await?;
    let count = stale.len();
    for mut execution in stale {
        execution.status = ExecutionStatus::Failed;
        execution.reason = Some(STOPPED_DURING_RUN.into());
        execution.ended_at = Some(now);
        let retry = (execution.attempt < execution.max_attempts).then(|| retry_of(&execution, now));
        tracing::warn!(execution = %execution.name, retry = retry.is_some(), "{STOPPED_DURING_RUN}");
        ctx.db
            .call(move |store| {
                store.finish_execution(&execution, ExecutionStatus::Running, retry.as_ref())
            })
            .await?;
    }
    Ok(count)
}

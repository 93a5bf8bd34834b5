//! The scheduler loop: fire the schedules that are due, start the queued executions that may start,
//! then sleep until the next fire or retry back-off — or until the store changes or a worker ends
//! (`Ctx::wake`). It never polls. Also the recovery done once at start.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::{Clock, until};
use crate::context::{
    Ctx, Draft, Running, STOPPED_DURING_RUN, execution_name, output_path, retry_of, unique_name,
};
use crate::error::StoreError;
use crate::events::ScheduleChange;
use crate::lateness::LatenessRecorder;
use crate::model::{Execution, ExecutionStatus, Overlap, RunConfig, Schedule};
use crate::store::{Claim, Fires, FiresRecorded, Store};
use crate::timing::Timing;
use crate::worker;

/// Due schedules handled per store round trip (and transaction).
const FIRE_BATCH: usize = 256;
/// A batch stops taking schedules once it holds this many executions (catch-up `all` makes up to
/// [`crate::timing::MAX_CATCHUP`] per schedule).
const FIRE_BATCH_ROWS: usize = 4096;
/// Queued executions read per page while slots are free.
const DISPATCH_PAGE: usize = 64;
/// After a store error, wait this long before trying again (the error is logged).
const ERROR_BACKOFF: Duration = Duration::from_secs(1);

pub(crate) async fn run_loop(ctx: Arc<Ctx>) {
    loop {
        let now = ctx.now();
        let step = async {
            fire_due(&ctx, now).await?;
            dispatch(&ctx).await?;
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

/// Fires every due schedule. A batch of due schedules is decided in one store call (one trip to the
/// blocking pool) and recorded in one transaction (one commit, not one per schedule): with thousands of
/// schedules due in the same second, the last one's lateness is the batch's store work.
async fn fire_due(ctx: &Arc<Ctx>, now: DateTime<Utc>) -> Result<(), StoreError> {
    loop {
        let shared = ctx.clone();
        let naming = ctx.naming.lock().await;
        let (batch, full) = ctx
            .db
            .call(move |store| fire_batch(store, &*shared.clock, &shared.lateness, now))
            .await?;
        drop(naming);
        for fired in batch {
            for execution in &fired.fires.executions {
                ctx.events.created(execution);
            }
            let schedule_id = &fired.fires.schedule_id;
            ctx.events.schedule(schedule_id, ScheduleChange::Updated);
            // Only schedules that keep the last N executions have anything to prune.
            if fired.retention
                && fired
                    .fires
                    .executions
                    .iter()
                    .any(|e| e.status == ExecutionStatus::Skipped)
            {
                worker::apply_retention(ctx, &fired.fires.schedule_id).await;
            }
        }
        if !full {
            return Ok(());
        }
    }
}

/// One schedule's fires, decided.
struct Fired {
    fires: Fires,
    /// The schedule keeps only its last N executions.
    retention: bool,
}

/// Decides and records the fires of up to [`FIRE_BATCH`] due schedules (at most
/// [`FIRE_BATCH_ROWS`] executions); returns those recorded (not paused or edited meanwhile) and
/// whether more may be due. Each execution's `created_at` is the moment the batch is written; the
/// lateness histogram gets the moment it was committed.
fn fire_batch(
    store: &dyn Store,
    clock: &dyn Clock,
    lateness: &LatenessRecorder,
    now: DateTime<Utc>,
) -> Result<(Vec<Fired>, bool), StoreError> {
    let due = store.due_schedules(now, FIRE_BATCH)?;
    let mut full = due.len() == FIRE_BATCH;
    let mut batch: Vec<Fires> = Vec::with_capacity(due.len());
    let mut retentions: Vec<bool> = Vec::with_capacity(due.len());
    let mut names: HashSet<String> = HashSet::new();
    let mut rows = 0;
    for schedule in due {
        if rows >= FIRE_BATCH_ROWS {
            full = true; // the rest is reloaded by the next batch
            break;
        }
        let Some((fires, retention)) = decide_fires(store, schedule, now, &mut names)? else {
            continue;
        };
        rows += fires.executions.len();
        batch.push(fires);
        retentions.push(retention);
    }
    if batch.is_empty() {
        return Ok((Vec::new(), full));
    }
    let at = clock.now();
    for execution in batch.iter_mut().flat_map(|f| f.executions.iter_mut()) {
        execution.created_at = at;
        execution.ready_at = at;
        if execution.status == ExecutionStatus::Skipped {
            execution.ended_at = Some(at);
        }
    }
    let FiresRecorded { recorded, repeats } = store.record_fire_batch(&batch)?;
    let committed = clock.now();
    let batch: Vec<Fired> = batch
        .into_iter()
        .zip(retentions)
        .zip(recorded)
        .filter(|(_, recorded)| *recorded)
        .map(|((mut fires, retention), _)| {
            // A repeat of a fire time was not kept: nothing is announced or timed for it.
            if !repeats.is_empty() {
                fires.executions.retain(|e| !repeats.contains(&e.id));
            }
            Fired { fires, retention }
        })
        .collect();
    lateness.record(
        batch
            .iter()
            .flat_map(|f| &f.fires.executions)
            .filter_map(|e| e.fire_time)
            .map(|fire| seconds(committed - fire)),
    );
    Ok((batch, full))
}

fn seconds(duration: chrono::Duration) -> f64 {
    duration.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}

/// Decides every fire time of `schedule` due at `now`, per its catch-up and overlap policies, and
/// whether it has a retention limit (`None` when there is nothing to record). Names are unique in the
/// store and among `names`, the batch's.
fn decide_fires(
    store: &dyn Store,
    schedule: Schedule,
    now: DateTime<Utc>,
    names: &mut HashSet<String>,
) -> Result<Option<(Fires, bool)>, StoreError> {
    let Some(expected) = schedule.next_run else {
        return Ok(None);
    };
    let spec = &schedule.spec;
    let mut fires = Fires {
        schedule_id: schedule.id.clone(),
        expected,
        next_fire: None,
        last_fire: None,
        executions: Vec::new(),
    };
    let timing = match Timing::cached(&spec.recurrence, &spec.timezone) {
        Ok(timing) => timing,
        Err(error) => {
            // Only a store edited by hand gets here: stop firing it rather than loop on it.
            tracing::error!(schedule = %spec.name, %error, "invalid schedule in the store; not firing it");
            return Ok(Some((fires, false)));
        }
    };
    let due = timing.fires_due(expected, now, spec.catchup);
    fires.next_fire = timing.next_after(now);
    fires.last_fire = due.last().copied().or(Some(expected));
    if due.is_empty() {
        tracing::info!(schedule = %spec.name, missed_since = %expected, "missed fires dropped (catchup skip)");
    }
    let active = if due.is_empty() {
        0
    } else {
        store.active_count(&schedule.id)?
    };
    // The overlap policy applies to the fire (or catch-up batch) as a whole: a batch that may run
    // is queued entirely and runs `max_concurrent` at a time.
    let skip = spec.overlap == Overlap::Skip && active >= spec.max_concurrent;
    for fire in due {
        let base = execution_name(&spec.name, fire);
        let name = unique_name(store, base, |name| names.contains(name))?;
        names.insert(name.clone());
        // Times are stamped when the batch is written (`fire_batch`).
        let mut execution = scheduled_draft(&schedule, name, Some(fire)).queued(now);
        if skip {
            execution.status = ExecutionStatus::Skipped;
            execution.reason = Some(format!(
                "{active} execution(s) of this schedule already queued or running \
                 (max_concurrent {}, overlap skip)",
                spec.max_concurrent
            ));
        }
        fires.executions.push(execution);
    }
    Ok(Some((fires, spec.retention.is_some())))
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
        schedule_name: Some(spec.name.clone()),
        notebook: spec.notebook.clone(),
        parameters: spec.parameters.clone(),
        kernel: spec.kernel.clone(),
        machine_type: spec.machine_type.clone(),
        max_attempts: spec.retries.saturating_add(1),
        fire_time,
        run: RunConfig {
            timeout: spec.timeout,
            cell_timeout: spec.cell_timeout,
            retry_delay: spec.retry_delay,
            snapshot: spec.input == crate::model::InputMode::Snapshot,
            outputs: spec.outputs.clone(),
            expect: spec.expect.clone(),
            pipeline: crate::pipeline::run_config(spec),
        },
    }
}

/// Starts queued executions that are ready, within the global, per-schedule and per-machine-type
/// limits: claimed in the store a page at a time, only while slots are free (with thousands queued,
/// a worker ending costs the loop one short page, not the whole queue). A schedule's
/// `max_concurrent` is counted in the store, across replicas; a machine type's here (it is this
/// replica's configuration).
///
/// Each page is claimed at the time of its claim, not the loop's: firing a large batch first can
/// take longer than a lease, and a lease counted from before it would start out expired (another
/// replica would end the run as lost).
async fn dispatch(ctx: &Arc<Ctx>) -> Result<(), StoreError> {
    let mut after = None;
    loop {
        let free = ctx.concurrency.saturating_sub(ctx.running().len());
        if free == 0 {
            return Ok(());
        }
        let now = ctx.now();
        let claim = Claim {
            replica: ctx.replica.id.clone(),
            now,
            lease_until: now
                + chrono::Duration::from_std(ctx.replica.lease_timeout).unwrap_or_default(),
            after,
            page: DISPATCH_PAGE,
            want: free,
        };
        let mut per_type: HashMap<Option<String>, u32> = HashMap::new();
        for running in ctx.running().values() {
            *per_type.entry(running.machine_type.clone()).or_default() += 1;
        }
        let types = ctx.machine_types.clone();
        let page = ctx
            .db
            .call(move |store| {
                let mut accept = |execution: &Execution| {
                    let kind = execution.machine_type.clone();
                    let count = per_type.entry(kind).or_default();
                    let limit = crate::machine::limit(&types, execution.machine_type.as_deref());
                    let allowed = limit.is_none_or(|limit| *count < limit);
                    if allowed {
                        *count += 1;
                    }
                    allowed
                };
                store.claim_executions(&claim, &mut accept)
            })
            .await?;
        for execution in page.claimed {
            start(ctx, execution);
        }
        if !page.more {
            return Ok(());
        }
        after = page.last;
    }
}

/// Runs an execution this replica claimed.
fn start(ctx: &Arc<Ctx>, execution: Execution) {
    let cancel = ctx.shutdown.child_token();
    ctx.running().insert(
        execution.id.clone(),
        Running {
            schedule_id: execution.schedule_id.clone(),
            machine_type: execution.machine_type.clone(),
            cancel: cancel.clone(),
            cause: None,
            delete_output: false,
        },
    );
    ctx.events
        .status(&execution.id, ExecutionStatus::Running, None);
    ctx.tasks
        .spawn(worker::run_execution(ctx.clone(), execution, cancel));
}

/// At start: executions left `running` by a previous process are failed (their partial output
/// stays), and retried if attempts remain.
pub(crate) async fn recover(ctx: &Ctx) -> Result<usize, StoreError> {
    let now = ctx.now();
    let stale = ctx
        .db
        .call(|store| store.executions_with_status(ExecutionStatus::Running))
        .await?;
    // On a shared store the others' running executions are theirs to end.
    let stale: Vec<Execution> = stale
        .into_iter()
        .filter(|e| !ctx.replica.shared || e.replica.as_deref() == Some(&ctx.replica.id))
        .collect();
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

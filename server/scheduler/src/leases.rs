//! Leases, when replicas share the store (PostgreSQL): each running execution is leased by the
//! replica that claimed it (`lease_until`, set by the claim). This task is the replica's heartbeat:
//! every third of `--lease-timeout` it renews the leases of the executions it runs (one statement),
//! stops those whose lease another replica found expired (this replica was cut off from the
//! store), and ends the running executions of any replica whose lease expired — `failed`, "replica
//! X lost", retried by their policy as after a crash — each exactly once however many replicas
//! look at once (the store's row locks).
//!
//! A replica that could not reach the store waits one lease timeout after it is back before ending
//! others' executions: after an outage every lease has expired, and their replicas need one
//! heartbeat to renew them.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::context::{Ctx, StopCause, retry_of};
use crate::model::{Execution, ExecutionStatus};
use crate::store::lost_reason;

/// The shortest time between two heartbeats.
const MIN_BEAT: Duration = Duration::from_millis(100);

pub(crate) async fn run(ctx: Arc<Ctx>) {
    let timeout = ctx.replica.lease_timeout;
    let beat = (timeout / 3).max(MIN_BEAT);
    // Since when the store has answered every heartbeat; `None` after an error.
    let mut reachable_since = Some(
        Instant::now()
            .checked_sub(timeout)
            .unwrap_or_else(Instant::now),
    );
    loop {
        match heartbeat(&ctx).await {
            Ok(()) => {
                let since = *reachable_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= timeout
                    && let Err(error) = end_expired(&ctx).await
                {
                    // The store may have gone away: start counting again once it answers.
                    reachable_since = None;
                    tracing::warn!(%error, "cannot end executions whose lease expired");
                }
            }
            Err(error) => {
                reachable_since = None;
                tracing::warn!(%error, "cannot renew the leases of running executions");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(beat) => {}
            () = ctx.shutdown.cancelled() => return,
        }
    }
}

/// Renews this replica's leases; stops the runs whose lease is no longer this replica's.
async fn heartbeat(ctx: &Ctx) -> Result<(), crate::StoreError> {
    let ids: Vec<String> = ctx.running().keys().cloned().collect();
    if ids.is_empty() {
        return Ok(());
    }
    let (replica, until) = (ctx.replica.id.clone(), lease_until(ctx, ctx.now()));
    let asked = ids.clone();
    let renewed = ctx
        .db
        .call(move |store| store.renew_leases(&replica, &asked, until))
        .await?;
    let mut running = ctx.running();
    for id in ids.iter().filter(|id| !renewed.contains(id)) {
        // Ended meanwhile (gone from `running`), or ended by another replica: stop it.
        if let Some(run) = running.get_mut(id) {
            tracing::warn!(execution = %id, "lease lost: another replica ended this run");
            run.cause.get_or_insert(StopCause::LeaseLost);
            run.cancel.cancel();
        }
    }
    Ok(())
}

fn lease_until(ctx: &Ctx, now: DateTime<Utc>) -> DateTime<Utc> {
    now + chrono::Duration::from_std(ctx.replica.lease_timeout).unwrap_or_default()
}

/// Ends the executions whose lease expired, with their retries; then what a worker does after an
/// end (events, the schedules after it, the webhook, retention).
async fn end_expired(ctx: &Arc<Ctx>) -> Result<(), crate::StoreError> {
    let now = ctx.now();
    let ended = ctx
        .db
        .call(move |store| store.end_expired_leases(now, &mut |execution| lost(execution, now)))
        .await?;
    for (execution, retry) in ended {
        tracing::warn!(
            execution = %execution.name,
            retry = retry.is_some(),
            "{}",
            execution.reason.as_deref().unwrap_or_default()
        );
        ctx.events
            .status(&execution.id, execution.status, execution.reason.as_deref());
        match &retry {
            Some(retry) => ctx.events.created(retry),
            None => crate::pipeline::ended(ctx, &execution).await,
        }
        if let Some(schedule_id) = &execution.schedule_id {
            crate::worker::notify(ctx, schedule_id, &execution).await;
            crate::worker::apply_retention(ctx, schedule_id).await;
        }
    }
    ctx.wake.notify_one();
    Ok(())
}

/// A lost execution's end and its retry if attempts remain.
fn lost(execution: &Execution, now: DateTime<Utc>) -> (Execution, Option<Execution>) {
    let mut ended = execution.clone();
    ended.status = ExecutionStatus::Failed;
    ended.reason = Some(lost_reason(execution.replica.as_deref()));
    ended.ended_at = Some(now);
    let retry = (ended.attempt < ended.max_attempts).then(|| retry_of(&ended, now));
    (ended, retry)
}

//! One task per registered kernel: keeps the model fields current from iopub (any message is activity;
//! `status` sets `execution_state`) and revives a kernel that dies unexpectedly, as jupyter_client's
//! restarter does: announce `restarting`, restart, and after `restart_limit` deaths in a row, each
//! within [`STABLE_START`] of the last start, announce `dead` and leave it dead.

use std::sync::Weak;

use nbgate_kernel::{Channel, KernelEvent, KernelEvents, KernelState};
use serde::Deserialize;
use tokio::time::{Duration, Instant};

use super::{KernelEntry, Notice, now};

/// A kernel that lived this long counts as a stable start: its next death starts a fresh count.
pub const STABLE_START: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
struct Status {
    execution_state: String,
}

pub(crate) async fn supervise(entry: Weak<KernelEntry>, mut events: KernelEvents, limit: u32) {
    let mut started = Instant::now();
    let mut deaths = 0u32;
    let mut gave_up = false;
    while let Some(event) = events.recv().await {
        let Some(entry) = entry.upgrade() else {
            return;
        };
        match event {
            KernelEvent::Message {
                channel: Channel::IoPub,
                message,
            } => {
                let status = message
                    .routing()
                    .is_ok_and(|routing| routing.msg_type == "status")
                    .then(|| serde_json::from_slice::<Status>(&message.content).ok())
                    .flatten();
                entry.record(|activity| {
                    activity.last_activity = now();
                    if let Some(status) = status {
                        activity.execution_state = status.execution_state;
                    }
                });
            }
            KernelEvent::Restarting => entry.record(|a| a.execution_state = "restarting".into()),
            KernelEvent::Restarted => {
                started = Instant::now();
                gave_up = false;
                entry.record(|activity| {
                    activity.last_activity = now();
                    activity.execution_state = "idle".into();
                });
            }
            KernelEvent::Died { status } => {
                // Stale deaths (a failed attempt of a restart that later succeeded, or after giving
                // up) are ignored: only a kernel that is dead now is revived.
                if gave_up || !matches!(entry.kernel.state(), KernelState::Dead(_)) {
                    continue;
                }
                tracing::warn!(kernel = %entry.id(), %status, "kernel died; restarting it");
                deaths = if started.elapsed() < STABLE_START {
                    deaths + 1
                } else {
                    1
                };
                match revive(&entry, &mut deaths, limit).await {
                    Some(at) => started = at,
                    None => gave_up = true,
                }
            }
            KernelEvent::ShutDown => return,
            _ => {}
        }
    }
}

/// Restarts until one attempt works (its start time) or the deaths pass `limit` (`None`: dead).
async fn revive(entry: &KernelEntry, deaths: &mut u32, limit: u32) -> Option<Instant> {
    loop {
        if *deaths > limit {
            tracing::error!(kernel = %entry.id(), deaths, "kernel keeps dying; leaving it dead");
            entry.record(|activity| activity.execution_state = "dead".into());
            let _ = entry.notices.send(Notice::Dead);
            return None;
        }
        entry.record(|activity| activity.execution_state = "restarting".into());
        let _ = entry.notices.send(Notice::Restarting);
        match entry.kernel.restart().await {
            Ok(()) => {
                entry.record(|activity| {
                    activity.last_activity = now();
                    activity.execution_state = "idle".into();
                });
                return Some(Instant::now());
            }
            Err(nbgate_kernel::KernelError::Closed { .. }) => return None,
            Err(error) => {
                tracing::warn!(kernel = %entry.id(), %error, "restart failed");
                *deaths += 1;
            }
        }
    }
}

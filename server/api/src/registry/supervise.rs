//! One task per registered kernel: keeps the model fields current from iopub (any message is activity;
//! `status` sets `execution_state`) and revives a kernel that dies unexpectedly, as jupyter_client's
//! restarter does: announce `restarting`, restart, and after `restart_limit` deaths in a row, each
//! within [`STABLE_START`] of the last start, announce `dead` and leave it dead.

use std::sync::Weak;

use nbgate_kernel::{Channel, KernelEvent, KernelEvents, KernelState, RawMessage};
use serde::Deserialize;
use tokio::time::{Duration, Instant};

use super::{KernelEntry, Notice, now};

/// A kernel that lived this long counts as a stable start: its next death starts a fresh count.
pub const STABLE_START: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
struct Status {
    execution_state: String,
}

#[derive(Deserialize)]
struct Parent {
    session: Option<String>,
}

/// The `execution_state` a `status` message reports for users; `None` for other messages and for what
/// belongs to a kernel coming up, which the gateway tracks itself (it registers a kernel only once it is
/// ready, and a restart ends with `Restarted`):
/// - `starting`, published once by a fresh process and possibly delivered after readiness;
/// - the busy/idle pairs of the gateway's own requests (the readiness `kernel_info`, sent from the kernel
///   handle's session). Readiness needs a reply and *some* iopub message, so the pair of a retried probe
///   can arrive after the kernel was registered idle.
fn user_status(message: &RawMessage, own_session: &str) -> Option<String> {
    if !message
        .routing()
        .is_ok_and(|routing| routing.msg_type == "status")
    {
        return None;
    }
    let parent = serde_json::from_slice::<Parent>(&message.parent_header).ok();
    if parent.and_then(|p| p.session).as_deref() == Some(own_session) {
        return None;
    }
    serde_json::from_slice::<Status>(&message.content)
        .ok()
        .map(|status| status.execution_state)
        .filter(|state| state != "starting")
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
                let status = user_status(&message, entry.kernel.session());
                entry.record(|activity| {
                    activity.last_activity = now();
                    if let Some(status) = status {
                        activity.execution_state = status;
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
            // The model turns idle with the `Restarted` event queued meanwhile (after its `Restarting`),
            // not here: recording it now would let that stale `Restarting` flip it back.
            Ok(()) => return Some(Instant::now()),
            Err(nbgate_kernel::KernelError::Closed { .. }) => return None,
            Err(error) => {
                tracing::warn!(kernel = %entry.id(), %error, "restart failed");
                *deaths += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use serde_json::json;

    fn status(state: &str, parent_session: Option<&str>) -> RawMessage {
        let parent = parent_session.map_or(
            json!({}),
            |session| json!({"msg_id": "p", "session": session}),
        );
        RawMessage::from_parts(
            Bytes::from(json!({"msg_id": "m", "msg_type": "status", "session": "k"}).to_string()),
            Bytes::from(parent.to_string()),
            Bytes::from_static(b"{}"),
            Bytes::from(json!({"execution_state": state}).to_string()),
        )
    }

    #[test]
    fn the_model_follows_user_work_not_the_gateways_own_probes() {
        let own = "gateway-handle";
        assert_eq!(
            user_status(&status("busy", Some("lab")), own).as_deref(),
            Some("busy")
        );
        assert_eq!(
            user_status(&status("idle", None), own).as_deref(),
            Some("idle")
        );
        // The readiness kernel_info of a start or restart, answered after the kernel was registered.
        assert_eq!(user_status(&status("busy", Some(own)), own), None);
        // A fresh process announces itself; the gateway registers it only once it is ready.
        assert_eq!(user_status(&status("starting", None), own), None);
    }
}

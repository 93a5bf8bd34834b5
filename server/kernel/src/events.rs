//! What a kernel tells its subscribers, and the receiver that merges a kernel's two broadcast channels.

use std::sync::Arc;

use nbgate_protocol::{Channel, RawMessage};
use tokio::sync::broadcast;

use crate::error::ExitInfo;

/// How many events a subscriber may fall behind before it gets [`KernelEvent::Lagged`]. Generous: an
/// output flood is thousands of small messages.
pub(crate) const EVENT_CAPACITY: usize = 16 * 1024;

/// One thing that happened to a kernel.
#[derive(Debug, Clone)]
pub enum KernelEvent {
    /// A verified message: everything on iopub, and the replies to this handle's (or client's) own
    /// requests on shell, control and stdin.
    Message {
        channel: Channel,
        message: Arc<RawMessage>,
    },
    /// A message whose signature did not verify arrived on `channel`; it was dropped.
    BadSignature { channel: Channel },
    /// The heartbeat changed: `false` when a ping went unanswered for a heartbeat period, `true` again
    /// when the kernel answers.
    Heartbeat { responsive: bool },
    /// The kernel process exited without being asked to.
    Died { status: ExitInfo },
    /// A restart began: the old process is being stopped.
    Restarting,
    /// The new process is ready; the handle and its subscriptions keep working.
    Restarted,
    /// The kernel was shut down; no more events follow.
    ShutDown,
    /// This subscriber fell behind and missed this many events.
    Lagged(u64),
}

/// A subscription to one kernel's events (see [`crate::Kernel::subscribe`]).
pub struct KernelEvents {
    shared: broadcast::Receiver<KernelEvent>,
    replies: broadcast::Receiver<KernelEvent>,
    closed: bool,
}

impl KernelEvents {
    pub(crate) fn new(
        shared: broadcast::Receiver<KernelEvent>,
        replies: broadcast::Receiver<KernelEvent>,
    ) -> Self {
        Self {
            shared,
            replies,
            closed: false,
        }
    }

    /// The next event; `None` once the kernel's actor has ended (after shut-down, or when every handle
    /// is gone). Cancel-safe.
    pub async fn recv(&mut self) -> Option<KernelEvent> {
        if self.closed {
            return None;
        }
        // Both receivers are cancel-safe, so a lost race loses nothing.
        let result = tokio::select! {
            event = self.shared.recv() => event,
            event = self.replies.recv() => event,
        };
        match result {
            Ok(event) => Some(event),
            Err(broadcast::error::RecvError::Lagged(missed)) => Some(KernelEvent::Lagged(missed)),
            Err(broadcast::error::RecvError::Closed) => {
                self.closed = true;
                None
            }
        }
    }
}

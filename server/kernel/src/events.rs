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
    shared: Option<broadcast::Receiver<KernelEvent>>,
    replies: Option<broadcast::Receiver<KernelEvent>>,
    /// A final event (`ShutDown`) held back until the replies already queued are delivered, so that it is
    /// the last thing a subscriber sees.
    held: Option<KernelEvent>,
}

impl KernelEvents {
    pub(crate) fn new(
        shared: broadcast::Receiver<KernelEvent>,
        replies: broadcast::Receiver<KernelEvent>,
    ) -> Self {
        Self {
            shared: Some(shared),
            replies: Some(replies),
            held: None,
        }
    }

    /// The next event; `None` once the kernel's actor has ended (after shut-down, or when every handle
    /// is gone) and everything sent before was received. Cancel-safe.
    pub async fn recv(&mut self) -> Option<KernelEvent> {
        if let Some(held) = self.held.take() {
            // Replies queued before the final event come first.
            if let Some(replies) = &mut self.replies {
                match replies.try_recv() {
                    Ok(event) => {
                        self.held = Some(held);
                        return Some(event);
                    }
                    Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                        self.held = Some(held);
                        return Some(KernelEvent::Lagged(missed));
                    }
                    Err(_) => {}
                }
            }
            return Some(held);
        }
        loop {
            // Both receivers are cancel-safe, so the branch that loses the race loses nothing.
            let (result, from_shared) = match (&mut self.shared, &mut self.replies) {
                (None, None) => return None,
                (Some(shared), None) => (shared.recv().await, true),
                (None, Some(replies)) => (replies.recv().await, false),
                (Some(shared), Some(replies)) => tokio::select! {
                    event = shared.recv() => (event, true),
                    event = replies.recv() => (event, false),
                },
            };
            match result {
                Ok(KernelEvent::ShutDown) if from_shared => {
                    self.held = Some(KernelEvent::ShutDown);
                    return Box::pin(self.recv()).await;
                }
                Ok(event) => return Some(event),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    return Some(KernelEvent::Lagged(missed));
                }
                // One channel closed: keep draining the other until it closes too.
                Err(broadcast::error::RecvError::Closed) if from_shared => self.shared = None,
                Err(broadcast::error::RecvError::Closed) => self.replies = None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lagging_subscriber_is_told_how_much_it_missed() {
        let (shared, _) = broadcast::channel(4);
        let (replies, _) = broadcast::channel(4);
        let mut events = KernelEvents::new(shared.subscribe(), replies.subscribe());
        for _ in 0..10 {
            shared
                .send(KernelEvent::Restarting)
                .expect("a receiver exists");
        }
        assert!(matches!(events.recv().await, Some(KernelEvent::Lagged(6))));
        for _ in 0..4 {
            assert!(matches!(events.recv().await, Some(KernelEvent::Restarting)));
        }
    }

    #[tokio::test]
    async fn shut_down_comes_after_the_replies_already_queued() {
        let (shared, _) = broadcast::channel(4);
        let (replies, _) = broadcast::channel(4);
        let mut events = KernelEvents::new(shared.subscribe(), replies.subscribe());
        shared
            .send(KernelEvent::ShutDown)
            .expect("a receiver exists");
        replies
            .send(KernelEvent::Heartbeat { responsive: true })
            .expect("a receiver exists");
        assert!(matches!(
            events.recv().await,
            Some(KernelEvent::Heartbeat { .. })
        ));
        assert!(matches!(events.recv().await, Some(KernelEvent::ShutDown)));
    }

    #[tokio::test]
    async fn ends_only_when_both_channels_are_drained_and_closed() {
        let (shared, _) = broadcast::channel(4);
        let (replies, _) = broadcast::channel(4);
        let mut events = KernelEvents::new(shared.subscribe(), replies.subscribe());
        shared
            .send(KernelEvent::ShutDown)
            .expect("a receiver exists");
        drop(replies);
        drop(shared);
        assert!(matches!(events.recv().await, Some(KernelEvent::ShutDown)));
        assert!(events.recv().await.is_none());
        assert!(events.recv().await.is_none());
    }
}

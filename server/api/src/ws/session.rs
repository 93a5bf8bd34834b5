//! Sessions of one kernel: `session_id` → a pump task that owns the session's `KernelClient` and feeds
//! whichever connection currently holds the session.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use nbgate_kernel::sync::lock;
use nbgate_kernel::{Channel, KernelClient, KernelError, KernelEvent, KernelEvents, RawMessage};
use serde_json::json;
use tokio::sync::{OnceCell, broadcast, mpsc, oneshot};

use crate::registry::{KernelEntry, Notice};

/// Messages a connection may have queued before the pump waits for it.
const OUTBOUND_CAPACITY: usize = 1024;
/// Messages kept for a session while it has no connection; the oldest go first beyond this.
const BUFFER_LIMIT: usize = 10_000;

/// A message for a connection to send.
pub(crate) struct Outbound {
    pub channel: Channel,
    pub message: Arc<RawMessage>,
}

pub(crate) enum Command {
    /// `accepted` is answered once the pump holds `out` (or closed it as stale); dropped unanswered
    /// when the pump ended first, and the attacher starts a new session.
    Attach {
        conn: u64,
        out: mpsc::Sender<Outbound>,
        accepted: oneshot::Sender<()>,
    },
    Detach {
        conn: u64,
    },
    /// Messages a closing connection took but never wrote (oldest first): back to the session's buffer.
    Requeue {
        messages: Vec<Outbound>,
    },
    Send {
        channel: Channel,
        message: RawMessage,
    },
}

#[derive(Default)]
struct Slot {
    commands: OnceCell<mpsc::UnboundedSender<Command>>,
}

/// The sessions of one kernel.
#[derive(Default)]
pub(crate) struct Sessions {
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    next_conn: AtomicU64,
}

/// A connection's hold on its session.
pub(crate) struct Attached {
    pub conn: u64,
    pub commands: mpsc::UnboundedSender<Command>,
    pub outbound: mpsc::Receiver<Outbound>,
}

impl Attached {
    pub(crate) fn send(&self, channel: Channel, message: RawMessage) {
        let _ = self.commands.send(Command::Send { channel, message });
    }

    /// Ends the connection, returning to the session what it was handed but did not write: `first`
    /// (taken, its write failed), then whatever is still queued. The session delivers them to its next
    /// connection, ahead of what it buffered since.
    pub(crate) fn hand_back(mut self, first: Option<Outbound>) {
        // Closed first: the pump keeps anything it has not handed over yet.
        self.outbound.close();
        let mut messages: Vec<Outbound> = first.into_iter().collect();
        while let Ok(message) = self.outbound.try_recv() {
            messages.push(message);
        }
        if !messages.is_empty() {
            let _ = self.commands.send(Command::Requeue { messages });
        }
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Detach { conn: self.conn });
    }
}

impl Sessions {
    /// A number for a new connection, taken when its request arrives: when two connections of one
    /// session race to attach, the later request wins whatever order their attaches land in.
    pub(crate) fn ticket(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Attaches connection `conn` to session `id`, creating the session (and its kernel client) if
    /// needed; the connection that held it before is closed (or this one, if a later ticket holds it).
    /// Returns once the session's pump has taken the connection: from then on every kernel message is
    /// delivered to it or buffered for the session.
    pub(crate) async fn attach(
        entry: &Arc<KernelEntry>,
        id: &str,
        conn: u64,
        linger: Duration,
    ) -> Result<Attached, KernelError> {
        let sessions = &entry.sessions;
        loop {
            let slot = lock(&sessions.slots)
                .entry(id.to_owned())
                .or_default()
                .clone();
            // The connection that creates a session holds it from the pump's first moment.
            let mut creator = None;
            let created = slot
                .commands
                .get_or_try_init(|| async {
                    let client = entry.kernel.connect_client(id).await?;
                    let (commands, inbox) = mpsc::unbounded_channel();
                    let (out, outbound) = mpsc::channel(OUTBOUND_CAPACITY);
                    // Subscribed before this returns: nothing published after the attach is missed.
                    let events = client.subscribe();
                    let notices = entry.notices.subscribe();
                    let pump = Pump {
                        entry: Arc::downgrade(entry),
                        id: id.to_owned(),
                        slot: slot.clone(),
                        client,
                        inbox,
                        linger,
                    };
                    tokio::spawn(pump.run((conn, out), events, notices));
                    creator = Some(outbound);
                    Ok::<_, KernelError>(commands)
                })
                .await;
            let commands = match created {
                Ok(commands) => commands.clone(),
                Err(error) => {
                    sessions.remove(id, &slot);
                    return Err(error);
                }
            };
            if let Some(outbound) = creator {
                return Ok(Attached {
                    conn,
                    commands,
                    outbound,
                });
            }
            let (out, outbound) = mpsc::channel(OUTBOUND_CAPACITY);
            let (accepted, answer) = oneshot::channel();
            if commands
                .send(Command::Attach {
                    conn,
                    out,
                    accepted,
                })
                .is_ok()
                && answer.await.is_ok()
            {
                return Ok(Attached {
                    conn,
                    commands,
                    outbound,
                });
            }
            // The session ended (linger expired, kernel gone) before taking this connection: start a
            // new one. Its old client was released before the pump stopped answering.
            tracing::debug!(session = %id, conn, "session ended while attaching; starting a new one");
            sessions.remove(id, &slot);
        }
    }

    fn remove(&self, id: &str, slot: &Arc<Slot>) {
        let mut slots = lock(&self.slots);
        if slots
            .get(id)
            .is_some_and(|current| Arc::ptr_eq(current, slot))
        {
            slots.remove(id);
        }
    }
}

struct Pump {
    entry: Weak<KernelEntry>,
    id: String,
    slot: Arc<Slot>,
    client: KernelClient,
    inbox: mpsc::UnboundedReceiver<Command>,
    linger: Duration,
}

impl Pump {
    async fn run(
        mut self,
        creator: (u64, mpsc::Sender<Outbound>),
        mut events: KernelEvents,
        mut notices: broadcast::Receiver<Notice>,
    ) {
        let mut current = Some(creator);
        let mut buffer: VecDeque<Outbound> = VecDeque::new();
        let linger = tokio::time::sleep(self.linger);
        tokio::pin!(linger);
        loop {
            let outbound = tokio::select! {
                command = self.inbox.recv() => match command {
                    None => break,
                    Some(Command::Attach { conn, out, accepted }) => {
                        match current.as_ref().map(|(held, _)| *held) {
                            // A newer connection already holds the session: this one is the stale one
                            // (dropping `out` closes it).
                            Some(held) if held > conn => {
                                tracing::info!(session = %self.id, stale = conn, held, "closing stale connection");
                            }
                            held => {
                                if let Some(old) = held {
                                    tracing::info!(session = %self.id, old, conn, "replacing stale connection");
                                }
                                current = Some((conn, out));
                            }
                        }
                        let _ = accepted.send(());
                        None
                    }
                    Some(Command::Detach { conn }) => {
                        if current.as_ref().is_some_and(|(c, _)| *c == conn) {
                            current = None;
                            linger.as_mut().reset(tokio::time::Instant::now() + self.linger);
                        }
                        None
                    }
                    Some(Command::Requeue { messages }) => {
                        for message in messages.into_iter().rev() {
                            buffer.push_front(message);
                        }
                        while buffer.len() > BUFFER_LIMIT {
                            buffer.pop_front();
                        }
                        None
                    }
                    Some(Command::Send { channel, message }) => {
                        if let Err(error) = self.client.send(channel, message).await {
                            tracing::warn!(session = %self.id, %error, "cannot send to the kernel");
                        }
                        None
                    }
                },
                event = events.recv() => match event {
                    None | Some(KernelEvent::ShutDown) => break,
                    Some(KernelEvent::Message { channel, message }) => Some(Outbound { channel, message }),
                    Some(KernelEvent::Lagged(missed)) => {
                        tracing::warn!(session = %self.id, missed, "WebSocket session fell behind");
                        None
                    }
                    Some(_) => None,
                },
                notice = notices.recv() => match notice {
                    Ok(notice) => Some(status(notice, &self.id)),
                    Err(broadcast::error::RecvError::Closed) => break,
                    Err(broadcast::error::RecvError::Lagged(_)) => None,
                },
                // The connection's queue was full: go on once it has room.
                room = has_room(&current), if current.is_some() && !buffer.is_empty() => {
                    if !room {
                        current = None;
                        linger.as_mut().reset(tokio::time::Instant::now() + self.linger);
                    }
                    None
                }
                () = &mut linger, if current.is_none() => {
                    if self.inbox.is_empty() {
                        break;
                    }
                    // A connection is about to attach: it keeps the session.
                    linger.as_mut().reset(tokio::time::Instant::now() + self.linger);
                    None
                }
            };
            if let Some(outbound) = outbound {
                buffer.push_back(outbound);
                if buffer.len() > BUFFER_LIMIT {
                    buffer.pop_front();
                }
            }
            // Deliver what is buffered to the current connection (in order) without waiting for it: a
            // connection that stopped reading must not keep the pump from taking its replacement.
            if !deliver(&current, &mut buffer) {
                current = None;
                linger
                    .as_mut()
                    .reset(tokio::time::Instant::now() + self.linger);
            }
        }
        // Release the kernel client first: its `DropClient` reaches the kernel before the `ConnectClient`
        // of any session that replaces this one (a kernel refuses a second client with one identity).
        // Then refuse new commands and unregister; the attaches still queued are dropped unanswered, so
        // their connections retry on a new session instead of being lost with this one.
        let Pump {
            entry,
            id,
            slot,
            client,
            mut inbox,
            ..
        } = self;
        drop(client);
        inbox.close();
        if let Some(entry) = entry.upgrade() {
            entry.sessions.remove(&id, &slot);
        }
        drop(inbox);
    }
}

/// Moves buffered messages to the connection while its queue has room; `false` if it is closed.
fn deliver(
    current: &Option<(u64, mpsc::Sender<Outbound>)>,
    buffer: &mut VecDeque<Outbound>,
) -> bool {
    let Some((_, out)) = current else {
        return true;
    };
    while let Some(message) = buffer.pop_front() {
        match out.try_send(message) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(message)) => {
                buffer.push_front(message);
                return true;
            }
            Err(mpsc::error::TrySendError::Closed(message)) => {
                buffer.push_front(message);
                return false;
            }
        }
    }
    true
}

/// Waits until the connection's queue has room; `false` if it is closed (or there is none).
async fn has_room(current: &Option<(u64, mpsc::Sender<Outbound>)>) -> bool {
    match current {
        Some((_, out)) => out.reserve().await.is_ok(),
        None => false,
    }
}

/// A `status` message the gateway itself publishes (auto-restart: `restarting`, then maybe `dead`).
fn status(notice: Notice, session: &str) -> Outbound {
    let state = match notice {
        Notice::Restarting => "restarting",
        Notice::Dead => "dead",
    };
    let header = nbgate_protocol::new_header("status", session);
    let message = RawMessage::from_parts(
        Bytes::from(header.to_string()),
        Bytes::from_static(b"{}"),
        Bytes::from_static(b"{}"),
        Bytes::from(json!({"execution_state": state}).to_string()),
    );
    Outbound {
        channel: Channel::IoPub,
        message: Arc::new(message),
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;

//! Sessions of one kernel: `session_id` → a pump task that owns the session's `KernelClient` and feeds
//! whichever connection currently holds the session.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use nbgate_kernel::{Channel, KernelClient, KernelError, KernelEvent, RawMessage};
use serde_json::json;
use tokio::sync::{OnceCell, broadcast, mpsc};

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
    Attach {
        conn: u64,
        out: mpsc::Sender<Outbound>,
    },
    Detach {
        conn: u64,
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
}

impl Drop for Attached {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Detach { conn: self.conn });
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Sessions {
    /// Attaches a new connection to session `id`, creating the session (and its kernel client) if needed;
    /// the connection that held it before is closed.
    /// A number for a new connection, taken when its request arrives: when two connections of one
    /// session race to attach, the later request wins whatever order their attaches land in.
    pub(crate) fn ticket(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

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
            let created = slot
                .commands
                .get_or_try_init(|| async {
                    let client = entry.kernel.connect_client(id).await?;
                    let (commands, inbox) = mpsc::unbounded_channel();
                    let pump = Pump {
                        entry: Arc::downgrade(entry),
                        id: id.to_owned(),
                        slot: slot.clone(),
                        client,
                        inbox,
                        linger,
                    };
                    tokio::spawn(pump.run(entry.notices.subscribe()));
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
            let (out, outbound) = mpsc::channel(OUTBOUND_CAPACITY);
            if commands.send(Command::Attach { conn, out }).is_ok() {
                return Ok(Attached {
                    conn,
                    commands,
                    outbound,
                });
            }
            // The session ended (linger expired) between lookup and attach: start a new one.
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
    async fn run(mut self, mut notices: broadcast::Receiver<Notice>) {
        let mut events = self.client.subscribe();
        let mut current: Option<(u64, mpsc::Sender<Outbound>)> = None;
        let mut buffer: VecDeque<Outbound> = VecDeque::new();
        let linger = tokio::time::sleep(self.linger);
        tokio::pin!(linger);
        loop {
            let outbound = tokio::select! {
                command = self.inbox.recv() => match command {
                    None => break,
                    Some(Command::Attach { conn, out }) => {
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
                        None
                    }
                    Some(Command::Detach { conn }) => {
                        if current.as_ref().is_some_and(|(c, _)| *c == conn) {
                            current = None;
                            linger.as_mut().reset(tokio::time::Instant::now() + self.linger);
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
                () = &mut linger, if current.is_none() => break,
            };
            if let Some(outbound) = outbound {
                buffer.push_back(outbound);
                if buffer.len() > BUFFER_LIMIT {
                    buffer.pop_front();
                }
            }
            // Deliver what is buffered to the current connection (in order); keep it if there is none.
            if let Some((_, out)) = &current {
                while let Some(message) = buffer.pop_front() {
                    if let Err(mpsc::error::SendError(message)) = out.send(message).await {
                        buffer.push_front(message);
                        current = None;
                        linger
                            .as_mut()
                            .reset(tokio::time::Instant::now() + self.linger);
                        break;
                    }
                }
            }
        }
        // Unregister first, then drop the client, then the inbox: an attach that finds this slot closed
        // creates a new client only after this one's sockets were released.
        let Pump {
            entry,
            id,
            slot,
            client,
            inbox,
            ..
        } = self;
        if let Some(entry) = entry.upgrade() {
            let mut slots = lock(&entry.sessions.slots);
            if slots
                .get(&id)
                .is_some_and(|current| Arc::ptr_eq(current, &slot))
            {
                slots.remove(&id);
            }
            drop(client);
            drop(inbox);
        }
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

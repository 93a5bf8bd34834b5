//! Handles: [`Kernel`], the cheap cloneable handle to one kernel's actor, and [`KernelClient`], an extra
//! set of request sockets with its own identity (one per gateway WebSocket session).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jupyter_protocol::ConnectionInfo;
use nbgate_protocol::{Channel, RawMessage, Signer};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::actor::{Actor, Channels, Command, Config, ConnId, KernelState, MAIN, Snapshot};
use crate::boot::boot;
use crate::error::{KernelError, Result};
use crate::events::{EVENT_CAPACITY, KernelEvent, KernelEvents};
use crate::kernelspec::KernelSpec;
use crate::launch::LaunchOptions;

struct Shared {
    config: Arc<Config>,
    commands: mpsc::UnboundedSender<Command>,
    state: watch::Receiver<Snapshot>,
    // Weak: subscribers must see the channels close when the actor ends, which strong senders here
    // would prevent.
    events: broadcast::WeakSender<KernelEvent>,
    replies: broadcast::WeakSender<KernelEvent>,
}

/// A running kernel. Clones are cheap and share one actor; when the last clone (and the last
/// [`KernelClient`]) is dropped, the kernel is killed and its files removed.
#[derive(Clone)]
pub struct Kernel {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel")
            .field("id", &self.id())
            .field("spec", &self.spec().name)
            .field("state", &self.state())
            .finish()
    }
}

/// Starts a kernel from `spec`: launch, connect, wait until it answers `kernel_info` (bounded by
/// `options.start_timeout`). The kernel is killed if this future is dropped before it returns.
pub async fn start(spec: KernelSpec, options: LaunchOptions) -> Result<Kernel> {
    let id = uuid::Uuid::new_v4().to_string();
    let key = uuid::Uuid::new_v4().to_string();
    let signer = Signer::new(nbgate_protocol::wire::HMAC_SHA256, key.as_bytes())?;
    let connection_file = options.runtime_dir()?.join(format!("kernel-{id}.json"));
    let config = Arc::new(Config {
        id,
        spec: Arc::new(spec),
        options,
        key,
        signer,
        session: uuid::Uuid::new_v4().to_string(),
        connection_file,
        location: "local".to_owned(),
    });
    let (shared, _) = broadcast::channel(EVENT_CAPACITY);
    let (main_replies, _) = broadcast::channel(EVENT_CAPACITY);
    let identity = config.session.as_bytes().to_vec();
    let booted = match boot(&config, &shared, &[(MAIN, &identity, &main_replies)]).await {
        Ok(booted) => booted,
        Err(error) => {
            crate::launch::remove_connection_files(&config.connection_file, None);
            return Err(error);
        }
    };
    let (state_tx, state) = watch::channel(Snapshot {
        state: KernelState::Running,
        pid: Some(booted.pid()),
        connection: Arc::new(booted.info().clone()),
        kernel_info: Arc::new(booted.kernel_info.clone()),
    });
    let (commands, inbox) = mpsc::unbounded_channel();
    let handle = Kernel {
        shared: Arc::new(Shared {
            config: config.clone(),
            commands,
            state,
            events: shared.downgrade(),
            replies: main_replies.downgrade(),
        }),
    };
    let actor = Actor::new(
        config,
        inbox,
        Channels {
            shared,
            main_replies,
        },
        state_tx,
        booted,
    );
    // The actor owns the process and sockets from here; it ends on shutdown or when every handle is gone.
    tokio::spawn(actor.run());
    tracing::info!(kernel = %handle.id(), name = %handle.spec().name, pid = ?handle.pid(), "kernel started");
    Ok(handle)
}

impl Kernel {
    /// A handle on an actor that reads `commands` and publishes on `events` and `replies` (a gateway
    /// kernel's: see [`crate::gateway`]).
    pub(crate) fn assemble(
        config: Arc<Config>,
        commands: mpsc::UnboundedSender<Command>,
        state: watch::Receiver<Snapshot>,
        events: &broadcast::Sender<KernelEvent>,
        replies: &broadcast::Sender<KernelEvent>,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                commands,
                state,
                events: events.downgrade(),
                replies: replies.downgrade(),
            }),
        }
    }

    /// Same as [`start`].
    pub async fn start(spec: KernelSpec, options: LaunchOptions) -> Result<Self> {
        start(spec, options).await
    }

    /// The kernel id (a UUID), stable across restarts.
    pub fn id(&self) -> &str {
        &self.shared.config.id
    }

    /// Where the kernel runs: `"local"`, or the gateway's URL (then [`Kernel::id`] is the gateway's id).
    pub fn location(&self) -> &str {
        &self.shared.config.location
    }

    pub fn spec(&self) -> &KernelSpec {
        &self.shared.config.spec
    }

    /// Signs messages for this kernel (its key never changes, restarts included).
    pub fn signer(&self) -> &Signer {
        &self.shared.config.signer
    }

    /// The session this handle's requests carry (also its socket identity).
    pub fn session(&self) -> &str {
        &self.shared.config.session
    }

    /// The current connection info (ports change on restart).
    pub fn connection_info(&self) -> Arc<ConnectionInfo> {
        self.shared.state.borrow().connection.clone()
    }

    pub fn connection_file(&self) -> &Path {
        &self.shared.config.connection_file
    }

    /// The `kernel_info_reply` content the kernel answered at (re)start.
    pub fn kernel_info(&self) -> Arc<Value> {
        self.shared.state.borrow().kernel_info.clone()
    }

    /// The process id while the kernel runs.
    pub fn pid(&self) -> Option<u32> {
        self.shared.state.borrow().pid
    }

    pub fn state(&self) -> KernelState {
        self.shared.state.borrow().state
    }

    /// True while the kernel runs or restarts.
    pub fn is_alive(&self) -> bool {
        matches!(self.state(), KernelState::Running | KernelState::Restarting)
    }

    /// Events: all iopub traffic, replies to this handle's requests, lifecycle changes.
    pub fn subscribe(&self) -> KernelEvents {
        subscribe(&self.shared.events, &self.shared.replies)
    }

    /// Sends a message, signed by the caller, on shell, control or stdin.
    pub async fn send(&self, channel: Channel, message: RawMessage) -> Result<()> {
        send(self, MAIN, channel, message).await
    }

    /// Builds, signs and sends a message of `msg_type` with `content` from this handle's session; returns
    /// it so the caller knows its `msg_id`.
    pub async fn request(
        &self,
        channel: Channel,
        msg_type: &str,
        content: Value,
    ) -> Result<RawMessage> {
        let message =
            RawMessage::new_signed(msg_type, self.session(), &content, None, self.signer());
        self.send(channel, message.clone()).await?;
        Ok(message)
    }

    /// Interrupts as the kernelspec says: SIGINT to the process group, or `interrupt_request` on
    /// control (whose reply arrives as an event).
    pub async fn interrupt(&self) -> Result<()> {
        self.call(|done| Command::Interrupt { done }).await
    }

    /// Stops the process gracefully and starts a new one with the same id, key and connection file.
    /// Handles, subscriptions and clients keep working; the kernel's state (and execution count) is new.
    pub async fn restart(&self) -> Result<()> {
        self.call(|done| Command::Restart { done }).await
    }

    /// `shutdown_request`, then SIGTERM, then SIGKILL to the group; removes the connection file.
    /// Shutting down a kernel that is already shut down is not an error.
    pub async fn shutdown(&self) -> Result<()> {
        match self.call(|done| Command::Shutdown { done }).await {
            Err(KernelError::Closed { .. }) => Ok(()),
            other => other,
        }
    }

    /// A new set of shell/control/stdin sockets whose identity is `identity` (the gateway passes a
    /// WebSocket `session_id`), with its own replies and the shared iopub and lifecycle events.
    pub async fn connect_client(&self, identity: &str) -> Result<KernelClient> {
        let (reply, receive) = oneshot::channel();
        self.command(Command::ConnectClient {
            identity: identity.as_bytes().to_vec(),
            done: reply,
        })?;
        let (conn, replies) = receive.await.map_err(|_| self.closed())??;
        Ok(KernelClient {
            kernel: self.clone(),
            conn,
            identity: identity.to_owned(),
            replies,
        })
    }

    fn closed(&self) -> KernelError {
        KernelError::Closed {
            id: self.id().to_owned(),
        }
    }

    fn command(&self, command: Command) -> Result<()> {
        self.shared
            .commands
            .send(command)
            .map_err(|_| self.closed())
    }

    async fn call(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<()>>) -> Command,
    ) -> Result<()> {
        let (done, result) = oneshot::channel();
        self.command(command(done))?;
        result.await.map_err(|_| self.closed())?
    }
}

fn subscribe(
    events: &broadcast::WeakSender<KernelEvent>,
    replies: &broadcast::WeakSender<KernelEvent>,
) -> KernelEvents {
    let receiver = |weak: &broadcast::WeakSender<KernelEvent>| match weak.upgrade() {
        Some(sender) => sender.subscribe(),
        // The actor has ended: a receiver that reports "closed" at once.
        None => broadcast::channel(1).1,
    };
    KernelEvents::new(receiver(events), receiver(replies))
}

async fn send(kernel: &Kernel, conn: ConnId, channel: Channel, message: RawMessage) -> Result<()> {
    if !matches!(channel, Channel::Shell | Channel::Control | Channel::Stdin) {
        return Err(KernelError::NotARequestChannel { channel });
    }
    let (done, result) = oneshot::channel();
    kernel.command(Command::Send {
        conn,
        channel,
        message,
        done,
    })?;
    result.await.map_err(|_| kernel.closed())?
}

/// Request sockets with a caller-chosen identity on a shared kernel; see [`Kernel::connect_client`].
/// Keeps the kernel alive like a [`Kernel`] handle; its sockets close when it is dropped and are
/// reconnected by restarts.
pub struct KernelClient {
    kernel: Kernel,
    conn: ConnId,
    identity: String,
    replies: broadcast::WeakSender<KernelEvent>,
}

impl KernelClient {
    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Events: all iopub traffic, replies to this client's requests, lifecycle changes.
    pub fn subscribe(&self) -> KernelEvents {
        subscribe(&self.kernel.shared.events, &self.replies)
    }

    /// Sends a message, signed by the caller (see [`Kernel::signer`]).
    pub async fn send(&self, channel: Channel, message: RawMessage) -> Result<()> {
        send(&self.kernel, self.conn, channel, message).await
    }

    /// Builds, signs and sends a message whose session is this client's identity.
    pub async fn request(
        &self,
        channel: Channel,
        msg_type: &str,
        content: Value,
    ) -> Result<RawMessage> {
        let message = RawMessage::new_signed(
            msg_type,
            &self.identity,
            &content,
            None,
            self.kernel.signer(),
        );
        self.send(channel, message.clone()).await?;
        Ok(message)
    }
}

impl Drop for KernelClient {
    fn drop(&mut self) {
        let _ = self.kernel.command(Command::DropClient { conn: self.conn });
    }
}

/// Shuts the kernels down concurrently; returns each result in the given order.
pub async fn shutdown_all(kernels: impl IntoIterator<Item = Kernel>) -> Vec<Result<()>> {
    let tasks: Vec<_> = kernels
        .into_iter()
        .map(|kernel| tokio::spawn(async move { kernel.shutdown().await }))
        .collect();
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(match task.await {
            Ok(result) => result,
            Err(error) => Err(KernelError::Io {
                action: "shutting down",
                path: PathBuf::from("<kernel>"),
                source: std::io::Error::other(error.to_string()),
            }),
        });
    }
    results
}

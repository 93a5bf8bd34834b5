//! The kernel actor: one task per kernel that owns its process and its sockets, and serialises
//! everything that changes them (send, interrupt, restart, shutdown, client connections).
//!
//! Received messages do not pass through the actor: reader tasks (see [`crate::sockets`]) publish them
//! straight to the broadcast channels. The actor only reacts to commands from handles and to the process's
//! exit. It holds no lock at all; its state changes are published through a `watch` channel that handles
//! read without awaiting.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use jupyter_protocol::ConnectionInfo;
use nbgate_protocol::{Channel, RawMessage, Signer};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::{Duration, Instant};

use crate::boot::{Booted, boot};
use crate::error::{ExitInfo, KernelError, Result};
use crate::events::KernelEvent;
use crate::kernelspec::{InterruptMode, KernelSpec};
use crate::launch::{LaunchOptions, remove_connection_files};
use crate::process::{KernelProcess, wait_exit};
use crate::sockets::{DealerSet, TaskGuard};

/// Identifies one set of request sockets: [`MAIN`] for the kernel's own handle, others for clients.
pub(crate) type ConnId = u64;
pub(crate) const MAIN: ConnId = 0;

/// How long a SIGKILLed group may take to be reaped before the actor gives up waiting.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Where a kernel is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelState {
    Running,
    Restarting,
    /// The process exited unexpectedly (or a restart failed); `restart()` may revive it.
    Dead(ExitInfo),
    ShutDown,
}

/// What handles can read without asking the actor.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub state: KernelState,
    pub pid: Option<u32>,
    pub connection: Arc<ConnectionInfo>,
    pub kernel_info: Arc<Value>,
}

/// What never changes over a kernel's life, restarts included.
#[derive(Debug)]
pub(crate) struct Config {
    pub id: String,
    pub spec: Arc<KernelSpec>,
    pub options: LaunchOptions,
    pub key: String,
    pub signer: Signer,
    /// The session (and socket identity) of the kernel's own handle.
    pub session: String,
    pub connection_file: PathBuf,
    /// `"local"`, or the URL of the gateway the kernel runs on.
    pub location: String,
}

pub(crate) enum Command {
    Send {
        conn: ConnId,
        channel: Channel,
        message: RawMessage,
        done: oneshot::Sender<Result<()>>,
    },
    Interrupt {
        done: oneshot::Sender<Result<()>>,
    },
    Restart {
        done: oneshot::Sender<Result<()>>,
    },
    Shutdown {
        done: oneshot::Sender<Result<()>>,
    },
    ConnectClient {
        identity: Vec<u8>,
        done: oneshot::Sender<Result<(ConnId, broadcast::WeakSender<KernelEvent>)>>,
    },
    DropClient {
        conn: ConnId,
    },
}

/// One client's identity and the channel its replies go to. Survives restarts; its sockets do not.
struct Conn {
    identity: Vec<u8>,
    replies: broadcast::Sender<KernelEvent>,
}

/// A live process with connected sockets.
pub(crate) struct Running {
    pub(crate) process: KernelProcess,
    pub(crate) info: ConnectionInfo,
    pub(crate) dealers: HashMap<ConnId, DealerSet>,
    pub(crate) _iopub: TaskGuard,
    pub(crate) _heartbeat: TaskGuard,
}

pub(crate) struct Actor {
    config: Arc<Config>,
    commands: mpsc::UnboundedReceiver<Command>,
    shared: broadcast::Sender<KernelEvent>,
    state: watch::Sender<Snapshot>,
    conns: HashMap<ConnId, Conn>,
    next_conn: ConnId,
    running: Option<Running>,
}

impl Drop for Actor {
    fn drop(&mut self) {
        // However the actor ends (shut down, last handle dropped, runtime gone): kill and clean up.
        let info = self.running.as_ref().map(|running| running.info.clone());
        self.running = None;
        remove_connection_files(&self.config.connection_file, info.as_ref());
    }
}

/// The channels an actor and its handles share.
pub(crate) struct Channels {
    pub shared: broadcast::Sender<KernelEvent>,
    pub main_replies: broadcast::Sender<KernelEvent>,
}

impl Actor {
    pub(crate) fn new(
        config: Arc<Config>,
        commands: mpsc::UnboundedReceiver<Command>,
        channels: Channels,
        state: watch::Sender<Snapshot>,
        booted: Booted,
    ) -> Self {
        let main = Conn {
            identity: config.session.as_bytes().to_vec(),
            replies: channels.main_replies,
        };
        Self {
            config,
            commands,
            shared: channels.shared,
            state,
            conns: HashMap::from([(MAIN, main)]),
            next_conn: MAIN + 1,
            running: Some(booted.running),
        }
    }

    pub(crate) async fn run(mut self) {
        loop {
            // A fresh watch receiver per turn: waiting on it borrows nothing from `self`.
            let exit = self.running.as_ref().map(|r| r.process.exit_watch());
            tokio::select! {
                command = self.commands.recv() => match command {
                    // Every handle is gone: kill (no one is left to wait for a graceful end).
                    None => return,
                    Some(Command::Shutdown { done }) => {
                        self.shutdown().await;
                        let _ = done.send(Ok(()));
                        return;
                    }
                    Some(command) => self.handle(command).await,
                },
                status = wait_exit_or_never(exit) => self.died(status),
            }
        }
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::Send {
                conn,
                channel,
                message,
                done,
            } => {
                let _ = done.send(self.send(conn, channel, message).await);
            }
            Command::Interrupt { done } => {
                let _ = done.send(self.interrupt().await);
            }
            Command::Restart { done } => {
                let _ = done.send(self.restart().await);
            }
            Command::ConnectClient { identity, done } => {
                let _ = done.send(self.connect_client(identity).await);
            }
            Command::DropClient { conn } => {
                self.conns.remove(&conn);
                if let Some(running) = &mut self.running {
                    running.dealers.remove(&conn);
                }
            }
            Command::Shutdown { .. } => unreachable!("handled by run"),
        }
    }

    fn not_running(&self) -> KernelError {
        not_running(&self.config.id, self.state.borrow().state)
    }

    async fn send(&mut self, conn: ConnId, channel: Channel, message: RawMessage) -> Result<()> {
        let error = self.not_running();
        let Some(Running {
            process, dealers, ..
        }) = self.running.as_mut()
        else {
            return Err(error);
        };
        let dealers = dealers.get_mut(&conn).ok_or(error)?;
        let fail = |reason: String| KernelError::Send {
            id: self.config.id.clone(),
            channel,
            reason,
        };
        // A send waits when the kernel's queue is full; a kernel dying meanwhile must not leave the actor
        // stuck here. The death itself is reported by the main loop's next turn.
        tokio::select! {
            result = dealers.send(channel, message) => result.map_err(fail),
            status = process.exited() => Err(fail(format!("the kernel exited ({status})"))),
        }
    }

    async fn interrupt(&mut self) -> Result<()> {
        let Some(running) = &self.running else {
            return Err(self.not_running());
        };
        match self.config.spec.interrupt_mode {
            InterruptMode::Signal => {
                running.process.signal_group(libc::SIGINT);
                Ok(())
            }
            InterruptMode::Message => {
                let request = RawMessage::new_typed(
                    jupyter_protocol::InterruptRequest {},
                    &self.config.session,
                    None,
                    &self.config.signer,
                );
                self.send(MAIN, Channel::Control, request).await
            }
        }
    }

    async fn connect_client(
        &mut self,
        identity: Vec<u8>,
    ) -> Result<(ConnId, broadcast::WeakSender<KernelEvent>)> {
        if self.conns.values().any(|conn| conn.identity == identity) {
            // A kernel's ROUTER refuses a second peer with an identity it already routes to.
            return Err(KernelError::IdentityInUse {
                identity: String::from_utf8_lossy(&identity).into_owned(),
            });
        }
        let error = self.not_running();
        let running = self.running.as_mut().ok_or(error)?;
        let (replies, _) = broadcast::channel(crate::events::EVENT_CAPACITY);
        let deadline = Instant::now() + self.config.options.start_timeout;
        let set = DealerSet::connect(
            &running.info,
            &identity,
            &self.config.signer,
            &replies,
            deadline,
        )
        .await?;
        let conn = self.next_conn;
        self.next_conn += 1;
        running.dealers.insert(conn, set);
        let weak = replies.downgrade();
        self.conns.insert(conn, Conn { identity, replies });
        Ok((conn, weak))
    }

    fn publish_state(&self, state: KernelState) {
        self.state.send_modify(|snapshot| {
            snapshot.state = state;
            if !matches!(state, KernelState::Running) {
                snapshot.pid = None;
            }
        });
    }

    fn died(&mut self, status: ExitInfo) {
        tracing::warn!(kernel = %self.config.id, %status, "kernel died");
        // Dropping `Running` closes the sockets and kills whatever is left of the process group.
        self.running = None;
        self.publish_state(KernelState::Dead(status));
        let _ = self.shared.send(KernelEvent::Died { status });
    }

    /// Graceful stop: `shutdown_request` on control, then SIGTERM, then SIGKILL to the group, each after
    /// a shutdown step without exit.
    async fn stop(&mut self, restart: bool) -> Option<ExitInfo> {
        let mut running = self.running.take()?;
        let step = self.config.options.shutdown_step;
        if running.process.exit_status().is_none()
            && let Some(main) = running.dealers.get_mut(&MAIN)
        {
            let request = RawMessage::new_typed(
                jupyter_protocol::ShutdownRequest { restart },
                &self.config.session,
                None,
                &self.config.signer,
            );
            let _ = tokio::time::timeout(step, main.send(Channel::Control, request)).await;
        }
        let process = &running.process;
        let status = match tokio::time::timeout(step, process.exited()).await {
            Ok(status) => status,
            Err(_) => {
                tracing::info!(kernel = %self.config.id, "no exit after shutdown_request; SIGTERM");
                process.signal_group(libc::SIGTERM);
                match tokio::time::timeout(step, process.exited()).await {
                    Ok(status) => status,
                    Err(_) => {
                        tracing::warn!(kernel = %self.config.id, "no exit after SIGTERM; SIGKILL");
                        process.signal_group(libc::SIGKILL);
                        tokio::time::timeout(KILL_WAIT, process.exited())
                            .await
                            .unwrap_or(ExitInfo {
                                code: None,
                                signal: Some(libc::SIGKILL),
                            })
                    }
                }
            }
        };
        drop(running);
        Some(status)
    }

    async fn shutdown(&mut self) {
        let info = self.running.as_ref().map(|running| running.info.clone());
        self.stop(false).await;
        remove_connection_files(&self.config.connection_file, info.as_ref());
        self.publish_state(KernelState::ShutDown);
        let _ = self.shared.send(KernelEvent::ShutDown);
    }

    async fn restart(&mut self) -> Result<()> {
        self.publish_state(KernelState::Restarting);
        let _ = self.shared.send(KernelEvent::Restarting);
        self.stop(true).await;
        let conns: Vec<(ConnId, &[u8], &broadcast::Sender<KernelEvent>)> = self
            .conns
            .iter()
            .map(|(id, conn)| (*id, conn.identity.as_slice(), &conn.replies))
            .collect();
        match boot(&self.config, &self.shared, &conns).await {
            Ok(booted) => {
                let pid = booted.pid();
                let connection = Arc::new(booted.info().clone());
                let kernel_info = Arc::new(booted.kernel_info);
                self.running = Some(booted.running);
                self.state.send_modify(|snapshot| {
                    snapshot.state = KernelState::Running;
                    snapshot.pid = Some(pid);
                    snapshot.connection = connection;
                    snapshot.kernel_info = kernel_info;
                });
                let _ = self.shared.send(KernelEvent::Restarted);
                Ok(())
            }
            Err(error) => {
                let status = match &error {
                    KernelError::DiedDuringStart { status, .. } => *status,
                    _ => ExitInfo {
                        code: None,
                        signal: None,
                    },
                };
                self.publish_state(KernelState::Dead(status));
                let _ = self.shared.send(KernelEvent::Died { status });
                Err(error)
            }
        }
    }
}

/// Why a kernel in `state` cannot take a request: dead (with its exit) or shut down.
pub(crate) fn not_running(id: &str, state: KernelState) -> KernelError {
    match state {
        KernelState::Dead(status) => KernelError::Dead {
            id: id.to_owned(),
            status,
        },
        _ => KernelError::Closed { id: id.to_owned() },
    }
}

async fn wait_exit_or_never(exit: Option<watch::Receiver<Option<ExitInfo>>>) -> ExitInfo {
    match exit {
        Some(exit) => wait_exit(exit).await,
        None => std::future::pending().await,
    }
}

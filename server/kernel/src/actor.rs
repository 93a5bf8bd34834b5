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
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::{Duration, Instant};

use crate::error::{ExitInfo, KernelError, Result};
use crate::events::KernelEvent;
use crate::kernelspec::{InterruptMode, KernelSpec};
use crate::launch::{LaunchOptions, LaunchPlan, Launched, launch, remove_connection_files};
use crate::process::{KernelProcess, wait_exit};
use crate::sockets::{DealerSet, TaskGuard, connect_iopub, spawn_heartbeat};

/// Identifies one set of request sockets: [`MAIN`] for the kernel's own handle, others for clients.
pub(crate) type ConnId = u64;
pub(crate) const MAIN: ConnId = 0;

/// How long readiness waits for a `kernel_info_reply` before asking again, and then for any iopub
/// message (jupyter_client's values).
const KERNEL_INFO_RETRY: Duration = Duration::from_secs(1);
const IOPUB_AFTER_REPLY: Duration = Duration::from_millis(200);
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
struct Running {
    process: KernelProcess,
    info: ConnectionInfo,
    dealers: HashMap<ConnId, DealerSet>,
    _iopub: TaskGuard,
    _heartbeat: TaskGuard,
}

pub(crate) struct Booted {
    running: Running,
    pub kernel_info: Value,
}

impl Booted {
    pub fn pid(&self) -> u32 {
        self.running.process.pid()
    }

    pub fn info(&self) -> &ConnectionInfo {
        &self.running.info
    }
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

/// Launches, connects and waits for readiness. On any error the process is killed (its guard drops).
pub(crate) async fn boot(
    config: &Config,
    shared: &broadcast::Sender<KernelEvent>,
    conns: &[(ConnId, &[u8], &broadcast::Sender<KernelEvent>)],
) -> Result<Booted> {
    let deadline = Instant::now() + config.options.start_timeout;
    let Launched { process, info } = launch(&LaunchPlan {
        spec: &config.spec,
        options: &config.options,
        connection_file: &config.connection_file,
        key: &config.key,
        deadline,
    })
    .await?;
    let connect_and_wait = async {
        // Subscribe before any reader exists so readiness sees every message.
        let mut shared_events = shared.subscribe();
        let main_replies = conns
            .iter()
            .find(|(conn, ..)| *conn == MAIN)
            .map(|(.., replies)| *replies)
            .expect("the main connection always exists");
        let mut replies = main_replies.subscribe();
        let iopub = connect_iopub(&info, &config.signer, shared, deadline);
        let dealers = async {
            let mut dealers = HashMap::new();
            for (conn, identity, replies) in conns {
                let set =
                    DealerSet::connect(&info, identity, &config.signer, replies, deadline).await?;
                dealers.insert(*conn, set);
            }
            Ok::<_, KernelError>(dealers)
        };
        let (iopub, mut dealers) = tokio::try_join!(iopub, dealers)?;
        let main = dealers.get_mut(&MAIN).expect("connected above");
        let kernel_info =
            wait_ready(config, main, &mut shared_events, &mut replies, deadline).await?;
        Ok::<_, KernelError>((iopub, dealers, kernel_info))
    };
    let exited = process.exited();
    let result = tokio::select! {
        result = connect_and_wait => result,
        status = exited => Err(KernelError::DiedDuringStart {
            name: config.spec.name.clone(),
            status,
            stderr: String::new(),
        }),
    };
    match result {
        Ok((iopub, dealers, kernel_info)) => {
            let heartbeat = spawn_heartbeat(info.clone(), config.options.heartbeat, shared.clone());
            Ok(Booted {
                running: Running {
                    process,
                    info,
                    dealers,
                    _iopub: iopub,
                    _heartbeat: heartbeat,
                },
                kernel_info,
            })
        }
        Err(error) => Err(with_stderr(error, &config.spec.name, &process)),
    }
}

/// Adds the process's stderr tail to a start-up error, and turns any failure of a process that has
/// exited meanwhile into [`KernelError::DiedDuringStart`] (the exit is the real cause).
fn with_stderr(error: KernelError, name: &str, process: &KernelProcess) -> KernelError {
    let stderr = process.stderr_tail();
    if let Some(status) = process.exit_status()
        && !matches!(error, KernelError::BadSignatures { .. })
    {
        return KernelError::DiedDuringStart {
            name: name.to_owned(),
            status,
            stderr,
        };
    }
    match error {
        KernelError::StartTimeout {
            name,
            timeout,
            stage,
            ..
        } => KernelError::StartTimeout {
            name,
            timeout,
            stage,
            stderr,
        },
        KernelError::BadSignatures { name, channel, .. } => KernelError::BadSignatures {
            name,
            channel,
            stderr,
        },
        other => other,
    }
}

/// Readiness (JEP 65 with jupyter_client's fallback): ask `kernel_info` until a reply arrives *and* some
/// iopub message has been seen — `iopub_welcome` from an XPUB kernel, else the `status` messages of our
/// own request. Returns the reply's content.
async fn wait_ready(
    config: &Config,
    main: &mut DealerSet,
    shared: &mut broadcast::Receiver<KernelEvent>,
    replies: &mut broadcast::Receiver<KernelEvent>,
    deadline: Instant,
) -> Result<Value> {
    let name = &config.spec.name;
    let timeout = |stage| KernelError::StartTimeout {
        name: name.clone(),
        timeout: config.options.start_timeout,
        stage,
        stderr: String::new(),
    };
    let bad = |channel| KernelError::BadSignatures {
        name: name.clone(),
        channel,
        stderr: String::new(),
    };
    let mut iopub_seen = false;
    let mut reply: Option<Value> = None;
    loop {
        let request = RawMessage::new_signed(
            "kernel_info_request",
            &config.session,
            &json!({}),
            None,
            &config.signer,
        );
        main.send(Channel::Shell, request)
            .await
            .map_err(|reason| KernelError::Send {
                id: config.id.clone(),
                channel: Channel::Shell,
                reason,
            })?;
        let mut retry_at = Instant::now() + KERNEL_INFO_RETRY;
        loop {
            if reply.is_some() && iopub_seen {
                return Ok(reply.unwrap_or_default());
            }
            tokio::select! {
                () = tokio::time::sleep_until(retry_at.min(deadline)) => {
                    if Instant::now() >= deadline {
                        return Err(timeout(if reply.is_none() {
                            "waiting for kernel_info_reply"
                        } else {
                            "waiting for the first iopub message"
                        }));
                    }
                    break; // ask again
                }
                event = shared.recv() => match event {
                    Ok(KernelEvent::Message { channel: Channel::IoPub, .. }) => iopub_seen = true,
                    Ok(KernelEvent::BadSignature { channel }) => return Err(bad(channel)),
                    _ => {}
                },
                event = replies.recv() => match event {
                    Ok(KernelEvent::Message { channel: Channel::Shell, message }) => {
                        let is_reply = message
                            .routing()
                            .is_ok_and(|routing| routing.msg_type == "kernel_info_reply");
                        if is_reply && reply.is_none() {
                            reply = Some(message.content_json().unwrap_or_default());
                            retry_at = Instant::now() + IOPUB_AFTER_REPLY;
                        }
                    }
                    Ok(KernelEvent::BadSignature { channel }) => return Err(bad(channel)),
                    _ => {}
                },
            }
        }
    }
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
        match self.state.borrow().state {
            KernelState::Dead(status) => KernelError::Dead {
                id: self.config.id.clone(),
                status,
            },
            _ => KernelError::Closed {
                id: self.config.id.clone(),
            },
        }
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
                let request = RawMessage::new_signed(
                    "interrupt_request",
                    &self.config.session,
                    &json!({}),
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
            let request = RawMessage::new_signed(
                "shutdown_request",
                &self.config.session,
                &json!({"restart": restart}),
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

async fn wait_exit_or_never(exit: Option<watch::Receiver<Option<ExitInfo>>>) -> ExitInfo {
    match exit {
        Some(exit) => wait_exit(exit).await,
        None => std::future::pending().await,
    }
}

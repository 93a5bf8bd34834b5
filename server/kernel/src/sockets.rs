//! The ZeroMQ side: connecting a kernel's sockets, one reader task per receiving socket, and the
//! heartbeat task.
//!
//! Readers decode and verify in their own task and publish straight to the broadcast channels, so the
//! actor never sits between a kernel and its subscribers. A message whose signature fails is dropped and
//! reported as [`KernelEvent::BadSignature`]; it is never delivered.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use jupyter_protocol::ConnectionInfo;
use jupyter_protocol::connection_info::Transport;
use nbgate_protocol::{Channel, ProtocolError, RawMessage, Signer};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use zeromq::util::PeerIdentity;
use zeromq::{
    DealerRecvHalf, DealerSendHalf, DealerSocket, ReqSocket, Socket, SocketOptions, SocketRecv,
    SocketSend, SubSocket, ZmqMessage,
};

use crate::error::{KernelError, Result};
use crate::events::KernelEvent;

/// Pause between connect attempts to a port that reset or refused the connection.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// A task aborted when this handle is dropped: readers and the heartbeat die with their owner.
pub(crate) struct TaskGuard(JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The address of `channel` in a connection file.
pub(crate) fn endpoint(info: &ConnectionInfo, channel: Channel) -> String {
    let port = match channel {
        Channel::Shell => info.shell_port,
        Channel::IoPub => info.iopub_port,
        Channel::Stdin => info.stdin_port,
        Channel::Control => info.control_port,
        Channel::Heartbeat => info.hb_port,
    };
    match info.transport {
        Transport::TCP => format!("tcp://{}:{port}", info.ip),
        Transport::IPC => format!("ipc://{}-{port}", info.ip),
    }
}

fn options(identity: Option<&[u8]>, deadline: Instant) -> Result<SocketOptions> {
    let mut options = SocketOptions::default();
    options.connect_timeout(deadline.saturating_duration_since(Instant::now()));
    if let Some(identity) = identity {
        let identity =
            PeerIdentity::try_from(Bytes::copy_from_slice(identity)).map_err(|error| {
                KernelError::Connect {
                    channel: Channel::Shell,
                    endpoint: String::new(),
                    reason: format!("invalid socket identity: {error}"),
                }
            })?;
        options.peer_identity(identity);
    }
    Ok(options)
}

/// Connects a fresh socket from `make`, retrying resets and refusals until `deadline`.
async fn connect<S, F, Fut>(
    make: F,
    info: &ConnectionInfo,
    channel: Channel,
    deadline: Instant,
) -> Result<S>
where
    S: Socket,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<S>>,
{
    let endpoint = endpoint(info, channel);
    let fail = |reason: String| KernelError::Connect {
        channel,
        endpoint: endpoint.clone(),
        reason,
    };
    loop {
        let mut socket = make().await?;
        match tokio::time::timeout_at(deadline, socket.connect(&endpoint)).await {
            Ok(Ok(())) => return Ok(socket),
            Ok(Err(error)) if Instant::now() + RETRY_PAUSE < deadline => {
                tracing::debug!(%channel, %endpoint, %error, "connect failed; retrying");
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Ok(Err(error)) => return Err(fail(error.to_string())),
            Err(_) => return Err(fail("timed out".into())),
        }
    }
}

/// The request sockets of one client identity: shell, control and stdin DEALERs sharing one identity
/// (the kernel routes `input_request` by it), their receiving halves read by [`TaskGuard`]ed tasks.
pub(crate) struct DealerSet {
    shell: DealerSendHalf,
    control: DealerSendHalf,
    stdin: DealerSendHalf,
    _readers: [TaskGuard; 3],
}

impl DealerSet {
    /// Connects the three DEALERs concurrently; replies go to `replies`.
    pub async fn connect(
        info: &ConnectionInfo,
        identity: &[u8],
        signer: &Signer,
        replies: &broadcast::Sender<KernelEvent>,
        deadline: Instant,
    ) -> Result<Self> {
        let dealer = |channel| {
            connect(
                move || async move {
                    Ok(DealerSocket::with_options(options(
                        Some(identity),
                        deadline,
                    )?))
                },
                info,
                channel,
                deadline,
            )
        };
        let (shell, control, stdin) = tokio::try_join!(
            dealer(Channel::Shell),
            dealer(Channel::Control),
            dealer(Channel::Stdin)
        )?;
        let split = |socket: DealerSocket, channel| {
            let (send, receive) = socket.split();
            (
                send,
                spawn_dealer_reader(receive, channel, signer.clone(), replies.clone()),
            )
        };
        let (shell, shell_reader) = split(shell, Channel::Shell);
        let (control, control_reader) = split(control, Channel::Control);
        let (stdin, stdin_reader) = split(stdin, Channel::Stdin);
        Ok(Self {
            shell,
            control,
            stdin,
            _readers: [shell_reader, control_reader, stdin_reader],
        })
    }

    /// Sends a message's frames as they are on `channel`.
    pub async fn send(&mut self, channel: Channel, message: RawMessage) -> Result<(), String> {
        let socket = match channel {
            Channel::Shell => &mut self.shell,
            Channel::Control => &mut self.control,
            Channel::Stdin => &mut self.stdin,
            Channel::IoPub | Channel::Heartbeat => {
                return Err(format!("{channel} does not carry requests"));
            }
        };
        let frames = ZmqMessage::try_from(message.into_frames()).map_err(|e| e.to_string())?;
        socket.send(frames).await.map_err(|e| e.to_string())
    }
}

fn spawn_dealer_reader(
    mut socket: DealerRecvHalf,
    channel: Channel,
    signer: Signer,
    events: broadcast::Sender<KernelEvent>,
) -> TaskGuard {
    TaskGuard(tokio::spawn(async move {
        loop {
            match socket.recv().await {
                Ok(frames) => publish(frames, channel, &signer, &events),
                Err(zeromq::ZmqError::NoMessage) => return,
                Err(error) => tracing::debug!(%channel, %error, "receive failed"),
            }
        }
    }))
}

/// Connects iopub, subscribed to everything *before* connecting (no slow joiner), and starts its reader.
pub(crate) async fn connect_iopub(
    info: &ConnectionInfo,
    signer: &Signer,
    events: &broadcast::Sender<KernelEvent>,
    deadline: Instant,
) -> Result<TaskGuard> {
    let mut socket = connect(
        || async {
            let mut socket = SubSocket::with_options(options(None, deadline)?);
            socket
                .subscribe("")
                .await
                .map_err(|error| KernelError::Connect {
                    channel: Channel::IoPub,
                    endpoint: endpoint(info, Channel::IoPub),
                    reason: format!("subscribing: {error}"),
                })?;
            Ok(socket)
        },
        info,
        Channel::IoPub,
        deadline,
    )
    .await?;
    let signer = signer.clone();
    let events = events.clone();
    Ok(TaskGuard(tokio::spawn(async move {
        loop {
            match socket.recv().await {
                Ok(frames) => publish(frames, Channel::IoPub, &signer, &events),
                Err(zeromq::ZmqError::NoMessage) => return,
                Err(error) => tracing::debug!(%error, "iopub receive failed"),
            }
        }
    })))
}

fn publish(
    frames: ZmqMessage,
    channel: Channel,
    signer: &Signer,
    events: &broadcast::Sender<KernelEvent>,
) {
    match RawMessage::decode(frames.into_vec(), signer) {
        Ok(message) => {
            // No receivers is fine: nobody is listening right now.
            let _ = events.send(KernelEvent::Message {
                channel,
                message: Arc::new(message),
            });
        }
        Err(ProtocolError::BadSignature) => {
            tracing::warn!(%channel, "dropped a message with an invalid signature");
            let _ = events.send(KernelEvent::BadSignature { channel });
        }
        Err(error) => tracing::warn!(%channel, %error, "dropped a malformed message"),
    }
}

/// Pings the kernel every `period`; a ping unanswered within `period` makes the kernel unresponsive.
/// Publishes [`KernelEvent::Heartbeat`] on every change. The REQ socket is recreated after a miss (a REQ
/// socket waiting for a lost reply cannot send again).
pub(crate) fn spawn_heartbeat(
    info: ConnectionInfo,
    period: Duration,
    events: broadcast::Sender<KernelEvent>,
) -> TaskGuard {
    TaskGuard(tokio::spawn(async move {
        let mut responsive = true;
        let mut socket: Option<ReqSocket> = None;
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let deadline = Instant::now() + period;
            if socket.is_none() {
                socket = connect(
                    || async { Ok(ReqSocket::with_options(options(None, deadline)?)) },
                    &info,
                    Channel::Heartbeat,
                    deadline,
                )
                .await
                .ok();
            }
            let answered = match socket.as_mut() {
                Some(socket) => tokio::time::timeout_at(deadline, async {
                    socket.send(ZmqMessage::from("ping")).await?;
                    socket.recv().await
                })
                .await
                .is_ok_and(|reply| reply.is_ok()),
                None => false,
            };
            if !answered {
                socket = None;
            }
            if answered != responsive {
                responsive = answered;
                let _ = events.send(KernelEvent::Heartbeat { responsive });
            }
        }
    }))
}

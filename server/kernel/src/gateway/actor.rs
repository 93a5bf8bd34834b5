//! The task that owns one gateway kernel's WebSocket: the gateway counterpart of [`crate::actor`],
//! answering the same [`Command`]s and publishing the same [`KernelEvent`]s, so a [`Kernel`] handle
//! works alike wherever its kernel lives.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use hyper::Method;
use jupyter_protocol::ConnectionInfo;
use nbgate_protocol::websocket::{self as frames, Frame, Sender};
use nbgate_protocol::{Channel, RawMessage, Signer};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::CALL_TIMEOUT;
use super::clients::{Clients, Target};
use super::quickack::QuickAck;
use super::rest::{Rest, error_chain};
use crate::actor::{Command, Config, KernelState, MAIN, Snapshot};
use crate::error::{ExitInfo, KernelError, Result};
use crate::events::{EVENT_CAPACITY, KernelEvent};
use crate::handle::Kernel;

/// A byte stream the WebSocket runs on: TCP, or TLS over TCP.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Io for T {}

pub(crate) type Socket = WebSocketStream<Box<dyn Io>>;

/// How long the one reconnection of a lost WebSocket may take.
pub(crate) const RECONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A kernel that exists on the gateway: deleted by [`Remote::delete`], or, if that never ran, in the
/// background when this is dropped ([`Remote::delete_in_background`]).
pub(crate) struct Remote {
    rest: Rest,
    id: String,
    deleted: bool,
}

impl Remote {
    pub(crate) fn new(rest: Rest, id: String) -> Self {
        Self {
            rest,
            id,
            deleted: false,
        }
    }

    /// `DELETE /api/kernels/{id}`; a kernel the gateway no longer knows counts as deleted.
    pub(crate) async fn delete(&mut self) {
        self.deleted = true;
        let path = format!("/api/kernels/{}", self.id);
        match self
            .rest
            .call(Method::DELETE, &path, None, CALL_TIMEOUT)
            .await
        {
            Ok(_) | Err(KernelError::Gateway { status: 404, .. }) => {
                tracing::debug!(kernel = %self.id, gateway = %self.rest.url, "gateway kernel deleted");
            }
            Err(error) => {
                tracing::warn!(kernel = %self.id, %error, "cannot delete the gateway kernel");
            }
        }
    }

    /// [`Remote::delete`] on a task of its own (best effort: the runtime may be ending).
    pub(crate) fn delete_in_background(&mut self) {
        if self.deleted {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let mut remote = Remote::new(self.rest.clone(), std::mem::take(&mut self.id));
            runtime.spawn(async move { remote.delete().await });
        }
        self.deleted = true;
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        self.delete_in_background();
    }
}

/// Connection info for handles of a gateway kernel: no ports (the gateway holds them), its key.
pub(crate) fn no_connection(config: &Config) -> ConnectionInfo {
    ConnectionInfo {
        ip: String::new(),
        transport: jupyter_protocol::connection_info::Transport::TCP,
        shell_port: 0,
        iopub_port: 0,
        stdin_port: 0,
        control_port: 0,
        hb_port: 0,
        key: config.key.clone(),
        signature_scheme: nbgate_protocol::wire::HMAC_SHA256.to_owned(),
        kernel_name: Some(config.spec.name.clone()),
    }
}

/// Opens kernel `id`'s channels WebSocket and waits for the answer to a `kernel_info_request` sent on
/// it; returns the socket and the reply's content.
pub(crate) async fn connect(
    rest: &Rest,
    id: &str,
    signer: &Signer,
    session: &str,
) -> Result<(Socket, Value)> {
    let fail = |reason: String| KernelError::GatewayChannels {
        url: rest.url.clone(),
        id: id.to_owned(),
        reason,
    };
    let mut socket = open(rest, id, session).await?;
    let content = ready(&mut socket, signer, session).await.map_err(fail)?;
    Ok((socket, content))
}

/// Opens kernel `id`'s channels WebSocket as session `session` (a gateway replays to a session that
/// reconnects what it buffered while it was away).
pub(crate) async fn open(rest: &Rest, id: &str, session: &str) -> Result<Socket> {
    let fail = |reason: String| KernelError::GatewayChannels {
        url: rest.url.clone(),
        id: id.to_owned(),
        reason,
    };
    let ws_url = format!(
        "ws{}/api/kernels/{id}/channels?session_id={session}",
        rest.url.strip_prefix("http").unwrap_or(&rest.url)
    );
    let mut request = ws_url
        .as_str()
        .into_client_request()
        .map_err(|error| fail(error.to_string()))?;
    if let Some(authorization) = rest.authorization() {
        let value = authorization
            .parse()
            .map_err(|_| fail("the token is not a valid header value".into()))?;
        request
            .headers_mut()
            .insert(hyper::header::AUTHORIZATION, value);
    }
    let uri = request.uri().clone();
    let host = uri.host().unwrap_or_default().to_owned();
    let tls = uri.scheme_str() == Some("wss");
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let tcp = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|error| KernelError::GatewayUnreachable {
            url: rest.url.clone(),
            reason: error.to_string(),
        })?;
    let _ = tcp.set_nodelay(true);
    let tcp = QuickAck(tcp);
    let stream: Box<dyn Io> = if tls {
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|error| fail(error.to_string()))?;
        let connector = tokio_rustls::TlsConnector::from(rest.tls.clone());
        Box::new(
            connector
                .connect(name, tcp)
                .await
                .map_err(|error| fail(error_chain(&error)))?,
        )
    } else {
        Box::new(tcp)
    };
    let (socket, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .map_err(|error| fail(format!("WebSocket: {}", error_chain(&error))))?;
    Ok(socket)
}

/// Reads frames until the answer to a `kernel_info_request` sent now; returns its content.
async fn ready(socket: &mut Socket, signer: &Signer, session: &str) -> Result<Value, String> {
    let request = RawMessage::new_signed(
        "kernel_info_request",
        session,
        &serde_json::json!({}),
        None,
        signer,
    );
    let msg_id = request.routing().map_err(|error| error.to_string())?.msg_id;
    send(socket, Channel::Shell, &request).await?;
    loop {
        let frame = socket
            .next()
            .await
            .ok_or("the WebSocket closed before kernel_info_reply")?
            .map_err(|error| error_chain(&error))?;
        let Some(Ok((channel, message))) = decode(frame) else {
            continue;
        };
        let Ok(routing) = message.routing() else {
            continue;
        };
        if channel == Channel::Shell
            && routing.msg_type == "kernel_info_reply"
            && routing.parent_msg_id.as_deref() == Some(msg_id.as_str())
        {
            return message.content_json().map_err(|error| error.to_string());
        }
    }
}

pub(crate) async fn send(
    socket: &mut Socket,
    channel: Channel,
    message: &RawMessage,
) -> std::result::Result<(), String> {
    let frame = match frames::encode_legacy(channel, message).map_err(|error| error.to_string())? {
        Frame::Text(text) => Message::text(text),
        Frame::Binary(bytes) => Message::Binary(bytes),
    };
    socket
        .send(frame)
        .await
        .map_err(|error| format!("WebSocket: {}", error_chain(&error)))
}

/// A data frame's message; `None` for control frames.
pub(crate) fn decode(
    frame: Message,
) -> Option<std::result::Result<(Channel, RawMessage), frames::FrameError>> {
    match frame {
        Message::Text(text) => Some(frames::decode_legacy_text(&text, Sender::Server)),
        Message::Binary(bytes) => Some(frames::decode_legacy_binary(&bytes, Sender::Server)),
        _ => None,
    }
}

pub(crate) struct GatewayActor {
    config: Arc<Config>,
    remote: Remote,
    commands: mpsc::UnboundedReceiver<Command>,
    shared: broadcast::Sender<KernelEvent>,
    replies: broadcast::Sender<KernelEvent>,
    state: watch::Sender<Snapshot>,
    /// `None` once the WebSocket is gone.
    socket: Option<Socket>,
    /// Whether the one reconnection a lost WebSocket gets was used.
    reconnected: bool,
    /// Whether the gateway said the kernel died ([`reported_death`]).
    reported_dead: bool,
    /// Clients with identities of their own (the API's WebSocket sessions), each on its own socket.
    clients: Clients,
}

impl GatewayActor {
    /// Starts the actor for a connected kernel and returns its first handle.
    pub(crate) fn spawn(
        config: Arc<Config>,
        remote: Remote,
        socket: Socket,
        snapshot: Snapshot,
    ) -> Kernel {
        let (shared, _) = broadcast::channel(EVENT_CAPACITY);
        let (replies, _) = broadcast::channel(EVENT_CAPACITY);
        let (state, state_rx) = watch::channel(snapshot);
        let (commands_tx, commands) = mpsc::unbounded_channel();
        let kernel = Kernel::assemble(config.clone(), commands_tx, state_rx, &shared, &replies);
        let actor = Self {
            config,
            remote,
            commands,
            shared,
            replies,
            state,
            socket: Some(socket),
            reconnected: false,
            reported_dead: false,
            clients: Clients::default(),
        };
        tokio::spawn(actor.run());
        kernel
    }

    async fn run(mut self) {
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    // Every handle is gone: nobody will use the kernel again.
                    None => {
                        self.remote.delete().await;
                        return;
                    }
                    Some(Command::Shutdown { done }) => {
                        self.shutdown().await;
                        let _ = done.send(Ok(()));
                        return;
                    }
                    Some(command) => self.handle(command).await,
                },
                frame = next_frame(&mut self.socket) => self.received(frame).await,
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
            } if conn != MAIN => {
                if let Err(done) = self.clients.send(conn, channel, message, done) {
                    let _ = done.send(Err(self.not_running()));
                }
            }
            Command::Send {
                channel,
                message,
                done,
                ..
            } => {
                let result =
                    match &mut self.socket {
                        Some(socket) => send(socket, channel, &message).await.map_err(|reason| {
                            KernelError::Send {
                                id: self.config.id.clone(),
                                channel,
                                reason,
                            }
                        }),
                        None => Err(self.not_running()),
                    };
                let _ = done.send(result);
            }
            Command::Interrupt { done } => {
                let _ = done.send(self.post("interrupt").await);
            }
            Command::Restart { done } => {
                let _ = self.shared.send(KernelEvent::Restarting);
                self.publish_state(KernelState::Restarting);
                let mut result = self.post("restart").await;
                if result.is_ok() && self.socket.is_none() {
                    // The WebSocket was lost: the restarted kernel gets a new one.
                    match open(&self.remote.rest, &self.config.id, &self.config.session).await {
                        Ok(socket) => {
                            self.socket = Some(socket);
                            self.reconnected = false;
                        }
                        Err(error) => result = Err(error),
                    }
                }
                self.publish_state(KernelState::Running);
                let _ = self.shared.send(KernelEvent::Restarted);
                let _ = done.send(result);
            }
            Command::ConnectClient { identity, done } => {
                let target = Target {
                    rest: self.remote.rest.clone(),
                    id: self.config.id.clone(),
                    signer: self.config.signer.clone(),
                };
                let identity = String::from_utf8_lossy(&identity).into_owned();
                self.clients.connect(target, identity, done);
            }
            Command::DropClient { conn } => self.clients.drop_client(conn),
            Command::Shutdown { .. } => unreachable!("handled by run"),
        }
    }

    async fn post(&self, action: &str) -> Result<()> {
        let path = format!("/api/kernels/{}/{action}", self.config.id);
        self.remote
            .rest
            .call(Method::POST, &path, None, CALL_TIMEOUT)
            .await
            .map(|_| ())
    }

    fn not_running(&self) -> KernelError {
        crate::actor::not_running(&self.config.id, self.state.borrow().state)
    }

    fn publish_state(&self, state: KernelState) {
        self.state.send_modify(|snapshot| snapshot.state = state);
    }

    async fn received(&mut self, frame: Option<std::result::Result<Message, String>>) {
        let reason = match frame {
            Some(Ok(frame)) => match decode(frame) {
                None => return,
                Some(Ok((channel, mut message))) => {
                    message.sign(&self.config.signer);
                    let death = (channel == Channel::IoPub)
                        .then(|| reported_death(&message))
                        .flatten();
                    let event = KernelEvent::Message {
                        channel,
                        message: Arc::new(message),
                    };
                    let _ = match channel {
                        Channel::IoPub => self.shared.send(event),
                        _ => self.replies.send(event),
                    };
                    if let Some(state) = death.filter(|_| !self.reported_dead) {
                        tracing::warn!(
                            kernel = %self.config.id, gateway = %self.remote.rest.url, state,
                            "the gateway reports the kernel dead (its process or host is gone)"
                        );
                        self.reported_dead = true;
                        self.died();
                    }
                    return;
                }
                Some(Err(error)) => {
                    tracing::warn!(kernel = %self.config.id, %error, "unreadable frame from the gateway");
                    return;
                }
            },
            Some(Err(reason)) => reason,
            None => "the gateway closed the WebSocket".to_owned(),
        };
        self.socket = None;
        if !self.reconnected {
            // Once: a dropped connection is not a dead kernel. The gateway replays what it buffered.
            self.reconnected = true;
            let reopen = open(&self.remote.rest, &self.config.id, &self.config.session);
            match tokio::time::timeout(RECONNECT_TIMEOUT, reopen).await {
                Ok(Ok(socket)) => {
                    tracing::warn!(kernel = %self.config.id, %reason, "gateway WebSocket reconnected");
                    self.socket = Some(socket);
                    return;
                }
                Ok(Err(error)) => {
                    tracing::warn!(kernel = %self.config.id, %error, "cannot reconnect")
                }
                Err(_) => {
                    tracing::warn!(kernel = %self.config.id, "no reconnection within the timeout")
                }
            }
        }
        tracing::warn!(
            kernel = %self.config.id, gateway = %self.remote.rest.url, %reason,
            "gateway kernel lost"
        );
        self.died();
    }

    /// The kernel is gone (no exit status is known on this side): `Dead`, and `Died` to subscribers.
    fn died(&self) {
        let status = ExitInfo {
            code: None,
            signal: None,
        };
        self.publish_state(KernelState::Dead(status));
        let _ = self.shared.send(KernelEvent::Died { status });
    }

    async fn shutdown(&mut self) {
        if let Some(mut socket) = self.socket.take() {
            let _ = socket.close(None).await;
        }
        if self.reported_dead {
            // A gateway may hold the deletion of a kernel it failed to restart (Enterprise Gateway for
            // its launch timeout, 30 s by default): the shutdown does not wait, the deletion goes on.
            self.remote.delete_in_background();
        } else {
            self.remote.delete().await;
        }
        self.publish_state(KernelState::ShutDown);
        let _ = self.shared.send(KernelEvent::ShutDown);
    }
}

/// The next frame, or never once the socket is gone.
async fn next_frame(socket: &mut Option<Socket>) -> Option<std::result::Result<Message, String>> {
    match socket {
        Some(socket) => socket
            .next()
            .await
            .map(|frame| frame.map_err(|error| error_chain(&error))),
        None => std::future::pending().await,
    }
}

/// The gateway's own word that the kernel died: a `status` of `restarting` (its restarter found the
/// kernel dead) or `dead` (it gave up restarting it), which jupyter_server sends on the channels with no
/// parent; a kernel never publishes either. Returns the state. The kernel's handle then reports
/// `Died`; the executor reads the message itself for its reason.
pub fn reported_death(message: &RawMessage) -> Option<&'static str> {
    let routing = message.routing().ok()?;
    if routing.msg_type != "status" || routing.parent_msg_id.is_some() {
        return None;
    }
    let content = message.content_json().ok()?;
    match content.get("execution_state").and_then(Value::as_str)? {
        "restarting" => Some("restarting"),
        "dead" => Some("dead"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use serde_json::json;

    fn status(state: &str, parent: Option<&Bytes>) -> RawMessage {
        let signer = Signer::new(nbgate_protocol::wire::HMAC_SHA256, b"key").expect("signer");
        let content = json!({ "execution_state": state });
        RawMessage::new_signed("status", "s", &content, parent, &signer)
    }

    #[test]
    fn only_the_gateway_s_parentless_restarting_or_dead_status_reports_a_death() {
        assert_eq!(
            reported_death(&status("restarting", None)),
            Some("restarting")
        );
        assert_eq!(reported_death(&status("dead", None)), Some("dead"));
        // The kernel's own statuses: at start (no parent), and around each request.
        assert_eq!(reported_death(&status("starting", None)), None);
        let parent = Bytes::from_static(br#"{"msg_id":"p","msg_type":"execute_request"}"#);
        assert_eq!(reported_death(&status("busy", Some(&parent))), None);
        assert_eq!(reported_death(&status("dead", Some(&parent))), None);
    }
}

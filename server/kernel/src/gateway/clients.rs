//! Extra clients of a gateway kernel ([`crate::Kernel::connect_client`]): each is a WebSocket of its own
//! to the gateway, opened as session `identity`, so the gateway routes that client's replies and its
//! stdin requests to it, as a local kernel's ROUTER does by socket identity. One task per client owns
//! its socket: it sends the client's requests and publishes the replies (shell, control, stdin) on the
//! client's own channel; iopub comes through the kernel's main WebSocket only, so it is not published
//! twice. A lost socket is reopened once as the same session, like the main one.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::StreamExt;
use nbgate_protocol::{Channel, RawMessage, Signer};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::actor::{RECONNECT_TIMEOUT, Socket, decode, open, send};
use super::rest::Rest;
use crate::actor::ConnId;
use crate::error::{KernelError, Result};
use crate::events::{EVENT_CAPACITY, KernelEvent};

/// A request for a client's socket: the message and where to answer.
type Outgoing = (Channel, RawMessage, oneshot::Sender<Result<()>>);

/// The clients of one gateway kernel, by connection id.
#[derive(Default)]
pub(crate) struct Clients {
    links: HashMap<ConnId, Link>,
    next: ConnId,
}

struct Link {
    identity: String,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    /// Kept here so the handle's weak sender lives as long as the client is connected.
    _replies: broadcast::Sender<KernelEvent>,
}

/// What a client's task needs of its kernel.
pub(crate) struct Target {
    pub rest: Rest,
    pub id: String,
    pub signer: Signer,
}

impl Clients {
    /// Registers a client with `identity` and starts its task, which opens its WebSocket and then
    /// answers `done` (with the connection id and its replies' channel, or why it could not connect).
    pub(crate) fn connect(
        &mut self,
        target: Target,
        identity: String,
        done: oneshot::Sender<Result<(ConnId, broadcast::WeakSender<KernelEvent>)>>,
    ) {
        // Links whose task ended (a failed connection) are forgotten on the way.
        self.links.retain(|_, link| !link.outgoing.is_closed());
        if self.links.values().any(|link| link.identity == identity) {
            let _ = done.send(Err(KernelError::IdentityInUse { identity }));
            return;
        }
        self.next += 1;
        let conn = self.next;
        let (replies, _) = broadcast::channel(EVENT_CAPACITY);
        let (outgoing, requests) = mpsc::unbounded_channel();
        let weak = replies.downgrade();
        tokio::spawn(run(
            target,
            identity.clone(),
            requests,
            replies.clone(),
            async move {
                let _ = done.send(Ok((conn, weak)));
            },
        ));
        self.links.insert(
            conn,
            Link {
                identity,
                outgoing,
                _replies: replies,
            },
        );
    }

    /// Sends through client `conn`'s socket; its task answers `done`.
    pub(crate) fn send(
        &self,
        conn: ConnId,
        channel: Channel,
        message: RawMessage,
        done: oneshot::Sender<Result<()>>,
    ) -> std::result::Result<(), oneshot::Sender<Result<()>>> {
        match self.links.get(&conn) {
            Some(link) => link
                .outgoing
                .send((channel, message, done))
                .map_err(|error| error.0.2),
            None => Err(done),
        }
    }

    /// Closes client `conn`'s socket (its task ends when its requests channel closes).
    pub(crate) fn drop_client(&mut self, conn: ConnId) {
        self.links.remove(&conn);
    }
}

/// One client's task: open its socket (then `connected`), then relay until the client is dropped.
async fn run(
    target: Target,
    identity: String,
    mut requests: mpsc::UnboundedReceiver<Outgoing>,
    replies: broadcast::Sender<KernelEvent>,
    connected: impl std::future::Future<Output = ()>,
) {
    let opened =
        tokio::time::timeout(RECONNECT_TIMEOUT, open(&target.rest, &target.id, &identity)).await;
    let mut socket: Option<Socket> = match opened {
        Ok(Ok(socket)) => Some(socket),
        Ok(Err(error)) => {
            tracing::warn!(kernel = %target.id, %error, "cannot connect a client to the gateway kernel");
            return;
        }
        Err(_) => {
            tracing::warn!(kernel = %target.id, "no client connection to the gateway kernel in time");
            return;
        }
    };
    connected.await;
    let mut reopened = false;
    loop {
        let frame = async {
            match socket.as_mut() {
                Some(socket) => socket.next().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            request = requests.recv() => {
                let Some((channel, message, done)) = request else {
                    if let Some(mut socket) = socket.take() {
                        let _ = socket.close(None).await;
                    }
                    return;
                };
                let result = match socket.as_mut() {
                    Some(socket) => send(socket, channel, &message).await,
                    None => Err("the client's connection to the gateway is lost".to_owned()),
                };
                let _ = done.send(result.map_err(|reason| KernelError::Send {
                    id: target.id.clone(),
                    channel,
                    reason,
                }));
            }
            frame = frame => match frame {
                Some(Ok(frame)) => match decode(frame) {
                    Some(Ok((channel, mut message))) if channel != Channel::IoPub => {
                        message.sign(&target.signer);
                        let _ = replies.send(KernelEvent::Message { channel, message: Arc::new(message) });
                    }
                    _ => {}
                },
                lost => {
                    socket = None;
                    if reopened {
                        tracing::warn!(kernel = %target.id, session = %identity, ?lost, "client WebSocket lost");
                        continue;
                    }
                    reopened = true;
                    let reopen = open(&target.rest, &target.id, &identity);
                    if let Ok(Ok(again)) = tokio::time::timeout(RECONNECT_TIMEOUT, reopen).await {
                        socket = Some(again);
                    }
                }
            },
        }
    }
}

//! One WebSocket connection: attaches to its session, writes what the session delivers in the
//! connection's format, forwards the client's frames (signed with the kernel key), pings.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt as _, StreamExt as _};
use nbgate_kernel::Channel;
use nbgate_kernel::RawMessage;

use super::Format;
use super::session::Attached;
use crate::Config;
use crate::registry::{ConnectionGuard, KernelEntry};
use nbgate_protocol::websocket::{self as frames, Frame, FrameError, Sender};

pub(crate) async fn serve(
    socket: WebSocket,
    entry: Arc<KernelEntry>,
    mut attached: Attached,
    _counted: ConnectionGuard,
    format: Format,
    config: Arc<Config>,
) {
    let (mut sink, mut stream) = socket.split();
    let signer = entry.kernel.signer().clone();
    let mut ping = config
        .ws_ping_interval
        .map(|period| tokio::time::interval_at(tokio::time::Instant::now() + period, period));
    // A kernel message taken for this connection but not written (the socket failed).
    let mut unsent = None;
    loop {
        tokio::select! {
            // Client frames first: a close that has arrived is seen before more output is written to a
            // socket nobody reads; that output stays with the session for its next connection.
            biased;
            frame = stream.next() => {
                let decoded = match frame {
                    Some(Ok(Message::Text(text))) => {
                        frames::decode_legacy_text(text.as_str(), Sender::Client)
                    }
                    Some(Ok(Message::Binary(bytes))) => match format {
                        Format::V1 => frames::decode_v1(&bytes, Sender::Client),
                        Format::Legacy => frames::decode_legacy_binary(&bytes, Sender::Client),
                    },
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                };
                match decoded {
                    Ok((channel, mut message)) => {
                        message.sign(&signer);
                        attached.send(channel, message);
                    }
                    Err(FrameError::Channel(channel)) => {
                        tracing::debug!(%channel, "dropping a client message for a non-request channel");
                    }
                    Err(error) => tracing::warn!(kernel = %entry.id(), %error, "dropping a client frame"),
                }
            }
            outbound = attached.outbound.recv() => {
                let Some(outbound) = outbound else {
                    // Replaced by a newer connection of the same session, or the kernel is gone.
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                };
                match encode(format, outbound.channel, &outbound.message) {
                    Ok(message) => {
                        if sink.send(message).await.is_err() {
                            unsent = Some(outbound);
                            break;
                        }
                    }
                    Err(error) => tracing::warn!(kernel = %entry.id(), %error, "cannot forward a kernel message"),
                }
            }
            () = tick(&mut ping) => {
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
        }
    }
    attached.hand_back(unsent);
}

async fn tick(ping: &mut Option<tokio::time::Interval>) {
    match ping {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

fn encode(format: Format, channel: Channel, message: &RawMessage) -> Result<Message, FrameError> {
    Ok(match format {
        Format::V1 => Message::Binary(frames::encode_v1(channel, message)),
        Format::Legacy => match frames::encode_legacy(channel, message)? {
            Frame::Text(text) => Message::Text(text.into()),
            Frame::Binary(bytes) => Message::Binary(bytes),
        },
    })
}

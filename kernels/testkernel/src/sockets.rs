//! The five sockets: binding (port 0 → a free port), rewriting the connection file, and the tasks that
//! own iopub, the heartbeat and the request readers.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use nbgate_protocol::jupyter_protocol::ConnectionInfo;
use nbgate_protocol::jupyter_protocol::connection_info::Transport;
use nbgate_protocol::{ProtocolError, RawMessage, Signer};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use zeromq::{
    Endpoint, RepSocket, RouterSocket, Socket, SocketRecv, SocketSend, XPubSocket, ZmqMessage,
};

use crate::Error;

/// The kernel's sockets, bound and ready to serve.
pub struct Sockets {
    pub shell: RouterSocket,
    pub control: RouterSocket,
    pub stdin: RouterSocket,
    pub iopub: XPubSocket,
    pub heartbeat: RepSocket,
}

/// Binds every socket at the address in `info`, replacing ports given as 0 with the ones bound.
pub async fn bind(info: &mut ConnectionInfo) -> Result<Sockets, Error> {
    let mut sockets = Sockets {
        shell: RouterSocket::new(),
        control: RouterSocket::new(),
        stdin: RouterSocket::new(),
        iopub: XPubSocket::new(),
        heartbeat: RepSocket::new(),
    };
    let (transport, ip) = (info.transport.clone(), info.ip.clone());
    info.shell_port = bind_one(&mut sockets.shell, &transport, &ip, info.shell_port).await?;
    info.control_port = bind_one(&mut sockets.control, &transport, &ip, info.control_port).await?;
    info.stdin_port = bind_one(&mut sockets.stdin, &transport, &ip, info.stdin_port).await?;
    info.iopub_port = bind_one(&mut sockets.iopub, &transport, &ip, info.iopub_port).await?;
    info.hb_port = bind_one(&mut sockets.heartbeat, &transport, &ip, info.hb_port).await?;
    Ok(sockets)
}

async fn bind_one(
    socket: &mut impl Socket,
    transport: &Transport,
    ip: &str,
    port: u16,
) -> Result<u16, Error> {
    match transport {
        Transport::TCP => match socket.bind(&format!("tcp://{ip}:{port}")).await? {
            Endpoint::Tcp(_, bound) => Ok(bound),
            other => Err(format!("bound {other} instead of a TCP endpoint").into()),
        },
        Transport::IPC => {
            // As ipykernel does: port 0 means the first `<ip>-<n>` path that does not exist yet.
            let port = if port == 0 {
                (1..=u16::MAX)
                    .find(|n| !Path::new(&format!("{ip}-{n}")).exists())
                    .ok_or("no free IPC path")?
            } else {
                port
            };
            socket.bind(&format!("ipc://{ip}-{port}")).await?;
            Ok(port)
        }
    }
}

/// Writes the bound ports back to the connection file if any was 0 (ipykernel's behaviour, done only
/// once every socket is bound, so the rewrite doubles as a readiness signal). The new file replaces the
/// old one by rename, so a reader sees either the old content or the complete new one.
pub fn rewrite_connection_file(
    path: &Path,
    original: &ConnectionInfo,
    bound: &ConnectionInfo,
) -> Result<(), Error> {
    if original == bound {
        return Ok(());
    }
    let mut temporary = PathBuf::from(path);
    temporary.as_mut_os_string().push(".tmp");
    nbgate_protocol::write_connection_file(&temporary, bound)?;
    fs::rename(&temporary, path)?;
    Ok(())
}

/// What the kernel hands to the iopub task.
pub enum Publication {
    Message(RawMessage),
    /// Answered once every earlier message has been handed to the socket.
    Flush(oneshot::Sender<()>),
}

/// Publishes messages in order and, unless `welcome` is false, answers each subscription with
/// `iopub_welcome` (JEP 65).
pub async fn serve_iopub(
    mut socket: XPubSocket,
    mut publications: mpsc::UnboundedReceiver<Publication>,
    session: String,
    signer: Signer,
    welcome: bool,
) {
    loop {
        tokio::select! {
            publication = publications.recv() => match publication {
                Some(Publication::Message(message)) => send(&mut socket, message).await,
                Some(Publication::Flush(done)) => {
                    let _ = done.send(());
                }
                None => return,
            },
            // Subscriptions are frames `\x01<topic>`; unsubscriptions start with `\x00`.
            received = socket.recv() => {
                let Ok(frames) = received else { continue };
                let Some(topic) = frames.get(0).and_then(|frame| frame.strip_prefix(b"\x01")) else {
                    continue;
                };
                if welcome {
                    let content = json!({"subscription": String::from_utf8_lossy(topic)});
                    let mut message =
                        RawMessage::new_signed("iopub_welcome", &session, &content, None, &signer);
                    if !topic.is_empty() {
                        message.identities.push(Bytes::copy_from_slice(topic));
                    }
                    send(&mut socket, message).await;
                }
            }
        }
    }
}

/// Echoes every heartbeat back.
pub async fn serve_heartbeat(mut socket: RepSocket) {
    loop {
        match socket.recv().await {
            Ok(ping) => {
                if let Err(error) = socket.send(ping).await {
                    eprintln!("heartbeat: {error}");
                }
            }
            Err(error) => eprintln!("heartbeat: {error}"),
        }
    }
}

/// Reads requests from a ROUTER socket, verifies them and passes them on; drops the ones that fail.
pub async fn read_requests(
    mut socket: impl SocketRecv,
    verifier: Signer,
    requests: mpsc::UnboundedSender<RawMessage>,
) {
    loop {
        let frames = match socket.recv().await {
            Ok(frames) => frames.into_vec(),
            Err(error) => {
                eprintln!("receive: {error}");
                continue;
            }
        };
        match RawMessage::decode(frames, &verifier) {
            Ok(message) => {
                if requests.send(message).is_err() {
                    return;
                }
            }
            // The words ipykernel logs, so that tests and people can grep for them.
            Err(ProtocolError::BadSignature) => eprintln!("Invalid Signature"),
            Err(error) => eprintln!("Bad message: {error}"),
        }
    }
}

/// Sends a message's frames (identities first), logging rather than failing: a vanished peer is the
/// client's problem, not the kernel's.
pub async fn send(socket: &mut impl SocketSend, message: RawMessage) {
    let frames = message.into_frames();
    let Ok(frames) = ZmqMessage::try_from(frames) else {
        return;
    };
    if let Err(error) = socket.send(frames).await {
        eprintln!("send: {error}");
    }
}

//! Black-box support: start the built kernel on a port-0 connection file, wait for the rewrite, and talk
//! to it with ZeroMQ client sockets and `nbgate-protocol` framing.
#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use nbgate_protocol::jupyter_protocol::ConnectionInfo;
use nbgate_protocol::jupyter_protocol::connection_info::Transport;
use nbgate_protocol::{Channel, RawMessage, Signer};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use zeromq::util::PeerIdentity;
use zeromq::{DealerSocket, Socket, SocketOptions, SocketRecv, SocketSend, SubSocket, ZmqMessage};

pub const KEY: &str = "testkernel-key";
/// Generous: a message either arrives within milliseconds or the kernel is broken.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A running kernel process and the connection file it rewrote.
pub struct TestKernel {
    pub child: Child,
    pub info: ConnectionInfo,
    pub connection_file: PathBuf,
    pub dir: tempfile::TempDir,
}

impl TestKernel {
    /// Starts the kernel on TCP with every port 0.
    pub async fn start(args: &[&str]) -> Self {
        Self::start_on(Transport::TCP, args).await
    }

    /// Starts the kernel with every port 0; for IPC the sockets live in a temporary directory.
    pub async fn start_on(transport: Transport, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let ip = match transport {
            Transport::TCP => "127.0.0.1".to_owned(),
            Transport::IPC => dir.path().join("kernel-ipc").display().to_string(),
        };
        let info = ConnectionInfo {
            ip,
            transport,
            shell_port: 0,
            iopub_port: 0,
            stdin_port: 0,
            control_port: 0,
            hb_port: 0,
            key: KEY.into(),
            signature_scheme: "hmac-sha256".into(),
            kernel_name: Some("testkernel".into()),
        };
        let connection_file = dir.path().join("kernel.json");
        nbgate_protocol::write_connection_file(&connection_file, &info).expect("write");
        let mut child = Command::new(env!("CARGO_BIN_EXE_nbgate-testkernel"))
            .arg("-f")
            .arg(&connection_file)
            .args(args)
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start nbgate-testkernel");
        let info = wait_for_rewrite(&connection_file, &mut child).await;
        Self {
            child,
            info,
            connection_file,
            dir,
        }
    }

    pub fn pid(&self) -> i32 {
        let pid = self.child.id().expect("kernel still running");
        i32::try_from(pid).expect("pid fits")
    }

    /// Waits for the process to end, and returns its status and everything it wrote to stderr.
    pub async fn exit(mut self) -> (ExitStatus, String) {
        let stderr = self.child.stderr.take();
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("kernel exits in time")
            .expect("wait");
        let mut text = String::new();
        if let Some(mut stderr) = stderr {
            use tokio::io::AsyncReadExt;
            stderr.read_to_string(&mut text).await.expect("stderr");
        }
        (status, text)
    }
}

/// Polls for the rewritten connection file: the kernel's readiness signal. There is no event to wait
/// on for a file written by another process, so this checks every few milliseconds until a deadline.
async fn wait_for_rewrite(path: &Path, child: &mut Child) -> ConnectionInfo {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(info) = nbgate_protocol::read_connection_file(path)
            && info.shell_port != 0
        {
            return info;
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("kernel exited before rewriting its connection file: {status}");
        }
        assert!(Instant::now() < deadline, "no connection file rewrite");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn url(info: &ConnectionInfo, port: u16) -> String {
    match info.transport {
        Transport::TCP => format!("tcp://{}:{port}", info.ip),
        Transport::IPC => format!("ipc://{}-{port}", info.ip),
    }
}

/// A client with shell, control, stdin (sharing the shell's identity) and iopub sockets.
pub struct Client {
    pub signer: Signer,
    pub session: String,
    shell: DealerSocket,
    control: DealerSocket,
    stdin: DealerSocket,
    iopub: SubSocket,
}

impl Client {
    /// Connects every socket and waits for the `iopub_welcome`, so that nothing published afterwards can
    /// be missed. The welcome is returned unverified.
    pub async fn connect(info: &ConnectionInfo) -> (Self, RawMessage) {
        let mut client = Self::connect_without_welcome(info).await;
        let welcome = client.recv_unverified(Channel::IoPub).await;
        assert_eq!(msg_type(&welcome), "iopub_welcome");
        (client, welcome)
    }

    /// Connects every socket (iopub subscribed before connecting) without waiting for anything.
    pub async fn connect_without_welcome(info: &ConnectionInfo) -> Self {
        let identity = PeerIdentity::try_from(b"testkernel-client".as_slice()).expect("identity");
        let dealer = || {
            let mut options = SocketOptions::default();
            options.peer_identity(identity.clone());
            DealerSocket::with_options(options)
        };
        let mut client = Self {
            signer: Signer::new("hmac-sha256", KEY.as_bytes()).expect("signer"),
            session: "test-session".into(),
            shell: dealer(),
            control: dealer(),
            stdin: dealer(),
            iopub: SubSocket::new(),
        };
        client.iopub.subscribe("").await.expect("subscribe");
        client
            .iopub
            .connect(&url(info, info.iopub_port))
            .await
            .expect("iopub");
        let dealers = [
            (&mut client.shell, info.shell_port),
            (&mut client.control, info.control_port),
            (&mut client.stdin, info.stdin_port),
        ];
        for (dealer, port) in dealers {
            dealer.connect(&url(info, port)).await.expect("connect");
        }
        client
    }

    /// The next iopub message if one comes within `wait` (for the pre-welcome readiness dance only).
    pub async fn try_recv_iopub(&mut self, wait: Duration) -> Option<RawMessage> {
        let frames = tokio::time::timeout(wait, self.iopub.recv()).await.ok()?;
        let frames = frames.expect("receive").into_vec();
        Some(RawMessage::decode_unverified(frames).expect("a Jupyter message"))
    }

    fn dealer(&mut self, channel: Channel) -> &mut DealerSocket {
        match channel {
            Channel::Shell => &mut self.shell,
            Channel::Control => &mut self.control,
            Channel::Stdin => &mut self.stdin,
            other => unreachable!("{other} is not a dealer"),
        }
    }

    /// Sends a request signed with `self.signer`; returns its header (the parent of what answers it).
    pub async fn send(&mut self, channel: Channel, msg_type: &str, content: Value) -> Bytes {
        let message = RawMessage::new_signed(msg_type, &self.session, &content, None, &self.signer);
        let header = message.header.clone();
        let frames = ZmqMessage::try_from(message.into_frames()).expect("frames");
        self.dealer(channel).send(frames).await.expect("send");
        header
    }

    /// Sends an `execute_request` with jupyter_client's defaults, overridden by `extra`.
    pub async fn execute(&mut self, code: &str, extra: Value) -> Bytes {
        let mut content = json!({
            "code": code, "silent": false, "store_history": true, "user_expressions": {},
            "allow_stdin": false, "stop_on_error": true,
        });
        if let (Some(content), Value::Object(extra)) = (content.as_object_mut(), extra) {
            content.extend(extra);
        }
        self.send(Channel::Shell, "execute_request", content).await
    }

    /// The next message on `channel`, split but not verified.
    pub async fn recv_unverified(&mut self, channel: Channel) -> RawMessage {
        let received = async {
            match channel {
                Channel::IoPub => self.iopub.recv().await,
                other => self.dealer(other).recv().await,
            }
        };
        let frames = tokio::time::timeout(PATIENCE, received)
            .await
            .unwrap_or_else(|_| panic!("nothing on {channel} within {PATIENCE:?}"))
            .expect("receive");
        RawMessage::decode_unverified(frames.into_vec()).expect("a Jupyter message")
    }

    /// The next message on `channel`, which must carry a valid signature.
    pub async fn recv(&mut self, channel: Channel) -> RawMessage {
        let message = self.recv_unverified(channel).await;
        self.signer
            .verify(&message.signature, message.parts())
            .expect("the kernel signs with the connection file's key");
        message
    }

    /// Every iopub message answering `parent`, from `busy` to `idle` inclusive, as (type, content).
    /// Messages for other parents (the `starting` status, welcomes) are skipped.
    pub async fn iopub_for(&mut self, parent: &Bytes) -> Vec<(String, Value)> {
        let parent_id = msg_id(parent);
        let mut seen = Vec::new();
        loop {
            let message = self.recv(Channel::IoPub).await;
            if parent_msg_id(&message) != parent_id {
                continue;
            }
            let content = message.content_json().expect("content");
            let idle = content["execution_state"] == "idle";
            seen.push((msg_type(&message), content));
            if idle {
                return seen;
            }
        }
    }

    /// The next reply on `channel`, checked to answer `parent`, as its content.
    pub async fn reply_to(&mut self, channel: Channel, parent: &Bytes) -> (String, Value) {
        let reply = self.recv(channel).await;
        assert_eq!(
            parent_msg_id(&reply),
            msg_id(parent),
            "reply to another request"
        );
        (msg_type(&reply), reply.content_json().expect("content"))
    }
}

pub fn msg_type(message: &RawMessage) -> String {
    message.routing().expect("routing").msg_type
}

pub fn msg_id(header: &Bytes) -> String {
    let header: Value = serde_json::from_slice(header).expect("header");
    header["msg_id"].as_str().expect("msg_id").to_owned()
}

pub fn parent_msg_id(message: &RawMessage) -> String {
    message
        .routing()
        .expect("routing")
        .parent_msg_id
        .unwrap_or_default()
}

/// Just the message types of an iopub sequence.
pub fn types(messages: &[(String, Value)]) -> Vec<&str> {
    messages.iter().map(|(t, _)| t.as_str()).collect()
}

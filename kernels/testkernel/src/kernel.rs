//! Shared kernel state and the dispatch of shell and control requests.
//!
//! Every request is wrapped in iopub `status: busy` / `status: idle` with the request as parent, and
//! every `*_request` gets a `*_reply` (an error reply when the type is unknown), so no client hangs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use nbgate_protocol::{RawMessage, Signer};
use serde_json::{Value, json};
use tokio::signal::unix::Signal;
use tokio::sync::{Notify, mpsc, oneshot};
use zeromq::{RouterSendHalf, RouterSocket, SocketSend};

use crate::cell::{self, Stdin};
use crate::sockets::{self, Publication};

/// How long to let socket writer tasks drain before the process exits (ZeroMQ's "linger").
const LINGER: Duration = Duration::from_millis(50);

/// The state shell, control and signal handling share.
pub struct Kernel {
    /// This process's session, in the header of every message it sends.
    pub session: String,
    signer: Signer,
    iopub: mpsc::UnboundedSender<Publication>,
    pub interrupts: Interrupts,
    exit_during_shutdown: bool,
    /// Set by `hang-hard`: the shell is stuck for good, so even `shutdown_request` cannot end it.
    pub wedged: AtomicBool,
}

impl Kernel {
    pub fn new(
        signer: Signer,
        iopub: mpsc::UnboundedSender<Publication>,
        exit_during_shutdown: bool,
    ) -> Self {
        Self {
            session: uuid::Uuid::new_v4().to_string(),
            signer,
            iopub,
            interrupts: Interrupts::default(),
            exit_during_shutdown,
            wedged: AtomicBool::new(false),
        }
    }

    /// A signed message answering `parent` (a request's header bytes).
    pub fn message(&self, msg_type: &str, content: &Value, parent: Option<&Bytes>) -> RawMessage {
        RawMessage::new_signed(msg_type, &self.session, content, parent, &self.signer)
    }

    /// The reply to `request`, addressed back to its sender.
    pub fn reply(&self, request: &RawMessage, msg_type: &str, content: &Value) -> RawMessage {
        let mut reply = self.message(msg_type, content, Some(&request.header));
        reply.identities = request.identities.clone();
        reply
    }

    /// Publishes on iopub with an ipykernel-style topic (`kernel.<session>.<msg_type>`).
    pub fn publish(&self, msg_type: &str, content: &Value, parent: Option<&Bytes>) {
        let mut message = self.message(msg_type, content, parent);
        let topic = format!("kernel.{}.{msg_type}", self.session);
        message.identities.push(Bytes::from(topic));
        // Fails only once the iopub task is gone, that is while the process exits.
        let _ = self.iopub.send(Publication::Message(message));
    }

    pub fn publish_status(&self, state: &str, parent: Option<&Bytes>) {
        self.publish("status", &json!({"execution_state": state}), parent);
    }

    /// Ends the process once everything published so far has had a chance to reach the wire.
    pub async fn exit(&self, code: i32) -> ! {
        let (done, flushed) = oneshot::channel();
        if self.iopub.send(Publication::Flush(done)).is_ok() {
            let _ = flushed.await;
        }
        tokio::time::sleep(LINGER).await;
        std::process::exit(code)
    }

    /// Replies to the requests that need no more than their content: `(reply type, reply content)`, or
    /// `None` for messages that are not requests (`comm_msg`, a stray `input_reply`, …).
    fn simple_reply(msg_type: &str) -> Option<(String, Value)> {
        let content = match msg_type {
            "kernel_info_request" => json!({
                "status": "ok",
                "protocol_version": "5.3",
                "implementation": "nbgate-testkernel",
                "implementation_version": env!("CARGO_PKG_VERSION"),
                "language_info": {
                    "name": "testlang",
                    "version": "1.0",
                    "mimetype": "text/plain",
                    "file_extension": ".txt",
                },
                "banner": "nbgate test kernel: a deterministic kernel for tests",
                "help_links": [],
            }),
            "is_complete_request" => json!({"status": "complete"}),
            "comm_info_request" => json!({"status": "ok", "comms": {}}),
            other => {
                other.strip_suffix("_request")?;
                json!({
                    "status": "error",
                    "ename": "NotImplementedError",
                    "evalue": format!("nbgate-testkernel does not handle {other}"),
                    "traceback": [],
                })
            }
        };
        let reply_type = msg_type.strip_suffix("_request")?.to_owned() + "_reply";
        Some((reply_type, content))
    }

    /// `shutdown_request`: reply, then exit 0 — unless told to die without replying, or wedged.
    async fn shutdown(&self, request: &RawMessage, socket: &mut impl SocketSend) {
        if self.exit_during_shutdown {
            std::process::exit(3);
        }
        let restart = request
            .content_json()
            .ok()
            .and_then(|content| content.get("restart").and_then(Value::as_bool))
            .unwrap_or(false);
        let content = json!({"status": "ok", "restart": restart});
        sockets::send(socket, self.reply(request, "shutdown_reply", &content)).await;
        self.publish_status("idle", Some(&request.header));
        if !self.wedged.load(Ordering::SeqCst) {
            self.exit(0).await;
        }
    }
}

/// Interrupts reach only a running cell; one that arrives between cells is dropped, as in ipykernel.
#[derive(Default)]
pub struct Interrupts {
    running: AtomicBool,
    pending: AtomicBool,
    notify: Notify,
}

impl Interrupts {
    pub fn interrupt(&self) {
        if self.running.load(Ordering::SeqCst) {
            self.pending.store(true, Ordering::SeqCst);
            self.notify.notify_waiters();
        }
    }

    pub fn start_cell(&self) {
        self.pending.store(false, Ordering::SeqCst);
        self.running.store(true, Ordering::SeqCst);
    }

    pub fn end_cell(&self) {
        self.running.store(false, Ordering::SeqCst);
        self.pending.store(false, Ordering::SeqCst);
    }

    /// Consumes a pending interrupt.
    pub fn take(&self) -> bool {
        self.pending.swap(false, Ordering::SeqCst)
    }

    /// Resolves at the next interrupt of the running cell (at once if one is pending).
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Register before checking the flag, so an interrupt in between is not lost.
            notified.as_mut().enable();
            if self.take() {
                return;
            }
            notified.await;
        }
    }
}

/// SIGINT interrupts the running cell (and never kills the kernel), like ipykernel.
pub async fn serve_sigint(kernel: Arc<Kernel>, mut sigint: Signal) {
    while sigint.recv().await.is_some() {
        kernel.interrupts.interrupt();
    }
}

/// Serves control requests one by one, concurrently with whatever the shell is doing.
pub async fn serve_control(kernel: Arc<Kernel>, socket: RouterSocket, verifier: Signer) {
    let (mut send, receive) = socket.split();
    let (requests_tx, mut requests) = mpsc::unbounded_channel();
    tokio::spawn(sockets::read_requests(receive, verifier, requests_tx));
    while let Some(request) = requests.recv().await {
        let Ok(routing) = request.routing() else {
            continue;
        };
        kernel.publish_status("busy", Some(&request.header));
        match routing.msg_type.as_str() {
            "shutdown_request" => {
                // Publishes idle itself, before exiting.
                kernel.shutdown(&request, &mut send).await;
                continue;
            }
            "interrupt_request" => {
                kernel.interrupts.interrupt();
                let reply = kernel.reply(&request, "interrupt_reply", &json!({"status": "ok"}));
                sockets::send(&mut send, reply).await;
            }
            other => {
                if let Some((reply_type, content)) = Kernel::simple_reply(other) {
                    sockets::send(&mut send, kernel.reply(&request, &reply_type, &content)).await;
                }
            }
        }
        kernel.publish_status("idle", Some(&request.header));
    }
}

/// Serves shell requests one at a time, in order. Returns when the shell socket's reader stops.
pub async fn serve_shell(
    kernel: Arc<Kernel>,
    shell: RouterSocket,
    stdin: RouterSocket,
    verifier: Signer,
) {
    let (send, receive) = shell.split();
    let (requests_tx, mut requests) = mpsc::unbounded_channel();
    tokio::spawn(sockets::read_requests(
        receive,
        verifier.clone(),
        requests_tx,
    ));
    let (stdin_send, stdin_receive) = stdin.split();
    let (replies_tx, replies) = mpsc::unbounded_channel();
    tokio::spawn(sockets::read_requests(stdin_receive, verifier, replies_tx));

    let mut shell = Shell {
        kernel,
        send,
        stdin: Stdin::new(stdin_send, replies),
        execution_count: 0,
    };
    while let Some(request) = requests.recv().await {
        if shell.handle(&request, false).await {
            // stop_on_error: abort the executes already queued behind the failed one.
            while let Ok(queued) = requests.try_recv() {
                shell.handle(&queued, true).await;
            }
        }
    }
}

struct Shell {
    kernel: Arc<Kernel>,
    send: RouterSendHalf,
    stdin: Stdin,
    execution_count: u64,
}

impl Shell {
    /// Handles one request; true when it was an execute that failed with `stop_on_error`.
    async fn handle(&mut self, request: &RawMessage, aborting: bool) -> bool {
        let Ok(routing) = request.routing() else {
            return false;
        };
        let kernel = self.kernel.clone();
        kernel.publish_status("busy", Some(&request.header));
        let mut stop = false;
        match routing.msg_type.as_str() {
            "execute_request" if aborting => {
                let content = json!({"status": "aborted", "execution_count": self.execution_count});
                let reply = kernel.reply(request, "execute_reply", &content);
                sockets::send(&mut self.send, reply).await;
            }
            "execute_request" => {
                let (content, failed) =
                    cell::execute(&kernel, request, &mut self.execution_count, &mut self.stdin)
                        .await;
                let reply = kernel.reply(request, "execute_reply", &content);
                sockets::send(&mut self.send, reply).await;
                stop = failed;
            }
            // Deprecated on shell since 5.4, still honoured by ipykernel.
            "shutdown_request" => {
                kernel.shutdown(request, &mut self.send).await;
                return false;
            }
            other => {
                if let Some((reply_type, content)) = Kernel::simple_reply(other) {
                    let reply = kernel.reply(request, &reply_type, &content);
                    sockets::send(&mut self.send, reply).await;
                }
            }
        }
        kernel.publish_status("idle", Some(&request.header));
        stop
    }
}

//! Sessions on the Rust test kernel: same-session replacement in either attach order, attaches racing
//! the end of a session, and the auto-restart notice.

use std::sync::Arc;

use nbgate_kernel::KernelSpecs;
use nbgate_tests::{JupyterEnv, workspace_bin};
use serde_json::{Value, json};
use tokio::time::{Duration, Instant, timeout_at};

use super::*;
use crate::Config;
use crate::registry::KernelRegistry;

/// Generous bound for anything involving the kernel on a loaded machine.
const WAIT: Duration = Duration::from_secs(30);
/// Long enough never to expire during a test.
const LINGER: Duration = Duration::from_secs(600);

struct Fixture {
    _env: JupyterEnv,
    registry: Arc<KernelRegistry>,
    entry: Arc<KernelEntry>,
}

impl Fixture {
    async fn start() -> Self {
        let _ = workspace_bin("nbgate-testkernel");
        let env = JupyterEnv::new();
        env.add_test_kernel("testk", &[]);
        let mut config = Config::new("token", env.work());
        config.specs = KernelSpecs::with_dirs(vec![env.specs.join("kernels")]);
        config.default_kernel = Some("testk".into());
        let registry = KernelRegistry::new(Arc::new(config));
        let entry = registry
            .create(None, None, None)
            .await
            .expect("the test kernel starts");
        Self {
            _env: env,
            registry,
            entry,
        }
    }

    async fn attach(&self, session: &str, conn: u64, linger: Duration) -> Attached {
        Sessions::attach(&self.entry, session, conn, linger)
            .await
            .expect("attaches")
    }

    async fn stop(self) {
        self.registry.shutdown_all().await;
    }
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_default()
}

/// The next message delivered to the connection; `None` once it is closed.
async fn next(attached: &mut Attached, deadline: Instant) -> Option<Outbound> {
    timeout_at(deadline, attached.outbound.recv())
        .await
        .expect("a message or the close in time")
}

/// Sends `request` on shell and waits for a message on the connection that answers it.
async fn ask(entry: &KernelEntry, attached: &mut Attached, msg_type: &str, content: Value) {
    let request = RawMessage::new_signed(msg_type, "client", &content, None, entry.kernel.signer());
    let asked = request.routing().expect("routing").msg_id;
    attached.send(Channel::Shell, request);
    let deadline = Instant::now() + WAIT;
    loop {
        let message = next(attached, deadline)
            .await
            .expect("the connection stays open");
        if message.channel == Channel::Shell
            && json_of(&message.message.parent_header)["msg_id"] == asked.as_str()
        {
            return;
        }
    }
}

async fn assert_closed(attached: &mut Attached) {
    let deadline = Instant::now() + WAIT;
    while let Some(message) = next(attached, deadline).await {
        let _ = message;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_connection_takes_the_session_whatever_order_the_attaches_land_in() {
    let kernel = Fixture::start().await;
    for later_lands_first in [false, true] {
        let session = format!("lab-{later_lands_first}");
        let (earlier, later) = (
            kernel.entry.sessions.ticket(),
            kernel.entry.sessions.ticket(),
        );
        let (mut stale, mut current) = if later_lands_first {
            let current = kernel.attach(&session, later, LINGER).await;
            (kernel.attach(&session, earlier, LINGER).await, current)
        } else {
            let stale = kernel.attach(&session, earlier, LINGER).await;
            (stale, kernel.attach(&session, later, LINGER).await)
        };
        assert_closed(&mut stale).await;
        drop(stale);
        ask(
            &kernel.entry,
            &mut current,
            "kernel_info_request",
            json!({}),
        )
        .await;
    }
    kernel.stop().await;
}

/// The window between a session's pump giving up (no connection past the linger) and its inbox closing:
/// an attach landing there used to be dropped silently (its connection closed at once). The re-attach is
/// swept across the moment the linger expires (the pauses set the phase; nothing waits on them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attach_racing_the_end_of_its_session_lands_on_a_live_one() {
    let kernel = Fixture::start().await;
    let linger = Duration::from_millis(2);
    for step in 0..60 {
        let conn = kernel.entry.sessions.ticket();
        drop(kernel.attach("s", conn, linger).await);
        tokio::time::sleep(Duration::from_micros(100 * (step % 30))).await;
        let conn = kernel.entry.sessions.ticket();
        let mut again = kernel.attach("s", conn, linger).await;
        ask(&kernel.entry, &mut again, "kernel_info_request", json!({})).await;
    }
    kernel.stop().await;
}

fn execute(entry: &KernelEntry, code: &str) -> RawMessage {
    let content = json!({"code": code, "silent": false, "store_history": true,
        "user_expressions": {}, "allow_stdin": false, "stop_on_error": true});
    RawMessage::new_signed(
        "execute_request",
        "client",
        &content,
        None,
        entry.kernel.signer(),
    )
}

/// A client that stopped reading (a dead network path) fills its connection's queue; the reconnect
/// that replaces it must still be taken at once and served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_stopped_reading_does_not_block_its_replacement() {
    let kernel = Fixture::start().await;
    let stuck = kernel
        .attach("s", kernel.entry.sessions.ticket(), LINGER)
        .await;
    let mut watcher = kernel
        .attach("watcher", kernel.entry.sessions.ticket(), LINGER)
        .await;
    // Each cell is five messages for the session (busy, input, stream, idle, reply): well past the
    // connection's queue.
    let mut last = String::new();
    for _ in 0..OUTBOUND_CAPACITY / 3 {
        let request = execute(&kernel.entry, "echo x");
        last = request.routing().expect("routing").msg_id;
        stuck.send(Channel::Shell, request);
    }
    let deadline = Instant::now() + WAIT;
    loop {
        let message = next(&mut watcher, deadline).await.expect("open");
        let done = json_of(&message.message.parent_header)["msg_id"] == last.as_str()
            && json_of(&message.message.content)["execution_state"] == "idle";
        if done {
            break;
        }
    }
    let mut replacement = timeout_at(
        deadline,
        kernel.attach("s", kernel.entry.sessions.ticket(), LINGER),
    )
    .await
    .expect("the replacement attaches in time");
    ask(
        &kernel.entry,
        &mut replacement,
        "kernel_info_request",
        json!({}),
    )
    .await;
    drop(stuck);
    kernel.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kernel_that_dies_is_announced_as_restarting_and_serves_the_session_again() {
    let kernel = Fixture::start().await;
    let conn = kernel.entry.sessions.ticket();
    let mut attached = kernel.attach("s", conn, LINGER).await;
    let mut lifecycle = kernel.entry.kernel.subscribe();
    attached.send(Channel::Shell, execute(&kernel.entry, "crash"));
    let deadline = Instant::now() + WAIT;
    loop {
        let message = next(&mut attached, deadline)
            .await
            .expect("a death does not end the session");
        let restarting = message.channel == Channel::IoPub
            && json_of(&message.message.header)["msg_type"] == "status"
            && json_of(&message.message.content)["execution_state"] == "restarting";
        if restarting {
            break;
        }
    }
    // The restarted kernel answers on the same session (a request sent while it restarts is lost, as
    // with any kernel that is down).
    loop {
        let event = timeout_at(deadline, lifecycle.recv())
            .await
            .expect("restarted in time");
        if matches!(event, None | Some(nbgate_kernel::KernelEvent::Restarted)) {
            break;
        }
    }
    ask(
        &kernel.entry,
        &mut attached,
        "kernel_info_request",
        json!({}),
    )
    .await;
    kernel.stop().await;
}

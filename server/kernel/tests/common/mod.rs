//! Helpers shared by the kernel crate's integration tests.
#![allow(dead_code)]

use std::time::Duration;

use nbgate_kernel::{
    Channel, Kernel, KernelEvent, KernelEvents, KernelSpec, KernelSpecs, LaunchOptions,
};
use nbgate_tests::JupyterEnv;
use serde_json::{Value, json};

/// Any single wait in these tests; generous for a loaded 2-core machine, short enough to fail clearly.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The spec `name` as the isolated environment finds it.
pub fn spec(env: &JupyterEnv, name: &str) -> KernelSpec {
    let vars = env.vars();
    KernelSpecs::from_vars(|var| vars.get(var).cloned())
        .find(name)
        .expect("kernelspec exists")
}

/// Launch options that keep every kernel inside the environment (and marked for the survivor check).
pub fn options(env: &JupyterEnv) -> LaunchOptions {
    LaunchOptions {
        env: env.vars(),
        cwd: Some(env.work()),
        ..LaunchOptions::default()
    }
}

pub async fn start(env: &JupyterEnv, name: &str) -> Kernel {
    nbgate_kernel::start(spec(env, name), options(env))
        .await
        .expect("kernel starts")
}

/// The next event, failing the test rather than hanging.
pub async fn next(events: &mut KernelEvents) -> KernelEvent {
    tokio::time::timeout(PATIENCE, events.recv())
        .await
        .expect("an event within the patience")
        .expect("the kernel's channels are open")
}

/// What one execute produced.
#[derive(Debug, Default)]
pub struct Execution {
    pub msg_id: String,
    pub reply: Value,
    /// `(msg_type, content)` of every iopub message with this execute as parent, in order.
    pub iopub: Vec<(String, Value)>,
}

impl Execution {
    pub fn stdout(&self) -> String {
        self.iopub
            .iter()
            .filter(|(t, c)| t == "stream" && c["name"] == "stdout")
            .filter_map(|(_, c)| c["text"].as_str())
            .collect()
    }
}

pub async fn send_execute(kernel: &Kernel, code: &str) -> String {
    let request = kernel
        .request(
            Channel::Shell,
            "execute_request",
            json!({"code": code, "silent": false, "store_history": true, "user_expressions": {},
                   "allow_stdin": false, "stop_on_error": true}),
        )
        .await
        .expect("sent");
    request.routing().expect("routing").msg_id
}

/// Collects the messages of `msg_id` until both its reply and its iopub idle arrived.
pub async fn collect(events: &mut KernelEvents, msg_id: &str) -> Execution {
    let mut execution = Execution {
        msg_id: msg_id.into(),
        ..Execution::default()
    };
    let (mut replied, mut idle) = (false, false);
    while !(replied && idle) {
        match next(events).await {
            KernelEvent::Message { channel, message } => {
                let routing = message.routing().expect("routing");
                if routing.parent_msg_id.as_deref() != Some(msg_id) {
                    continue;
                }
                let content = message.content_json().expect("json content");
                match channel {
                    Channel::Shell => {
                        replied = true;
                        execution.reply = content;
                    }
                    Channel::IoPub => {
                        idle |=
                            routing.msg_type == "status" && content["execution_state"] == "idle";
                        execution.iopub.push((routing.msg_type, content));
                    }
                    _ => {}
                }
            }
            KernelEvent::Lagged(n) => panic!("missed {n} events"),
            KernelEvent::Heartbeat { .. } | KernelEvent::Restarting | KernelEvent::Restarted => {}
            other => panic!("unexpected event while executing: {other:?}"),
        }
    }
    execution
}

pub async fn execute(kernel: &Kernel, events: &mut KernelEvents, code: &str) -> Execution {
    let msg_id = send_execute(kernel, code).await;
    collect(events, &msg_id).await
}

/// Waits for an iopub message of `msg_type` whose parent is `msg_id`.
pub async fn wait_iopub(events: &mut KernelEvents, msg_id: &str, msg_type: &str) -> Value {
    loop {
        if let KernelEvent::Message {
            channel: Channel::IoPub,
            message,
        } = next(events).await
        {
            let routing = message.routing().expect("routing");
            if routing.parent_msg_id.as_deref() == Some(msg_id) && routing.msg_type == msg_type {
                return message.content_json().expect("json");
            }
        }
    }
}

/// True while a process with this pid exists (zombies included).
pub fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

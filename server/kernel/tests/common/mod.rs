//! Helpers shared by the kernel crate's integration tests.
#![allow(dead_code)]

use std::time::Duration;

use nbgate_kernel::{
    Channel, ExitInfo, Kernel, KernelEvent, KernelEvents, KernelSpec, KernelSpecs, LaunchOptions,
};
use nbgate_tests::JupyterEnv;
use serde_json::{Value, json};
use tokio::time::Instant;

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

/// Runs `while True: pass`, interrupts it and asserts a `KeyboardInterrupt` that leaves the kernel alive.
pub async fn assert_interrupts_a_busy_loop(kernel: &Kernel, events: &mut KernelEvents) {
    let msg_id = send_execute(kernel, "print('looping', flush=True)\nwhile True: pass").await;
    let stream = wait_iopub(events, &msg_id, "stream").await;
    assert_eq!(stream["text"], "looping\n");
    kernel.interrupt().await.expect("interrupt");
    let execution = collect(events, &msg_id).await;
    assert_eq!(execution.reply["status"], "error");
    assert_eq!(execution.reply["ename"], "KeyboardInterrupt");
    assert!(kernel.is_alive(), "an interrupt does not kill the kernel");
}

/// Starts `nbgate-kernel-holder ARGS` in `env`; returns it and the pid of the kernel it holds.
pub fn start_holder(env: &JupyterEnv, args: &[&str]) -> (std::process::Child, u32) {
    use std::io::BufRead as _;
    let mut holder = std::process::Command::new(env!("CARGO_BIN_EXE_nbgate-kernel-holder"))
        .args(args)
        .envs(env.vars())
        .current_dir(env.work())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("holder starts");
    let mut line = String::new();
    std::io::BufReader::new(holder.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("holder prints the kernel pid");
    let kernel_pid = line.trim().parse().expect("a pid");
    (holder, kernel_pid)
}

/// `kill -9` of `process`, then reaps it.
pub fn kill_9(process: &mut std::process::Child) {
    // SAFETY: kill has no memory preconditions.
    assert_eq!(
        unsafe { libc::kill(process.id() as libc::pid_t, libc::SIGKILL) },
        0
    );
    process.wait().expect("reaped");
}

/// True while `pid` runs (a zombie has ended: whoever adopted it may not have reaped it yet).
pub fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// Has the kernel SIGKILL itself and asserts that its death is reported within two seconds of the
/// process's end; returns the reported status. Timed from the end itself: the kernel may die before the
/// iopub messages of the request are out.
pub async fn kill_and_see_death(kernel: &Kernel, events: &mut KernelEvents) -> ExitInfo {
    let pid = kernel.pid().expect("pid");
    send_execute(kernel, "import os; os.kill(os.getpid(), 9)").await;
    let mut ended: Option<Instant> = None;
    let mut look = tokio::time::interval(Duration::from_millis(5));
    let status = loop {
        tokio::select! {
            event = next(events) => if let KernelEvent::Died { status } = event {
                break status;
            },
            _ = look.tick() => if ended.is_none() && !is_running(pid) {
                ended = Some(Instant::now());
            },
        }
    };
    let latency = ended.map_or(Duration::ZERO, |ended| ended.elapsed());
    assert!(
        latency < Duration::from_secs(2),
        "death reported after {latency:?}"
    );
    status
}

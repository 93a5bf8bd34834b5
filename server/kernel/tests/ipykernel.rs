//! The kernel crate against real ipykernel from the project venv.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use common::*;
use nbgate_kernel::{Channel, KernelError, KernelEvent, KernelState};
use nbgate_tests::JupyterEnv;
use serde_json::json;

#[tokio::test]
async fn kernel_info_round_trip() {
    let env = JupyterEnv::new();
    let kernel = start(&env, "python3").await;
    assert_eq!(kernel.kernel_info()["language_info"]["name"], "python");

    let connection_file = kernel.connection_file().to_owned();
    let mode = std::fs::metadata(&connection_file)
        .expect("connection file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(connection_file.starts_with(env.dir.path().join("runtime")));
    let info = kernel.connection_info();
    assert!(
        info.shell_port != 0 && info.hb_port != 0,
        "ports from the kernel: {info:?}"
    );

    let mut events = kernel.subscribe();
    let request = kernel
        .request(Channel::Shell, "kernel_info_request", json!({}))
        .await
        .expect("sent");
    let msg_id = request.routing().expect("routing").msg_id;
    let reply = loop {
        if let KernelEvent::Message {
            channel: Channel::Shell,
            message,
        } = next(&mut events).await
        {
            let routing = message.routing().expect("routing");
            if routing.parent_msg_id.as_deref() == Some(&msg_id) {
                assert_eq!(routing.msg_type, "kernel_info_reply");
                break message.content_json().expect("json");
            }
        }
    };
    assert_eq!(reply["status"], "ok");
    assert_eq!(reply["implementation"], "ipython");

    kernel.shutdown().await.expect("shutdown");
    env.assert_no_survivors(Duration::from_secs(10));
}

#[tokio::test]
async fn execute_prints_and_replies() {
    let env = JupyterEnv::new();
    let kernel = start(&env, "python3").await;
    let mut events = kernel.subscribe();
    let execution = execute(&kernel, &mut events, "print(6*7)").await;
    assert_eq!(execution.reply["status"], "ok", "{:?}", execution.reply);
    assert_eq!(execution.stdout(), "42\n");
    let types: Vec<&str> = execution.iopub.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types.first(), Some(&"status"), "{types:?}");
    assert!(types.contains(&"execute_input"), "{types:?}");

    // The kernel runs where it was told to, with private, in-memory history.
    let execution = execute(
        &kernel,
        &mut events,
        "import os; print(os.getcwd()); print(get_ipython().history_manager.hist_file)",
    )
    .await;
    assert_eq!(
        execution.stdout(),
        format!("{}\n:memory:\n", env.work().display())
    );
    kernel.shutdown().await.expect("shutdown");
    env.assert_no_survivors(Duration::from_secs(10));
}

#[tokio::test]
async fn interrupt_raises_keyboard_interrupt() {
    let env = JupyterEnv::new();
    let kernel = start(&env, "python3").await;
    let mut events = kernel.subscribe();
    assert_interrupts_a_busy_loop(&kernel, &mut events).await;
    kernel.shutdown().await.expect("shutdown");
    env.assert_no_survivors(Duration::from_secs(10));
}

#[tokio::test]
async fn restart_resets_the_execution_count_and_keeps_handles_working() {
    let env = JupyterEnv::new();
    let kernel = start(&env, "python3").await;
    let mut events = kernel.subscribe();
    execute(&kernel, &mut events, "x = 1").await;
    let second = execute(&kernel, &mut events, "x = 2").await;
    assert_eq!(second.reply["execution_count"], 2);
    let old_pid = kernel.pid().expect("pid");

    kernel.restart().await.expect("restart");
    assert_eq!(kernel.state(), KernelState::Running);
    let new_pid = kernel.pid().expect("pid");
    assert_ne!(old_pid, new_pid);
    assert!(!process_exists(old_pid), "the old kernel is gone");
    let mut saw = Vec::new();
    while saw.last() != Some(&"restarted") {
        match next(&mut events).await {
            KernelEvent::Restarting => saw.push("restarting"),
            KernelEvent::Restarted => saw.push("restarted"),
            _ => {}
        }
    }
    assert_eq!(saw, ["restarting", "restarted"]);

    // The same subscription and handle work with the new process.
    let after = execute(&kernel, &mut events, "print('x' in dir())").await;
    assert_eq!(after.reply["execution_count"], 1);
    assert_eq!(after.stdout(), "False\n");
    kernel.shutdown().await.expect("shutdown");
    env.assert_no_survivors(Duration::from_secs(10));
}

#[tokio::test]
async fn shutdown_leaves_nothing_behind() {
    let env = JupyterEnv::new();
    let kernel = start(&env, "python3").await;
    let pid = kernel.pid().expect("pid");
    let connection_file = kernel.connection_file().to_owned();
    assert!(connection_file.exists());
    let mut events = kernel.subscribe();

    kernel.shutdown().await.expect("shutdown");
    assert_eq!(kernel.state(), KernelState::ShutDown);
    assert!(!kernel.is_alive());
    assert!(!connection_file.exists(), "connection file removed");
    assert!(!process_exists(pid), "process reaped");
    loop {
        match events.recv().await {
            Some(KernelEvent::ShutDown) => break,
            Some(_) => continue,
            None => panic!("closed without ShutDown"),
        }
    }
    assert!(events.recv().await.is_none(), "no events after ShutDown");
    assert!(matches!(
        kernel
            .request(Channel::Shell, "kernel_info_request", json!({}))
            .await,
        Err(KernelError::Closed { .. })
    ));
    kernel.shutdown().await.expect("a second shutdown is fine");
    env.assert_no_survivors(Duration::from_secs(10));
}

#[tokio::test]
async fn death_is_reported_within_two_seconds() {
    let env = JupyterEnv::new();
    let kernel = start(&env, "python3").await;
    let mut events = kernel.subscribe();
    let status = kill_and_see_death(&kernel, &mut events).await;
    assert_eq!(status.signal, Some(9), "{status}");
    assert_eq!(kernel.state(), KernelState::Dead(status));
    assert!(!kernel.is_alive());
    let error = kernel
        .request(Channel::Shell, "kernel_info_request", json!({}))
        .await
        .expect_err("dead kernels take no requests");
    assert!(error.to_string().contains("killed by signal 9"), "{error}");

    // A dead kernel can be restarted.
    kernel.restart().await.expect("restart after death");
    let execution = execute(&kernel, &mut events, "print('back')").await;
    assert_eq!(execution.stdout(), "back\n");
    kernel.shutdown().await.expect("shutdown");
    env.assert_no_survivors(Duration::from_secs(10));
}

#[tokio::test]
async fn messages_with_bad_signatures_are_dropped_and_reported() {
    let env = JupyterEnv::new();
    let kernel = start(&env, "python3").await;
    let mut events = kernel.subscribe();
    // From here on the kernel signs with another key: its reply and outputs must not be delivered.
    let msg_id = send_execute(
        &kernel,
        "get_ipython().kernel.session.key = b'not the key'\nprint('forged')",
    )
    .await;
    let (mut shell_bad, mut iopub_bad) = (false, false);
    while !(shell_bad && iopub_bad) {
        match next(&mut events).await {
            KernelEvent::BadSignature {
                channel: Channel::Shell,
            } => shell_bad = true,
            KernelEvent::BadSignature {
                channel: Channel::IoPub,
            } => iopub_bad = true,
            KernelEvent::Message { message, .. } => {
                // Leftovers of start-up (readiness's kernel_info) may still arrive; only ours matter.
                let routing = message.routing().expect("routing");
                if routing.parent_msg_id.as_deref() == Some(msg_id.as_str()) {
                    assert!(
                        !matches!(routing.msg_type.as_str(), "execute_reply" | "stream"),
                        "a message signed with the wrong key was delivered: {routing:?}"
                    );
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    kernel.shutdown().await.expect("shutdown");
    env.assert_no_survivors(Duration::from_secs(10));
}

#[tokio::test]
async fn dropping_the_last_handle_kills_the_kernel() {
    let env = JupyterEnv::new();
    let kernel = start(&env, "python3").await;
    let connection_file = kernel.connection_file().to_owned();
    let mut events = kernel.subscribe();
    let clone = kernel.clone();
    drop(kernel);
    assert!(clone.is_alive(), "a clone keeps the kernel");
    drop(clone);
    // The subscription ends when the actor has killed the kernel and cleaned up.
    while events.recv().await.is_some() {}
    assert!(!connection_file.exists());
    env.assert_no_survivors(Duration::from_secs(10));
}

/// `kill -9` of a process holding a kernel: PR_SET_PDEATHSIG takes the kernel down with it.
#[test]
fn kill_9_of_the_holder_leaves_no_kernel() {
    let env = JupyterEnv::new();
    let (mut holder, kernel_pid) = start_holder(&env, &["python3"]);
    assert!(process_exists(kernel_pid), "the kernel is up");
    assert!(env.live_processes().contains(&kernel_pid));
    kill_9(&mut holder);
    env.assert_no_survivors(Duration::from_secs(5));
}

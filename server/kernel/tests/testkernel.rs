//! Faults and lifecycle edges, driven by nbgate's deterministic test kernel.

mod common;

use std::time::Duration;

use common::*;
use nbgate_kernel::{Channel, KernelError, KernelEvent, KernelState, LaunchOptions};
use nbgate_tests::{JupyterEnv, workspace_bin};
use serde_json::{Value, json};

const SURVIVOR_GRACE: Duration = Duration::from_secs(5);

/// Writes a kernelspec `name` with this kernel.json into the environment's first spec dir.
fn write_spec(env: &JupyterEnv, name: &str, spec: Value) {
    let dir = env.specs.join("kernels").join(name);
    std::fs::create_dir_all(&dir).expect("spec dir");
    std::fs::write(dir.join("kernel.json"), spec.to_string()).expect("kernel.json");
}

fn test_kernel_argv(extra: &[&str]) -> Vec<String> {
    let mut argv = vec![
        workspace_bin("nbgate-testkernel").display().to_string(),
        "-f".into(),
        "{connection_file}".into(),
    ];
    argv.extend(extra.iter().map(|s| s.to_string()));
    argv
}

fn runtime_files(env: &JupyterEnv) -> Vec<String> {
    std::fs::read_dir(env.dir.path().join("runtime"))
        .expect("runtime dir")
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("kernel-"))
        .collect()
}

#[tokio::test]
async fn echo_round_trip() {
    let env = JupyterEnv::new();
    env.add_test_kernel("test", &[]);
    let kernel = start(&env, "test").await;
    let mut events = kernel.subscribe();
    let execution = execute(&kernel, &mut events, "echo hello").await;
    assert_eq!(execution.reply["status"], "ok");
    assert_eq!(execution.stdout(), "hello\n");
    kernel.shutdown().await.expect("shutdown");
    env.assert_no_survivors(SURVIVOR_GRACE);
}

#[tokio::test]
async fn slow_start_past_the_start_timeout_fails_and_leaves_nothing() {
    let env = JupyterEnv::new();
    env.add_test_kernel("slow", &["--start-delay-ms", "30000"]);
    let options = LaunchOptions {
        start_timeout: Duration::from_millis(700),
        ..options(&env)
    };
    let error = nbgate_kernel::start(spec(&env, "slow"), options)
        .await
        .expect_err("too slow");
    match &error {
        KernelError::StartTimeout {
            name,
            timeout,
            stage,
            ..
        } => {
            assert_eq!(name, "slow");
            assert_eq!(*timeout, Duration::from_millis(700));
            assert!(stage.contains("ports"), "{stage}");
        }
        other => panic!("expected a start timeout, got {other:?}"),
    }
    assert!(
        error.to_string().contains("did not become ready within"),
        "{error}"
    );
    assert!(runtime_files(&env).is_empty(), "connection file removed");
    env.assert_no_survivors(SURVIVOR_GRACE);
}

#[tokio::test]
async fn a_kernel_signing_with_another_key_fails_to_start() {
    let env = JupyterEnv::new();
    env.add_test_kernel("forger", &["--bad-signature"]);
    let error = nbgate_kernel::start(spec(&env, "forger"), options(&env))
        .await
        .expect_err("nothing it says can be trusted");
    assert!(
        matches!(error, KernelError::BadSignatures { .. }),
        "expected BadSignatures, got {error:?}"
    );
    assert!(
        error.to_string().contains("signatures do not verify"),
        "{error}"
    );
    env.assert_no_survivors(SURVIVOR_GRACE);
}

#[tokio::test]
async fn crash_is_reported_as_died() {
    let env = JupyterEnv::new();
    env.add_test_kernel("test", &[]);
    let kernel = start(&env, "test").await;
    let mut events = kernel.subscribe();
    send_execute(&kernel, "crash").await;
    let status = loop {
        if let KernelEvent::Died { status } = next(&mut events).await {
            break status;
        }
    };
    assert_eq!(status.code, Some(1), "{status}");
    assert_eq!(kernel.state(), KernelState::Dead(status));
    assert!(matches!(
        kernel
            .request(Channel::Shell, "kernel_info_request", json!({}))
            .await,
        Err(KernelError::Dead { .. })
    ));
    kernel
        .shutdown()
        .await
        .expect("shutting a dead kernel down cleans up");
    assert!(runtime_files(&env).is_empty());
    env.assert_no_survivors(SURVIVOR_GRACE);
}

#[tokio::test]
async fn a_kernel_exiting_during_start_reports_status_and_stderr() {
    let env = JupyterEnv::new();
    write_spec(
        &env,
        "broken",
        json!({"argv": ["sh", "-c", "echo 'ImportError: no module named kernel' >&2; exit 3",
                        "{connection_file}"],
               "display_name": "Broken"}),
    );
    let error = nbgate_kernel::start(spec(&env, "broken"), options(&env))
        .await
        .expect_err("it exits");
    match &error {
        KernelError::DiedDuringStart { status, stderr, .. } => {
            assert_eq!(status.code, Some(3));
            assert!(stderr.contains("ImportError"), "{stderr}");
        }
        other => panic!("expected DiedDuringStart, got {other:?}"),
    }
    let text = error.to_string();
    assert!(
        text.contains("exit code 3") && text.contains("ImportError"),
        "{text}"
    );

    write_spec(
        &env,
        "missing",
        json!({"argv": ["/nonexistent/kernel", "{connection_file}"], "display_name": "Missing"}),
    );
    let error = nbgate_kernel::start(spec(&env, "missing"), options(&env))
        .await
        .expect_err("no such program");
    assert!(
        matches!(&error, KernelError::Spawn { program, .. } if program == "/nonexistent/kernel"),
        "{error:?}"
    );
    assert!(runtime_files(&env).is_empty());
    env.assert_no_survivors(SURVIVOR_GRACE);
}

#[tokio::test]
async fn exit_during_shutdown_is_still_a_clean_shutdown() {
    let env = JupyterEnv::new();
    env.add_test_kernel("abrupt", &["--exit-during-shutdown"]);
    let kernel = start(&env, "abrupt").await;
    let pid = kernel.pid().expect("pid");
    kernel.shutdown().await.expect("shutdown");
    assert!(!process_exists(pid));
    assert!(runtime_files(&env).is_empty());
    env.assert_no_survivors(SURVIVOR_GRACE);
}

#[tokio::test]
async fn pub_kernels_without_welcome_and_preselected_ports_still_start() {
    let env = JupyterEnv::new();
    env.add_test_kernel("nowelcome", &["--no-welcome"]);
    write_spec(
        &env,
        "preselected",
        json!({"argv": test_kernel_argv(&[]), "display_name": "Preselected",
               "metadata": {"nbgate": {"connection_file_ports": "preselected"}}}),
    );
    for name in ["nowelcome", "preselected"] {
        let kernel = start(&env, name).await;
        let mut events = kernel.subscribe();
        let execution = execute(&kernel, &mut events, "echo up").await;
        assert_eq!(execution.stdout(), "up\n", "{name}");
        kernel.shutdown().await.expect("shutdown");
    }
    env.assert_no_survivors(SURVIVOR_GRACE);
}

#[tokio::test]
async fn interrupt_by_message() {
    let env = JupyterEnv::new();
    write_spec(
        &env,
        "msgint",
        json!({"argv": test_kernel_argv(&[]), "display_name": "Message interrupts",
               "interrupt_mode": "message"}),
    );
    let kernel = start(&env, "msgint").await;
    let mut events = kernel.subscribe();
    let msg_id = send_execute(&kernel, "hang").await;
    wait_iopub(&mut events, &msg_id, "execute_input").await;
    kernel.interrupt().await.expect("interrupt");
    let (mut interrupt_reply, mut execute_reply) = (false, None);
    while !(interrupt_reply && execute_reply.is_some()) {
        if let KernelEvent::Message { channel, message } = next(&mut events).await {
            let routing = message.routing().expect("routing");
            match (channel, routing.msg_type.as_str()) {
                (Channel::Control, "interrupt_reply") => interrupt_reply = true,
                (Channel::Shell, "execute_reply") => {
                    execute_reply = Some(message.content_json().expect("json"));
                }
                _ => {}
            }
        }
    }
    assert_eq!(execute_reply.expect("reply")["ename"], "KeyboardInterrupt");
    kernel.shutdown().await.expect("shutdown");
    env.assert_no_survivors(SURVIVOR_GRACE);
}

#[tokio::test]
async fn clients_get_their_own_replies_and_shared_iopub_across_restarts() {
    let env = JupyterEnv::new();
    env.add_test_kernel("test", &[]);
    let kernel = start(&env, "test").await;
    let alice = kernel.connect_client("alice-session").await.expect("alice");
    let bob = kernel.connect_client("bob-session").await.expect("bob");
    assert!(matches!(
        kernel.connect_client("bob-session").await,
        Err(KernelError::IdentityInUse { .. })
    ));
    let mut alice_events = alice.subscribe();
    let mut bob_events = bob.subscribe();

    let request = alice
        .request(
            Channel::Shell,
            "execute_request",
            json!({"code": "echo from alice", "silent": false}),
        )
        .await
        .expect("sent");
    let routing = request.routing().expect("routing");
    assert_eq!(routing.session, "alice-session");
    let execution = collect(&mut alice_events, &routing.msg_id).await;
    assert_eq!(execution.stdout(), "from alice\n");

    // Bob sees alice's outputs on iopub, never her reply; then his own reply only.
    let bob_request = bob
        .request(Channel::Shell, "kernel_info_request", json!({}))
        .await
        .expect("sent");
    let bob_id = bob_request.routing().expect("routing").msg_id;
    let mut saw_alice_output = false;
    loop {
        if let KernelEvent::Message { channel, message } = next(&mut bob_events).await {
            let r = message.routing().expect("routing");
            if channel == Channel::Shell {
                assert_eq!(
                    r.parent_msg_id.as_deref(),
                    Some(bob_id.as_str()),
                    "only bob's replies"
                );
                break;
            }
            saw_alice_output |= r.parent_msg_id.as_deref() == Some(routing.msg_id.as_str())
                && r.msg_type == "stream";
        }
    }
    assert!(saw_alice_output);

    kernel.restart().await.expect("restart");
    let request = alice
        .request(
            Channel::Shell,
            "execute_request",
            json!({"code": "echo again", "silent": false}),
        )
        .await
        .expect("sent after restart");
    let execution = collect(
        &mut alice_events,
        &request.routing().expect("routing").msg_id,
    )
    .await;
    assert_eq!(execution.stdout(), "again\n");

    drop((alice, bob));
    kernel.shutdown().await.expect("shutdown");
    env.assert_no_survivors(SURVIVOR_GRACE);
}

#[tokio::test]
async fn a_stopped_kernel_is_reported_unresponsive_then_responsive() {
    let env = JupyterEnv::new();
    env.add_test_kernel("test", &[]);
    let options = LaunchOptions {
        heartbeat: Duration::from_millis(200),
        ..options(&env)
    };
    let kernel = nbgate_kernel::start(spec(&env, "test"), options)
        .await
        .expect("start");
    let pid = kernel.pid().expect("pid") as libc::pid_t;
    let mut events = kernel.subscribe();
    // SAFETY: kill has no memory preconditions.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    loop {
        if let KernelEvent::Heartbeat { responsive } = next(&mut events).await {
            assert!(!responsive);
            break;
        }
    }
    assert!(kernel.is_alive(), "unresponsive is not dead");
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    loop {
        if let KernelEvent::Heartbeat { responsive } = next(&mut events).await {
            assert!(responsive);
            break;
        }
    }
    kernel.shutdown().await.expect("shutdown");
    env.assert_no_survivors(SURVIVOR_GRACE);
}

/// PR_SET_PDEATHSIG fires when the *thread* that forked the kernel exits. Start a kernel from a thread
/// that then ends: the kernel must live on (it was forked by the long-lived spawner thread).
#[test]
fn a_kernel_outlives_the_thread_that_started_it() {
    let env = JupyterEnv::new();
    env.add_test_kernel("test", &[]);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let handle = runtime.handle().clone();
    let (spec, options) = (spec(&env, "test"), options(&env));
    let kernel = std::thread::spawn(move || handle.block_on(nbgate_kernel::start(spec, options)))
        .join()
        .expect("thread")
        .expect("start");
    // The starting thread has exited. The kernel still answers.
    runtime.block_on(async {
        let mut events = kernel.subscribe();
        let execution = execute(&kernel, &mut events, "echo still here").await;
        assert_eq!(execution.stdout(), "still here\n");
        kernel.shutdown().await.expect("shutdown");
    });
    env.assert_no_survivors(SURVIVOR_GRACE);
}

/// Without a parent poller in the test kernel, only PR_SET_PDEATHSIG can end it after `kill -9`.
#[test]
fn kill_9_of_the_holder_takes_the_test_kernel_with_it() {
    let env = JupyterEnv::new();
    env.add_test_kernel("test", &[]);
    let (mut holder, kernel_pid) = start_holder(&env, &["test"]);
    assert!(
        env.live_processes().contains(&kernel_pid),
        "the kernel is up"
    );
    kill_9(&mut holder);
    // Gone (a zombie awaiting its new parent's reap is dead and does not count).
    env.assert_no_survivors(Duration::from_secs(2));
}

/// A kernel that answers neither `shutdown_request` nor SIGTERM (stopped) is SIGKILLed after two steps.
#[tokio::test]
async fn shutdown_escalates_to_sigkill() {
    let env = JupyterEnv::new();
    env.add_test_kernel("test", &[]);
    let step = Duration::from_millis(300);
    let options = LaunchOptions {
        shutdown_step: step,
        ..options(&env)
    };
    let kernel = nbgate_kernel::start(spec(&env, "test"), options)
        .await
        .expect("start");
    let pid = kernel.pid().expect("pid");
    // SAFETY: kill has no memory preconditions.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGSTOP) }, 0);
    let begun = tokio::time::Instant::now();
    kernel.shutdown().await.expect("shutdown");
    let took = begun.elapsed();
    assert!(took >= step * 2, "escalated only after two steps: {took:?}");
    assert!(!process_exists(pid) || !env.live_processes().contains(&pid));
    assert_eq!(kernel.state(), KernelState::ShutDown);
    env.assert_no_survivors(SURVIVOR_GRACE);
}

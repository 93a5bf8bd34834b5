//! Kernels forked from the ipykernel fork server (`LaunchOptions::fork_server`), with real ipykernel.
//!
//! A forked kernel's `/proc/<pid>/environ` is the fork server's, so `JupyterEnv::assert_no_survivors`
//! cannot see it: these tests follow the kernel and fork server pids instead.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use nbgate_kernel::{Kernel, KernelError, KernelEvent, KernelState, LaunchOptions};
use nbgate_tests::JupyterEnv;
use serde_json::json;

fn fork_options(env: &JupyterEnv) -> LaunchOptions {
    LaunchOptions {
        fork_server: true,
        ..options(env)
    }
}

async fn start_forked(env: &JupyterEnv) -> Kernel {
    nbgate_kernel::start(spec(env, "python3"), fork_options(env))
        .await
        .expect("kernel starts")
}

/// The parent pid of `pid`, from /proc.
fn parent_of(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // pid (comm) state ppid ...: comm may contain spaces, so split after the last ')'.
    stat.rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|ppid| ppid.parse().ok())
        .expect("a ppid")
}

fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .expect("cmdline")
        .split(|b| *b == 0)
        .filter(|arg| !arg.is_empty())
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect()
}

/// Asserts that `pid` is a kernel forked by a fork server (its parent is `python -c <zygote>`), returns
/// the fork server's pid.
fn assert_forked(pid: u32) -> u32 {
    let zygote = parent_of(pid);
    assert_ne!(
        zygote,
        std::process::id(),
        "the kernel was spawned, not forked"
    );
    let argv = cmdline(zygote);
    assert!(
        argv.get(1).map(String::as_str) == Some("-c")
            && argv
                .get(2)
                .is_some_and(|source| source.contains("fork server")),
        "the kernel's parent is not the fork server: {:?}",
        argv.iter()
            .map(|a| &a[..a.len().min(60)])
            .collect::<Vec<_>>()
    );
    zygote
}

/// Waits until `pid` has ended.
fn wait_gone(pid: u32, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    while is_running(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "process {pid} still exists"
        );
        // Polling /proc is the only way to observe the exit of a process we did not spawn.
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn forked_kernel_runs_in_the_requested_directory_and_environment() {
    let env = JupyterEnv::new();
    let cwd = env.work().join("sub dir");
    std::fs::create_dir_all(&cwd).expect("mkdir");
    let mut options = fork_options(&env);
    options.cwd = Some(cwd.clone());
    options
        .env
        .insert("NBGATE_FORK_PROBE".into(), "from the request".into());
    let kernel = nbgate_kernel::start(spec(&env, "python3"), options)
        .await
        .expect("kernel starts");
    let pid = kernel.pid().expect("pid");
    let zygote = assert_forked(pid);

    let mut events = kernel.subscribe();
    let execution = execute(
        &kernel,
        &mut events,
        "import os, sys\n\
         print(os.getcwd())\n\
         print(os.environ['NBGATE_FORK_PROBE'])\n\
         print(os.environ['JPY_PARENT_PID'] == str(os.getppid()))\n\
         print(sys.argv[0].endswith('ipykernel_launcher.py'))\n\
         print(get_ipython().history_manager.hist_file)",
    )
    .await;
    assert_eq!(execution.reply["status"], "ok", "{:?}", execution.reply);
    assert_eq!(
        execution.stdout(),
        format!(
            "{}\nfrom the request\nTrue\nTrue\n:memory:\n",
            cwd.display()
        )
    );
    // The kernel's module search starts where a `python -m ipykernel_launcher` kernel's would.
    let execution = execute(
        &kernel,
        &mut events,
        "open('probe_module_here.py', 'w').write('VALUE = 42')\nimport probe_module_here\nprint(probe_module_here.VALUE)",
    )
    .await;
    assert_eq!(execution.stdout(), "42\n", "{:?}", execution.reply);

    kernel.shutdown().await.expect("shutdown");
    assert!(!process_exists(pid), "the forked kernel is reaped");
    assert!(
        process_exists(zygote),
        "the fork server stays for the next kernel"
    );
}

#[tokio::test]
async fn forked_kernel_is_interrupted_restarted_and_its_death_seen() {
    let env = JupyterEnv::new();
    let kernel = start_forked(&env).await;
    let mut events = kernel.subscribe();

    // Interrupt: SIGINT to the kernel's own process group.
    assert_interrupts_a_busy_loop(&kernel, &mut events).await;

    // Restart: a new forked process, a fresh namespace.
    execute(&kernel, &mut events, "x = 1").await;
    let old_pid = kernel.pid().expect("pid");
    kernel.restart().await.expect("restart");
    let new_pid = kernel.pid().expect("pid");
    assert_ne!(old_pid, new_pid);
    assert_forked(new_pid);
    assert!(!process_exists(old_pid), "the old kernel is gone");
    let after = execute(&kernel, &mut events, "print('x' in dir())").await;
    assert_eq!(after.stdout(), "False\n");
    assert_eq!(after.reply["execution_count"], 1);

    let status = kill_and_see_death(&kernel, &mut events).await;
    assert_eq!(status.signal, Some(9), "{status}");
    assert_eq!(kernel.state(), KernelState::Dead(status));

    kernel.restart().await.expect("restart after death");
    let execution = execute(&kernel, &mut events, "print('back')").await;
    assert_eq!(execution.stdout(), "back\n");
    let pid = kernel.pid().expect("pid");
    kernel.shutdown().await.expect("shutdown");
    assert!(!process_exists(pid));
}

#[tokio::test]
async fn kernels_forked_at_once_have_separate_state() {
    let env = JupyterEnv::new();
    let (a, b) = tokio::join!(start_forked(&env), start_forked(&env));
    let (pid_a, pid_b) = (a.pid().expect("pid"), b.pid().expect("pid"));
    assert_ne!(pid_a, pid_b);
    assert_eq!(
        assert_forked(pid_a),
        assert_forked(pid_b),
        "one fork server per interpreter"
    );
    let (mut events_a, mut events_b) = (a.subscribe(), b.subscribe());
    execute(&a, &mut events_a, "x = 'a'").await;
    execute(&b, &mut events_b, "x = 'b'").await;
    let code = "import os; print(x, os.getpid())";
    assert_eq!(
        execute(&a, &mut events_a, code).await.stdout(),
        format!("a {pid_a}\n")
    );
    assert_eq!(
        execute(&b, &mut events_b, code).await.stdout(),
        format!("b {pid_b}\n")
    );
    a.shutdown().await.expect("shutdown");
    assert!(b.is_alive(), "one kernel's shutdown leaves the other");
    b.shutdown().await.expect("shutdown");
    assert!(!process_exists(pid_a) && !process_exists(pid_b));
}

#[tokio::test]
async fn a_dead_fork_server_takes_its_kernels_along_and_is_replaced() {
    let env = JupyterEnv::new();
    // A start-up variable of its own gives this test its own fork server (the others keep theirs).
    let mut options = fork_options(&env);
    options.env.insert(
        "PYTHON_NBGATE_TEST_ISOLATION".into(),
        "dead fork server".into(),
    );
    let kernel = nbgate_kernel::start(spec(&env, "python3"), options.clone())
        .await
        .expect("kernel starts");
    let pid = kernel.pid().expect("pid");
    let zygote = assert_forked(pid);
    let mut events = kernel.subscribe();
    // SAFETY: kill has no memory preconditions.
    assert_eq!(
        unsafe { libc::kill(zygote as libc::pid_t, libc::SIGKILL) },
        0
    );
    let status = loop {
        if let KernelEvent::Died { status } = next(&mut events).await {
            break status;
        }
    };
    assert_eq!(status.signal, Some(libc::SIGKILL), "{status}");
    wait_gone(pid, Duration::from_secs(5));

    // The next kernel of that interpreter gets a new fork server.
    kernel.restart().await.expect("restart");
    let new_pid = kernel.pid().expect("pid");
    let new_zygote = assert_forked(new_pid);
    assert_ne!(new_zygote, zygote);
    let execution = execute(&kernel, &mut events, "print('back')").await;
    assert_eq!(execution.stdout(), "back\n");
    kernel.shutdown().await.expect("shutdown");
    // SAFETY: as above.
    unsafe { libc::kill(new_zygote as libc::pid_t, libc::SIGKILL) };
}

#[tokio::test]
async fn a_forked_kernel_that_dies_at_start_reports_its_output() {
    let env = JupyterEnv::new();
    // The standard command line plus an argument ipykernel rejects on stderr before it exits.
    let python = nbgate_tests::venv().join("bin/python");
    let dir = env.specs.join("kernels/dies");
    std::fs::create_dir_all(&dir).expect("spec dir");
    let spec_json = json!({
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--IPKernelApp.kernel_class=no_such_module.Kernel"],
        "display_name": "dies", "language": "python",
    });
    std::fs::write(dir.join("kernel.json"), spec_json.to_string()).expect("kernel.json");
    let error = nbgate_kernel::start(spec(&env, "dies"), fork_options(&env))
        .await
        .expect_err("the kernel exits during start-up");
    match &error {
        KernelError::DiedDuringStart { status, stderr, .. } => {
            assert_eq!(status.code, Some(1), "{error}");
            assert!(stderr.contains("no_such_module.Kernel"), "{error}");
        }
        other => panic!("unexpected error: {other}"),
    }
    let runtime: PathBuf = env.dir.path().join("runtime");
    let leftovers: Vec<_> = std::fs::read_dir(&runtime)
        .expect("runtime dir")
        .flatten()
        .map(|entry| entry.file_name())
        .filter(|name| name.to_string_lossy().starts_with("kernel-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no connection file or FIFO left: {leftovers:?}"
    );
}

/// `kill -9` of the process holding a forked kernel: the fork server dies with it, the kernel with the
/// fork server.
#[test]
fn kill_9_of_the_holder_leaves_neither_fork_server_nor_kernel() {
    let env = JupyterEnv::new();
    let (mut holder, kernel_pid) = start_holder(&env, &["python3", "--fork-server"]);
    let zygote = assert_forked(kernel_pid);
    assert_eq!(
        parent_of(zygote),
        holder.id(),
        "the fork server is the holder's child"
    );
    kill_9(&mut holder);
    wait_gone(zygote, Duration::from_secs(5));
    wait_gone(kernel_pid, Duration::from_secs(5));
    env.assert_no_survivors(Duration::from_secs(5));
}

//! `nbgate run --gateway-url` on a real Jupyter Enterprise Gateway (the `.venv-eg` venv, made by
//! `make test`): EG on a free loopback port with its stock python3 kernelspec (its default local process
//! proxy: kernels are EG's children), a parameterised notebook's outputs, a failing cell, a cell timeout
//! (the kernel interrupted through the gateway), an unknown kernel and an unreachable gateway, each with
//! one line naming the problem; after every run the gateway lists no kernel, and once EG is stopped no
//! process of the test is left.

use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nbgate_tests::JupyterEnv;
use nbgate_tests::eg::{EnterpriseGateway, KERNEL_USER, TOKEN};
use nbgate_tests::serve::{cell_stdout, notebook};
use serde_json::Value;

fn write_notebook(env: &JupyterEnv, name: &str, cells: &[&str]) -> PathBuf {
    let path = env.work().join(name);
    std::fs::write(&path, notebook("python3", "python", cells)).expect("write notebook");
    path
}

/// `nbgate run INPUT OUTPUT --gateway-url URL ARGS…` with the token in the environment, to its end.
fn run_on(env: &JupyterEnv, url: &str, input: &Path, output: &str, args: &[&str]) -> Output {
    spawn_on(env, url, input, output, args)
        .wait_with_output()
        .expect("nbgate runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn read(env: &JupyterEnv, name: &str) -> Value {
    let text = std::fs::read_to_string(env.work().join(name)).expect("output notebook");
    serde_json::from_str(&text).expect("valid JSON")
}

fn assert_no_kernel_left(gateway: &EnterpriseGateway) {
    // The DELETE is answered before nbgate exits: the list is empty at once.
    assert_eq!(
        gateway.kernels(),
        Vec::<Value>::new(),
        "a kernel was left on the gateway"
    );
}

#[test]
fn a_notebook_runs_on_enterprise_gateway_and_leaves_no_kernel_behind() {
    let env = JupyterEnv::new();
    let gateway = EnterpriseGateway::start(&env);
    let user = format!("--gateway-kernel-username={KERNEL_USER}");

    // Parameters, stdout, display data and results; the kernel is EG's child and sees KERNEL_USERNAME.
    let input = write_notebook(
        &env,
        "params.ipynb",
        &[
            "x = 1\nname = 'default'",
            "import os\nprint(x * 2, name, os.environ['KERNEL_USERNAME'], os.getppid())",
            "from IPython.display import display\ndisplay({'text/plain': 'shown'}, raw=True)\nx + 0.5",
        ],
    );
    let mut notebook: Value =
        serde_json::from_str(&std::fs::read_to_string(&input).expect("read back")).expect("JSON");
    notebook["cells"][0]["metadata"]["tags"] = serde_json::json!(["parameters"]);
    std::fs::write(&input, notebook.to_string()).expect("tag parameters");
    let output = run_on(
        &env,
        &gateway.url(),
        &input,
        "params_out.ipynb",
        &[&user, "-p", "x", "21", "-p", "name", "gateway"],
    );
    assert!(
        output.status.success(),
        "nbgate run failed: {}",
        stderr(&output)
    );
    let executed = read(&env, "params_out.ipynb");
    let printed = cell_stdout(&executed, 2);
    let fields: Vec<&str> = printed.split_whitespace().collect();
    assert_eq!(fields[..3], ["42", "gateway", KERNEL_USER], "{printed}");
    assert_eq!(
        fields[3],
        gateway.child.id().to_string(),
        "the kernel is the gateway's child"
    );
    let outputs = &executed["cells"][3]["outputs"];
    assert_eq!(outputs[0]["output_type"], "display_data");
    assert_eq!(
        outputs[0]["data"]["text/plain"],
        serde_json::json!(["shown"])
    );
    assert_eq!(
        outputs[1]["data"]["text/plain"],
        serde_json::json!(["21.5"])
    );
    assert_eq!(executed["metadata"]["language_info"]["name"], "python");
    assert_no_kernel_left(&gateway);

    // A failing cell: papermill's exit code and one line naming the cell and the error.
    let input = write_notebook(&env, "fails.ipynb", &["1 / 0", "print('not reached')"]);
    let output = run_on(&env, &gateway.url(), &input, "fails_out.ipynb", &[&user]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("raised ZeroDivisionError: division by zero"),
        "{}",
        stderr(&output)
    );
    // Papermill's two error markers: one first, one before the failing cell.
    let failed = read(&env, "fails_out.ipynb");
    assert_eq!(
        failed["cells"][2]["outputs"][0]["ename"],
        "ZeroDivisionError"
    );
    assert_eq!(failed["cells"][3]["outputs"], serde_json::json!([]));
    assert_no_kernel_left(&gateway);

    // A cell timeout: the kernel is interrupted through the gateway (the cell ends in
    // KeyboardInterrupt, not a killed kernel), well before the cell's own end.
    let input = write_notebook(&env, "slow.ipynb", &["import time\ntime.sleep(120)"]);
    let started = Instant::now();
    let output = run_on(
        &env,
        &gateway.url(),
        &input,
        "slow_out.ipynb",
        &[&user, "--cell-timeout=2"],
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cell 0 timed out"),
        "{}",
        stderr(&output)
    );
    let interrupted = &read(&env, "slow_out.ipynb")["cells"][0]["outputs"];
    assert!(
        interrupted
            .as_array()
            .into_iter()
            .flatten()
            .any(|output| output["ename"] == "KeyboardInterrupt"),
        "{interrupted}"
    );
    assert_no_kernel_left(&gateway);

    // A kernel the gateway does not have: a usage error listing the ones it has.
    let input = write_notebook(&env, "any.ipynb", &["1"]);
    let output = run_on(
        &env,
        &gateway.url(),
        &input,
        "any_out.ipynb",
        &[&user, "-k", "nope"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(&format!(
            "no kernel named \"nope\"; available: python3; searched: {}/api/kernelspecs",
            gateway.url()
        )),
        "{}",
        stderr(&output)
    );
    assert_no_kernel_left(&gateway);

    // SIGTERM to nbgate mid-cell ends the run as Ctrl-C does: the remote kernel is deleted.
    let input = write_notebook(
        &env,
        "long.ipynb",
        &["pass", "import time\ntime.sleep(120)"],
    );
    let mut run = spawn_on(&env, &gateway.url(), &input, "term_out.ipynb", &[&user]);
    wait_until_running(&env, &gateway, "term_out.ipynb", 1, &mut run);
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(run.id() as i32, libc::SIGTERM) };
    let output = run.wait_with_output().expect("nbgate ends");
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("interrupted during cell 1"),
        "{}",
        stderr(&output)
    );
    assert_no_kernel_left(&gateway);

    // The gateway going away mid-cell fails the run at once, naming the gateway (papermill's code for
    // a dead kernel).
    let url = gateway.url();
    let mut run = spawn_on(&env, &url, &input, "lost_out.ipynb", &[&user]);
    wait_until_running(&env, &gateway, "lost_out.ipynb", 1, &mut run);
    let started = Instant::now();
    drop(gateway);
    let output = run.wait_with_output().expect("nbgate ends");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(output.status.code(), Some(138), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&format!(
            "the kernel died during cell 1: the connection to the kernel on gateway {url} was lost"
        )),
        "{}",
        stderr(&output)
    );
    env.assert_no_survivors(Duration::from_secs(10));
}

/// `nbgate run … --gateway-url URL ARGS…` started in the background.
fn spawn_on(env: &JupyterEnv, url: &str, input: &Path, output: &str, args: &[&str]) -> Child {
    command_on(env, url, input, output, args)
        .spawn()
        .expect("nbgate starts")
}

/// The command of [`spawn_on`], to add to.
fn command_on(env: &JupyterEnv, url: &str, input: &Path, output: &str, args: &[&str]) -> Command {
    let mut command = Command::new(nbgate_tests::workspace_bin("nbgate"));
    command
        .current_dir(env.work())
        .envs(env.vars())
        .env("NBGATE_GATEWAY_TOKEN", TOKEN)
        .arg("run")
        .arg(input)
        .arg(output)
        .arg(format!("--gateway-url={url}"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Waits until the output notebook on disk says cell `index` is running (papermill's cell status,
/// saved when the cell starts). An `nbgate run` that ends first, or never gets there, fails the test
/// with its stderr and the gateway's log.
fn wait_until_running(
    env: &JupyterEnv,
    gateway: &EnterpriseGateway,
    output: &str,
    index: usize,
    run: &mut Child,
) {
    let path = env.work().join(output);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let notebook: Option<Value> = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok());
        if notebook
            .is_some_and(|nb| nb["cells"][index]["metadata"]["papermill"]["status"] == "running")
        {
            return;
        }
        let ended = run.try_wait().expect("nbgate's status").is_some();
        if ended || Instant::now() >= deadline {
            if !ended {
                let _ = run.kill();
            }
            let mut reason = String::new();
            if let Some(mut stderr) = run.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut stderr, &mut reason);
            }
            panic!(
                "cell {index} of {output} never ran ({}); nbgate: {reason}\nthe gateway's log:\n{}",
                if ended { "nbgate ended first" } else { "60 s" },
                gateway.log()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A TCP relay to the gateway whose connections can be cut, as a network failure would.
struct Relay {
    port: u16,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn to(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("relay port");
        let port = listener.local_addr().expect("relay address").port();
        let streams = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&streams);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let (Ok(client), Ok(server)) =
                    (client, TcpStream::connect(("127.0.0.1", upstream)))
                else {
                    continue;
                };
                let mut kept = kept.lock().expect("relay streams");
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
                        continue;
                    };
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Write);
                    });
                }
                kept.extend([client, server]);
            }
        });
        Self { port, streams }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Cuts every connection open now.
    fn cut(&self) {
        for stream in self.streams.lock().expect("relay streams").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

#[test]
fn a_dropped_websocket_is_reconnected_once_and_nothing_is_lost() {
    let env = JupyterEnv::new();
    let gateway = EnterpriseGateway::start(&env);
    let relay = Relay::to(gateway.port);
    let input = write_notebook(
        &env,
        "cut.ipynb",
        &["pass", "import time\ntime.sleep(4)\nprint('after the cut')"],
    );
    let user = format!("--gateway-kernel-username={KERNEL_USER}");
    // With the gateway client's warnings: a failure shows what the reconnection met.
    let mut run = command_on(
        &env,
        &relay.url(),
        &input,
        "cut_out.ipynb",
        &[&user, "--cell-timeout=60"],
    )
    .env("RUST_LOG", "error,nbgate_kernel=warn")
    .spawn()
    .expect("nbgate starts");
    wait_until_running(&env, &gateway, "cut_out.ipynb", 1, &mut run);
    // The kernel is busy with cell 1 (as the gateway itself says): its output is still to come.
    nbgate_tests::serve::wait_for(Duration::from_secs(30), "the kernel to be busy", || {
        gateway
            .kernels()
            .iter()
            .any(|kernel| kernel["execution_state"] == "busy")
            .then_some(())
    });
    relay.cut();
    let output = run.wait_with_output().expect("nbgate ends");
    assert!(
        output.status.success(),
        "{}\nthe gateway's log:\n{}",
        stderr(&output),
        gateway.log()
    );
    assert_eq!(
        cell_stdout(&read(&env, "cut_out.ipynb"), 1),
        "after the cut\n"
    );
    assert_no_kernel_left(&gateway);
    drop(gateway);
    env.assert_no_survivors(Duration::from_secs(10));
}

#[test]
fn an_unreachable_gateway_is_one_line_naming_its_url() {
    let env = JupyterEnv::new();
    // A port nothing listens on, held for the test.
    let closed = nbgate_tests::ClosedPort::new();
    let url = format!("http://127.0.0.1:{}", closed.port);
    let input = write_notebook(&env, "any.ipynb", &["1"]);
    let output = run_on(&env, &url, &input, "out.ipynb", &[]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.starts_with(&format!("nbgate: gateway {url} is unreachable: ")),
        "{message}"
    );
    assert!(message.contains("Connection refused"), "{message}");
    env.assert_no_survivors(Duration::from_secs(5));
}

#[test]
fn the_gateway_url_comes_from_the_environment_too() {
    let env = JupyterEnv::new();
    let input = write_notebook(&env, "any.ipynb", &["1"]);
    let output = Command::new(nbgate_tests::workspace_bin("nbgate"))
        .current_dir(env.work())
        .envs(env.vars())
        .env("NBGATE_GATEWAY_URL", "ftp://nowhere.invalid")
        .args(["run", input.to_str().expect("UTF-8 path"), "out.ipynb"])
        .stdin(Stdio::null())
        .output()
        .expect("nbgate runs");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "nbgate: gateway ftp://nowhere.invalid is unreachable: not an http:// or https:// URL\n"
    );
}

/// A kernel that dies at every start: the gateway restarts it a few times, then drops it, and never
/// answers the channels' handshake meanwhile. The run fails once the gateway has dropped it (not at
/// the start timeout), with one line saying so, and leaves nothing on the gateway.
#[test]
fn a_kernel_dying_at_every_start_fails_the_run_once_the_gateway_drops_it() {
    let env = JupyterEnv::new();
    let share = env.dir.path().join("eg-share");
    let spec = share.join("kernels/dies");
    std::fs::create_dir_all(&spec).expect("kernelspec dir");
    let argv = [
        "sh",
        "-c",
        "echo 'dying at start' >&2; exit 1",
        "{connection_file}",
    ];
    let kernel = serde_json::json!({"argv": argv, "display_name": "Dies", "language": "python"});
    std::fs::write(spec.join("kernel.json"), kernel.to_string()).expect("kernel.json");
    let vars = [("JUPYTER_PATH".to_owned(), share.display().to_string())];
    let gateway = EnterpriseGateway::start_with(&env, &vars.into_iter().collect());
    let input = env.work().join("dies.ipynb");
    std::fs::write(&input, notebook("dies", "python", &["1"])).expect("notebook");
    let user = format!("--gateway-kernel-username={KERNEL_USER}");
    // A start timeout the gateway's restarts (about 15 s) stay well within.
    let output = run_on(
        &env,
        &gateway.url(),
        &input,
        "dies_out.ipynb",
        &[&user, "--start-timeout=120"],
    );
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.contains("dropped by the gateway while starting: it died at start"),
        "{message}\ngateway log:\n{}",
        gateway.log()
    );
    assert_no_kernel_left(&gateway);
}

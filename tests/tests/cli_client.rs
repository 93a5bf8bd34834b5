//! `nbgate schedules …` and `nbgate executions …` as a script uses them: the real binary against a real
//! `nbgate serve` (port 0) running ipykernel; what they print, their exit codes, and the server's own
//! words for bad input; the same client over https, behind a TLS front signed by a private CA.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Output};

use nbgate_tests::{JupyterEnv, start_serve, workspace_bin};
use serde_json::{Value, json};

const TOKEN: &str = "client-test-token";

struct Server {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    port: u16,
}

impl Server {
    fn start(env: &JupyterEnv) -> Server {
        let state = env.dir.path().join("state");
        let (child, stdout, port) = start_serve(env, TOKEN, &state, &[]);
        Server {
            child,
            _stdout: stdout,
            port,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The client with `NBGATE_URL` and `NBGATE_TOKEN` pointing at this server.
    fn cli(&self, env: &JupyterEnv, args: &[&str]) -> Output {
        Command::new(workspace_bin("nbgate"))
            .args(args)
            .envs(env.vars())
            .env("NBGATE_URL", self.url())
            .env("NBGATE_TOKEN", TOKEN)
            .output()
            .expect("nbgate runs")
    }

    /// The same request straight over HTTP: the status and the `message` the server answers.
    fn raw(&self, method: &str, path: &str, body: &Value) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        let body = body.to_string();
        let request = format!(
            "{method} {path} HTTP/1.0\r\nAuthorization: token {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let (head, body) = response.split_once("\r\n\r\n").expect("head");
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok());
        let body: Value = serde_json::from_str(body).expect("JSON error body");
        let message = body["message"].as_str().expect("message").to_owned();
        (status.expect("status"), message)
    }

    fn stop(mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "nbgate serve exited with {status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exit code 0 and the JSON it printed.
fn ok_json(output: Output) -> Value {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        text(&output.stdout),
        text(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("not JSON ({error}): {}", text(&output.stdout)))
}

/// The exit code and the one line on stderr.
fn failure(output: Output) -> (i32, String) {
    let stderr = text(&output.stderr);
    assert_eq!(
        stderr.lines().count(),
        1,
        "one line on stderr, got {stderr:?}"
    );
    (output.status.code().expect("exit code"), stderr)
}

fn write_notebook(env: &JupyterEnv, name: &str, parameters: &str, source: &str) {
    let cells = json!([
        {"cell_type": "code", "id": "params", "metadata": {"tags": ["parameters"]},
         "source": parameters, "outputs": [], "execution_count": null},
        {"cell_type": "code", "id": "body", "metadata": {},
         "source": source, "outputs": [], "execution_count": null},
    ]);
    let notebook = json!({"nbformat": 4, "nbformat_minor": 5, "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}});
    std::fs::write(env.work().join(name), notebook.to_string()).expect("write notebook");
}

#[test]
fn a_schedule_is_created_listed_run_and_its_execution_succeeds() {
    let env = JupyterEnv::new();
    write_notebook(&env, "double.ipynb", "x = 1", "print(x * 2)");
    let server = Server::start(&env);

    let created = ok_json(server.cli(
        &env,
        &[
            "schedules",
            "create",
            "nightly",
            "double.ipynb",
            "--cron",
            "0 3 * * *",
            "--timezone",
            "Europe/Paris",
            "-p",
            "x",
            "21",
            "--paused",
            "--json",
        ],
    ));
    assert_eq!(created["name"], "nightly");
    assert_eq!(created["parameters"], json!({"x": 21}));
    assert_eq!(created["paused"], true);
    let description = created["description"].as_str().expect("description");
    assert!(description.contains("Europe/Paris"), "{description}");

    // The readable table: one row per schedule, with its state and description.
    let table = server.cli(&env, &["schedules", "list"]);
    assert_eq!(table.status.code(), Some(0));
    let table = text(&table.stdout);
    let row = table
        .lines()
        .find(|line| line.contains("nightly"))
        .unwrap_or_else(|| panic!("no row for the schedule in\n{table}"));
    assert!(row.contains("paused") && row.contains(description), "{row}");

    // Run now (with the URL's token instead of the environment's) and wait for the end.
    let url_with_token = format!("{}/?token={TOKEN}", server.url());
    let output = Command::new(workspace_bin("nbgate"))
        .args(["schedules", "run", "nightly", "--wait", "--json", "--url"])
        .arg(&url_with_token)
        .envs(env.vars())
        .env_remove("NBGATE_TOKEN")
        .output()
        .expect("nbgate runs");
    let run = ok_json(output);
    assert_eq!(run["status"], "succeeded", "{run}");
    let run_id = run["id"].as_str().expect("id");

    let listed = ok_json(server.cli(
        &env,
        &["executions", "list", "--schedule", "nightly", "--json"],
    ));
    let items = listed["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["id"], run_id);

    // The output notebook carries the parameter's effect.
    let saved = env.work().join("saved.ipynb");
    let output = server.cli(
        &env,
        &[
            "executions",
            "notebook",
            run_id,
            "-o",
            saved.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let notebook: Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).expect("saved")).expect("JSON");
    let printed: Vec<String> = notebook["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .flat_map(|cell| cell["outputs"].as_array().cloned().unwrap_or_default())
        .map(|out| match &out["text"] {
            Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect(),
            other => other.as_str().unwrap_or_default().to_owned(),
        })
        .collect();
    assert_eq!(printed, ["42\n"]);

    // An ad-hoc run, then every execution through the cursor, newest first.
    let adhoc = ok_json(server.cli(
        &env,
        &[
            "executions",
            "create",
            "double.ipynb",
            "-p",
            "x",
            "5",
            "--wait",
            "--json",
        ],
    ));
    assert_eq!(adhoc["status"], "succeeded", "{adhoc}");
    let all = ok_json(server.cli(
        &env,
        &["executions", "list", "--limit", "1", "--all", "--json"],
    ));
    let ids: Vec<&str> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    assert_eq!(ids, [adhoc["id"].as_str().expect("id"), run_id]);

    // Edit and resume: the new cron shows in the description and a next run appears.
    let updated = ok_json(server.cli(
        &env,
        &[
            "schedules",
            "update",
            "nightly",
            "--cron",
            "30 4 * * *",
            "--json",
        ],
    ));
    assert_eq!(updated["cron"], "30 4 * * *");
    assert_ne!(updated["description"], created["description"]);
    assert_eq!(updated["paused"], true);
    let resumed = ok_json(server.cli(&env, &["schedules", "resume", "nightly", "--json"]));
    assert_eq!(resumed["paused"], false);
    assert!(resumed["next_run"].is_string(), "{resumed}");

    // Deleted with its executions kept: the run stays, unlinked, under the schedule's name.
    let deleted = server.cli(
        &env,
        &["schedules", "delete", "nightly", "--executions", "keep"],
    );
    assert_eq!(deleted.status.code(), Some(0), "{}", text(&deleted.stderr));
    assert!(text(&deleted.stdout).contains("output notebooks kept"));
    let kept = ok_json(server.cli(&env, &["executions", "get", run_id, "--json"]));
    assert_eq!(
        (&kept["schedule_id"], &kept["schedule_name"]),
        (&Value::Null, &json!("nightly"))
    );
    let output = env
        .work()
        .join(kept["output_path"].as_str().expect("output_path"));
    assert!(output.is_file());
    let deleted = server.cli(&env, &["executions", "delete", run_id, "--delete-file"]);
    assert_eq!(deleted.status.code(), Some(0), "{}", text(&deleted.stderr));
    assert!(!output.exists());
    let (code, stderr) = failure(server.cli(&env, &["schedules", "get", "nightly"]));
    let (status, message) = server.raw("GET", "/api/schedules/nightly", &Value::Null);
    assert_eq!(status, 404);
    assert_eq!((code, stderr), (2, format!("nbgate: {message}\n")));
    server.stop();
}

#[test]
fn bad_input_exits_2_with_the_servers_message() {
    let env = JupyterEnv::new();
    write_notebook(&env, "double.ipynb", "x = 1", "print(x * 2)");
    let server = Server::start(&env);

    // Each rejected request gives the server's message verbatim, on one line, with exit code 2.
    let cases = [
        (
            vec![
                "schedules",
                "create",
                "hourly",
                "double.ipynb",
                "--cron",
                "61 * * * *",
            ],
            "POST",
            "/api/schedules",
            json!({"name": "hourly", "notebook": "double.ipynb", "cron": "61 * * * *"}),
        ),
        (
            vec!["executions", "create", "double.ipynb", "-p", "y", "1"],
            "POST",
            "/api/executions",
            json!({"notebook": "double.ipynb", "parameters": {"y": 1}}),
        ),
        (
            vec!["executions", "create", "../outside.ipynb"],
            "POST",
            "/api/executions",
            json!({"notebook": "../outside.ipynb"}),
        ),
        (
            vec!["executions", "list", "--status", "done"],
            "GET",
            "/api/executions?status=done",
            Value::Null,
        ),
    ];
    for (args, method, path, body) in cases {
        let (status, message) = server.raw(method, path, &body);
        assert!((400..500).contains(&status), "{path}: {status} {message}");
        let (code, stderr) = failure(server.cli(&env, &args));
        assert_eq!(
            (code, stderr),
            (2, format!("nbgate: {message}\n")),
            "{args:?}"
        );
    }

    // A wrong token is bad input too, and says where the token comes from.
    let (code, stderr) = failure(server.cli(&env, &["schedules", "list", "--token", "wrong"]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("401") && stderr.contains("--token"),
        "{stderr}"
    );
    // Arguments the client itself rejects.
    let (code, stderr) = failure(server.cli(&env, &["executions", "list", "--limit", "ten"]));
    assert_eq!(code, 2, "{stderr}");
    let (code, stderr) =
        failure(server.cli(&env, &["executions", "list", "--url", "ftp://127.0.0.1:1"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("http:// or https://"), "{stderr}");
    server.stop();

    // Nothing listening: exit 1, saying which URL could not be reached.
    let (code, stderr) = failure(server_gone(&env, &["schedules", "list"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("cannot reach nbgate"), "{stderr}");
}

/// The client against a port nothing listens on.
fn server_gone(env: &JupyterEnv, args: &[&str]) -> Output {
    let closed = nbgate_tests::ClosedPort::new();
    let port = closed.port;
    Command::new(workspace_bin("nbgate"))
        .args(args)
        .envs(env.vars())
        .env("NBGATE_URL", format!("http://127.0.0.1:{port}"))
        .output()
        .expect("nbgate runs")
}

#[test]
fn a_failing_execution_waited_for_exits_1_with_its_error() {
    let env = JupyterEnv::new();
    write_notebook(
        &env,
        "check.ipynb",
        "limit = 10",
        "if limit > 5:\n    raise ValueError(f'limit {limit} is too high')",
    );
    let server = Server::start(&env);
    let output = server.cli(&env, &["executions", "create", "check.ipynb", "--wait"]);
    let stdout = text(&output.stdout);
    let (code, stderr) = failure(output);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("nbgate: execution ")
            && stderr.contains(" failed: cell ")
            && stderr
                .trim_end()
                .ends_with("raised ValueError: limit 10 is too high"),
        "{stderr}"
    );
    // The readable form of the execution went to stdout.
    assert!(
        stdout
            .lines()
            .any(|line| line.split_whitespace().collect::<Vec<_>>() == ["status", "failed"]),
        "{stdout}"
    );

    // The same notebook with a passing parameter succeeds, and `wait` on it exits 0.
    let created = ok_json(server.cli(
        &env,
        &[
            "executions",
            "create",
            "check.ipynb",
            "-p",
            "limit",
            "3",
            "--json",
        ],
    ));
    let id = created["id"].as_str().expect("id");
    let waited = ok_json(server.cli(&env, &["executions", "wait", id, "--json"]));
    assert_eq!(waited["status"], "succeeded", "{waited}");
    server.stop();
}

#[test]
fn the_client_speaks_https_trusting_a_ca_file() {
    let env = JupyterEnv::new();
    write_notebook(&env, "double.ipynb", "x = 1", "print(x * 2)");
    let server = Server::start(&env);
    let (port, ca_file) = tls_front(server.port, env.dir.path());
    let url = format!("https://127.0.0.1:{port}");
    let cli = |args: &[&str], ca_file: Option<&std::path::Path>| {
        let mut command = Command::new(workspace_bin("nbgate"));
        command
            .args(args)
            .envs(env.vars())
            .env("NBGATE_URL", &url)
            .env("NBGATE_TOKEN", TOKEN)
            .env_remove("NBGATE_CA_FILE");
        if let Some(ca_file) = ca_file {
            command.env("NBGATE_CA_FILE", ca_file);
        }
        command.output().expect("nbgate runs")
    };

    // Trusting the private CA: a request, then an execution waited for over its event stream.
    let page = ok_json(cli(&["schedules", "list", "--json"], Some(&ca_file)));
    assert_eq!(page["items"], json!([]), "{page}");
    let run = ok_json(cli(
        &[
            "executions",
            "create",
            "double.ipynb",
            "-p",
            "x",
            "4",
            "--wait",
            "--json",
        ],
        Some(&ca_file),
    ));
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["parameters"], json!({"x": 4}), "{run}");
    // The option works as the variable does.
    let output = Command::new(workspace_bin("nbgate"))
        .args(["executions", "get"])
        .arg(run["id"].as_str().expect("id"))
        .args(["--json", "--url", &url, "--ca-file"])
        .arg(&ca_file)
        .envs(env.vars())
        .env("NBGATE_TOKEN", TOKEN)
        .output()
        .expect("nbgate runs");
    assert_eq!(ok_json(output)["id"], run["id"]);

    // Without the CA the certificate is refused, and the message says how to trust it.
    let (code, stderr) = failure(cli(&["schedules", "list"], None));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("certificate") && stderr.contains("--ca-file"),
        "{stderr}"
    );
    // A CA file that is not PEM is bad input.
    let not_pem = env.dir.path().join("not.pem");
    std::fs::write(&not_pem, "not a certificate").expect("write");
    let (code, stderr) = failure(cli(&["schedules", "list"], Some(&not_pem)));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--ca-file"), "{stderr}");
    server.stop();
}

/// A TLS front for the server on `backend`: a private CA (its certificate written to `dir/ca.pem`)
/// signs a certificate for 127.0.0.1 and localhost; each connection is decrypted and relayed. Runs on
/// its own thread until the test ends.
fn tls_front(backend: u16, dir: &std::path::Path) -> (u16, std::path::PathBuf) {
    use std::sync::Arc;
    use tokio_rustls::rustls;

    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "nbgate test CA");
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA");
    let key = rcgen::KeyPair::generate().expect("key");
    let certificate = rcgen::CertificateParams::new(["127.0.0.1".into(), "localhost".into()])
        .expect("params")
        .signed_by(&key, &*ca)
        .expect("certificate");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("write ca.pem");

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_no_client_auth()
        .with_single_cert(
            vec![certificate.der().clone()],
            rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        )
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    listener.set_nonblocking(true).expect("non-blocking");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            while let Ok((socket, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(socket).await else {
                        return;
                    };
                    let Ok(mut plain) =
                        tokio::net::TcpStream::connect(("127.0.0.1", backend)).await
                    else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
    });
    (port, ca_file)
}

//! `nbgate serve --store postgres://…` on the tests' own PostgreSQL server: schedules fire and
//! executions run with their state in PostgreSQL (no SQLite file is made), a `kill -9` and a restart
//! with another data directory find everything again, and a store URL that is wrong or unreachable
//! is one line on stderr and a failed start.

use std::time::Duration;

use nbgate_tests::JupyterEnv;
use nbgate_tests::serve::{Serve, cell_stdout, is_terminal, notebook, wait_for};
use serde_json::json;

#[test]
fn serve_keeps_its_schedules_and_executions_in_postgres_across_a_kill_9() {
    let database = nbgate_tests::postgres::database();
    let env = hello_env();
    let args = ["--store", database.url.as_str(), "--no-fork-server"];
    let first_data = tempfile::tempdir().expect("data dir");
    let server = Serve::start(&env, first_data.path(), &args);
    start_tick(&server);
    let adhoc = server.create(&json!({"notebook": "hello.ipynb"}));
    let done = server.finished(&adhoc, Duration::from_secs(60));
    assert_eq!(done["status"], "succeeded", "{done}");
    wait_for(Duration::from_secs(60), "two fires of tick", || {
        let fired = server.ok(
            "GET",
            "/api/executions?schedule=tick&status=succeeded",
            None,
        )["items"]
            .as_array()
            .map_or(0, Vec::len);
        (fired >= 2).then_some(())
    });
    assert!(
        !first_data.path().join("nbgate.sqlite3").exists(),
        "a SQLite store was made beside the PostgreSQL one"
    );
    server.kill9();

    // Another data directory: everything comes from PostgreSQL.
    let second_data = tempfile::tempdir().expect("data dir");
    let server = Serve::start(&env, second_data.path(), &args);
    let schedules = server.ok("GET", "/api/schedules", None);
    let names: Vec<&str> = schedules["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["tick"]);
    let again = server.execution(&adhoc);
    assert_eq!(again["status"], "succeeded");
    let output = server.ok("GET", &format!("/api/executions/{adhoc}/notebook"), None);
    assert_eq!(cell_stdout(&output, 0).trim(), "hello");
    server.ok("POST", "/api/schedules/tick/pause", None);
    let all = wait_for(Duration::from_secs(60), "every execution to end", || {
        let all = server.all_executions();
        all.iter().all(is_terminal).then_some(all)
    });
    assert_each_fire_once(&all);
    server.stop();
}

#[test]
fn a_wrong_or_unreachable_store_is_one_line_and_no_start() {
    let env = JupyterEnv::new();
    let data = tempfile::tempdir().expect("data dir");
    let gone = tempfile::tempdir().expect("no server here");
    let unreachable = format!(
        "postgres://nbgate:secret@{}/nbgate",
        gone.path().to_str().expect("utf-8").replace('/', "%2F")
    );
    for (url, says) in [
        ("mysql://db/nbgate", "is not a store URL"),
        ("postgres://db:port/nbgate", "invalid connection string"),
        (unreachable.as_str(), "unavailable"),
    ] {
        let output = std::process::Command::new(nbgate_tests::workspace_bin("nbgate"))
            .args(["serve", "--port=0", "--store", url])
            .arg(format!("--root-dir={}", env.work().display()))
            .arg(format!("--data-dir={}", data.path().display()))
            .envs(env.vars())
            .output()
            .expect("nbgate runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{url}: started");
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("nbgate:"))
            .collect();
        assert_eq!(lines.len(), 1, "{url}: {stderr}");
        assert!(lines[0].contains(says), "{url}: {stderr}");
        assert!(
            !stderr.contains("secret"),
            "the password is shown: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// Two replicas on one database: a replica that starts does not end the other's running execution,
/// each execution records the replica that ran it, and a replica killed -9 and started again with
/// its id ends its own interrupted execution (failed, with the reason) and retries nothing else.
#[test]
fn replicas_recover_only_their_own_executions() {
    let database = nbgate_tests::postgres::database();
    let env = JupyterEnv::new();
    env.add_test_kernel("testk", &[]);
    std::fs::write(
        env.work().join("slow.ipynb"),
        notebook(
            "testk",
            "testlang",
            &["echo start", "sleep 2500", "echo done"],
        ),
    )
    .expect("write");
    let args = |id: &'static str| {
        vec![
            "--store".to_owned(),
            database.url.clone(),
            "--replica-id".to_owned(),
            id.to_owned(),
            "--no-fork-server".to_owned(),
        ]
    };
    let (a_args, b_args) = (args("a"), args("b"));
    let a_args: Vec<&str> = a_args.iter().map(String::as_str).collect();
    let b_args: Vec<&str> = b_args.iter().map(String::as_str).collect();
    let (a_data, b_data) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let running = |server: &Serve, id: &str| {
        wait_for(Duration::from_secs(30), "the execution to run", || {
            (server.execution(id)["status"] == "running").then_some(())
        })
    };

    let a = Serve::start(&env, a_data.path(), &a_args);
    let first = a.create(&json!({"notebook": "slow.ipynb"}));
    running(&a, &first);
    let b = Serve::start(&env, b_data.path(), &b_args);
    let done = b.finished(&first, Duration::from_secs(60));
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(
        database.query(&format!(
            "SELECT replica FROM executions WHERE id = '{first}'"
        )),
        "a"
    );

    // Either replica may claim the next one: the one that runs it is killed.
    let second = a.create(&json!({"notebook": "slow.ipynb"}));
    running(&a, &second);
    let owner = a.execution(&second)["replica"]
        .as_str()
        .expect("replica")
        .to_owned();
    let (owner_data, owner_args, killed, other) = match owner.as_str() {
        "a" => (&a_data, &a_args, a, b),
        _ => (&b_data, &b_args, b, a),
    };
    killed.kill9();
    // The other leaves the execution alone: it stays running until its replica comes back (or its
    // lease expires, after 30 s by default:
    // `a_killed_replica_s_execution_is_ended_and_retried_by_another_after_its_lease`).
    assert_eq!(other.execution(&second)["status"], "running");
    let again = Serve::start(&env, owner_data.path(), owner_args);
    let ended = again.finished(&second, Duration::from_secs(30));
    assert_eq!(ended["status"], "failed", "{ended}");
    assert_eq!(ended["reason"], "nbgate stopped during the run", "{ended}");
    again.stop();
    other.stop();
    env.assert_no_survivors(Duration::from_secs(5));
}

/// Two replicas with a 2 s lease: the one running an execution is killed -9; the other finds its
/// lease expired, ends the execution `failed` ("replica X lost") within the lease timeout and a
/// beat, and runs its retry to success.
#[test]
fn a_killed_replica_s_execution_is_ended_and_retried_by_another_after_its_lease() {
    let database = nbgate_tests::postgres::database();
    let env = JupyterEnv::new();
    env.add_test_kernel("testk", &[]);
    std::fs::write(
        env.work().join("slow.ipynb"),
        notebook("testk", "testlang", &["sleep 3000", "echo done"]),
    )
    .expect("write");
    let args = |id: &str| {
        vec![
            "--store".to_owned(),
            database.url.clone(),
            format!("--replica-id={id}"),
            "--lease-timeout=2".to_owned(),
            "--no-fork-server".to_owned(),
        ]
    };
    let dirs = [(); 2].map(|_| tempfile::tempdir().expect("dir"));
    let mut servers: Vec<(String, Serve)> = ["a", "b"]
        .iter()
        .zip(&dirs)
        .map(|(id, dir)| {
            let args = args(id);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            (id.to_string(), Serve::start(&env, dir.path(), &args))
        })
        .collect();
    servers[0].1.ok(
        "POST",
        "/api/schedules",
        Some(
            &json!({"name": "slow", "notebook": "slow.ipynb", "every": "1h",
                     "retries": 1, "retry_delay": 1, "input": "live"}),
        ),
    );
    let first = servers[0].1.ok("POST", "/api/schedules/slow/run", None)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let running = wait_for(Duration::from_secs(30), "the execution to run", || {
        let execution = servers[0].1.execution(&first);
        (execution["status"] == "running").then_some(execution)
    });
    let owner = running["replica"].as_str().expect("replica").to_owned();
    let at = servers
        .iter()
        .position(|(id, _)| *id == owner)
        .expect("owner");
    let (_, killed) = servers.remove(at);
    let (_, survivor) = servers.remove(0);
    let killed_at = std::time::Instant::now();
    killed.kill9();
    let ended = survivor.finished(&first, Duration::from_secs(30));
    let found_after = killed_at.elapsed();
    assert_eq!(ended["status"], "failed", "{ended}");
    assert_eq!(ended["reason"], format!("replica {owner} lost"), "{ended}");
    assert!(
        found_after < Duration::from_secs(8),
        "found after {found_after:?} (lease 2 s)"
    );
    let retry = wait_for(Duration::from_secs(30), "the retry", || {
        survivor
            .all_executions()
            .into_iter()
            .find(|e| e["attempt"] == 2)
    });
    let retry_id = retry["id"].as_str().expect("id").to_owned();
    let done = survivor.finished(&retry_id, Duration::from_secs(60));
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_ne!(done["replica"], owner.as_str(), "{done}");
    let output = survivor.ok("GET", &format!("/api/executions/{retry_id}/notebook"), None);
    assert_eq!(cell_stdout(&output, 1).trim(), "done");
    survivor.stop();
}

/// PostgreSQL restarted under a running `nbgate serve`: meanwhile the API answers 503 with the
/// reason (never a 500, no panic); once it is back the server goes on by itself: the API answers
/// and the schedule fires again, no fire time twice (a run caught by the outage:
/// `a_run_that_ends_while_postgres_is_down_is_recorded_once_it_is_back`).
#[test]
fn a_postgres_restart_is_503_meanwhile_and_the_server_goes_on_after() {
    // A server of this test's own: it is stopped under the others otherwise.
    let postgres = nbgate_tests::postgres::Postgres::start();
    postgres.create_database("restart");
    let url = postgres.url("restart");
    let env = hello_env();
    let data = tempfile::tempdir().expect("data dir");
    let server = Serve::start(&env, data.path(), &["--store", &url, "--no-fork-server"]);
    start_tick(&server);
    let succeeded = |server: &Serve| {
        server.ok(
            "GET",
            "/api/executions?schedule=tick&status=succeeded",
            None,
        )["items"]
            .as_array()
            .map_or(0, Vec::len)
    };
    wait_for(Duration::from_secs(60), "a first fire", || {
        (succeeded(&server) >= 1).then_some(())
    });

    let stopped = postgres.stop();
    assert!(stopped.status.success(), "{stopped:?}");
    let (status, body) = wait_for(Duration::from_secs(15), "a 503", || {
        let (status, body) = server.call("GET", "/api/schedules", None);
        (status != 200).then_some((status, body))
    });
    assert_eq!(status, 503, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("unavailable"), "{body}");
    let (status, body) = server.call(
        "POST",
        "/api/executions",
        Some(&json!({"notebook": "hello.ipynb"})),
    );
    assert_eq!(status, 503, "{body}");
    // The outage lasts three fire times: its length is the point here, not a wait for an event.
    std::thread::sleep(Duration::from_secs(3));

    postgres.start_again();
    let before = wait_for(Duration::from_secs(30), "the API back", || {
        let (status, _) = server.call("GET", "/api/executions?schedule=tick", None);
        (status == 200).then(|| succeeded(&server))
    });
    wait_for(Duration::from_secs(60), "fires after the restart", || {
        (succeeded(&server) >= before + 3).then_some(())
    });
    server.ok("POST", "/api/schedules/tick/pause", None);
    let all = server.all_executions();
    assert_each_fire_once(&all);
    server.stop();
}

/// PostgreSQL stopped while an execution runs, and kept down past the run's end: the end is kept in
/// memory and written once the server is back, so the execution ends with its true status and its
/// output (it stayed `running` for good before: its end was written once, failed, and dropped).
#[test]
fn a_run_that_ends_while_postgres_is_down_is_recorded_once_it_is_back() {
    let postgres = std::sync::Arc::new(nbgate_tests::postgres::Postgres::start());
    postgres.create_database("midrun");
    let database = nbgate_tests::postgres::Database {
        url: postgres.url("midrun"),
        name: "midrun".into(),
        server: postgres.clone(),
    };
    let url = database.url.clone();
    let env = JupyterEnv::new();
    env.add_test_kernel("testk", &[]);
    std::fs::write(
        env.work().join("slow.ipynb"),
        notebook(
            "testk",
            "testlang",
            &["echo start", "sleep 1500", "echo done"],
        ),
    )
    .expect("write");
    let data = tempfile::tempdir().expect("data dir");
    let server = Serve::start(&env, data.path(), &["--store", &url, "--no-fork-server"]);
    let id = server.create(&json!({"notebook": "slow.ipynb"}));
    let running = wait_for(Duration::from_secs(30), "the execution to run", || {
        let execution = server.execution(&id);
        (execution["status"] == "running").then_some(execution)
    });
    let output = env
        .work()
        .join(running["output_path"].as_str().expect("output_path"));

    // The tests' server commits asynchronously (`synchronous_commit=off`) and stops as a crash
    // does: what it acknowledged last would be lost with it, the execution's row included.
    database.query("CHECKPOINT");
    let stopped = postgres.stop();
    assert!(stopped.status.success(), "{stopped:?}");
    // The run's last save (papermill's end time set) comes just before its end is written.
    wait_for(Duration::from_secs(60), "the run's last save", || {
        let text = std::fs::read_to_string(&output).ok()?;
        let saved: serde_json::Value = serde_json::from_str(&text).ok()?;
        saved["metadata"]["papermill"]["end_time"]
            .is_string()
            .then_some(())
    });
    let (status, body) = server.call("GET", &format!("/api/executions/{id}"), None);
    assert_eq!(status, 503, "{body}");
    // The outage outlasts the run's end by two seconds: its length is the point, not a wait for an
    // event (the end's first write fails in it).
    std::thread::sleep(Duration::from_secs(2));

    postgres.start_again();
    // The pool reconnects at its next call: a 503 may come first.
    let done = wait_for(Duration::from_secs(60), "the execution's end", || {
        let (status, execution) = server.call("GET", &format!("/api/executions/{id}"), None);
        (status == 200 && is_terminal(&execution)).then_some(execution)
    });
    assert_eq!(done["status"], "succeeded", "{done}");
    let notebook = server.ok("GET", &format!("/api/executions/{id}/notebook"), None);
    assert_eq!(cell_stdout(&notebook, 2).trim(), "done");
    server.stop();
    env.assert_no_survivors(Duration::from_secs(5));
}

/// A test environment with the test kernel and `hello.ipynb` (one cell: `echo hello`).
fn hello_env() -> JupyterEnv {
    let env = JupyterEnv::new();
    env.add_test_kernel("testk", &[]);
    std::fs::write(
        env.work().join("hello.ipynb"),
        notebook("testk", "testlang", &["echo hello"]),
    )
    .expect("write");
    env
}

/// `tick`: `hello.ipynb` every second, each missed fire caught up, overlaps queued.
fn start_tick(server: &Serve) {
    server.ok(
        "POST",
        "/api/schedules",
        Some(
            &json!({"name": "tick", "notebook": "hello.ipynb", "every": "1s",
                     "catchup": "all", "overlap": "queue"}),
        ),
    );
}

/// Each fire time once among first attempts (a retry repeats its first attempt's).
fn assert_each_fire_once(all: &[serde_json::Value]) {
    let mut fires: Vec<&str> = all
        .iter()
        .filter(|e| e["attempt"] == 1)
        .filter_map(|e| e["fire_time"].as_str())
        .collect();
    let count = fires.len();
    fires.sort_unstable();
    fires.dedup();
    assert_eq!(fires.len(), count, "a fire time ran twice");
}

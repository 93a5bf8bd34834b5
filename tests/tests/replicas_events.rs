//! Any replica serves the whole API: two real `nbgate serve` replicas on one PostgreSQL database
//! (the tests' own server) and one root directory. An execution one replica runs is seen on the
//! other's `GET /api/events` and on its own stream there (created, running, succeeded), a cancel
//! sent to the replica that does not run it ends it `cancelled` within 2 s (the store's end time
//! against the request's), each replica's `/metrics` names it and counts its own work, events flow
//! again after PostgreSQL restarts; and TLS to
//! PostgreSQL: `sslmode=verify-full` with the right root certificate works, a wrong one stops the
//! start with one line.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use nbgate_tests::JupyterEnv;
use nbgate_tests::serve::{Serve, notebook, wait_for};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

fn replica_args(url: &str, id: &str) -> Vec<String> {
    [
        "--store",
        url,
        "--replica-id",
        id,
        "--no-fork-server",
        "--max-concurrent-executions=2",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn start(env: &JupyterEnv, data: &std::path::Path, args: &[String]) -> Serve {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Serve::start(env, data, &args)
}

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .unwrap_or_else(|| panic!("not a time: {value}"))
        .with_timezone(&Utc)
}

/// A metric's value in a `/metrics` text, by its whole series name.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn another_replicas_execution_is_followed_and_cancelled_on_either() {
    let database = nbgate_tests::postgres::database();
    let env = JupyterEnv::new();
    env.add_test_kernel("testk", &[]);
    let write = |name: &str, cells: &[&str]| {
        std::fs::write(env.work().join(name), notebook("testk", "testlang", cells)).expect("write");
    };
    write("quick.ipynb", &["echo hello", "echo bye"]);
    write("slow.ipynb", &["echo start", "sleep 60000"]);
    let (a_data, b_data) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let a = start(&env, a_data.path(), &replica_args(&database.url, "a"));
    let b = start(&env, b_data.path(), &replica_args(&database.url, "b"));
    let replicas = [("a", &a), ("b", &b)];
    let feeds = replicas.map(|(_, server)| server.events("/api/events"));
    for feed in &feeds {
        feed.until(WAIT, "ready", |name, _| name == "ready");
    }

    // Created on a; whichever replica runs it, the other one's feed shows its whole life.
    let quick = a.create(&json!({"notebook": "quick.ipynb"}));
    let done = a.finished(&quick, WAIT);
    assert_eq!(done["status"], "succeeded", "{done}");
    let owner = done["replica"]
        .as_str()
        .expect("the replica that ran it")
        .to_owned();
    let (other_index, _) = (replicas.iter().enumerate())
        .find(|(_, (id, _))| *id != owner)
        .expect("the other replica");
    let of_quick = |data: &Value| data["execution_id"] == quick.as_str();
    let seen = feeds[other_index].until(WAIT, "quick's end on the other replica", |name, data| {
        name == "finished" && of_quick(data)
    });
    let names: Vec<&str> = (seen.iter())
        .filter(|(_, data)| of_quick(data))
        .map(|(name, _)| name.as_str())
        .collect();
    let position = |wanted: &str| names.iter().position(|name| *name == wanted);
    let (created, finished) = (position("created"), position("finished"));
    let running = (seen.iter().filter(|(_, data)| of_quick(data)))
        .position(|(name, data)| name == "status" && data["status"] == "running");
    assert!(
        created.is_some() && running.is_some() && created < running && running < finished,
        "replica {owner} ran it; the other's feed: {names:?}"
    );
    let (_, last) = seen.last().expect("finished");
    assert_eq!(last["execution"]["status"], "succeeded", "{last}");
    assert_eq!(last["execution"]["replica"], owner.as_str(), "{last}");

    // A schedule made on b and a deletion on a reach the other replica's feed too.
    b.ok(
        "POST",
        "/api/schedules",
        Some(
            &json!({"name": "weekly", "notebook": "quick.ipynb", "cron": "0 6 * * 1",
                     "paused": true}),
        ),
    );
    let (_, made) = feeds[0]
        .until(WAIT, "the schedule on a's feed", |name, _| {
            name == "schedule_created"
        })
        .pop()
        .expect("schedule_created");
    assert_eq!(made["schedule"]["name"], "weekly", "{made}");
    a.ok("DELETE", &format!("/api/executions/{quick}"), None);
    feeds[1].until(WAIT, "the deletion on b's feed", |name, data| {
        name == "deleted" && of_quick(data)
    });

    // Each replica's /metrics names it and counts what it ran itself.
    for (id, server) in replicas {
        let text = server.ok("GET", "/metrics", None);
        let text = text.as_str().expect("text");
        assert_eq!(
            metric(text, &format!("nbgate_replica_info{{replica=\"{id}\"}}")),
            Some(1.0),
            "{text}"
        );
        let succeeded = if id == owner { 1.0 } else { 0.0 };
        assert_eq!(
            metric(
                text,
                "nbgate_executions_finished_total{status=\"succeeded\"}"
            ),
            Some(succeeded),
            "replica {id} (quick ran on {owner}): {text}"
        );
    }

    // A run on one replica, cancelled through the other.
    let slow = b.create(&json!({"notebook": "slow.ipynb"}));
    let running = wait_for(WAIT, "slow to run", || {
        let execution = b.execution(&slow);
        (execution["status"] == "running" && execution["progress"]["cell"] == 1)
            .then_some(execution)
    });
    let owner = running["replica"].as_str().expect("replica").to_owned();
    let (_, other) = *replicas.iter().find(|(id, _)| *id != owner).expect("other");
    let (owner_index, _) = (replicas.iter().enumerate())
        .find(|(_, (id, _))| *id == owner)
        .expect("owner");
    let own_stream = other.events(&format!("/api/executions/{slow}/events"));
    own_stream.until(WAIT, "the snapshot", |name, data| {
        name == "status" && data["status"] == "running"
    });
    let asked = Utc::now();
    let answer = other.ok("POST", &format!("/api/executions/{slow}/cancel"), None);
    assert_eq!(answer["id"], slow.as_str(), "{answer}");
    let ended = other.finished(&slow, WAIT);
    assert_eq!(ended["status"], "cancelled", "{ended}");
    let took = (time(&ended["ended_at"]) - asked)
        .to_std()
        .unwrap_or_default();
    assert!(
        took < Duration::from_secs(2),
        "cancelled through the other replica, ended by {owner} {took:?} after the request"
    );
    eprintln!("cancel through the other replica: ended {took:?} after the request");
    // The other replica's stream of that execution ends with it, as on the owner.
    let seen = own_stream.until(WAIT, "the cancelled status", |name, data| {
        name == "status" && data["status"] == "cancelled"
    });
    assert!(!seen.is_empty());
    feeds[owner_index].until(WAIT, "slow's end on its owner", |name, data| {
        name == "finished" && data["execution_id"] == slow.as_str()
    });

    // A schedule deleted on one replica while its run goes on on the other: the run stops there,
    // `cancelled` because its schedule was deleted, as it would on the deleting replica.
    a.ok(
        "POST",
        "/api/schedules",
        // `live`: a snapshot is kept in the data directory of the replica that made the schedule.
        Some(
            &json!({"name": "slowly", "notebook": "slow.ipynb", "cron": "0 6 * * 1",
                     "paused": true, "input": "live"}),
        ),
    );
    let run = a.ok("POST", "/api/schedules/slowly/run", None);
    let run = run["id"].as_str().expect("id").to_owned();
    let running = wait_for(WAIT, "the schedule's run to run", || {
        let execution = a.execution(&run);
        (execution["status"] == "running" && execution["progress"]["cell"] == 1)
            .then_some(execution)
    });
    let owner = running["replica"].as_str().expect("replica").to_owned();
    let (_, other) = *replicas.iter().find(|(id, _)| *id != owner).expect("other");
    let asked = Utc::now();
    other.ok("DELETE", "/api/schedules/slowly?executions=keep", None);
    let ended = other.finished(&run, WAIT);
    assert_eq!(ended["status"], "cancelled", "{ended}");
    assert_eq!(ended["reason"], "its schedule was deleted", "{ended}");
    let took = (time(&ended["ended_at"]) - asked)
        .to_std()
        .unwrap_or_default();
    assert!(
        took < Duration::from_secs(2),
        "{owner} stopped it {took:?} after"
    );

    // PostgreSQL restarted: the replicas' LISTEN connections come back by themselves (back-off up
    // to 5 s), and an execution created on a is seen on b's feed again, on the same stream. What
    // was published while the buses were down is lost: b's feed says so first (`lagged` with an
    // unknown count), so the sidebar reads the lists again.
    database.server.stop();
    database.server.start_again();
    let restarted = Instant::now();
    let told_to_reread = std::cell::Cell::new(false);
    let again = wait_for(
        Duration::from_secs(30),
        "events across replicas again",
        || {
            let (status, created) = a.call(
                "POST",
                "/api/executions",
                Some(&json!({"notebook": "quick.ipynb"})),
            );
            // 503 while a's pool connects again.
            let id = created["id"].as_str().filter(|_| status == 201)?.to_owned();
            feeds[1]
                .seen_within(Duration::from_secs(1), |name, data| {
                    if name == "lagged" && data["missed"].is_null() {
                        told_to_reread.set(true);
                    }
                    name == "created" && data["execution_id"] == id.as_str()
                })
                .then_some(id)
        },
    );
    assert!(
        told_to_reread.get(),
        "b's feed relayed a's events again without a `lagged` first"
    );
    eprintln!(
        "after PostgreSQL's restart: {again} created on a seen on b {:?} after the restart",
        restarted.elapsed()
    );
    a.finished(&again, WAIT);
    a.stop();
    b.stop();
    env.assert_no_survivors(Duration::from_secs(5));
}

/// A private CA, a server certificate for `address` signed by it, and another CA that signed
/// nothing: `(ca.pem, server.pem, server.key, other-ca.pem)` in `dir`.
fn certificates(dir: &std::path::Path, address: &str) -> [std::path::PathBuf; 4] {
    let authority = |name: &str| {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().expect("CA key");
        rcgen::CertifiedIssuer::self_signed(params, key).expect("CA")
    };
    let ca = authority("nbgate test CA");
    let other = authority("another CA");
    let key = rcgen::KeyPair::generate().expect("key");
    let certificate = rcgen::CertificateParams::new([address.to_owned()])
        .expect("params")
        .signed_by(&key, &*ca)
        .expect("certificate");
    let paths = ["ca.pem", "server.pem", "server.key", "other-ca.pem"].map(|name| dir.join(name));
    for (path, text) in paths.iter().zip([
        ca.pem(),
        certificate.pem(),
        key.serialize_pem(),
        other.pem(),
    ]) {
        std::fs::write(path, text).expect("write");
    }
    paths
}

/// `path` readable by the server (as root it runs as `postgres`), the key by it only.
fn for_the_server(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let status = std::process::Command::new("chown")
            .arg("postgres:postgres")
            .arg(path)
            .status()
            .expect("chown");
        assert!(status.success(), "chown {}", path.display());
    }
}

#[test]
fn tls_to_postgres_is_verified_and_a_wrong_root_is_one_line() {
    // A loopback address of this test's own (port 5432 like the unix socket), so no port collides.
    let address = format!(
        "127.0.{}.{}",
        std::process::id() % 250 + 1,
        std::process::id() / 250 % 250 + 1
    );
    let certs = tempfile::Builder::new()
        .prefix("nbgate-pg-tls-")
        .tempdir_in("/tmp")
        .expect("dir");
    for_the_server(certs.path(), 0o755);
    let [ca, cert, key, other] = certificates(certs.path(), &address);
    for_the_server(&cert, 0o644);
    for_the_server(&key, 0o600);
    let postgres = nbgate_tests::postgres::Postgres::start_with(&format!(
        "-c listen_addresses={address} -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
        cert.display(),
        key.display()
    ));
    postgres.create_database("tls");
    let database = nbgate_tests::postgres::Database {
        url: String::new(),
        name: "tls".into(),
        server: std::sync::Arc::new(postgres),
    };
    let url = |root: &std::path::Path| {
        format!(
            "postgres://postgres@{address}:5432/tls?sslmode=verify-full&sslrootcert={}",
            root.display().to_string().replace('/', "%2F")
        )
    };

    let env = JupyterEnv::new();
    env.add_test_kernel("testk", &[]);
    std::fs::write(
        env.work().join("hello.ipynb"),
        notebook("testk", "testlang", &["echo hello"]),
    )
    .expect("write");
    let data = tempfile::tempdir().expect("data dir");
    let good = url(&ca);
    let server = Serve::start(&env, data.path(), &["--store", &good, "--no-fork-server"]);
    let id = server.create(&json!({"notebook": "hello.ipynb"}));
    let done = server.finished(&id, WAIT);
    assert_eq!(done["status"], "succeeded", "{done}");
    // It went over TLS: the server's own view of its client connections.
    let encrypted = wait_for(WAIT, "an encrypted connection", || {
        let rows = database.query(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
             WHERE ssl AND datname = 'tls'",
        );
        (rows.trim().parse::<u32>().unwrap_or(0) > 0).then_some(rows)
    });
    assert!(!encrypted.is_empty());
    server.stop();

    for (bad, says) in [
        (url(&other), "certificate"),
        (url(&certs.path().join("missing.pem")), "sslrootcert"),
    ] {
        let output = std::process::Command::new(nbgate_tests::workspace_bin("nbgate"))
            .args(["serve", "--port=0", "--store", &bad])
            .arg(format!("--root-dir={}", env.work().display()))
            .arg(format!("--data-dir={}", data.path().display()))
            .envs(env.vars())
            .output()
            .expect("nbgate runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{bad}: started");
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("nbgate:"))
            .collect();
        assert_eq!(lines.len(), 1, "{bad}: {stderr}");
        assert!(lines[0].contains(says), "{bad}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        eprintln!("{}", lines[0]);
    }
}

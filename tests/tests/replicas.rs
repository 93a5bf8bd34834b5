//! Three `nbgate serve` replicas on one PostgreSQL database, one root directory and one data
//! directory (as `<root>/.nbgate`, the default, would be), each on its own port with its own
//! `--replica-id`. Schedules on the test kernel fire every 2 s with `catchup: all` while one replica,
//! chosen by a seeded random generator, is killed -9 every 6–10 s (as soon as it runs an execution
//! then) and started again under a new id (as the default `host:pid` would be: only another replica
//! can end what the killed one ran, when its lease runs out). Afterwards:
//! - no fire twice: one first attempt per schedule and fire time;
//! - no fire missed: every 2-s fire time of every schedule from its creation to the end of the window
//!   has an execution;
//! - nothing left: every execution is terminal within 60 s of the end (polled on the store);
//! - every execution succeeded with its output file on the shared root, or failed with a reason; a
//!   failed attempt was retried by the schedule's policy.
//!
//! CI size: 10 schedules for 30 s (≈150 fires, 3–4 kills); `NBGATE_SOAK=1`: 50 schedules for 60 s
//! (≈1,500 fires, 6–9 kills). The seed is printed (`NBGATE_SEED=N` repeats a run).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use nbgate_tests::JupyterEnv;
use nbgate_tests::postgres::Database;
use nbgate_tests::serve::{
    Rng, Serve, TOKEN, assert_retried_by_policy, cell_stdout, size, wait_for,
};
use serde_json::{Value, json};

const REPLICAS: usize = 3;
/// The schedules' period.
const EVERY_MS: i64 = 2_000;
const RETRIES: u64 = 3;
/// A killed replica's executions are found by another within this many seconds.
const LEASE_TIMEOUT: &str = "--lease-timeout=3";

#[test]
fn three_replicas_with_kill_9s_fire_each_time_once_and_lose_nothing() {
    let schedules = size(10, 50);
    let window = Duration::from_secs(size(30, 60) as u64);
    let mut rng = Rng::from_env("replicas");
    let database = nbgate_tests::postgres::database();
    let env = JupyterEnv::new();
    env.add_test_kernel("testk", &[]);
    std::fs::write(
        env.work().join("tick.ipynb"),
        nbgate_tests::serve::notebook(
            "testk",
            "testlang",
            &["echo start", "sleep 200", "echo done"],
        ),
    )
    .expect("write");
    let data = tempfile::tempdir().expect("data dir");
    let mut incarnations = [0; REPLICAS];
    let mut replicas: Vec<Serve> = (0..REPLICAS)
        .map(|i| start(&env, data.path(), &database, i, 0))
        .collect();

    let before = Utc::now();
    for i in 0..schedules {
        let body = json!({"name": format!("s{i:02}"), "notebook": "tick.ipynb", "every": "2s",
                          "catchup": "all", "overlap": "queue", "retries": RETRIES,
                          "retry_delay": 0.2});
        // Spread over the replicas: any of them serves the whole API.
        replicas[i % REPLICAS].ok("POST", "/api/schedules", Some(&body));
    }
    let created = Utc::now();
    let end = created + chrono::Duration::from_std(window).expect("a window");

    // Kill -9 one replica every 6-10 s until the window ends, and start it again under a new id.
    let mut kills = Vec::new();
    let started = Instant::now();
    loop {
        let pause = Duration::from_millis(6_000 + rng.below(4_000));
        if started.elapsed() + pause >= window {
            break;
        }
        // The moment is the point of the test: the replica runs that long, then dies.
        std::thread::sleep(pause);
        let victim = rng.below(REPLICAS as u64) as usize;
        // Killed while it runs something, so that another replica must end and retry it.
        let id = replica_id(victim, incarnations[victim]);
        wait_for(
            Duration::from_secs(30),
            "the victim running an execution",
            || {
                let running = database.query(&format!(
                    "SELECT count(*) FROM executions WHERE replica = '{id}' AND status = 'running'"
                ));
                (running != "0").then_some(())
            },
        );
        let replica = replicas.remove(victim);
        replica.kill9();
        kills.push((started.elapsed().as_millis(), id));
        incarnations[victim] += 1;
        let again = start(&env, data.path(), &database, victim, incarnations[victim]);
        replicas.insert(victim, again);
    }

    // The window ends once every schedule has recorded its fire at `end` (catch-up all: each fire
    // before it too); then they are paused and every execution must end within 60 s.
    let end_ms = end.timestamp_millis();
    wait_for(
        Duration::from_secs(60),
        "every schedule's fire at the end of the window",
        || {
            let behind = database.query(&format!(
                "SELECT count(*) FROM schedules s WHERE NOT EXISTS (SELECT 1 FROM executions e \
                 WHERE e.schedule_id = s.id AND e.fire_time >= {end_ms})"
            ));
            (behind == "0").then_some(())
        },
    );
    for i in 0..schedules {
        replicas[i % REPLICAS].ok("POST", &format!("/api/schedules/s{i:02}/pause"), None);
    }
    let paused = Instant::now();
    let left = || {
        database.query(
            "SELECT status, coalesce(replica, '-'), count(*) FROM executions WHERE status NOT IN \
             ('succeeded', 'failed', 'cancelled', 'timed_out', 'skipped') GROUP BY 1, 2 ORDER BY 1, 2",
        )
    };
    let left = wait_for(Duration::from_secs(120), "the store", || {
        let left = left();
        (left.is_empty() || paused.elapsed() >= Duration::from_secs(60)).then_some(left)
    });
    assert!(
        left.is_empty(),
        "executions not terminal 60 s after the end (status|replica|count; killed: {kills:?}):\n{left}"
    );
    let drained = paused.elapsed();
    let all = replicas[0].all_executions();

    // No fire twice, none missed.
    let mut fires: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for execution in all.iter().filter(|e| e["attempt"] == 1) {
        let schedule = execution["schedule_name"].as_str().expect("a schedule");
        let fire = time(execution, "fire_time").timestamp_millis();
        assert!(
            fires.entry(schedule.to_owned()).or_default().insert(fire),
            "fired twice: {execution}"
        );
        assert!(
            fire > before.timestamp_millis(),
            "a fire before its schedule: {execution}"
        );
    }
    let first = (created.timestamp_millis() / EVERY_MS + 1) * EVERY_MS;
    let expected: Vec<i64> = (first..=end_ms).step_by(EVERY_MS as usize).collect();
    assert_eq!(fires.len(), schedules, "schedules that fired: {fires:?}");
    for (schedule, fired) in &fires {
        let missed: Vec<_> = expected.iter().filter(|t| !fired.contains(t)).collect();
        assert!(
            missed.is_empty(),
            "{schedule} missed the fires at {missed:?}"
        );
    }

    // Every execution succeeded with its output or failed with a reason, retried by its policy.
    for execution in &all {
        match execution["status"].as_str() {
            Some("succeeded") => {
                assert_eq!(
                    output_stdout(&env.work(), execution),
                    "done\n",
                    "{execution}"
                );
            }
            Some("failed") => assert!(
                execution["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "{execution}"
            ),
            _ => panic!("unexpected end: {execution}"),
        }
    }
    let retried = assert_retried_by_policy(&all, RETRIES);

    let per_replica = database
        .query("SELECT coalesce(replica, '-'), count(*) FROM executions GROUP BY 1 ORDER BY 1");
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for execution in all.iter().filter(|e| e["status"] == "failed") {
        *reasons
            .entry(execution["reason"].as_str().unwrap_or_default())
            .or_default() += 1;
    }
    for replica in replicas {
        stop(replica);
    }
    env.assert_no_survivors(Duration::from_secs(10));
    let fired: usize = fires.values().map(BTreeSet::len).sum();
    println!(
        "replicas: {REPLICAS} replicas, {schedules} schedules every 2 s for {window:?}, {} kills \
         (ms after the start, replica) {kills:?}; {} executions ({fired} fires, {} expected in the \
         window, {retried} retries): {} succeeded, {} failed {reasons:?}; per replica: {}; all \
         terminal {drained:?} after the end; duplicate fires 0, missed fires 0",
        kills.len(),
        all.len(),
        expected.len() * schedules,
        all.iter().filter(|e| e["status"] == "succeeded").count(),
        all.iter().filter(|e| e["status"] == "failed").count(),
        per_replica.replace('\n', ", "),
    );
}

/// Replica `index` in its `incarnation`-th life: its own id, the shared database, root and data
/// directory, a short lease.
fn start(
    env: &JupyterEnv,
    data: &Path,
    database: &Database,
    index: usize,
    incarnation: usize,
) -> Serve {
    let id = replica_id(index, incarnation);
    let args = [
        "--store",
        &database.url,
        "--replica-id",
        &id,
        LEASE_TIMEOUT,
        "--max-concurrent-executions",
        "4",
        "--no-fork-server",
    ];
    // Killed with the test binary too (its thread's death), so that none outlives even a killed test.
    let (child, stdout, port) = nbgate_tests::start_serve_under(
        env,
        TOKEN,
        data,
        &args,
        &["setpriv", "--pdeathsig", "KILL"],
    );
    Serve::adopt(child, stdout, port, data)
}

/// SIGTERM, and the replica must exit with success within 30 s.
fn stop(mut replica: Serve) {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(replica.pid() as i32, libc::SIGTERM) };
    let status = wait_for(Duration::from_secs(30), "a replica to stop", || {
        replica.child.try_wait().expect("wait")
    });
    assert!(status.success(), "nbgate serve exited with {status}");
}

fn replica_id(index: usize, incarnation: usize) -> String {
    format!("r{index}.{incarnation}")
}

fn time(execution: &Value, field: &str) -> DateTime<Utc> {
    let text = execution[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field}: {execution}"));
    DateTime::parse_from_rfc3339(text)
        .expect("an RFC 3339 time")
        .with_timezone(&Utc)
}

/// The last cell's stdout in the execution's output notebook, read from the shared root.
fn output_stdout(root: &Path, execution: &Value) -> String {
    let path = root.join(execution["output_path"].as_str().expect("output_path"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}: {execution}", path.display()));
    let notebook: Value = serde_json::from_str(&text).expect("an output notebook");
    cell_stdout(&notebook, 2)
}

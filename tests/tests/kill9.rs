//! `kill -9` of `nbgate serve` at random moments while executions (ad hoc and scheduled, on the test
//! kernel) are queued or running, restarting on the same data directory each time. Afterwards: every
//! execution ended succeeded with its output or failed with a reason, failures were retried as their
//! policy says, no schedule fired twice for one time, no kernel outlived its server, and the SQLite
//! store passes `PRAGMA integrity_check`. A second test kills it in each step of an A → B → C chain.
//!
//! CI size: 5 kills, ≈20 executions; `NBGATE_SOAK=1`: 20 kills, ≈100 executions. The seed is printed
//! (`NBGATE_SEED=N` repeats a run).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use nbgate_tests::JupyterEnv;
use nbgate_tests::serve::{
    Rng, Serve, assert_retried_by_policy, cell_stdout, is_terminal, notebook, size, wait_for,
};
use serde_json::{Value, json};

const ARGS: &[&str] = &["--max-concurrent-executions", "2", "--no-fork-server"];
const RETRIES: u64 = 3;

#[test]
fn kill_9_at_random_moments_loses_nothing_and_fires_nothing_twice() {
    let kills = size(5, 20);
    let adhoc_per_start = size(3, 5);
    let mut rng = Rng::from_env("kill9");
    let env = JupyterEnv::new();
    env.add_test_kernel("testk", &[]);
    for (name, sleep) in [("short", 150), ("long", 900)] {
        let cells = [
            "echo start".to_owned(),
            format!("sleep {sleep}"),
            "echo done".into(),
        ];
        let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
        std::fs::write(
            env.work().join(format!("{name}.ipynb")),
            notebook("testk", "testlang", &cells),
        )
        .expect("write");
    }
    let data = tempfile::tempdir().expect("data dir");
    let policy = json!({"retries": RETRIES, "retry_delay": 0.2});

    let mut server = Serve::start(&env, data.path(), ARGS);
    for (name, notebook, every) in [("tick", "short.ipynb", "1s"), ("tock", "long.ipynb", "1s")] {
        let mut body = json!({"name": name, "notebook": notebook, "every": every,
                              "overlap": "queue", "max_concurrent": 1, "catchup": "all"});
        body["retries"] = policy["retries"].clone();
        body["retry_delay"] = policy["retry_delay"].clone();
        server.ok("POST", "/api/schedules", Some(&body));
    }
    let mut created = BTreeSet::new();
    let mut moments = Vec::new();
    for _ in 0..kills {
        for _ in 0..adhoc_per_start {
            let notebook = if rng.below(2) == 0 { "short" } else { "long" };
            let mut body = policy.clone();
            body["notebook"] = json!(format!("{notebook}.ipynb"));
            created.insert(server.create(&body));
        }
        let moment = Duration::from_millis(100 + rng.below(1900));
        moments.push(moment.as_millis());
        // The moment is the point of the test: let the server run for that long, then kill it.
        std::thread::sleep(moment);
        server.kill9();
        // The kernels go with the server (PR_SET_PDEATHSIG): nothing of it may be left.
        env.assert_no_survivors(Duration::from_secs(5));
        assert_eq!(Serve::store_integrity(data.path()), "ok", "after a kill -9");
        server = Serve::start(&env, data.path(), ARGS);
    }
    for name in ["tick", "tock"] {
        server.ok("POST", &format!("/api/schedules/{name}/pause"), None);
    }
    let started = Instant::now();
    let all = wait_for(Duration::from_secs(180), "every execution to end", || {
        let all = server.all_executions();
        all.iter().all(is_terminal).then_some(all)
    });
    let drained = started.elapsed();

    // Nothing lost: every ad hoc execution the API accepted is there.
    let ids: BTreeSet<String> = all
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .collect();
    let lost: Vec<_> = created.difference(&ids).collect();
    assert!(lost.is_empty(), "executions lost: {lost:?}");

    // Each ends succeeded with its output or failed with a reason.
    for execution in &all {
        match execution["status"].as_str() {
            Some("succeeded") => {
                let id = execution["id"].as_str().expect("id");
                let output = server.ok("GET", &format!("/api/executions/{id}/notebook"), None);
                assert_eq!(cell_stdout(&output, 2), "done\n", "{execution}");
            }
            Some("failed") => assert!(
                execution["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "{execution}"
            ),
            _ => panic!("unexpected end: {execution}"),
        }
    }

    let retried = assert_retried_by_policy(&all, RETRIES);

    // No duplicate fires: one first attempt per schedule and fire time.
    let mut fires = BTreeSet::new();
    for execution in all.iter().filter(|e| e["attempt"] == 1) {
        if let Some(fire_time) = execution["fire_time"].as_str() {
            let key = (execution["schedule_id"].to_string(), fire_time.to_owned());
            assert!(fires.insert(key), "fired twice: {execution}");
        }
    }

    server.stop();
    env.assert_no_survivors(Duration::from_secs(10));
    assert_eq!(Serve::store_integrity(data.path()), "ok");
    let count = |status: &str| all.iter().filter(|e| e["status"] == status).count();
    println!(
        "kill9: {kills} kills at {moments:?} ms after start; {} executions ({} ad hoc, {} fires, \
         {retried} retries): {} succeeded, {} failed with a reason; drained in {drained:?} after the \
         last restart; losses 0, duplicate fires 0, orphans 0, integrity ok",
        all.len(),
        created.len(),
        fires.len(),
        count("succeeded"),
        count("failed"),
    );
}

/// A → B → C on the test kernel, each step a second long and retried by policy: the server is killed
/// -9 while each step in turn runs (at a random point of it), and the moment A and B are seen to
/// succeed (the hand-off to the next step), and restarted on the same data directory each time. Afterwards the chain has completed:
/// each step fired exactly once in the chain (a killed attempt is retried as attempt 2, never fired
/// anew), all in one `run_id`, each step started after its upstream succeeded, and nothing of any
/// server outlived it.
#[test]
fn kill_9_in_the_middle_of_a_chain_completes_it_with_no_step_run_twice() {
    let mut rng = Rng::from_env("kill9-chain");
    let env = JupyterEnv::new();
    env.add_test_kernel("testk", &[]);
    let cells = ["echo start", "sleep 1000", "echo done"];
    std::fs::write(
        env.work().join("step.ipynb"),
        notebook("testk", "testlang", &cells),
    )
    .expect("write");
    let data = tempfile::tempdir().expect("data dir");
    let steps = ["a", "b", "c"];

    let mut server = Serve::start(&env, data.path(), ARGS);
    for (i, name) in steps.iter().enumerate() {
        let mut body = json!({"name": name, "notebook": "step.ipynb", "retries": 2,
                              "retry_delay": 0.2});
        if i == 0 {
            // Started by hand below; its own time never comes during the test.
            body["cron"] = json!("0 6 * * *");
            body["paused"] = json!(true);
        } else {
            body["after"] = json!({"schedules": [steps[i - 1]]});
        }
        server.ok("POST", "/api/schedules", Some(&body));
    }
    let first = server.ok("POST", "/api/schedules/a/run", None);
    let run_id = first["id"].as_str().expect("id").to_owned();
    let chain_of = |server: &Serve| -> Vec<Value> {
        let page = server.ok("GET", &format!("/api/executions?run_id={run_id}"), None);
        page["items"].as_array().cloned().unwrap_or_default()
    };

    // Each step is killed while it runs, at a random point of it; a and b once more the moment they
    // are seen to succeed, when the next step is being handed its turn.
    let kill_points = [
        ("a", "running"),
        ("a", "succeeded"),
        ("b", "running"),
        ("b", "succeeded"),
        ("c", "running"),
    ];
    let mut moments = Vec::new();
    for (step, status) in kill_points {
        wait_for(Duration::from_secs(60), &format!("{step} {status}"), || {
            chain_of(&server)
                .iter()
                .any(|e| e["schedule_name"] == step && e["status"] == status)
                .then_some(())
        });
        if status == "running" {
            let moment = Duration::from_millis(rng.below(1000));
            moments.push(moment.as_millis());
            // The moment is the point of the test: somewhere in the step.
            std::thread::sleep(moment);
        }
        server.kill9();
        env.assert_no_survivors(Duration::from_secs(5));
        assert_eq!(Serve::store_integrity(data.path()), "ok", "after a kill -9");
        server = Serve::start(&env, data.path(), ARGS);
    }

    let chain = wait_for(Duration::from_secs(120), "the chain to complete", || {
        let chain = chain_of(&server);
        chain
            .iter()
            .any(|e| e["schedule_name"] == "c" && e["status"] == "succeeded")
            .then_some(chain)
    });
    // Nothing else of the chain is still to come.
    assert!(chain.iter().all(is_terminal), "{chain:#?}");

    let time = |execution: &Value, field: &str| {
        let text = execution[field].as_str().expect(field);
        chrono::DateTime::parse_from_rfc3339(text).expect("an RFC 3339 time")
    };
    let mut previous_end = None;
    for step in steps {
        let mut attempts: Vec<&Value> = chain
            .iter()
            .filter(|e| e["schedule_name"] == step)
            .collect();
        attempts.sort_by_key(|e| e["attempt"].as_u64());
        let firsts = attempts.iter().filter(|e| e["attempt"] == 1).count();
        assert_eq!(
            firsts, 1,
            "{step} fired {firsts} times in the chain: {attempts:#?}"
        );
        let (last, earlier) = attempts.split_last().expect("the step ran");
        assert_eq!(last["status"], "succeeded", "{last}");
        for killed in earlier {
            assert_eq!(killed["status"], "failed", "{killed}");
            assert!(
                killed["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "a killed attempt says why: {killed}"
            );
        }
        for retry in &attempts[1..] {
            assert_eq!(retry["first_attempt_id"], attempts[0]["id"], "{retry}");
        }
        let id = last["id"].as_str().expect("id");
        let output = server.ok("GET", &format!("/api/executions/{id}/notebook"), None);
        assert_eq!(cell_stdout(&output, 2), "done\n", "{last}");
        if let Some(upstream_end) = previous_end {
            let started = time(attempts[0], "started_at");
            assert!(
                started >= upstream_end,
                "{step} started at {started}, before its upstream ended at {upstream_end}"
            );
        }
        previous_end = Some(time(last, "ended_at"));
    }

    server.stop();
    env.assert_no_survivors(Duration::from_secs(10));
    assert_eq!(Serve::store_integrity(data.path()), "ok");
    println!(
        "kill9 chain: kills at {moments:?} ms into a, b and c and at the ends of a and b; {} \
         executions in the chain, each step fired once, completed",
        chain.len()
    );
}

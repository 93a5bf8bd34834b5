use std::time::Duration;

use chrono::{TimeZone, Utc};

use super::*;
use crate::context::Draft;
use crate::model::{ExecutionStatus, RunConfig};
use crate::store::{SqliteStore, Store};

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0)
        .single()
        .expect("time")
}

fn execution(schedule: Option<&str>, status: ExecutionStatus, ended: i64) -> Execution {
    let mut execution = Draft {
        name: format!("n_{}", uuid::Uuid::new_v4()),
        schedule_id: schedule.map(Into::into),
        schedule_name: None,
        notebook: "nb.ipynb".into(),
        parameters: Default::default(),
        kernel: None,
        machine_type: None,
        max_attempts: 1,
        fire_time: None,
        output_path: "executions/x.ipynb".into(),
        run: RunConfig {
            timeout: None,
            cell_timeout: None,
            retry_delay: Duration::ZERO,
            snapshot: false,
            outputs: vec!["out/*.csv".into()],
            expect: Vec::new(),
            pipeline: None,
        },
    }
    .queued(at(0));
    execution.status = status;
    execution.ended_at = Some(at(ended));
    execution
}

fn file(path: &str, modified: i64) -> OutputFile {
    OutputFile {
        path: path.into(),
        bytes: 12,
        modified: at(modified),
        sha256: "ab".repeat(32),
        rows: Some(3),
        columns: Some(vec![Column {
            name: "a".into(),
            kind: "integer".into(),
        }]),
    }
}

#[test]
fn patterns_are_checked() {
    let ok = [
        "output/generated_sync_date=*/predictions.csv",
        "**/*.jsonl",
        "./a.tsv",
    ];
    check_patterns(&ok.map(String::from)).expect("valid");
    for (bad, says) in [
        ("/etc/passwd", "relative"),
        ("../up/*.csv", "`..`"),
        ("out/../../x", "`..`"),
        ("", "empty"),
        ("out/[x.csv", "invalid"),
    ] {
        let error = check_patterns(&[bad.to_owned()]).expect_err(bad);
        let message = error.to_string();
        assert!(message.contains(&format!("{bad:?}")), "{message}");
        assert!(message.contains(says), "{bad}: {message}");
    }
    let many: Vec<String> = (0..=MAX_PATTERNS).map(|i| format!("{i}.csv")).collect();
    assert!(check_patterns(&many).is_err());
}

#[test]
fn outputs_are_stored_replaced_and_deleted_with_their_execution() {
    let store = SqliteStore::in_memory().expect("store");
    let run = execution(None, ExecutionStatus::Succeeded, 5);
    store.insert_execution(&run).expect("insert");
    store
        .record_outputs(&run.id, &[file("out/b.csv", 1), file("out/a.csv", 2)])
        .expect("record");
    let listed = store.execution_outputs(&run.id).expect("list");
    assert_eq!(listed, vec![file("out/a.csv", 2), file("out/b.csv", 1)]);
    store
        .record_outputs(&run.id, &[file("out/c.csv", 3)])
        .expect("record again");
    assert_eq!(
        store.execution_outputs(&run.id).expect("list"),
        vec![file("out/c.csv", 3)]
    );
    assert!(store.delete_execution(&run.id).expect("delete"));
    assert!(store.execution_outputs(&run.id).expect("list").is_empty());
}

#[test]
fn output_times_count_successes_with_outputs() {
    let store = SqliteStore::in_memory().expect("store");
    let schedule = crate::model::Schedule {
        id: "s".into(),
        spec: crate::model::ScheduleSpec::new(
            "s",
            "nb.ipynb",
            crate::model::Recurrence::Every("1h".into()),
            "UTC",
        ),
        next_run: None,
        last_fire: None,
        description: String::new(),
        snapshot_hash: None,
        created_at: at(0),
        updated_at: at(0),
    };
    store.insert_schedule(&schedule).expect("schedule");
    assert_eq!(
        store.output_times("s").expect("times"),
        OutputTimes::default()
    );
    let with = execution(Some("s"), ExecutionStatus::Succeeded, 100);
    let without = execution(Some("s"), ExecutionStatus::Succeeded, 200);
    let failed = execution(Some("s"), ExecutionStatus::Failed, 300);
    for run in [&with, &without, &failed] {
        store.insert_execution(run).expect("insert");
    }
    store
        .record_outputs(&with.id, &[file("out/a.csv", 90)])
        .expect("record");
    store
        .record_outputs(&failed.id, &[file("out/a.csv", 290)])
        .expect("record");
    let times = store.output_times("s").expect("times");
    assert_eq!(times.last_success, Some(at(200)));
    assert_eq!(times.last_success_with_outputs, Some(at(100)));
    assert_eq!(times.last_output_at, Some(at(290)));
}

#[test]
fn freshness_window() {
    let times = OutputTimes {
        last_success: Some(at(1000)),
        last_success_with_outputs: Some(at(100)),
        last_output_at: Some(at(100)),
    };
    let hour = Duration::from_secs(3600);
    let fresh = Freshness::at(times, true, hour, at(100 + 3600));
    assert!(!fresh.stale);
    assert_eq!(fresh.last_success, Some(at(1000)));
    assert!(Freshness::at(times, true, hour, at(100 + 3601)).stale);
    // Without declared outputs any success counts.
    assert!(!Freshness::at(times, false, hour, at(100 + 3601)).stale);
    assert!(Freshness::at(OutputTimes::default(), false, hour, at(0)).stale);
}

#[test]
fn period_is_the_gap_between_fires() {
    let mut spec = crate::model::ScheduleSpec::new(
        "s",
        "nb.ipynb",
        crate::model::Recurrence::Cron("0 10 * * *".into()),
        "Europe/Paris",
    );
    assert_eq!(period(&spec, at(0)), Duration::from_secs(86_400));
    spec.recurrence = crate::model::Recurrence::Every("15m".into());
    assert_eq!(period(&spec, at(0)), Duration::from_secs(900));
}

#[cfg(unix)]
#[test]
fn collect_records_created_and_changed_files_only_under_the_root() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(dir.path().join("root")).expect("root");
    let root = dir.path().join("root").canonicalize().expect("canonical");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("outside");
    std::fs::write(outside.join("secret.csv"), "a\n1\n").expect("secret");
    let cwd = root.join("nb");
    std::fs::create_dir_all(cwd.join("out/day=1")).expect("dirs");
    std::fs::write(cwd.join("out/day=1/kept.csv"), "a\n1\n").expect("kept");
    std::fs::write(cwd.join("out/day=1/changed.csv"), "a\n1\n").expect("changed");
    std::os::unix::fs::symlink(outside.join("secret.csv"), cwd.join("out/day=1/link.csv"))
        .expect("link");
    let patterns = vec!["out/day=*/*.csv".to_owned(), "none/*.jsonl".to_owned()];
    let before = snapshot(&root, &cwd, &patterns);
    assert_eq!(before.len(), 2, "the link out of the root is not a match");
    std::fs::write(cwd.join("out/day=1/changed.csv"), "a,b\n1,x\n2,y\n").expect("rewrite");
    std::fs::create_dir_all(cwd.join("out/day=2")).expect("dir");
    std::fs::write(cwd.join("out/day=2/new.csv"), "a\n1.5\n").expect("new");
    let files = collect(&root, &cwd, &patterns, &before);
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["nb/out/day=1/changed.csv", "nb/out/day=2/new.csv"]);
    assert_eq!(files[0].rows, Some(2));
    assert_eq!(files[0].bytes, 12);
    assert_eq!(
        files[1].columns,
        Some(vec![Column {
            name: "a".into(),
            kind: "float".into()
        }])
    );
    assert!(collect(&root, &cwd, &["missing/*.csv".to_owned()], &Snapshot::new()).is_empty());
}

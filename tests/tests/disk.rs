//! Disk faults under `nbgate serve`: an output directory that cannot be written and a full disk. The
//! execution fails with that reason, the server keeps serving, and the store passes
//! `PRAGMA integrity_check`.
//!
//! Not writable: `chmod 0555` when the tests do not run as root; as root (where mode bits do not stop
//! writes) the output folder is replaced by a regular file, so no folder can be made there. In a private
//! mount namespace (`unshare -rm`: user namespaces or root), whatever the user: a read-only bind mount
//! of the output folder, and a full disk (a 1 MiB tmpfs over it, a 3 MB output).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nbgate_tests::serve::{Serve, notebook};
use nbgate_tests::{JupyterEnv, start_serve_under};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

fn env_with_notebooks() -> JupyterEnv {
    let env = JupyterEnv::new();
    env.add_test_kernel("testk", &[]);
    std::fs::write(
        env.work().join("ok.ipynb"),
        notebook("testk", "testlang", &["echo fine"]),
    )
    .expect("write");
    std::fs::write(
        env.work().join("hang.ipynb"),
        notebook("testk", "testlang", &["hang"]),
    )
    .expect("write");
    std::fs::write(
        env.work().join("big.ipynb"),
        notebook("testk", "testlang", &["echo start", "flood 3000000"]),
    )
    .expect("write");
    env
}

/// Waits for the execution, which must fail; its reason.
fn failure_reason(server: &Serve, id: &str) -> String {
    let execution = server.finished(id, WAIT);
    assert_eq!(execution["status"], "failed", "{execution}");
    let reason = execution["reason"].as_str().unwrap_or_default().to_owned();
    println!("failed as it should: {reason}");
    reason
}

/// The server and its store go on: a run elsewhere succeeds, the server stops cleanly, the store checks
/// out and nothing is left running.
fn still_sound(server: Serve, env: &JupyterEnv, data_dir: &Path) {
    let ok = server.finished(&server.create(&json!({"notebook": "ok.ipynb"})), WAIT);
    assert_eq!(ok["status"], "succeeded", "{ok}");
    server.stop();
    assert_eq!(Serve::store_integrity(data_dir), "ok");
    env.assert_no_survivors(Duration::from_secs(10));
}

/// Makes `dir` unwritable for nbgate; says how.
fn make_unwritable(dir: &Path) -> &'static str {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let probe = dir.join("probe");
    if std::fs::write(&probe, b"").is_err() {
        return "chmod 0555";
    }
    // Privileged: mode bits do not stop us. A regular file where the folder was does.
    std::fs::remove_file(&probe).expect("remove probe");
    std::fs::remove_dir(dir).expect("remove folder");
    std::fs::write(dir, b"not a folder").expect("write file");
    "a regular file in place of the output folder (running as root: chmod does not stop writes)"
}

#[test]
fn an_unwritable_output_folder_fails_the_execution_with_the_reason() {
    let env = env_with_notebooks();
    let out = env.work().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    let data = tempfile::tempdir().expect("data dir");
    let server = Serve::start(
        &env,
        data.path(),
        &["--no-fork-server", "--max-concurrent-executions", "1"],
    );
    // Both executions are valid when created (the folder exists and is writable) and wait in the queue
    // behind a hanging one until the folder is made unwritable.
    let blocker = server.create(&json!({"notebook": "hang.ipynb"}));
    let body = json!({"name": "nightly", "notebook": "ok.ipynb", "cron": "0 3 * * *", "output_dir": "out"});
    server.ok("POST", "/api/schedules", Some(&body));
    let scheduled = server.ok("POST", "/api/schedules/nightly/run", None);
    let queued = [
        scheduled["id"].as_str().expect("id").to_owned(),
        server.create(&json!({"notebook": "ok.ipynb", "output_dir": "out"})),
    ];
    let how = make_unwritable(&out);
    println!("output folder made unwritable with: {how}");
    server.ok("POST", &format!("/api/executions/{blocker}/cancel"), None);
    for id in queued {
        let reason = failure_reason(&server, &id);
        assert!(
            reason.contains("out")
                && ["Permission denied", "not a folder", "Not a directory"]
                    .iter()
                    .any(|why| reason.contains(why)),
            "the reason names the folder and why: {reason:?}"
        );
    }
    still_sound(server, &env, data.path());
    // Leave the temporary directory removable.
    if out.is_dir() {
        let _ = std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755));
    }
}

#[test]
fn a_full_disk_or_a_read_only_mount_fails_the_execution_with_the_reason() {
    // Whether this machine gives us a private mount namespace; if not, say so loudly.
    let namespaces = Command::new("unshare")
        .args(["-rm", "true"])
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        namespaces,
        "`unshare -rm true` failed: the full-disk test needs user and mount namespaces \
         (util-linux's unshare, kernel.unprivileged_userns_clone=1, or root)"
    );
    let env = env_with_notebooks();
    let (full, read_only) = (env.work().join("full"), env.work().join("ro"));
    for dir in [&full, &read_only] {
        std::fs::create_dir(dir).expect("mkdir");
    }
    let data = tempfile::tempdir().expect("data dir");
    let mount = format!(
        "mount -t tmpfs -o size=1m nbgate-full {full} && mount --bind {ro} {ro} && \
         mount -o remount,bind,ro {ro} && exec \"$@\"",
        full = full.display(),
        ro = read_only.display()
    );
    let (child, stdout, port) = start_serve_under(
        &env,
        nbgate_tests::serve::TOKEN,
        data.path(),
        &["--no-fork-server", "--max-output-bytes", "0"],
        &["unshare", "-rm", "sh", "-c", &mount, "sh"],
    );
    let server = Serve::adopt(child, stdout, port, data.path());
    let id = server.create(&json!({"notebook": "big.ipynb", "output_dir": "full"}));
    let reason = failure_reason(&server, &id);
    assert!(
        reason.contains("No space left on device"),
        "the reason says the disk is full: {reason:?}"
    );
    let id = server.create(&json!({"notebook": "ok.ipynb", "output_dir": "ro"}));
    let reason = failure_reason(&server, &id);
    assert!(
        reason.contains("Read-only file system") && reason.contains("ro"),
        "the reason names the folder and says it is read-only: {reason:?}"
    );
    still_sound(server, &env, data.path());
}

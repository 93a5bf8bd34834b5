//! `nbgate run --machine-types FILE [--machine-type NAME]` on ipykernel: a local type's `cpus` pins the
//! kernel (the notebook reads its own affinity and thread variables) and its `env` reaches it; the
//! file's default applies without `--machine-type` (the file named by NBGATE_MACHINE_TYPES); a
//! `memory` limit is applied where the machine delegates the cgroup v2 memory controller, and refused
//! with the reason where it does not; every mistake is a usage error of one line. The same file on
//! `nbgate serve --machine-types`: the list, and executions' kernels pinned by their type.

use std::path::PathBuf;
use std::process::Output;

use nbgate_tests::JupyterEnv;
use nbgate_tests::serve::{cell_stdout, notebook};
use serde_json::Value;

const TYPES: &str = r#"
[[machine_type]]
name = "one-cpu"
description = "1 CPU"
cpus = 1
env = { EXTRA = "from-type" }
kernels = ["python3"]

[[machine_type]]
name = "whole"
description = "The whole machine"
default = true

[[machine_type]]
name = "small-memory"
description = "256 MiB"
memory = "256Mi"
"#;

/// Prints: CPUs allowed, the three thread variables, EXTRA, the kernel's cgroup memory.max.
const PROBE: &str = "import os\n\
    env = [os.environ.get(k, '-') for k in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'EXTRA')]\n\
    print(len(os.sched_getaffinity(0)), *env)";
const MEMORY_PROBE: &str = "path = [l[3:] for l in open('/proc/self/cgroup').read().splitlines() if l.startswith('0::')][0].strip()\n\
    mount = [l.split(' - ')[0].split()[4] for l in open('/proc/self/mountinfo') if l.split(' - ')[1].startswith('cgroup2 ')][0]\n\
    print(open(mount + path + '/memory.max').read().strip())";

fn setup(env: &JupyterEnv) -> (PathBuf, PathBuf) {
    let types = env.work().join("types.toml");
    std::fs::write(&types, TYPES).expect("types file");
    let input = env.work().join("probe.ipynb");
    std::fs::write(&input, notebook("python3", "python", &[PROBE])).expect("notebook");
    (types, input)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn printed(env: &JupyterEnv, name: &str) -> String {
    let text = std::fs::read_to_string(env.work().join(name)).expect("output notebook");
    let notebook: Value = serde_json::from_str(&text).expect("JSON");
    cell_stdout(&notebook, 0).trim().to_owned()
}

#[test]
fn a_local_type_pins_the_kernel_and_sets_its_environment() {
    let env = JupyterEnv::new();
    let (types, input) = setup(&env);
    let allowed = std::thread::available_parallelism().map_or(1, usize::from);

    let output = env.nbgate(&[
        "run",
        input.to_str().expect("utf-8"),
        "one.ipynb",
        "--machine-types",
        types.to_str().expect("utf-8"),
        "--machine-type",
        "one-cpu",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(printed(&env, "one.ipynb"), "1 1 1 1 from-type");

    // No --machine-type: the default type (no limits), the file from the environment.
    let output = std::process::Command::new(nbgate_tests::workspace_bin("nbgate"))
        .current_dir(env.work())
        .envs(env.vars())
        .env("NBGATE_MACHINE_TYPES", &types)
        .args(["run", input.to_str().expect("utf-8"), "default.ipynb"])
        .output()
        .expect("nbgate runs");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(printed(&env, "default.ipynb"), format!("{allowed} - - - -"));
}

#[test]
fn a_memory_limit_is_applied_or_refused_with_the_reason() {
    let env = JupyterEnv::new();
    let (types, _) = setup(&env);
    let input = env.work().join("memory.ipynb");
    std::fs::write(&input, notebook("python3", "python", &[MEMORY_PROBE])).expect("notebook");
    let output = env.nbgate(&[
        "run",
        input.to_str().expect("utf-8"),
        "memory_out.ipynb",
        "--machine-types",
        types.to_str().expect("utf-8"),
        "--machine-type",
        "small-memory",
    ]);
    if delegates_memory() {
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(printed(&env, "memory_out.ipynb"), (256 << 20).to_string());
    } else {
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{message}");
        assert!(
            message.contains("cannot start kernel \"python3\" with a memory limit of 256 MiB: ")
                && message.contains("memory controller"),
            "{message}"
        );
        env.assert_no_survivors(std::time::Duration::from_secs(5));
    }
}

/// Whether this process's cgroup v2 group offers the memory controller (what nbgate needs).
fn delegates_memory() -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let Some(mount) = mounts.lines().find_map(|line| {
        let (fields, rest) = line.split_once(" - ")?;
        rest.starts_with("cgroup2 ")
            .then(|| fields.split_whitespace().nth(4).map(str::to_owned))
            .flatten()
    }) else {
        return false;
    };
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let Some(path) = own.lines().find_map(|line| line.strip_prefix("0::")) else {
        return false;
    };
    let dir = PathBuf::from(mount).join(path.trim().trim_start_matches('/'));
    std::fs::read_to_string(dir.join("cgroup.controllers"))
        .is_ok_and(|text| text.split_whitespace().any(|name| name == "memory"))
}

#[test]
fn mistakes_are_usage_errors_of_one_line() {
    let env = JupyterEnv::new();
    let (types, input) = setup(&env);
    let types_arg = types.to_str().expect("utf-8");
    let input_arg = input.to_str().expect("utf-8");
    let bad = env.work().join("bad.toml");
    std::fs::write(
        &bad,
        "[[machine_type]]\nname = \"a\"\ndefault = true\n[[machine_type]]\nname = \"b\"\ndefault = true\n",
    )
    .expect("bad file");
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["--machine-types", types_arg, "--machine-type", "gpu"],
            "--machine-type gpu: no such machine type; known: one-cpu, whole, small-memory".into(),
        ),
        (
            vec!["--machine-type", "gpu"],
            "--machine-type gpu needs --machine-types FILE".into(),
        ),
        (
            vec!["--machine-types", bad.to_str().expect("utf-8")],
            format!(
                "{}: machine type \"b\" (entry 2): default = true, but \"a\" is already the default",
                bad.display()
            ),
        ),
        (
            vec![
                "--machine-types",
                types_arg,
                "--machine-type",
                "one-cpu",
                "-k",
                "other",
            ],
            "machine type one-cpu does not run kernel other; it runs: python3".into(),
        ),
    ];
    for (args, expected) in cases {
        let mut full = vec!["run", input_arg, "never.ipynb"];
        full.extend(args.iter().copied());
        let output = env.nbgate(&full);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {message}");
        assert!(message.contains(&expected), "{args:?}: {message}");
        assert_eq!(message.trim().lines().count(), 1, "{args:?}: {message}");
        assert!(!env.work().join("never.ipynb").exists());
    }
}

#[test]
fn nbgate_serve_runs_each_execution_on_its_type() {
    let env = JupyterEnv::new();
    let (types, _) = setup(&env);
    let data = tempfile::tempdir().expect("data dir");
    let serve = nbgate_tests::serve::Serve::start(
        &env,
        data.path(),
        &[&format!("--machine-types={}", types.display())],
    );
    let listed = serve.ok("GET", "/api/machine-types", None);
    let names: Vec<&str> = (listed.as_array().expect("a list").iter())
        .map(|machine_type| machine_type["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["one-cpu", "whole", "small-memory"]);

    let allowed = std::thread::available_parallelism().map_or(1, usize::from);
    for (machine_type, expected) in [
        (Some("one-cpu"), "1 1 1 1 from-type".to_owned()),
        (None, format!("{allowed} - - - -")),
    ] {
        let mut body = serde_json::json!({"notebook": "probe.ipynb"});
        if let Some(name) = machine_type {
            body["machine_type"] = name.into();
        }
        let id = serve.create(&body);
        let execution = serve.finished(&id, std::time::Duration::from_secs(120));
        assert_eq!(execution["status"], "succeeded", "{execution}");
        assert_eq!(
            execution["machine_type"],
            machine_type.unwrap_or("whole"),
            "{execution}"
        );
        let output = execution["output_path"].as_str().expect("output path");
        assert_eq!(printed(&env, output), expected, "{machine_type:?}");
    }

    // The CLI client asks for a type by name; an unknown one is refused with the known ones.
    let cli_json = |args: &[&str]| -> serde_json::Value {
        let output = serve.client(&env, &[args, &["--json"]].concat());
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            stderr(&output)
        );
        serde_json::from_slice(&output.stdout).expect("an answer as JSON")
    };
    let nightly = |machine_type: &'static str| {
        [
            "schedules",
            "create",
            "nightly",
            "probe.ipynb",
            "--cron",
            "0 6 * * *",
            "--machine-type",
            machine_type,
        ]
    };
    let execution = cli_json(&[
        "executions",
        "create",
        "probe.ipynb",
        "--machine-type",
        "one-cpu",
        "--wait",
    ]);
    assert_eq!(execution["machine_type"], "one-cpu", "{execution}");
    assert_eq!(execution["status"], "succeeded", "{execution}");
    let refused = serve.client(&env, &nightly("huge"));
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let message = stderr(&refused);
    assert!(
        message.contains("huge") && message.contains("one-cpu") && message.contains("whole"),
        "{message}"
    );
    let schedule = cli_json(&nightly("one-cpu"));
    assert_eq!(schedule["machine_type"], "one-cpu", "{schedule}");
    let schedule = cli_json(&["schedules", "update", "nightly", "--clear", "machine-type"]);
    assert_eq!(
        schedule["machine_type"], "whole",
        "back to the default: {schedule}"
    );
    serve.stop();
    env.assert_no_survivors(std::time::Duration::from_secs(10));
}

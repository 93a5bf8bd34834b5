//! Machine types on a real Jupyter Enterprise Gateway (`.venv-eg`): `nbgate run --gateway-url EG
//! --machine-types FILE --machine-type NAME` with a type whose `gateway_url` is EG starts the kernel
//! there with the type's `KERNEL_*` variables in the start request (the notebook reads them in its
//! environment; the kernel is EG's child); the default type, without a `gateway_url`, starts on the
//! `--gateway-url` gateway with its own variables only. No kernel is left on the gateway, no process
//! after EG stops.

use std::process::{Command, Stdio};
use std::time::Duration;

use nbgate_tests::JupyterEnv;
use nbgate_tests::eg::{EnterpriseGateway, KERNEL_USER, TOKEN};
use nbgate_tests::serve::{cell_stdout, notebook};
use serde_json::Value;

#[test]
fn a_gateway_type_s_kernel_variables_reach_the_kernel_on_enterprise_gateway() {
    let env = JupyterEnv::new();
    let gateway = EnterpriseGateway::start(&env);
    let types = env.work().join("types.toml");
    std::fs::write(
        &types,
        format!(
            r#"
[[machine_type]]
name = "cpu-4"
description = "4 CPUs, 15 GB RAM"
gateway_url = "{url}"
env = {{ KERNEL_CPUS = "4", KERNEL_MEMORY = "15Gi", KERNEL_GPUS_LIMIT = "0" }}

[[machine_type]]
name = "small"
description = "1 CPU"
env = {{ KERNEL_CPUS = "1" }}
default = true
"#,
            url = gateway.url()
        ),
    )
    .expect("types file");
    let input = env.work().join("env.ipynb");
    let probe = "import os\nprint(*[os.environ.get(k, '-') for k in \
                 ('KERNEL_CPUS', 'KERNEL_MEMORY', 'KERNEL_GPUS_LIMIT', 'KERNEL_USERNAME')], \
                 os.getppid())";
    std::fs::write(&input, notebook("python3", "python", &[probe])).expect("notebook");

    let run = |output: &str, machine_type: Option<&str>| {
        let mut command = Command::new(nbgate_tests::workspace_bin("nbgate"));
        command
            .current_dir(env.work())
            .envs(env.vars())
            .env("NBGATE_GATEWAY_TOKEN", TOKEN)
            .arg("run")
            .arg(&input)
            .arg(output)
            .arg("--machine-types")
            .arg(&types)
            .arg(format!("--gateway-url={}", gateway.url()))
            .arg(format!("--gateway-kernel-username={KERNEL_USER}"))
            .stdin(Stdio::null());
        if let Some(name) = machine_type {
            command.arg("--machine-type").arg(name);
        }
        let output_status = command.output().expect("nbgate runs");
        assert!(
            output_status.status.success(),
            "{}",
            String::from_utf8_lossy(&output_status.stderr)
        );
        let text = std::fs::read_to_string(env.work().join(output)).expect("output");
        let notebook: Value = serde_json::from_str(&text).expect("JSON");
        cell_stdout(&notebook, 0).trim().to_owned()
    };

    let printed = run("big.ipynb", Some("cpu-4"));
    let fields: Vec<&str> = printed.split_whitespace().collect();
    assert_eq!(
        fields[..4],
        ["4", "15Gi", "0", KERNEL_USER],
        "the type's KERNEL_* variables: {printed}"
    );
    let eg_pid = gateway.child.id().to_string();
    assert_eq!(fields[4], eg_pid, "the kernel is EG's child: {printed}");
    assert_eq!(gateway.kernels(), Vec::<Value>::new(), "no kernel left");

    // The default type, its own variables only.
    let printed = run("small.ipynb", None);
    assert!(
        printed.starts_with(&format!("1 - - {KERNEL_USER} ")),
        "the default type's variables only: {printed}"
    );
    assert_eq!(gateway.kernels(), Vec::<Value>::new(), "no kernel left");
    drop(gateway);
    env.assert_no_survivors(Duration::from_secs(10));
}

//! Enterprise Gateway's SSH mode (`DistributedProcessProxy`, the `python_distributed` kernelspec from
//! EG's source distribution) across two hosts made as network namespaces, each with an address of its
//! own and Debian's sshd (`nbgate_tests::ssh_hosts`), behind `nbgate serve --gateway-url
//! --machine-types`: a machine type pinned to a host with `KERNEL_REMOTE_HOST` runs its executions
//! there (the notebook reports the address it reaches EG from and its network namespace); a host whose
//! link goes down mid-run fails that execution with a clear reason within the cell timeout + 5 s while
//! the other host's execution goes on and succeeds. No kernel is left on EG, nothing in the hosts'
//! namespaces but sshd, and the namespaces are gone after the test.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use nbgate_tests::JupyterEnv;
use nbgate_tests::eg::{EnterpriseGateway, KERNEL_USER, TOKEN};
use nbgate_tests::serve::{Serve, cell_stdout, notebook, wait_for};
use nbgate_tests::ssh_hosts::{Host, SshHosts, install_distributed_kernelspec};
use serde_json::{Value, json};

/// EG's kernelspec for SSH hosts.
const KERNEL: &str = "python_distributed";

/// Two hosts, EG in SSH mode over them, and `nbgate serve` on EG with machine types `host-a` and
/// `host-b`, each pinned to its host.
struct Cluster {
    _log: LogOnPanic,
    server: Serve,
    gateway: EnterpriseGateway,
    hosts: SshHosts,
    env: JupyterEnv,
}

impl Cluster {
    fn start() -> Self {
        let env = JupyterEnv::new();
        let hosts = SshHosts::start(2);
        let share = env.dir.path().join("eg-share");
        let kernel_tmp = env.dir.path().join("kernel-tmp");
        std::fs::create_dir_all(&kernel_tmp).expect("kernel tmp");
        let vars = env.vars();
        let kernel_env = BTreeMap::from([
            ("TMPDIR".to_owned(), kernel_tmp.display().to_string()),
            ("IPYTHONDIR".to_owned(), vars["IPYTHONDIR"].clone()),
            (
                "JUPYTER_RUNTIME_DIR".to_owned(),
                vars["JUPYTER_RUNTIME_DIR"].clone(),
            ),
        ]);
        install_distributed_kernelspec(&share, &kernel_env);
        let mut gateway_vars = hosts.gateway_vars();
        gateway_vars.insert("JUPYTER_PATH".into(), share.display().to_string());
        let gateway = EnterpriseGateway::start_with(&env, &gateway_vars);
        let types = env.work().join("types.toml");
        std::fs::write(
            &types,
            format!(
                r#"
[[machine_type]]
name = "host-a"
description = "SSH host A"
env = {{ KERNEL_REMOTE_HOST = "{a}" }}
default = true

[[machine_type]]
name = "host-b"
description = "SSH host B"
env = {{ KERNEL_REMOTE_HOST = "{b}" }}
"#,
                a = hosts.hosts[0].address,
                b = hosts.hosts[1].address
            ),
        )
        .expect("types file");
        let server = Serve::start(
            &env,
            &env.dir.path().join("data"),
            &[
                &format!("--gateway-url={}", gateway.url()),
                &format!("--gateway-token={TOKEN}"),
                &format!("--gateway-kernel-username={KERNEL_USER}"),
                &format!("--machine-types={}", types.display()),
            ],
        );
        Cluster {
            _log: LogOnPanic(env.dir.path().join("eg.log")),
            server,
            gateway,
            hosts,
            env,
        }
    }

    /// Writes notebook `name`: a parameters cell (`gateway_ip`, `flag`), a cell that prints the
    /// address the kernel reaches EG from and its network namespace, then `cells`.
    fn write_notebook(&self, name: &str, cells: &[&str]) {
        let mut all = vec![
            "gateway_ip = ''\nflag = ''",
            "import os, socket\n\
             probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
             probe.connect((gateway_ip, 9))\n\
             print(probe.getsockname()[0], os.readlink('/proc/self/ns/net'))",
        ];
        all.extend_from_slice(cells);
        let mut notebook: Value =
            serde_json::from_str(&notebook(KERNEL, "python", &all)).expect("JSON");
        notebook["cells"][0]["metadata"]["tags"] = json!(["parameters"]);
        std::fs::write(self.env.work().join(name), notebook.to_string()).expect("write notebook");
    }

    fn run(&self, notebook: &str, machine_type: &str, cell_timeout: f64) -> String {
        let flag = self.flag(notebook);
        self.server.create(&json!({
            "notebook": notebook,
            "kernel": KERNEL,
            "machine_type": machine_type,
            "cell_timeout": cell_timeout,
            "parameters": {"gateway_ip": self.hosts.gateway_ip, "flag": flag.display().to_string()},
        }))
    }

    /// A file the notebook `notebook` may wait for.
    fn flag(&self, notebook: &str) -> std::path::PathBuf {
        self.env.dir.path().join(format!("{notebook}.flag"))
    }

    /// The output notebook of a finished execution.
    fn output(&self, execution: &Value) -> Value {
        let id = execution["id"].as_str().expect("id");
        self.server
            .ok("GET", &format!("/api/executions/{id}/notebook"), None)
    }

    /// nbgate stopped: `left` kernels still on EG (which it failed to delete); then everything
    /// stopped, the namespaces deleted, and no process of the test left.
    fn stop(self, left: usize) {
        let Cluster {
            _log,
            server,
            gateway,
            hosts,
            env,
        } = self;
        server.stop();
        let kernels = gateway.kernels();
        assert_eq!(kernels.len(), left, "kernels on EG: {kernels:?}");
        drop(gateway);
        let names: Vec<String> = hosts.hosts.iter().map(|h| h.name.clone()).collect();
        drop(hosts);
        for name in names {
            assert!(
                !Path::new(&format!("/run/netns/{name}")).exists(),
                "namespace {name} deleted"
            );
        }
        env.assert_no_survivors(Duration::from_secs(10));
    }
}

/// Prints Enterprise Gateway's log when a test fails (dropped before EG and its directory).
struct LogOnPanic(std::path::PathBuf);

impl Drop for LogOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.0).unwrap_or_default();
            eprintln!("Enterprise Gateway's log:\n{log}");
        }
    }
}

/// Until nothing but sshd runs on `host` (EG stops a kernel it deletes through its launcher).
fn wait_for_kernels_to_exit(host: &Host) {
    wait_for(
        Duration::from_secs(10),
        "the host's kernels to exit",
        || (host.processes() == [host.sshd_pid()]).then_some(()),
    );
}

/// `(address, "net:[INODE]")` printed by the notebook's probe cell.
fn probe(output: &Value) -> (String, String) {
    let printed = cell_stdout(output, 2);
    let mut fields = printed.split_whitespace();
    (
        fields.next().unwrap_or_default().to_owned(),
        fields.next().unwrap_or_default().to_owned(),
    )
}

#[test]
fn a_machine_type_pinned_to_a_host_runs_its_kernel_there() {
    let cluster = Cluster::start();
    cluster.write_notebook("where.ipynb", &[]);
    let on_a = cluster.run("where.ipynb", "host-a", 60.0);
    let on_b = cluster.run("where.ipynb", "host-b", 60.0);
    for (id, host) in [
        (on_a, &cluster.hosts.hosts[0]),
        (on_b, &cluster.hosts.hosts[1]),
    ] {
        let execution = cluster.server.finished(&id, Duration::from_secs(90));
        assert_eq!(execution["status"], "succeeded", "{execution}");
        assert_eq!(execution["kernel_location"], cluster.gateway.url());
        let (address, netns) = probe(&cluster.output(&execution));
        assert_eq!(address, host.address, "{execution}");
        assert_eq!(netns, format!("net:[{}]", host.netns_inode()));
    }
    for host in &cluster.hosts.hosts {
        wait_for_kernels_to_exit(host);
    }
    cluster.stop(0);
}

#[test]
fn a_host_whose_link_goes_down_fails_its_execution_while_the_other_goes_on() {
    let cluster = Cluster::start();
    cluster.write_notebook(
        "ticks.ipynb",
        &["import time\nfor i in range(6000):\n    print(i, flush=True)\n    time.sleep(0.05)"],
    );
    cluster.write_notebook(
        "waits.ipynb",
        &["import time\nwhile not os.path.exists(flag):\n    time.sleep(0.02)\nprint('went on')"],
    );
    let cell_timeout = 20.0;
    let on_a = cluster.run("ticks.ipynb", "host-a", cell_timeout);
    // Opened before the kernel starts on host A (seconds over SSH): it sees the cell's ticks.
    let a_events = cluster
        .server
        .events(&format!("/api/executions/{on_a}/events"));
    // Host B's cell waits for the test's flag, set after host A's execution has ended.
    let on_b = cluster.run("waits.ipynb", "host-b", 120.0);
    for id in [&on_a, &on_b] {
        wait_for(Duration::from_secs(90), "the last cell running", || {
            let execution = cluster.server.execution(id);
            assert!(
                !nbgate_tests::serve::is_terminal(&execution),
                "ended early: {execution}"
            );
            (execution["progress"]["cell"].as_u64() == Some(2)).then_some(())
        });
    }
    // The link goes down once nbgate has two ticks of host A's cell (`0` and `1`), which it must keep.
    a_events.until(
        Duration::from_secs(60),
        "host A's second tick",
        |name, data| {
            name == "output"
                && data["output"]["text"].as_str().is_some_and(|text| {
                    text.lines()
                        .any(|line| line.parse().is_ok_and(|tick: u32| tick >= 1))
                })
        },
    );
    let host_a = &cluster.hosts.hosts[0];
    host_a.set_link(false);
    let down = Instant::now();
    let failed = cluster.server.finished(&on_a, Duration::from_secs(60));
    let took = down.elapsed();
    eprintln!("host A's execution ended {took:?} after its link went down: {failed}");
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        took < Duration::from_secs_f64(cell_timeout + 5.0),
        "ended {took:?} after the link went down"
    );
    let reason = failed["reason"].as_str().unwrap_or_default();
    let expected = format!(
        "gateway {} found the kernel dead (its process or its host stopped answering)",
        cluster.gateway.url()
    );
    assert!(reason.contains(&expected), "{reason}");
    // It ran on host A, and what the cell printed before the link went down is kept.
    let partial = cluster.output(&failed);
    assert_eq!(probe(&partial).0, host_a.address);
    assert!(cell_stdout(&partial, 3).starts_with("0\n1\n"), "{partial}");

    // Host B's execution is still running, and goes on to succeed on host B.
    let execution = cluster.server.execution(&on_b);
    assert_eq!(execution["status"], "running", "{execution}");
    std::fs::write(cluster.flag("waits.ipynb"), "").expect("flag");
    let succeeded = cluster.server.finished(&on_b, Duration::from_secs(30));
    assert_eq!(succeeded["status"], "succeeded", "{succeeded}");
    let output = cluster.output(&succeeded);
    assert_eq!(probe(&output).0, cluster.hosts.hosts[1].address);
    assert_eq!(cell_stdout(&output, 3).trim(), "went on");
    wait_for_kernels_to_exit(&cluster.hosts.hosts[1]);
    // Host A's kernel: EG 3.3 cannot delete a kernel whose automatic restart failed (its DELETE
    // answers 500 "No kernel is running", after holding it for the kernel's launch timeout), so EG
    // still lists it, and its process runs on on host A, out of EG's reach, even once the link is
    // back. The namespace's teardown kills it.
    let kernels = cluster.gateway.kernels();
    assert_eq!(kernels.len(), 1, "{kernels:?}");
    assert_eq!(kernels[0]["id"], failed["gateway_kernel_id"], "{kernels:?}");
    assert_ne!(
        host_a.processes(),
        [host_a.sshd_pid()],
        "host A's kernel runs on"
    );
    cluster.stop(1);
}

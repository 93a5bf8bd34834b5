//! Remote hosts for Jupyter Enterprise Gateway's SSH mode (`DistributedProcessProxy`), made on this
//! machine: each host is a network namespace with an address of its own, reached from this namespace
//! over a veth pair, running Debian's `sshd` (root only: `ip netns`, privileged sshd).
//!
//! - [`SshHosts::start`]: N hosts on a free `10.200.K.0/24`: host `i` is `10.200.K.(4i+2)` behind
//!   `10.200.K.(4i+1)` here (a /30 per link, and an unreachable route for the /24: a link set down
//!   makes its host unreachable at once, EHOSTUNREACH), and this namespace answers them at
//!   [`SshHosts::gateway_ip`] (`10.200.K.254`, on an interface of its own), EG's response address.
//!   A key pair and a `known_hosts` in a home directory of the hosts' own
//!   ([`SshHosts::gateway_vars`] points EG's `HOME` there: paramiko takes `~/.ssh/id_ed25519` and
//!   rejects unknown host keys); the real `~/.ssh` is not touched.
//! - [`install_distributed_kernelspec`]: EG's `python_distributed` kernelspec and its launcher, from
//!   EG's source distribution (`.venv-eg/sdist/`, downloaded by `make venv-eg`), laid out as EG's own
//!   Makefile does, running `.venv-eg`'s Python (ipykernel, pycryptodomex) on the hosts (the
//!   namespaces share the filesystem).
//! - Dropped (even on a panic, after printing the hosts' sshd and kernel logs): every process in each
//!   namespace killed (sshd and whatever it started: kernels), the namespaces, their interfaces and
//!   the route deleted. Leftovers of a test binary killed with SIGKILL (namespaces, interfaces,
//!   routes, directories: named for its pid) are removed by the next start.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::eg::eg_venv;

/// One host: a network namespace, its link here, its address, its sshd.
pub struct Host {
    /// The namespace (`ip netns` name) and the name of this side of its veth pair.
    pub name: String,
    /// The host's address (sshd listens there; kernels bind there).
    pub address: String,
    sshd: Option<Child>,
}

impl Host {
    /// `ip link set LINK up|down` on this side of the host's link.
    pub fn set_link(&self, up: bool) {
        ip(&["link", "set", &self.name, if up { "up" } else { "down" }]);
    }

    /// The pid of the host's sshd (listening; its sessions are its children).
    pub fn sshd_pid(&self) -> u32 {
        self.sshd.as_ref().expect("sshd runs").id()
    }

    /// Pids of the processes in the host's namespace (sshd, its sessions, kernels).
    pub fn processes(&self) -> Vec<u32> {
        netns_pids(&self.name)
    }

    /// The inode of the host's network namespace, as `/proc/PID/ns/net` of a process there shows it
    /// (`net:[INODE]`).
    pub fn netns_inode(&self) -> u64 {
        std::fs::metadata(format!("/run/netns/{}", self.name))
            .expect("the namespace's file")
            .ino()
    }
}

/// Hosts made for one test, torn down when dropped.
pub struct SshHosts {
    pub dir: tempfile::TempDir,
    pub hosts: Vec<Host>,
    /// The address of this namespace that every host reaches (EG's response address).
    pub gateway_ip: String,
    gateway_link: String,
}

/// Serialises set-ups within a test binary: choosing a free subnet and creating it are one step.
static SETUP: Mutex<()> = Mutex::new(());
static SERIAL: AtomicU32 = AtomicU32::new(0);

impl SshHosts {
    pub fn start(count: usize) -> Self {
        assert!((1..=8).contains(&count), "1 to 8 hosts fit the /24 layout");
        // SAFETY: geteuid has no preconditions.
        assert_eq!(
            unsafe { libc::geteuid() },
            0,
            "the SSH-mode tests make network namespaces and run sshd: run them as root"
        );
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: run `make test` (as root it installs Debian's openssh-server) or \
             apt-get install openssh-server"
        );
        let _setup = SETUP
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        remove_leftovers();
        let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
        assert!(serial < 16, "at most 16 sets of hosts per test binary");
        // Names of at most 15 bytes (an interface name's limit) that carry our pid.
        let tag = format!("{PREFIX}{}-{serial:x}", std::process::id());
        let subnet = free_subnet();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
            .tempdir()
            .expect("temp dir");
        let gateway_link = format!("{tag}r");
        let gateway_ip = format!("{subnet}.254");
        let mut hosts = SshHosts {
            dir,
            hosts: Vec::new(),
            gateway_ip,
            gateway_link,
        };
        // A veth pair with both ends here: a dummy interface (a module this kernel may lack) would do.
        let peer = format!("{tag}s");
        ip(&[
            "link",
            "add",
            &hosts.gateway_link,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
        ]);
        ip(&["link", "set", &peer, "up"]);
        // A host whose link is down is unreachable at once (EHOSTUNREACH), as behind a router that
        // says so, and no packet for the subnet leaves by the default route.
        ip(&[
            "route",
            "add",
            "unreachable",
            &format!("{subnet}.0/24"),
            "proto",
            ROUTE_PROTO,
        ]);
        ip(&[
            "addr",
            "add",
            &format!("{}/32", hosts.gateway_ip),
            "dev",
            &hosts.gateway_link,
        ]);
        ip(&["link", "set", &hosts.gateway_link, "up"]);

        let home = hosts.home();
        std::fs::create_dir_all(home.join(".ssh")).expect("home");
        keygen(&home.join(".ssh/id_ed25519"));
        let client_key =
            std::fs::read_to_string(home.join(".ssh/id_ed25519.pub")).expect("public key");
        let mut known_hosts = String::new();
        for index in 0..count {
            hosts.add_host(&tag, &subnet, index, &client_key);
        }
        for host in &hosts.hosts {
            let host_key = std::fs::read_to_string(hosts.host_dir(&host.name).join("host_key.pub"))
                .expect("host key");
            let mut fields = host_key.split_whitespace();
            let (kind, key) = (fields.next().unwrap_or(""), fields.next().unwrap_or(""));
            known_hosts.push_str(&format!("{} {kind} {key}\n", host.address));
        }
        std::fs::write(home.join(".ssh/known_hosts"), known_hosts).expect("known_hosts");
        for host in &hosts.hosts {
            wait_for_sshd(host, &hosts.host_dir(&host.name));
        }
        hosts
    }

    /// The home directory EG runs with: `.ssh/id_ed25519` and `.ssh/known_hosts` for the hosts.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn host_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Host `index`: its namespace, link, address and a running sshd that lets root in with the
    /// hosts' key.
    fn add_host(&mut self, tag: &str, subnet: &str, index: usize, client_key: &str) {
        let name = format!("{tag}{}", (b'a' + index as u8) as char);
        let near = format!("{subnet}.{}", 4 * index + 1);
        let address = format!("{subnet}.{}", 4 * index + 2);
        ip(&["netns", "add", &name]);
        // From here on the host is torn down with the others, even if the rest fails.
        self.hosts.push(Host {
            name: name.clone(),
            address: address.clone(),
            sshd: None,
        });
        ip(&[
            "link", "add", &name, "type", "veth", "peer", "name", "eth0", "netns", &name,
        ]);
        ip(&["addr", "add", &format!("{near}/30"), "dev", &name]);
        ip(&["link", "set", &name, "up"]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        ip(&[
            "-n",
            &name,
            "addr",
            "add",
            &format!("{address}/30"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &name, "link", "set", "eth0", "up"]);
        ip(&["-n", &name, "route", "add", "default", "via", &near]);

        let dir = self.host_dir(&name);
        std::fs::create_dir_all(&dir).expect("host dir");
        keygen(&dir.join("host_key"));
        std::fs::write(dir.join("authorized_keys"), client_key).expect("authorized_keys");
        let config = format!(
            "ListenAddress {address}\nPort 22\nHostKey {dir}/host_key\nPidFile none\n\
             AuthorizedKeysFile {dir}/authorized_keys\nPermitRootLogin prohibit-password\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
             StrictModes no\nPrintMotd no\nAcceptEnv none\n",
            dir = dir.display()
        );
        std::fs::write(dir.join("sshd_config"), config).expect("sshd_config");
        // sshd's privilege separation directory (the Debian package makes it at boot).
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        let log = std::fs::File::create(dir.join("sshd.log")).expect("sshd log");
        let sshd = Command::new("ip")
            .args(["netns", "exec", &name, SSHD, "-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("sshd starts");
        self.hosts.last_mut().expect("the host just added").sshd = Some(sshd);
    }

    /// The environment EG's SSH mode needs for these hosts: `HOME` (the key and `known_hosts`),
    /// `EG_REMOTE_USER=root`, `EG_REMOTE_HOSTS`, the response address every host reaches, the kernels'
    /// log directory, and no SSH agent.
    pub fn gateway_vars(&self) -> BTreeMap<String, String> {
        let logs = self.dir.path().join("kernel-logs");
        std::fs::create_dir_all(&logs).expect("kernel logs");
        let hosts: Vec<&str> = self.hosts.iter().map(|h| h.address.as_str()).collect();
        BTreeMap::from([
            ("HOME".into(), self.home().display().to_string()),
            ("EG_REMOTE_USER".into(), "root".into()),
            ("EG_REMOTE_HOSTS".into(), hosts.join(",")),
            ("EG_RESPONSE_IP".into(), self.gateway_ip.clone()),
            ("EG_KERNEL_LOG_DIR".into(), logs.display().to_string()),
            ("SSH_AUTH_SOCK".into(), String::new()),
        ])
    }

    /// What the hosts' sshd and kernels wrote (EG's kernel logs), for failure messages.
    pub fn logs(&self) -> String {
        let mut paths: Vec<PathBuf> = self
            .hosts
            .iter()
            .map(|host| self.host_dir(&host.name).join("sshd.log"))
            .collect();
        if let Ok(entries) = std::fs::read_dir(self.dir.path().join("kernel-logs")) {
            paths.extend(entries.flatten().map(|entry| entry.path()));
        }
        let mut text = String::new();
        for path in paths {
            let body = std::fs::read_to_string(&path).unwrap_or_default();
            text.push_str(&format!("== {}\n{body}\n", path.display()));
        }
        text
    }
}

impl Drop for SshHosts {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("the SSH hosts' logs:\n{}", self.logs());
        }
        for host in &mut self.hosts {
            if let Some(mut sshd) = host.sshd.take() {
                // SAFETY: kill(2) on the process group of our own child.
                unsafe { libc::kill(-(sshd.id() as i32), libc::SIGKILL) };
                let _ = sshd.wait();
            }
            remove_netns(&host.name);
        }
        let _ = quiet_ip(&["link", "del", &self.gateway_link]);
        let subnet = self.gateway_ip.trim_end_matches(".254");
        let _ = quiet_ip(&["route", "del", "unreachable", &format!("{subnet}.0/24")]);
    }
}

const SSHD: &str = "/usr/sbin/sshd";
/// Every namespace and interface of these tests is named `nbgt<pid>-…`.
const PREFIX: &str = "nbgt";
/// The hosts' temporary directories (keys, configurations, logs) are named `nbgate-ssh-<pid>-…`.
const TEMP_PREFIX: &str = "nbgate-ssh-";
/// The routing protocol number that marks the tests' unreachable routes.
const ROUTE_PROTO: &str = "77";

/// Lays out EG's `python_distributed` kernelspec under `share/kernels/` from EG's source distribution
/// (`.venv-eg/sdist/`), its launcher in the spec's `scripts/`, run by `.venv-eg`'s Python; `env` goes into
/// the spec (EG exports it on the remote host before the launcher runs). Returns the spec's directory.
pub fn install_distributed_kernelspec(share: &Path, env: &BTreeMap<String, String>) -> PathBuf {
    let venv = eg_venv();
    let sdist = std::fs::read_dir(venv.join("sdist"))
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("jupyter_enterprise_gateway-"))
        })
        .unwrap_or_else(|| {
            panic!(
                "EG's source distribution is missing in {}: run `make test` (or `make venv-eg`) first",
                venv.join("sdist").display()
            )
        });
    let unpacked = share.join(".sdist");
    std::fs::create_dir_all(&unpacked).expect("unpack dir");
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&sdist)
        .arg("-C")
        .arg(&unpacked)
        .args([
            "--strip-components=1",
            "--wildcards",
            "*/etc/kernelspecs/python_distributed/kernel.json",
            "*/etc/kernel-launchers/python/scripts/launch_ipykernel.py",
        ])
        .status()
        .expect("tar runs");
    assert!(status.success(), "tar -xzf {} failed", sdist.display());
    let spec_dir = share.join("kernels/python_distributed");
    std::fs::create_dir_all(spec_dir.join("scripts")).expect("spec dir");
    let launcher = spec_dir.join("scripts/launch_ipykernel.py");
    std::fs::copy(
        unpacked.join("etc/kernel-launchers/python/scripts/launch_ipykernel.py"),
        &launcher,
    )
    .expect("copy the launcher");
    let text =
        std::fs::read_to_string(unpacked.join("etc/kernelspecs/python_distributed/kernel.json"))
            .expect("the sdist's kernel.json");
    let mut spec: Value = serde_json::from_str(&text).expect("kernel.json is JSON");
    let argv = spec["argv"].as_array_mut().expect("argv");
    assert!(
        argv.len() > 2
            && argv[1]
                .as_str()
                .is_some_and(|arg| arg.ends_with("launch_ipykernel.py")),
        "the sdist's python_distributed argv changed: {argv:?}"
    );
    argv[0] = venv.join("bin/python").display().to_string().into();
    argv[1] = launcher.display().to_string().into();
    spec["env"] = serde_json::to_value(env).expect("env");
    std::fs::write(spec_dir.join("kernel.json"), spec.to_string()).expect("write kernel.json");
    std::fs::remove_dir_all(&unpacked).expect("remove the unpacked sdist");
    spec_dir
}

/// `ip ARGS…`, which must succeed.
fn ip(args: &[&str]) {
    if let Err(error) = quiet_ip(args) {
        panic!("ip {}: {error}", args.join(" "));
    }
}

/// `ip ARGS…`: its stdout, or its stderr as the error.
fn quiet_ip(args: &[&str]) -> Result<String, String> {
    let output = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run ip: {error}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}

fn netns_pids(name: &str) -> Vec<u32> {
    quiet_ip(&["netns", "pids", name])
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|pid| pid.parse().ok())
        .collect()
}

/// Kills every process in namespace `name` (until none is left), then deletes its veth pair (named as
/// the namespace) and it.
fn remove_netns(name: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pids = netns_pids(name);
        if pids.is_empty() || Instant::now() > deadline {
            break;
        }
        for pid in pids {
            // SAFETY: kill(2); these processes live in a namespace this test made.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        // A killed process leaves the namespace once it is reaped: nothing to wait on but /proc.
        std::thread::sleep(Duration::from_millis(20));
    }
    // The veth pair goes now: a namespace outlives its last process while its sockets wind down
    // (a connection to a peer behind a link that is down takes minutes), and with it its interfaces.
    let _ = quiet_ip(&["link", "del", name]);
    let _ = quiet_ip(&["netns", "del", name]);
}

/// Namespaces and interfaces named for a test binary that is no longer running.
fn remove_leftovers() {
    let stale = |name: &str| {
        name.strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
            .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
    };
    for line in quiet_ip(&["netns", "list"]).unwrap_or_default().lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        if stale(name) {
            remove_netns(name);
        }
    }
    for line in quiet_ip(&["-o", "link", "show"])
        .unwrap_or_default()
        .lines()
    {
        // "7: nbgt123-0r: <BROADCAST,…" or "8: nbgt123-0a@if2: …"
        let name = line
            .split(": ")
            .nth(1)
            .unwrap_or("")
            .split('@')
            .next()
            .unwrap_or("");
        if stale(name) {
            let _ = quiet_ip(&["link", "del", name]);
        }
    }
    // Directories of the hosts: their keys and logs.
    for entry in std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(TEMP_PREFIX)
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok());
        if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    // Unreachable routes of ours for a subnet no interface is in any more.
    let addresses = quiet_ip(&["-4", "-o", "addr", "show"]).unwrap_or_default();
    let routes = quiet_ip(&["route", "show", "proto", ROUTE_PROTO]).unwrap_or_default();
    for line in routes.lines() {
        // "unreachable 10.200.7.0/24 scope link"
        let Some(prefix) = line.split_whitespace().nth(1) else {
            continue;
        };
        let subnet = prefix.trim_end_matches(".0/24");
        if !addresses.contains(&format!("{subnet}.")) {
            let _ = quiet_ip(&["route", "del", "unreachable", prefix]);
        }
    }
}

/// The first `10.200.K` none of this machine's addresses or routes is in.
fn free_subnet() -> String {
    let used = quiet_ip(&["-4", "-o", "addr", "show"]).unwrap_or_default()
        + &quiet_ip(&["-4", "route", "show", "table", "all"]).unwrap_or_default();
    let start = std::process::id() % 250;
    (0..250)
        .map(|step| 1 + (start + step) % 250)
        .map(|k| format!("10.200.{k}"))
        .find(|subnet| !used.contains(&format!("{subnet}.")))
        .expect("a free 10.200.K.0/24")
}

fn keygen(path: &Path) {
    let output = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "nbgate-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("ssh-keygen runs (Debian's openssh-client)");
    assert!(
        output.status.success(),
        "ssh-keygen: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Until the host's sshd accepts connections on its address (or it exits: its log then says why).
fn wait_for_sshd(host: &Host, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let address = std::net::SocketAddr::new(host.address.parse().expect("an IPv4 address"), 22);
    loop {
        if std::net::TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok() {
            return;
        }
        let log = || std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "sshd on {} did not listen within 20 s; its log:\n{}",
            host.address,
            log()
        );
        // Polling the port is the only way to see another process start listening.
        std::thread::sleep(Duration::from_millis(20));
    }
}

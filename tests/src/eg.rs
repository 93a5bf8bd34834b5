//! A real Jupyter Enterprise Gateway for tests (the `.venv-eg` venv, made by `make test`): on a free
//! loopback port with its stock python3 kernelspec (its default local process proxy: kernels are EG's
//! children), token [`TOKEN`], its whole process group stopped when dropped, or by a watchdog when
//! the test binary dies without dropping it (a SIGKILL).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::JupyterEnv;

pub const TOKEN: &str = "eg-test-token";
/// EG refuses kernels for root; the tests run as whoever runs them, so they name a user.
pub const KERNEL_USER: &str = "nbgate-test";

/// The Enterprise Gateway venv (made by `make test`, from requirements-eg.txt).
pub fn eg_venv() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent");
    let venv = root.join(".venv-eg");
    assert!(
        venv.join("bin/jupyter-enterprisegateway").exists()
            && venv
                .join("share/jupyter/kernels/python3/kernel.json")
                .exists(),
        "the Enterprise Gateway venv is missing at {}: run `make test` (or `make venv-eg`) first",
        venv.display()
    );
    venv
}

/// A running Enterprise Gateway, stopped (its whole process group) when dropped, whatever happened.
pub struct EnterpriseGateway {
    pub child: Child,
    pub port: u16,
    /// EG's stderr (its log).
    log: PathBuf,
    /// Stops EG once this process is gone ([`watchdog`]).
    watchdog: Option<Child>,
}

impl EnterpriseGateway {
    pub fn start(env: &JupyterEnv) -> Self {
        Self::start_with(env, &BTreeMap::new())
    }

    /// [`Self::start`] with `vars` added to (or replacing) EG's environment: `JUPYTER_PATH` for other
    /// kernelspecs, `EG_*` settings.
    pub fn start_with(env: &JupyterEnv, vars: &BTreeMap<String, String>) -> Self {
        let venv = eg_venv();
        let log = env.dir.path().join("eg.log");
        // A free port, taken by EG a moment later; a lost race shows as EG exiting, and is retried.
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .expect("a free port")
                .port();
            let path = format!(
                "{}:{}",
                venv.join("bin").display(),
                std::env::var("PATH").unwrap_or_default()
            );
            let child = Command::new(venv.join("bin/jupyter-enterprisegateway"))
                .current_dir(env.work())
                .envs(env.vars())
                .env("JUPYTER_PATH", venv.join("share/jupyter"))
                .env("PATH", path)
                .env("EG_IP", "127.0.0.1")
                .env("EG_PORT", port.to_string())
                .env("EG_AUTH_TOKEN", TOKEN)
                .env("EG_LIST_KERNELS", "True")
                .env("EG_PORT_RANGE", kernel_port_range())
                .envs(vars)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("EG log"))
                .process_group(0)
                .spawn()
                .expect("Enterprise Gateway starts");
            let watchdog = Some(watchdog(child.id()));
            let mut gateway = Self {
                child,
                port,
                log: log.clone(),
                watchdog,
            };
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if gateway.get("/api/kernelspecs").is_some() {
                    return gateway;
                }
                if gateway.child.try_wait().expect("EG status").is_some() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "Enterprise Gateway did not answer within 60 s; its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
                // Polling the port is the only way to see another process start listening.
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!(
            "Enterprise Gateway exited at start three times; its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// What EG has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `GET path` with the token: the body of a 200, else `None`.
    pub fn get(&self, path: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: token {TOKEN}\r\n\r\n"
        )
        .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let (head, body) = response.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.1 200")
            .then(|| body.to_owned())
            .or_else(|| head.starts_with("HTTP/1.0 200").then(|| body.to_owned()))
    }

    /// The kernels the gateway runs.
    pub fn kernels(&self) -> Vec<Value> {
        let body = self.get("/api/kernels").expect("GET /api/kernels answers");
        serde_json::from_str::<Vec<Value>>(&body).expect("a JSON list of kernels")
    }
}

/// Kernel ports for one EG: 1,001 of its own below Linux's ephemeral range (32768 and up). EG picks a
/// kernel's ports by binding and releasing them, and the kernel binds them a second later: in the
/// ephemeral range any outgoing connection can take one meanwhile, and the kernel dies at start with
/// "Address already in use" (seen in CI). Each EG of a test binary gets a different range.
fn kernel_port_range() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const SLOTS: u32 = 22;
    let slot = (std::process::id() + NEXT.fetch_add(1, Ordering::Relaxed)) % SLOTS;
    let lower = 10_000 + slot * 1_001;
    format!("{lower}..{}", lower + 1_000)
}

/// A shell in a process group of its own that waits for end of file on its stdin, a pipe only this
/// process holds (close-on-exec), then stops EG's process group `group` (SIGTERM, which makes EG shut
/// its kernels down, then SIGKILL after 10 s): however the test binary ends, even by SIGKILL, its
/// gateway does not outlive it. Killed by [`Drop`], which stops EG itself.
fn watchdog(group: u32) -> Child {
    let script = r#"read -r _
kill -TERM "-$0" 2>/dev/null
for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "-$0" 2>/dev/null || exit 0; sleep 1; done
kill -KILL "-$0" 2>/dev/null
exit 0"#;
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(group.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("the Enterprise Gateway watchdog (sh) starts")
}

impl Drop for EnterpriseGateway {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        let group = -(self.child.id() as i32);
        // SAFETY: kill(2) on the process group of our own child.
        unsafe { libc::kill(group, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: as above; whatever is left of the group goes.
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The watchdog sees the end of its pipe, as it does when the test binary is killed -9 before
    /// any drop: it stops the gateway's whole process group.
    #[test]
    fn the_watchdog_stops_a_gateway_whose_holder_is_gone() {
        let env = JupyterEnv::new();
        let mut gateway = EnterpriseGateway::start(&env);
        let mut watchdog = gateway.watchdog.take().expect("a watchdog");
        drop(watchdog.stdin.take());
        // EG ends by the watchdog's signal (reaped here, as init reaps it once its parent is gone).
        gateway.child.wait().expect("the gateway ends");
        let status = watchdog.wait().expect("the watchdog ends");
        assert!(status.success(), "watchdog: {status}");
        let group = -(gateway.child.id() as i32);
        // SAFETY: kill(2) with signal 0 only checks whether the process group still exists.
        let alive = unsafe { libc::kill(group, 0) } == 0;
        assert!(
            !alive,
            "a process of the gateway's group outlived the watchdog"
        );
    }
}

//! A real Jupyter Enterprise Gateway for tests (the `.venv-eg` venv, made by `make test`): on a free
//! loopback port with its stock python3 kernelspec (its default local process proxy: kernels are EG's
//! children), token [`TOKEN`], its whole process group stopped when dropped.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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
                .envs(vars)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("EG log"))
                .process_group(0)
                .spawn()
                .expect("Enterprise Gateway starts");
            let mut gateway = Self { child, port };
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

impl Drop for EnterpriseGateway {
    fn drop(&mut self) {
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

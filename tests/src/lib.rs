//! Test support shared by the crates' integration tests and the end-to-end suite in `tests/tests/`.
//!
//! # Map
//! - Where things are: the repository root, the project venv (`.venv`, made by `make`), binaries built by
//!   `cargo build --workspace` (`target/<profile>/`).
//! - [`JupyterEnv`]: an isolated Jupyter environment in a temporary directory (JUPYTER_PATH pointing at the
//!   venv's kernelspecs and at test kernelspecs written on the fly; data, runtime and IPython directories
//!   inside the temporary directory; a unique marker variable that every process started from it
//!   inherits, so a test can prove that no process outlived it).
//!
//! - [`start_serve`]: `nbgate serve --port 0` in a [`JupyterEnv`], with the port it bound;
//!   [`ClosedPort`]: a port that refuses connections, for "nothing listens there".
//! - [`serve`]: a blocking client for the executor API of a running `nbgate serve`, `/proc` figures
//!   (RSS, peak RSS, open descriptors), a seeded RNG, and `NBGATE_SOAK` (full sizes) for the
//!   reliability suite.
//! - [`normalize`]: executed notebooks made comparable (ids, times, paths), as `tests/fixtures/README.md`
//!   describes.
//! - [`postgres`]: a PostgreSQL server of the tests' own (Debian's packages, a unix socket), a database
//!   per test, stopped after the last test that holds it.
//! - [`eg`]: a real Jupyter Enterprise Gateway (`.venv-eg`); [`ssh_hosts`]: hosts for its SSH mode,
//!   network namespaces running sshd, and its `python_distributed` kernelspec.
//!
//! Missing prerequisites are failures with a message that says what to run, never silent skips.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};
use std::{fs, thread};

use serde_json::json;

pub mod eg;
pub mod normalize;
pub mod postgres;
pub mod serve;
pub mod ssh_hosts;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The project venv with ipykernel (created by `make`).
pub fn venv() -> PathBuf {
    let venv = repo_root().join(".venv");
    assert!(
        venv.join("bin/python").exists() && venv.join("share/jupyter/kernels/python3").exists(),
        "the project venv with ipykernel is missing at {}: run `make test` (or `make venv`) first",
        venv.display()
    );
    venv
}

/// A binary built by `cargo build --workspace` in the same profile as the running test.
pub fn workspace_bin(name: &str) -> PathBuf {
    // The test executable lives in target/<profile>/deps/.
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary is in target/<profile>/deps");
    let bin = profile_dir.join(name);
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace --bins` (make test does) first",
        bin.display()
    );
    bin
}

/// The name of the variable that marks every process a [`JupyterEnv`] starts.
pub const MARKER_VAR: &str = "NBGATE_TEST_MARKER";

/// An isolated Jupyter environment for one test.
pub struct JupyterEnv {
    pub dir: tempfile::TempDir,
    /// Directory holding test kernelspecs (`<dir>/kernels/<name>/kernel.json`), first on JUPYTER_PATH.
    pub specs: PathBuf,
    pub marker: String,
}

impl JupyterEnv {
    /// `nbgate ARGS…` (the workspace's binary) in the work directory with this environment, stdin
    /// closed; waits for it to end.
    pub fn nbgate(&self, args: &[&str]) -> std::process::Output {
        Command::new(workspace_bin("nbgate"))
            .current_dir(self.work())
            .envs(self.vars())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("nbgate runs")
    }

    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("nbgate-test-")
            .tempdir()
            .expect("temp dir");
        let specs = dir.path().join("share");
        for sub in [
            "share/kernels",
            "data",
            "runtime",
            "config",
            "ipython",
            "work",
        ] {
            fs::create_dir_all(dir.path().join(sub)).expect("create dir");
        }
        let marker = format!("{}-{}", std::process::id(), dir.path().display());
        Self { dir, specs, marker }
    }

    /// The environment variables a test applies to whatever it starts (nbgate, kernels).
    pub fn vars(&self) -> BTreeMap<String, String> {
        let root = self.dir.path();
        let path = |sub: &str| root.join(sub).display().to_string();
        let jupyter_path = format!(
            "{}:{}",
            self.specs.display(),
            venv().join("share/jupyter").display()
        );
        BTreeMap::from([
            ("JUPYTER_PATH".into(), jupyter_path),
            ("JUPYTER_DATA_DIR".into(), path("data")),
            ("JUPYTER_RUNTIME_DIR".into(), path("runtime")),
            ("JUPYTER_CONFIG_DIR".into(), path("config")),
            ("IPYTHONDIR".into(), path("ipython")),
            ("MPLCONFIGDIR".into(), path("config")),
            ("PYDEVD_DISABLE_FILE_VALIDATION".into(), "1".into()),
            (MARKER_VAR.into(), self.marker.clone()),
        ])
    }

    /// A scratch directory for notebooks and outputs.
    pub fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// Writes a kernelspec `name` that runs the test kernel with extra `args`.
    pub fn add_test_kernel(&self, name: &str, args: &[&str]) -> PathBuf {
        let dir = self.specs.join("kernels").join(name);
        fs::create_dir_all(&dir).expect("spec dir");
        let mut argv = vec![
            workspace_bin("nbgate-testkernel").display().to_string(),
            "-f".into(),
            "{connection_file}".into(),
        ];
        argv.extend(args.iter().map(|arg| arg.to_string()));
        let spec = json!({
            "argv": argv,
            "display_name": format!("Test kernel ({name})"),
            "language": "testlang",
        });
        fs::write(dir.join("kernel.json"), spec.to_string()).expect("write kernel.json");
        dir
    }

    /// Pids of live processes started from this environment (found by their marker variable).
    pub fn live_processes(&self) -> Vec<u32> {
        let needle = format!("{MARKER_VAR}={}", self.marker);
        let mut pids = Vec::new();
        let Ok(entries) = fs::read_dir("/proc") else {
            return pids;
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == std::process::id() {
                continue;
            }
            let Ok(environ) = fs::read(entry.path().join("environ")) else {
                continue;
            };
            let zombie = fs::read_to_string(entry.path().join("stat"))
                .map(|stat| {
                    stat.rsplit(')')
                        .next()
                        .unwrap_or("")
                        .trim_start()
                        .starts_with('Z')
                })
                .unwrap_or(false);
            if !zombie
                && environ
                    .split(|b| *b == 0)
                    .any(|var| var == needle.as_bytes())
            {
                pids.push(pid);
            }
        }
        pids
    }

    /// Asserts that every process started from this environment is gone, giving them `within` to exit.
    pub fn assert_no_survivors(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let live = self.live_processes();
            if live.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "processes outlived the test: {live:?}"
            );
            // Polling /proc is the only way to observe another process's exit that we did not spawn.
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Default for JupyterEnv {
    fn default() -> Self {
        Self::new()
    }
}

/// Starts `nbgate serve --port=0 --root-dir=<env.work()> --data-dir=DATA_DIR ARGS…` with
/// `NBGATE_TOKEN=TOKEN` in `env` (`RUST_LOG=warn`, stderr inherited) and reads the port from the line it prints once it
/// listens. Keep the returned stdout open while the server runs.
pub fn start_serve(
    env: &JupyterEnv,
    token: &str,
    data_dir: &Path,
    args: &[&str],
) -> (Child, BufReader<ChildStdout>, u16) {
    start_serve_under(env, token, data_dir, args, &[])
}

/// [`start_serve`] with `nbgate serve …` appended to `wrapper` (a command that ends by exec'ing its
/// arguments, such as `unshare -rm sh -c 'mount … && exec "$@"' sh`); no wrapper when it is empty.
pub fn start_serve_under(
    env: &JupyterEnv,
    token: &str,
    data_dir: &Path,
    args: &[&str],
    wrapper: &[&str],
) -> (Child, BufReader<ChildStdout>, u16) {
    let nbgate = workspace_bin("nbgate");
    let mut command = match wrapper.split_first() {
        Some((program, rest)) => {
            let mut command = Command::new(program);
            command.args(rest).arg(nbgate);
            command
        }
        None => Command::new(nbgate),
    };
    let mut child = command
        .arg("serve")
        .arg("--port=0")
        .arg(option_value("--root-dir", &env.work()))
        .arg(option_value("--data-dir", data_dir))
        .args(args)
        .envs(env.vars())
        // By environment: a command line is readable by every local process.
        .env("NBGATE_TOKEN", token)
        .env("RUST_LOG", "warn,zeromq=off")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nbgate serve starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout
        .read_line(&mut line)
        .expect("nbgate serve prints its URL");
    let port = line
        .strip_prefix("nbgate serve listening on http://127.0.0.1:")
        .and_then(|rest| rest.split('/').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    (child, stdout, port)
}

/// A TCP port on 127.0.0.1 that refuses every connection for as long as this lives: bound, never
/// listening, so no other process can listen there and no connection gets it as its source port. A
/// port bound and released instead is free in Linux's ephemeral range, where any `--port 0` server may
/// take it, or a connect to it pick it as its own source port and reach itself.
pub struct ClosedPort {
    _socket: std::os::fd::OwnedFd,
    pub port: u16,
}

impl ClosedPort {
    pub fn new() -> Self {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        // SAFETY: socket(2), bind(2) and getsockname(2) on a descriptor owned here, with an address
        // of the size given.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
            let socket = OwnedFd::from_raw_fd(fd);
            let mut address: libc::sockaddr_in = std::mem::zeroed();
            address.sin_family = libc::AF_INET as libc::sa_family_t;
            address.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
            let mut size = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            let bound = libc::bind(socket.as_raw_fd(), (&raw const address).cast(), size);
            assert_eq!(bound, 0, "bind: {}", std::io::Error::last_os_error());
            let named = libc::getsockname(socket.as_raw_fd(), (&raw mut address).cast(), &mut size);
            assert_eq!(named, 0, "getsockname: {}", std::io::Error::last_os_error());
            Self {
                _socket: socket,
                port: u16::from_be(address.sin_port),
            }
        }
    }
}

impl Default for ClosedPort {
    fn default() -> Self {
        Self::new()
    }
}

/// `--name=value` as one word: a value that begins with `-` can never be read as an option.
pub fn option_value(name: &str, value: &Path) -> std::ffi::OsString {
    let mut word = std::ffi::OsString::from(format!("{name}="));
    word.push(value);
    word
}

//! The kernel fork server ("zygote") for ipykernel: one Python process per interpreter that has imported
//! ipykernel, IPython, jupyter_client and zmq once, and forks a child per kernel. A forked kernel skips
//! the interpreter start and those imports (≈0.5 s of CPU each), which is most of an ipykernel start.
//!
//! # When
//! Only with [`LaunchOptions::fork_server`](crate::LaunchOptions::fork_server) and only for the command
//! line `<absolute python> -m ipykernel_launcher ARGS…` (what a standard ipykernel spec resolves to; `ARGS`
//! pass through). Anything else, or a zygote that cannot start or has died, is spawned as usual
//! ([`fork`] returns `None`; a failure is logged once per zygote). A zygote is started lazily on the first
//! such kernel (or by [`prestart`]); one that died is replaced at the next kernel, one that failed to start
//! is retried after [`RETRY_AFTER`].
//!
//! # The process chain (no kernel outlives nbgate)
//! nbgate's spawner thread starts the zygote exactly as it starts kernels: own session,
//! `PR_SET_PDEATHSIG(SIGKILL)`, parent checked after the prctl. The zygote is single-threaded (no zmq
//! context, thread or event loop before a fork). Each child does `setsid`, `PR_SET_PDEATHSIG(SIGKILL)`
//! (which fires when the zygote dies) and checks that its parent is still the zygote before the zygote
//! answers with its pid; so `kill -9` of nbgate kills the zygote, which kills every kernel, and the
//! kernel leads its own process group like a spawned one (interrupt, SIGTERM/SIGKILL of the group work
//! unchanged). The zygote reaps its children and reports each exit; nbgate turns the report into the
//! kernel's exit status ([`KernelProcess::adopt`]). The zygote exits when nbgate closes its stdin.
//!
//! # What a child gets
//! The requested environment (`os.environ` replaced, `JPY_PARENT_PID` = the zygote), working directory,
//! `sys.argv`/`sys.path[0]` as `python -m` sets them, SIGINT back to Python's default handler, stdin from
//! /dev/null, stdout and stderr into a FIFO next to the connection file that nbgate reads (the stderr
//! tail of start-up errors). Then it runs `ipykernel_launcher` as `__main__`, and exits as the interpreter
//! would (threads joined, atexit handlers, flushed streams).
//!
//! # Limitations
//! - What Python reads once at start-up is the zygote's: the `PYTHON*` variables, the locale (`LANG`,
//!   `LC_*`) and `PYDEVD_*` are therefore part of the zygote's key (a kernel with other values gets another
//!   zygote, at most [`MAX_ZYGOTES`]). The zygote itself runs with only those, `PATH` and `HOME`.
//! - Modules the zygote pre-imported (ipykernel, IPython, jupyter_client, zmq and their imports, plus
//!   what a kernel imports while it initialises: ipykernel's debugger with debugpy, tornado's asyncio
//!   support, sqlite3, psutil) saw the zygote's environment when they were imported; anything they read
//!   from the environment at import time (a few trait defaults, debugpy's `PYDEVD_*` settings) has the
//!   zygote's value, not the kernel's. The pre-import set is kept to those packages for that reason.
//! - `/proc/<pid>/environ` (what `ps e` shows) of a forked kernel is the zygote's start-up environment;
//!   `os.environ` in the kernel is the requested one.
//! - Kernels of one zygote share its hash seed (`PYTHONHASHSEED` is per interpreter start).

use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::io::{self, BufRead as _, BufReader, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::{oneshot, watch};

use crate::error::ExitInfo;
use crate::process::{KernelProcess, OutputTail, SpawnSpec, run_on_spawner_thread, tie_to_nbgate};
use crate::sync::lock;

/// The zygote's program, run with `python -c`.
const SOURCE: &str = include_str!("zygote.py");
const LAUNCHER: &str = "ipykernel_launcher";
/// How long a kernel start waits for a zygote still importing ipykernel before spawning instead.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// After a zygote failed to start, its kernels are spawned for this long before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(60);
/// At most this many zygotes (interpreters × start-up environments); kernels beyond are spawned.
const MAX_ZYGOTES: usize = 4;

/// `(python, launcher arguments)` when `argv` is `<absolute python> -m ipykernel_launcher ARGS…`.
pub(crate) fn launcher_args(argv: &[String]) -> Option<(&str, &[String])> {
    match argv {
        [python, flag, module, args @ ..]
            if flag == "-m" && module == LAUNCHER && Path::new(python).is_absolute() =>
        {
            Some((python, args))
        }
        _ => None,
    }
}

/// Variables Python (or the pre-imported modules) reads once, when the interpreter starts.
fn is_startup_var(name: &str) -> bool {
    name.starts_with("PYTHON")
        || name.starts_with("PYDEVD")
        || name.starts_with("LC_")
        || name == "LANG"
}

/// What makes two kernels share a zygote.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    python: String,
    startup_env: Vec<(String, String)>,
}

impl Key {
    fn new(python: &str, env: &BTreeMap<String, String>) -> Self {
        Self {
            python: python.to_owned(),
            startup_env: env
                .iter()
                .filter(|(name, _)| is_startup_var(name))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
        }
    }

    /// The zygote's own environment: the key's variables, `PATH` and `HOME`.
    fn zygote_env(&self, env: &BTreeMap<String, String>) -> Vec<(String, String)> {
        let mut vars = self.startup_env.clone();
        for name in ["PATH", "HOME"] {
            if let Some(value) = env.get(name) {
                vars.push((name.to_owned(), value.clone()));
            }
        }
        vars
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Starting,
    Ready,
    Dead { was_ready: bool, at: Instant },
}

/// A forked kernel as the zygote reported it.
struct Forked {
    pid: u32,
    exited: oneshot::Receiver<ExitInfo>,
}

type Reply = oneshot::Sender<Result<Forked, String>>;

/// nbgate's side of one zygote process.
struct Zygote {
    python: String,
    state: watch::Sender<State>,
    /// Request lines, written to the zygote's stdin by its writer thread.
    requests: std_mpsc::Sender<Vec<u8>>,
    next_id: AtomicU64,
    pending: Mutex<HashMap<u64, Reply>>,
    /// Forked kernels not yet reported exited.
    kernels: Mutex<HashMap<u32, oneshot::Sender<ExitInfo>>>,
}

fn registry() -> &'static Mutex<HashMap<Key, Arc<Zygote>>> {
    static ZYGOTES: OnceLock<Mutex<HashMap<Key, Arc<Zygote>>>> = OnceLock::new();
    ZYGOTES.get_or_init(Default::default)
}

/// The zygote for `key`, started if there is none (or the last one died). `None`: spawn instead.
fn zygote_for(key: Key, env: &BTreeMap<String, String>) -> Option<Arc<Zygote>> {
    let mut zygotes = lock(registry());
    match zygotes.get(&key).map(|zygote| *zygote.state.borrow()) {
        Some(State::Dead {
            was_ready: false,
            at,
        }) if at.elapsed() < RETRY_AFTER => return None,
        Some(State::Dead { .. }) => {}
        Some(State::Starting | State::Ready) => return zygotes.get(&key).cloned(),
        None if zygotes.len() >= MAX_ZYGOTES => return None,
        None => {}
    }
    let zygote = Zygote::start(&key, env);
    zygotes.insert(key, zygote.clone());
    Some(zygote)
}

/// Starts the zygote a kernel with this command line would use, without waiting for it.
pub(crate) fn prestart(spec: &SpawnSpec) {
    if let Some((python, _)) = launcher_args(&spec.argv) {
        zygote_for(Key::new(python, &spec.env), &spec.env);
    }
}

/// Starts the kernel `spec` describes from a zygote, its stdout and stderr going through a FIFO at
/// `output` (created here, removed once the kernel has it open). `None` when it cannot (see the module
/// docs): the caller spawns the kernel instead.
pub(crate) async fn fork(spec: &SpawnSpec, output: &Path) -> Option<KernelProcess> {
    let (python, args) = launcher_args(&spec.argv)?;
    let cwd = match &spec.cwd {
        Some(cwd) => cwd.clone(),
        None => std::env::current_dir().ok()?,
    };
    let zygote = zygote_for(Key::new(python, &spec.env), &spec.env)?;
    let mut state = zygote.state.subscribe();
    let ready = tokio::time::timeout(
        READY_TIMEOUT,
        state.wait_for(|state| *state != State::Starting),
    )
    .await
    .is_ok_and(|state| state.is_ok_and(|state| *state == State::Ready));
    if !ready {
        tracing::debug!(python, "no kernel fork server ready; spawning the kernel");
        return None;
    }
    match zygote.fork(args, &spec.env, &cwd, output).await {
        Ok(process) => Some(process),
        Err(reason) => {
            tracing::warn!(python, %reason, "the kernel fork server could not start a kernel; spawning it");
            None
        }
    }
}

#[derive(Deserialize)]
struct Message {
    ready: Option<u32>,
    id: Option<u64>,
    pid: Option<u32>,
    error: Option<String>,
    exited: Option<u32>,
    code: Option<i32>,
    signal: Option<i32>,
}

impl Zygote {
    /// Creates the zygote and has the spawner thread start its process (in the background).
    fn start(key: &Key, env: &BTreeMap<String, String>) -> Arc<Self> {
        let (requests, outgoing) = std_mpsc::channel();
        let zygote = Arc::new(Self {
            python: key.python.clone(),
            state: watch::Sender::new(State::Starting),
            requests,
            next_id: AtomicU64::new(0),
            pending: Mutex::default(),
            kernels: Mutex::default(),
        });
        let mut command = Command::new(&key.python);
        command
            .arg("-c")
            .arg(SOURCE)
            .env_clear()
            .envs(key.zygote_env(env))
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: the closure runs between fork and exec and only calls `tie_to_nbgate`, which is
        // async-signal-safe.
        unsafe {
            command.pre_exec(move || tie_to_nbgate(parent));
        }
        tracing::info!(python = %key.python, "starting the kernel fork server");
        let starting = zygote.clone();
        let sent = run_on_spawner_thread(Box::new(move || match command.spawn() {
            Ok(child) => starting.run(child, outgoing),
            Err(error) => starting.died(format!("cannot run {}: {error}", starting.python)),
        }));
        if !sent {
            zygote.died("the kernel spawner thread is gone".into());
        }
        zygote
    }

    /// Starts the threads that talk to the zygote process.
    fn run(self: Arc<Self>, mut child: Child, outgoing: std_mpsc::Receiver<Vec<u8>>) {
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            self.died("its standard streams were not piped".into());
            return;
        };
        let tail = Arc::new(OutputTail::default());
        let threads = [
            std::thread::Builder::new()
                .name("nbgate-zygote-in".into())
                .spawn(move || {
                    for line in outgoing {
                        if stdin.write_all(&line).is_err() {
                            // The zygote is gone; the reader reports it.
                            return;
                        }
                    }
                }),
            std::thread::Builder::new()
                .name("nbgate-zygote-err".into())
                .spawn({
                    let (tail, python) = (tail.clone(), self.python.clone());
                    move || {
                        for line in BufReader::new(stderr).split(b'\n').map_while(Result::ok) {
                            let line = String::from_utf8_lossy(&line).into_owned();
                            tracing::warn!(%python, "kernel fork server: {line}");
                            tail.push(format!("{line}\n").as_bytes());
                        }
                    }
                }),
            std::thread::Builder::new()
                .name("nbgate-zygote-out".into())
                .spawn({
                    let zygote = self.clone();
                    move || {
                        for line in BufReader::new(stdout).split(b'\n').map_while(Result::ok) {
                            match serde_json::from_slice::<Message>(&line) {
                                Ok(message) => zygote.handle(message),
                                Err(error) => tracing::warn!(
                                    python = %zygote.python, %error,
                                    "unreadable line from the kernel fork server"
                                ),
                            }
                        }
                        let status = match child.wait() {
                            Ok(status) => ExitInfo::from_status(status).to_string(),
                            Err(error) => format!("unknown status ({error})"),
                        };
                        let stderr = tail.last_lines();
                        zygote.died(if stderr.is_empty() {
                            status
                        } else {
                            format!("{status}: {stderr}")
                        });
                    }
                }),
        ];
        if let Some(error) = threads.into_iter().find_map(Result::err) {
            // Unusable; once it is replaced its input closes and it exits.
            self.died(format!("cannot start its threads: {error}"));
        }
    }

    fn handle(&self, message: Message) {
        match message {
            Message {
                ready: Some(pid), ..
            } => {
                tracing::info!(python = %self.python, pid, "kernel fork server ready");
                self.state.send_replace(State::Ready);
            }
            Message {
                id: Some(id),
                pid: Some(pid),
                ..
            } => {
                let (report, exited) = oneshot::channel();
                lock(&self.kernels).insert(pid, report);
                let reply = lock(&self.pending).remove(&id);
                if reply.is_none_or(|reply| reply.send(Ok(Forked { pid, exited })).is_err()) {
                    // Whoever asked gave up (its start was cancelled): nobody owns this kernel.
                    // SAFETY: killpg has no memory preconditions; the child leads its group already.
                    unsafe { libc::killpg(pid as libc::pid_t, libc::SIGKILL) };
                }
            }
            Message {
                id: Some(id),
                error,
                ..
            } => {
                if let Some(reply) = lock(&self.pending).remove(&id) {
                    let _ = reply.send(Err(error.unwrap_or_else(|| "no reason given".into())));
                }
            }
            Message {
                exited: Some(pid),
                code,
                signal,
                ..
            } => {
                if let Some(report) = lock(&self.kernels).remove(&pid) {
                    let _ = report.send(ExitInfo { code, signal });
                }
            }
            Message { .. } => {
                tracing::warn!(python = %self.python, "unexpected message from the kernel fork server");
            }
        }
    }

    /// Marks the zygote dead (logged once), fails pending requests and reports its kernels killed: their
    /// parent-death signal is SIGKILL.
    fn died(&self, reason: String) {
        let was_ready = *self.state.borrow() == State::Ready;
        if was_ready {
            tracing::warn!(python = %self.python, %reason, "the kernel fork server exited; kernels are spawned until it is restarted");
        } else {
            tracing::warn!(python = %self.python, %reason, "the kernel fork server did not start; kernels are spawned");
        }
        self.state.send_replace(State::Dead {
            was_ready,
            at: Instant::now(),
        });
        for (_, reply) in lock(&self.pending).drain() {
            let _ = reply.send(Err(format!("the kernel fork server exited: {reason}")));
        }
        for (_, report) in lock(&self.kernels).drain() {
            let _ = report.send(ExitInfo {
                code: None,
                signal: Some(libc::SIGKILL),
            });
        }
    }

    /// Asks the zygote for one kernel.
    async fn fork(
        &self,
        args: &[String],
        env: &BTreeMap<String, String>,
        cwd: &Path,
        output: &Path,
    ) -> Result<KernelProcess, String> {
        let (fifo, output_pipe) = create_fifo(output).map_err(|error| {
            format!(
                "cannot create the kernel's output FIFO {}: {error}",
                output.display()
            )
        })?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        lock(&self.pending).insert(id, reply);
        // `died` sets the state before draining `pending`: either it drained this request or we see it.
        if matches!(*self.state.borrow(), State::Dead { .. }) {
            lock(&self.pending).remove(&id);
            return Err("the kernel fork server exited".into());
        }
        let mut line = serde_json::to_vec(&serde_json::json!({
            "id": id,
            "args": args,
            "env": env,
            "cwd": cwd,
            "output": output,
        }))
        .map_err(|error| error.to_string())?;
        line.push(b'\n');
        if self.requests.send(line).is_err() {
            lock(&self.pending).remove(&id);
            return Err("the kernel fork server's input is closed".into());
        }
        let forked = answer
            .await
            .map_err(|_| "the kernel fork server did not answer".to_owned())??;
        // The kernel holds the FIFO's write end now; the name is no longer needed.
        drop(fifo);
        let exited = async move {
            forked.exited.await.unwrap_or(ExitInfo {
                code: None,
                signal: None,
            })
        };
        Ok(KernelProcess::adopt(forked.pid, exited, output_pipe))
    }
}

/// The name of a FIFO, removed on drop.
struct FifoName(PathBuf);

impl Drop for FifoName {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Creates a FIFO at `path` (mode 0600) and opens its read end. Opened before any writer exists, so
/// non-blocking; it is read only once the kernel holds the write end.
fn create_fifo(path: &Path) -> io::Result<(FifoName, tokio::net::unix::pipe::Receiver)> {
    let _ = std::fs::remove_file(path);
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the path"))?;
    // SAFETY: `c_path` is a valid NUL-terminated string that outlives the call.
    if unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) } == -1 {
        return Err(io::Error::last_os_error());
    }
    let name = FifoName(path.to_owned());
    let receiver = tokio::net::unix::pipe::OpenOptions::new().open_receiver(path)?;
    Ok((name, receiver))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(argv: &[&str]) -> Vec<String> {
        argv.iter().map(|arg| arg.to_string()).collect()
    }

    #[test]
    fn only_plain_ipykernel_launches_are_forked() {
        let argv = strings(&[
            "/venv/bin/python",
            "-m",
            "ipykernel_launcher",
            "-f",
            "/rt/k.json",
            "--HistoryManager.hist_file=:memory:",
        ]);
        let (python, args) = launcher_args(&argv).expect("eligible");
        assert_eq!(python, "/venv/bin/python");
        assert_eq!(args, &argv[3..]);
        for other in [
            &["python", "-m", "ipykernel_launcher", "-f", "k.json"][..],
            &[
                "/venv/bin/python",
                "-X",
                "frozen_modules=off",
                "-m",
                "ipykernel_launcher",
            ],
            &["/venv/bin/python", "-m", "ipykernel", "-f", "k.json"],
            &["/bin/testkernel", "-f", "k.json"],
        ] {
            assert!(launcher_args(&strings(other)).is_none(), "{other:?}");
        }
    }

    #[test]
    fn the_key_holds_only_what_python_reads_at_start() {
        let env = BTreeMap::from([
            ("PYTHONPATH".into(), "/lib".into()),
            ("LC_ALL".into(), "C.UTF-8".into()),
            ("PATH".into(), "/bin".into()),
            ("HOME".into(), "/home/u".into()),
            ("KERNEL_WORKING_DIR".into(), "/work".into()),
        ]);
        let key = Key::new("/venv/bin/python", &env);
        assert_eq!(
            key.startup_env,
            [
                ("LC_ALL".to_owned(), "C.UTF-8".to_owned()),
                ("PYTHONPATH".to_owned(), "/lib".to_owned())
            ]
        );
        let mut other = env.clone();
        other.insert("KERNEL_WORKING_DIR".into(), "/elsewhere".into());
        assert_eq!(Key::new("/venv/bin/python", &other), key);
        other.insert("PYTHONPATH".into(), "/other".into());
        assert_ne!(Key::new("/venv/bin/python", &other), key);
        let zygote_env: Vec<String> = key
            .zygote_env(&env)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(zygote_env, ["LC_ALL", "PYTHONPATH", "PATH", "HOME"]);
    }
}

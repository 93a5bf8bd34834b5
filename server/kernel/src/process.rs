//! Kernel processes: spawned from one long-lived thread in their own session, tied to nbgate's life with
//! `PR_SET_PDEATHSIG`, watched for exit, their output kept in bounded tails. Kernels forked by the fork
//! server (`zygote`) are adopted: same handle, their exit reported by the fork server.
//!
//! Why a dedicated spawner thread: the kernel's parent-death signal fires when the *thread* that forked it
//! exits, not the process. Tokio's blocking-pool and worker threads can exit (idle blocking threads do after
//! 10 s), which would SIGKILL perfectly healthy kernels. The spawner thread is created once and never
//! returns (its channel's sender lives in a static), so the signal fires only when nbgate itself dies —
//! including by `kill -9`, which no destructor can handle.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{oneshot, watch};

use crate::error::ExitInfo;
use crate::limits::Confinement;

/// How many bytes of each output stream are kept (the tail shown when a start fails).
const TAIL_BYTES: usize = 16 * 1024;
/// How many lines of stderr an error shows.
const TAIL_LINES: usize = 20;
/// How long an exit report waits for stderr to be drained.
const STDERR_GRACE: std::time::Duration = std::time::Duration::from_millis(200);

/// Work for the spawner thread.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// The spawner thread's inbox. The sender is never dropped, so the thread never exits.
fn spawner() -> &'static std_mpsc::Sender<Job> {
    static SPAWNER: OnceLock<std_mpsc::Sender<Job>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (sender, receiver) = std_mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("nbgate-kernel-spawner".into())
            .spawn(move || {
                for job in receiver {
                    job();
                }
            })
            .expect("cannot start the kernel spawner thread");
        sender
    })
}

/// Has the spawner thread run `job`, so that whatever it forks gets its parent-death signal tied to a
/// thread that lives as long as nbgate. False if the thread is gone.
pub(crate) fn run_on_spawner_thread(job: Job) -> bool {
    spawner().send(job).is_ok()
}

/// Runs `spawn` on the spawner thread and returns its result.
async fn on_spawner_thread<T: Send + 'static>(
    spawn: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let gone = || io::Error::other("the kernel spawner thread is gone");
    let (reply, receive) = oneshot::channel();
    if !run_on_spawner_thread(Box::new(move || {
        let _ = reply.send(spawn());
    })) {
        return Err(gone());
    }
    receive.await.map_err(|_| gone())?
}

/// What runs in a child between fork and exec: its own session, SIGKILL when nbgate dies, SIGINT not
/// ignored. `parent` is nbgate's pid.
///
/// Only async-signal-safe functions (setsid, prctl, getppid, signal); allocates only for the error path.
pub(crate) fn tie_to_nbgate(parent: libc::pid_t) -> io::Result<()> {
    // SAFETY: plain syscalls without memory arguments.
    unsafe {
        if libc::setsid() == -1 {
            return Err(io::Error::last_os_error());
        }
        if libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        ) == -1
        {
            return Err(io::Error::last_os_error());
        }
        // nbgate may have died between fork and prctl; then nobody would ever kill us.
        if libc::getppid() != parent {
            return Err(io::Error::other(
                "nbgate exited while the kernel was starting",
            ));
        }
        // An interrupt is SIGINT: make sure the kernel does not inherit it ignored.
        libc::signal(libc::SIGINT, libc::SIG_DFL);
    }
    Ok(())
}

/// What to run: argv, the complete environment, the working directory.
#[derive(Debug, Clone)]
pub(crate) struct SpawnSpec {
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: Option<PathBuf>,
    /// CPU affinity and cgroup, applied in the child before exec; kept until the process is dropped.
    pub confinement: Option<Arc<Confinement>>,
}

/// The last bytes a process wrote to one stream.
#[derive(Default)]
pub(crate) struct OutputTail {
    // A std mutex: held only to append or copy bytes, never across an await.
    bytes: Mutex<VecDeque<u8>>,
}

impl OutputTail {
    pub fn push(&self, chunk: &[u8]) {
        let mut bytes = crate::sync::lock(&self.bytes);
        bytes.extend(chunk);
        let excess = bytes.len().saturating_sub(TAIL_BYTES);
        bytes.drain(..excess);
    }

    /// The last [`TAIL_LINES`] lines, lossily decoded.
    pub fn last_lines(&self) -> String {
        let bytes: Vec<u8> = crate::sync::lock(&self.bytes).iter().copied().collect();
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.trim_end().lines().collect();
        lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
    }
}

/// A running (or exited) kernel process. Dropping it SIGKILLs the process group unless it has been
/// reaped, so no code path can leak a kernel.
pub(crate) struct KernelProcess {
    pid: u32,
    exit: watch::Receiver<Option<ExitInfo>>,
    stderr: Arc<OutputTail>,
    /// Dropped after the group is killed (its cgroup is then removed).
    _confinement: Option<Arc<Confinement>>,
}

impl KernelProcess {
    /// Spawns `spec` in a new session (so it leads its own process group) with SIGKILL as its
    /// parent-death signal.
    pub async fn spawn(spec: SpawnSpec) -> io::Result<Self> {
        let (program, args) = spec
            .argv
            .split_first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty argv"))?;
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .env_clear()
            .envs(&spec.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Belt and braces: if the handle and the actor are both gone, tokio kills the leader.
            .kill_on_drop(true);
        if let Some(cwd) = &spec.cwd {
            command.current_dir(cwd);
        }
        let parent = std::process::id() as libc::pid_t;
        let confinement = spec.confinement.clone();
        let in_child = spec.confinement.clone();
        // SAFETY: the closure runs between fork and exec and only calls `tie_to_nbgate` and
        // `apply_in_child`, which are async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                tie_to_nbgate(parent)?;
                match &in_child {
                    Some(confinement) => confinement.apply_in_child(),
                    None => Ok(()),
                }
            });
        }
        let runtime = tokio::runtime::Handle::current();
        let mut child = on_spawner_thread(move || {
            // Entering the caller's runtime registers the child with its process driver, so
            // `Child::wait` works from that runtime's tasks.
            let _runtime = runtime.enter();
            command.spawn()
        })
        .await?;
        let pid = child
            .id()
            .ok_or_else(|| io::Error::other("the kernel exited before its pid was read"))?;
        let child_stderr = child.stderr.take();

        let stdout = Arc::new(OutputTail::default());
        if let Some(pipe) = child.stdout.take() {
            tokio::spawn(drain(pipe, stdout, pid, "stdout", None));
        }
        // One task owns the child and reports its exit the moment it happens (SIGCHLD/pidfd driven, no
        // polling). If the runtime goes away first, `kill_on_drop` kills the leader.
        let exited = async move {
            match child.wait().await {
                Ok(status) => ExitInfo::from_status(status),
                Err(error) => {
                    tracing::warn!(pid, %error, "waiting for the kernel process failed");
                    ExitInfo {
                        code: None,
                        signal: None,
                    }
                }
            }
        };
        let mut process = Self::watch(pid, exited, child_stderr);
        process._confinement = confinement;
        Ok(process)
    }

    /// A kernel started by someone else (the fork server): `exited` resolves with its exit status,
    /// `output` is the stream its stdout and stderr go to.
    pub(crate) fn adopt(
        pid: u32,
        exited: impl Future<Output = ExitInfo> + Send + 'static,
        output: impl AsyncRead + Unpin + Send + 'static,
    ) -> Self {
        Self::watch(pid, exited, Some(output))
    }

    /// Drains `stderr` into the tail and reports the exit once `exited` resolves and stderr has been
    /// read to its end.
    fn watch(
        pid: u32,
        exited: impl Future<Output = ExitInfo> + Send + 'static,
        stderr_pipe: Option<impl AsyncRead + Unpin + Send + 'static>,
    ) -> Self {
        let stderr = Arc::new(OutputTail::default());
        // Closed when stderr reaches end of file.
        let (stderr_open, stderr_closed) = oneshot::channel::<()>();
        if let Some(pipe) = stderr_pipe {
            tokio::spawn(drain(
                pipe,
                stderr.clone(),
                pid,
                "stderr",
                Some(stderr_open),
            ));
        }
        let (report, exit) = watch::channel(None);
        tokio::spawn(async move {
            let info = exited.await;
            // Let stderr reach end of file first, so that an error quoting its tail quotes all of it.
            // Bounded: a grandchild may keep the pipe open.
            let _ = tokio::time::timeout(STDERR_GRACE, stderr_closed).await;
            tracing::debug!(pid, %info, "kernel process exited");
            let _ = report.send(Some(info));
        });
        Self {
            pid,
            exit,
            stderr,
            _confinement: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// How the process ended, once it has.
    pub fn exit_status(&self) -> Option<ExitInfo> {
        *self.exit.borrow()
    }

    /// A receiver that turns `Some` when the process exits. Cloned so callers can await it in `select!`
    /// without borrowing the process.
    pub fn exit_watch(&self) -> watch::Receiver<Option<ExitInfo>> {
        self.exit.clone()
    }

    /// Waits for the exit. Cancel-safe.
    pub async fn exited(&self) -> ExitInfo {
        wait_exit(self.exit_watch()).await
    }

    /// The last lines the process wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        self.stderr.last_lines()
    }

    /// Sends `signal` to the whole process group (the kernel and anything it started).
    pub fn signal_group(&self, signal: i32) {
        // SAFETY: killpg has no memory-safety preconditions. The group id is the leader's pid (setsid).
        let result = unsafe { libc::killpg(self.pid as libc::pid_t, signal) };
        if result == -1 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::ESRCH) {
                tracing::warn!(pid = self.pid, signal, %error, "signalling the kernel's process group failed");
            }
        }
    }
}

impl Drop for KernelProcess {
    fn drop(&mut self) {
        // Kill the group even when the leader has exited: anything it started must not survive it.
        // The group id cannot have been reused while any member is alive.
        self.signal_group(libc::SIGKILL);
    }
}

/// Waits until `exit` holds a status; a dropped sender (the runtime is going away) counts as unknown.
pub(crate) async fn wait_exit(mut exit: watch::Receiver<Option<ExitInfo>>) -> ExitInfo {
    match exit.wait_for(Option::is_some).await {
        Ok(info) => info.unwrap_or(ExitInfo {
            code: None,
            signal: None,
        }),
        Err(_) => ExitInfo {
            code: None,
            signal: None,
        },
    }
}

async fn drain(
    mut pipe: impl AsyncRead + Unpin,
    tail: Arc<OutputTail>,
    pid: u32,
    stream: &str,
    _open: Option<oneshot::Sender<()>>,
) {
    let mut buffer = vec![0u8; 8192];
    loop {
        match pipe.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                tracing::trace!(pid, stream, text = %String::from_utf8_lossy(&buffer[..n]), "kernel output");
                tail.push(&buffer[..n]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        let tail = OutputTail::default();
        for i in 0..100 {
            tail.push(format!("line {i}\n").as_bytes());
        }
        let text = tail.last_lines();
        assert!(text.starts_with("line 80\n"), "{text}");
        assert!(text.ends_with("line 99"), "{text}");
        tail.push(&vec![b'x'; 3 * TAIL_BYTES]);
        assert_eq!(tail.bytes.lock().expect("lock").len(), TAIL_BYTES);
    }

    #[tokio::test]
    async fn exit_is_reported_with_status_and_stderr() {
        let process = KernelProcess::spawn(SpawnSpec {
            argv: vec!["sh".into(), "-c".into(), "echo oops >&2; exit 7".into()],
            env: BTreeMap::from([("PATH".into(), std::env::var("PATH").unwrap_or_default())]),
            cwd: None,
            confinement: None,
        })
        .await
        .expect("spawn sh");
        let info = process.exited().await;
        assert_eq!(info.code, Some(7));
        assert_eq!(info.to_string(), "exit code 7");
        // The exit is reported after stderr reached end of file.
        assert_eq!(process.stderr_tail(), "oops");
    }

    #[tokio::test]
    async fn kernels_lead_their_own_session_and_die_with_their_group() {
        let process = KernelProcess::spawn(SpawnSpec {
            argv: vec!["sleep".into(), "30".into()],
            env: BTreeMap::from([("PATH".into(), std::env::var("PATH").unwrap_or_default())]),
            cwd: None,
            confinement: None,
        })
        .await
        .expect("spawn sleep");
        let pid = process.pid() as libc::pid_t;
        // SAFETY: plain syscalls without memory arguments.
        let (sid, pgid) = unsafe { (libc::getsid(pid), libc::getpgid(pid)) };
        assert_eq!(sid, pid);
        assert_eq!(pgid, pid);
        let exit = process.exit_watch();
        drop(process);
        let info = wait_exit(exit).await;
        assert_eq!(info.signal, Some(libc::SIGKILL), "{info}");
    }
}

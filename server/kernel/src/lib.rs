//! Kernels: finding them, starting them (here or on a gateway), talking to them, stopping them. The
//! only crate that spawns processes or opens sockets.
//!
//! # Map
//! - [`kernelspec`]: discovery in Jupyter's directories (JUPYTER_PATH, user, env prefixes, system; first
//!   match wins; case-insensitive names), `kernel.json` parsing, argv/env substitution, the spec's own
//!   Python. [`KernelSpecs::find`] fails with [`KernelError::KernelNotFound`] listing what exists and where
//!   it looked.
//! - `launch`: connection file (0600, random key) in a private runtime dir, race-free ports (port 0 and the
//!   kernel's rewrite, else listeners dropped before spawn), the kernel's environment (private IPython dir,
//!   in-memory history for ipykernel), waiting for the ports, spawn or fork. [`LaunchOptions`].
//! - `process`: the spawner thread (`PR_SET_PDEATHSIG` is tied to the spawning thread, so one thread that
//!   never exits spawns every kernel and every fork server), `setsid`, exit watching, stderr/stdout tails,
//!   group signals, and a guard that SIGKILLs the group whenever a process is dropped.
//! - `zygote` (+ `zygote.py`, embedded): the ipykernel fork server behind [`LaunchOptions::fork_server`]:
//!   one pre-imported Python per interpreter forks standard ipykernel kernels (`-m ipykernel_launcher`),
//!   reports their exits, and hands nbgate the same [`KernelProcess`](process) as a spawn; anything else,
//!   or a fork server that is down, is spawned.
//! - `sockets`: connecting DEALER shell/control/stdin (one identity), SUB iopub (subscribed before
//!   connecting), REQ heartbeat; reader tasks that verify and publish; the heartbeat task.
//! - `boot`: launch + connect + readiness (iopub_welcome, else kernel_info until a reply and some iopub
//!   arrived), for the first start and every restart; start-up errors carry the stderr tail.
//! - `actor`: the task that owns one kernel's process and sockets: sends, interrupt, restart, graceful
//!   shutdown (request → SIGTERM → SIGKILL), death detection, clean-up.
//! - `handle`: [`Kernel`] (cheap clones; the last drop kills the kernel), [`KernelClient`], [`start`],
//!   [`shutdown_all`].
//! - `events`: [`KernelEvent`] and [`KernelEvents`] (a subscription; lagging yields `Lagged(n)`).
//! - `secrets`: [`SECRET_VARS`], the one list of variables holding a server's token, dropped from
//!   every kernel's environment by its callers (the gateway and the scheduler).
//! - [`gateway`]: kernels on a Kernel Gateway-compatible server (Enterprise Gateway): the same
//!   [`Kernel`] handle, driven over REST and the channels WebSocket by an actor of its own;
//!   [`KernelLocation`] says where a kernel is started ([`gateway::start`]).
//! - [`machine_types`]: named kernel sizes from a TOML file ([`MachineTypes`]); each resolves to a
//!   [`KernelLocation`], variables for the kernel's environment and [`KernelLimits`].
//! - [`limits`]: a local kernel's limits, applied in the child before exec: CPU affinity (plus
//!   `OMP_NUM_THREADS` and co.) and a cgroup v2 memory limit; a limit that cannot be applied fails the
//!   start.
//! - [`sync`]: the poison-tolerant [`sync::lock`] every crate above uses for its std mutexes.
//!
//! # Data flow
//! Handle → (unbounded mpsc command) → actor → socket. Socket → reader task → broadcast → subscribers.
//! iopub and lifecycle events go to one shared broadcast channel; shell/control/stdin replies go to the
//! channel of the connection (handle or client) whose sockets received them, so a client only sees
//! replies to its own requests, as with jupyter_server's per-session identities.
//!
//! # The gateway seam
//! [`Kernel::connect_client`]`(session_id)` opens a DEALER set whose identity is the WebSocket session id
//! and returns a [`KernelClient`] with the same `send`/`request`/`subscribe` API. The actor owns those
//! sockets too, and reconnects them (same identity) after a restart.
//!
//! # Invariants
//! - One task owns a kernel's sockets and process; no lock is held across `.await` (the only locks are
//!   the std mutexes of output tails, held to copy bytes).
//! - No kernel outlives nbgate: `PR_SET_PDEATHSIG(SIGKILL)` from the long-lived spawner thread covers
//!   `kill -9`; guards SIGKILL the process group on every other exit path. A forked kernel is tied the
//!   same way to its fork server, which is tied to nbgate: nbgate dies → fork server dies → kernels die.
//! - A message with a bad signature is never delivered: it is dropped and reported.
//! - Time comes from tokio.

mod actor;
mod boot;
mod error;
mod events;
pub mod gateway;
mod handle;
pub mod kernelspec;
mod launch;
pub mod limits;
pub mod machine_types;
mod process;
mod secrets;
mod sockets;
pub mod sync;
mod zygote;

pub use actor::KernelState;
pub use error::{ExitInfo, KernelError, Result};
pub use events::{KernelEvent, KernelEvents};
pub use gateway::{Gateway, KernelLocation};
pub use handle::{Kernel, KernelClient, shutdown_all, start};
pub use kernelspec::{InterruptMode, KernelSpec, KernelSpecs};
pub use launch::{
    DEFAULT_HEARTBEAT, DEFAULT_SHUTDOWN_STEP, DEFAULT_START_TIMEOUT, LaunchOptions,
    prestart_fork_server,
};
pub use limits::KernelLimits;
pub use machine_types::{MachineType, MachineTypes, MachineTypesError};

/// Re-exported so that callers build messages with the same types.
pub use nbgate_protocol::{Channel, RawMessage, Signer};
pub use secrets::{SECRET_VARS, is_secret};

//! The one error type of this crate. Every variant carries the facts a user needs to act.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use nbgate_protocol::{Channel, ProtocolError};

/// How a kernel process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    /// The exit code, when the process exited by itself.
    pub code: Option<i32>,
    /// The signal that killed it, otherwise.
    pub signal: Option<i32>,
}

impl ExitInfo {
    pub(crate) fn from_status(status: std::process::ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        Self {
            code: status.code(),
            signal: status.signal(),
        }
    }
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exit code {code}"),
            (None, Some(signal)) => {
                write!(f, "killed by signal {signal} ({})", signal_name(signal))
            }
            (None, None) => f.write_str("unknown exit status"),
        }
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => "signal",
    }
}

/// Everything that can go wrong finding, starting, talking to or stopping a kernel.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error(
        "no kernel named {name:?}; available: {}; searched: {}",
        list_or_none(available),
        paths(searched)
    )]
    KernelNotFound {
        name: String,
        available: Vec<String>,
        searched: Vec<PathBuf>,
    },

    #[error("invalid kernel name {name:?}: names use only letters, digits, '.', '_' and '-'")]
    InvalidName { name: String },

    #[error("kernelspec {path}: {reason}")]
    BadSpec { path: PathBuf, reason: String },

    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot start kernel {name:?} with {program:?}: {source}")]
    Spawn {
        name: String,
        program: String,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "kernel {name:?} did not become ready within {timeout:?} (stuck {stage}){}",
        tail(stderr)
    )]
    StartTimeout {
        name: String,
        timeout: Duration,
        /// What nbgate was waiting for when time ran out.
        stage: &'static str,
        stderr: String,
    },

    #[error("cannot start kernel {name:?} with {limit}: {reason}")]
    Limits {
        name: String,
        /// `a memory limit of 1 GiB`, `2 CPUs`.
        limit: String,
        reason: String,
    },

    #[error("kernel {name:?} died during start-up ({status}){}", tail(stderr))]
    DiedDuringStart {
        name: String,
        status: ExitInfo,
        stderr: String,
    },

    #[error(
        "kernel {name:?} sends messages whose signatures do not verify with its connection file's key \
         (first on {channel}); they were dropped{}",
        tail(stderr)
    )]
    BadSignatures {
        name: String,
        channel: Channel,
        stderr: String,
    },

    #[error("cannot connect the {channel} socket to {endpoint}: {reason}")]
    Connect {
        channel: Channel,
        endpoint: String,
        reason: String,
    },

    #[error("sending on {channel} to kernel {id}: {reason}")]
    Send {
        id: String,
        channel: Channel,
        reason: String,
    },

    #[error("{channel} is not a channel requests are sent on (use shell, control or stdin)")]
    NotARequestChannel { channel: Channel },

    #[error("a client with identity {identity:?} is already connected to this kernel")]
    IdentityInUse { identity: String },

    #[error("kernel {id} is dead ({status})")]
    Dead { id: String, status: ExitInfo },

    #[error("kernel {id} has been shut down")]
    Closed { id: String },

    #[error("gateway {url} is unreachable: {reason}")]
    GatewayUnreachable { url: String, reason: String },

    #[error("gateway {url}: {action} failed ({status}): {message}")]
    Gateway {
        url: String,
        action: String,
        status: u16,
        message: String,
    },

    #[error("kernel {id} on gateway {url}: {reason}")]
    GatewayChannels {
        url: String,
        id: String,
        reason: String,
    },

    #[error("{what} is not available for kernels on a gateway")]
    NotOnGateway { what: &'static str },

    #[error(transparent)]
    Protocol(#[from] ProtocolError),
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

fn paths(items: &[PathBuf]) -> String {
    let items: Vec<String> = items.iter().map(|p| p.display().to_string()).collect();
    list_or_none(&items)
}

fn tail(stderr: &str) -> String {
    let stderr = stderr.trim_end();
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; last lines of its stderr:\n{stderr}")
    }
}

pub type Result<T, E = KernelError> = std::result::Result<T, E>;

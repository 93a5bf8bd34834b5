//! Kernels on a Kernel Gateway-compatible server (Jupyter Enterprise Gateway, Kernel Gateway, a
//! jupyter_server): the same [`Kernel`] handle as a local kernel, driven over the gateway's REST API and
//! its `/api/kernels/{id}/channels` WebSocket instead of a process and ZeroMQ sockets.
//!
//! - [`Gateway`]: where (URL, token) and as whom (`KERNEL_USERNAME`); [`KernelLocation`]: local or a
//!   gateway, what callers choose.
//! - [`start`]: `POST /api/kernels` (`name`, `env`), the channels WebSocket, readiness by
//!   `kernel_info`; the kernel is deleted on every failure from the moment it exists.
//! - `rest`: the REST client (hyper-util, rustls). The WebSocket's frames are
//!   `nbgate_protocol::websocket`'s (the gateway's decoded as [`Sender::Server`]'s).
//! - `actor`: one task per kernel owning its WebSocket, answering the same commands as a local kernel's
//!   actor (send, interrupt and restart through the REST API, shutdown = `DELETE`), publishing the same
//!   events. A lost WebSocket is reopened once as the same session (the gateway replays what it
//!   buffered); a second loss, or a failed reopening, is the kernel's `Died`. A kernel whose last handle
//!   goes is deleted too.
//! - `quickack`: the WebSockets' TCP stream, acknowledging every read at once (a gateway's Nagle
//!   otherwise waits out Linux's delayed ACKs: 48 ms an execute on Enterprise Gateway).
//! - `clients`: [`crate::Kernel::connect_client`] on a gateway kernel: a WebSocket of its own per
//!   client identity (the API's bridge sessions), for that client's replies and stdin.
//!
//! Messages received are signed with the handle's own key before they are published, so subscribers
//! see what a local kernel would give them.

mod actor;
mod clients;
mod quickack;
mod rest;

pub use quickack::QuickAck;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hyper::Method;
use serde_json::{Value, json};

use crate::actor::{Config, KernelState, Snapshot};
use crate::error::{KernelError, Result};
use crate::handle::Kernel;
use crate::kernelspec::{InterruptMode, KernelSpec};
use crate::launch::LaunchOptions;
use nbgate_protocol::Signer;

use self::actor::{GatewayActor, Remote};
use self::rest::Rest;

pub use self::actor::reported_death;

/// How long one REST call other than the start (interrupt, restart, delete) may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A Kernel Gateway-compatible server, named as jupyter_server's `GatewayClient` names it.
#[derive(Clone, PartialEq, Eq)]
pub struct Gateway {
    /// `http(s)://host:port[/base]`.
    pub url: String,
    /// Sent as `Authorization: token …`.
    pub token: Option<String>,
    /// `KERNEL_USERNAME` in every start request; default: the OS user nbgate runs as.
    pub kernel_username: Option<String>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("kernel_username", &self.kernel_username)
            .finish()
    }
}

impl Gateway {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            token: None,
            kernel_username: None,
        }
    }

    /// The `KERNEL_USERNAME` sent: the configured one, else the OS user.
    pub fn kernel_username(&self) -> String {
        self.kernel_username.clone().unwrap_or_else(os_user)
    }
}

/// Where a kernel runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum KernelLocation {
    /// A process on this machine, from a local kernelspec.
    #[default]
    Local,
    /// A kernel started on a gateway, from the gateway's kernelspecs.
    Gateway(Gateway),
}

impl KernelLocation {
    /// `"local"` or the gateway's URL, as executions record it.
    pub fn label(&self) -> &str {
        match self {
            KernelLocation::Local => "local",
            KernelLocation::Gateway(gateway) => gateway.url.trim_end_matches('/'),
        }
    }
}

/// The user nbgate runs as (`getpwuid`), else `$USER`.
fn os_user() -> String {
    // SAFETY: getpwuid returns a pointer into static storage or null; the name is copied at once, on a
    // thread that makes no other getpw* call meanwhile.
    let from_passwd = unsafe {
        let entry = libc::getpwuid(libc::geteuid());
        (!entry.is_null() && !(*entry).pw_name.is_null()).then(|| {
            std::ffi::CStr::from_ptr((*entry).pw_name)
                .to_string_lossy()
                .into_owned()
        })
    };
    from_passwd
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_default()
}

/// The start request's `env`: the `KERNEL_*` variables of nbgate's environment (when the kernel
/// inherits it) and of `options.env` (gateways pass on only those), `KERNEL_USERNAME`, and
/// `KERNEL_WORKING_DIR` for an explicit working directory, as jupyter_server's gateway client does.
fn start_env(gateway: &Gateway, options: &LaunchOptions) -> BTreeMap<String, String> {
    let inherited = options
        .inherit_env
        .then(std::env::vars)
        .into_iter()
        .flatten();
    let mut env: BTreeMap<String, String> = inherited
        .chain(options.env.clone())
        .filter(|(name, _)| name.starts_with("KERNEL_") && !crate::is_secret(name))
        .collect();
    match &gateway.kernel_username {
        Some(name) => {
            env.insert("KERNEL_USERNAME".into(), name.clone());
        }
        None => {
            env.entry("KERNEL_USERNAME".into()).or_insert_with(os_user);
        }
    }
    if let Some(cwd) = &options.cwd {
        env.insert("KERNEL_WORKING_DIR".into(), cwd.display().to_string());
    }
    env
}

/// How often a starting kernel is looked up on its gateway.
const START_CHECK: Duration = Duration::from_secs(1);

/// Resolves once the gateway no longer has kernel `id` (`GET /api/kernels/{id}` answers 404), with
/// the error saying so; never while it has it, or cannot be asked. Polled: a gateway reports a
/// kernel that died at start by no event.
async fn removed_while_starting(rest: &Rest, id: &str) -> KernelError {
    let path = format!("/api/kernels/{id}");
    loop {
        tokio::time::sleep(START_CHECK).await;
        if let Err(KernelError::Gateway { status: 404, .. }) =
            rest.call(Method::GET, &path, None, START_CHECK).await
        {
            return KernelError::GatewayChannels {
                url: rest.url.clone(),
                id: id.to_owned(),
                reason: "dropped by the gateway while starting: it died at start (the gateway's \
                         log says why)"
                    .into(),
            };
        }
    }
}

/// Starts kernel `name` on `gateway` and returns its handle once it answers `kernel_info` (all within
/// `options.start_timeout`). From the moment the gateway has the kernel, any failure (or dropping this
/// future) deletes it.
pub async fn start(gateway: &Gateway, name: &str, options: LaunchOptions) -> Result<Kernel> {
    let rest = Rest::new(gateway)?;
    let body = json!({ "name": name, "env": start_env(gateway, &options) });
    let model = match rest
        .call(
            Method::POST,
            "/api/kernels",
            Some(&body),
            options.start_timeout,
        )
        .await
    {
        Ok(model) => model,
        Err(error @ KernelError::Gateway { .. }) => {
            return Err(unknown_kernel(&rest, name).await.unwrap_or(error));
        }
        Err(error) => return Err(error),
    };
    let Some(id) = model.get("id").and_then(Value::as_str).map(str::to_owned) else {
        return Err(KernelError::Gateway {
            url: rest.url.clone(),
            action: "POST /api/kernels".into(),
            status: 200,
            message: format!("the answer has no kernel id: {model}"),
        });
    };
    // Deletes the kernel unless it is handed to an actor that shuts it down.
    let mut remote = Remote::new(rest.clone(), id.clone());
    let key = uuid::Uuid::new_v4().to_string();
    let signer = Signer::new(nbgate_protocol::wire::HMAC_SHA256, key.as_bytes())?;
    let session = uuid::Uuid::new_v4().to_string();
    // A kernel that keeps dying at start is restarted by the gateway a few times and then dropped,
    // while the channels' WebSocket handshake stays unanswered: its removal ends the wait.
    let connect = async {
        tokio::select! {
            connected = actor::connect(&rest, &id, &signer, &session) => connected,
            gone = removed_while_starting(&rest, &id) => Err(gone),
        }
    };
    let connected = tokio::time::timeout(options.start_timeout, connect)
        .await
        .unwrap_or_else(|_| {
            Err(KernelError::StartTimeout {
                name: name.to_owned(),
                timeout: options.start_timeout,
                stage: "waiting for kernel_info_reply through the gateway",
                stderr: String::new(),
            })
        });
    let (socket, kernel_info) = match connected {
        Ok(connected) => connected,
        Err(error) => {
            remote.delete().await;
            return Err(error);
        }
    };
    let language = kernel_info
        .pointer("/language_info/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let config = Arc::new(Config {
        id: id.clone(),
        spec: Arc::new(KernelSpec {
            name: model
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(name)
                .to_owned(),
            resource_dir: Default::default(),
            argv: Vec::new(),
            display_name: name.to_owned(),
            language,
            interrupt_mode: InterruptMode::Message,
            env: BTreeMap::new(),
            metadata: json!({}),
            raw: json!({}),
        }),
        options,
        key,
        signer,
        session,
        connection_file: Default::default(),
        location: rest.url.clone(),
    });
    let snapshot = Snapshot {
        state: KernelState::Running,
        pid: None,
        connection: Arc::new(actor::no_connection(&config)),
        kernel_info: Arc::new(kernel_info),
    };
    let kernel = GatewayActor::spawn(config, remote, socket, snapshot);
    tracing::info!(kernel = %id, gateway = %rest.url, name, "gateway kernel started");
    Ok(kernel)
}

/// The gateway's kernelspecs, as its `GET /api/kernelspecs` answers: `{"default", "kernelspecs"}`.
pub async fn kernelspecs(gateway: &Gateway) -> Result<Value> {
    let rest = Rest::new(gateway)?;
    rest.call(Method::GET, "/api/kernelspecs", None, CALL_TIMEOUT)
        .await
}

/// A resource file of the gateway's kernelspec `name` (`GET /kernelspecs/{name}/{file}`: a logo):
/// its content type and bytes.
pub async fn kernelspec_resource(
    gateway: &Gateway,
    name: &str,
    file: &str,
) -> Result<(Option<String>, bytes::Bytes)> {
    let rest = Rest::new(gateway)?;
    let path = format!("/kernelspecs/{name}/{file}");
    rest.get_bytes(&path, CALL_TIMEOUT).await
}

/// [`KernelError::KernelNotFound`] when the gateway has no kernelspec `name` (gateways answer a start
/// of an unknown kernel with a bare 404 or 500).
async fn unknown_kernel(rest: &Rest, name: &str) -> Option<KernelError> {
    let specs = rest
        .call(Method::GET, "/api/kernelspecs", None, CALL_TIMEOUT)
        .await
        .ok()?;
    let available: Vec<String> = specs
        .get("kernelspecs")?
        .as_object()?
        .keys()
        .cloned()
        .collect();
    (!available.iter().any(|known| known == name)).then(|| KernelError::KernelNotFound {
        name: name.to_owned(),
        available,
        searched: vec![format!("{}/api/kernelspecs", rest.url).into()],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_env_carries_kernel_variables_the_user_and_the_working_dir() {
        let gateway = Gateway {
            kernel_username: Some("alice".into()),
            ..Gateway::new("http://127.0.0.1:1")
        };
        let options = LaunchOptions {
            inherit_env: false,
            env: BTreeMap::from([
                ("KERNEL_CPUS".to_owned(), "4".to_owned()),
                ("KERNEL_USERNAME".to_owned(), "bob".to_owned()),
                ("PATH".to_owned(), "/bin".to_owned()),
            ]),
            cwd: Some("/data/work".into()),
            ..LaunchOptions::default()
        };
        let env = start_env(&gateway, &options);
        assert_eq!(
            env,
            BTreeMap::from([
                ("KERNEL_CPUS".to_owned(), "4".to_owned()),
                ("KERNEL_USERNAME".to_owned(), "alice".to_owned()),
                ("KERNEL_WORKING_DIR".to_owned(), "/data/work".to_owned()),
            ])
        );
        // Without an explicit user, a KERNEL_USERNAME given in the environment wins over the OS user.
        let env = start_env(&Gateway::new("http://127.0.0.1:1"), &options);
        assert_eq!(env["KERNEL_USERNAME"], "bob");
    }

    #[test]
    fn the_token_is_not_in_debug_output_and_the_label_is_the_url() {
        let gateway = Gateway {
            token: Some("s3cret".into()),
            ..Gateway::new("http://gw:8888/")
        };
        assert!(!format!("{gateway:?}").contains("s3cret"));
        assert_eq!(KernelLocation::Gateway(gateway).label(), "http://gw:8888");
        assert_eq!(KernelLocation::Local.label(), "local");
    }
}

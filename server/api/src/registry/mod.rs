//! The kernels the gateway runs: id → kernel handle and the model fields KG reports
//! (`last_activity`, `execution_state`, `connections`), with `max_kernels` counted race-free (a slot
//! is reserved before a kernel starts and released when it is gone).
//!
//! - `env`: the kernel's environment and working directory from a request.
//! - `supervise`: one task per kernel tracking iopub (activity, execution state) and restarting a kernel
//!   that dies unexpectedly (`restarting`, then `dead` after `restart_limit` quick deaths).
//! - `cull`: the idle culler (KG's timeout, interval, connected and busy rules).
//! - `pool`: warm kernels per kernelspec that serve `POST /api/kernels`.

pub mod cull;
pub mod env;
mod pool;
mod supervise;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use nbgate_kernel::sync::lock;
use nbgate_kernel::{Kernel, LaunchOptions};
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

pub use cull::CullPolicy;

use crate::{ApiError, Config};
use pool::Pool;

/// The one clock of this crate: model timestamps and activity.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now()
}

/// KG's strict timestamp: `%Y-%m-%dT%H:%M:%S.%fZ` (always six fraction digits).
pub fn timestamp(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// A status the gateway itself announces to WebSocket clients (not from the kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Restarting,
    Dead,
}

/// What the model reports and the culler reads.
#[derive(Debug, Clone)]
pub(crate) struct Activity {
    pub last_activity: DateTime<Utc>,
    pub execution_state: String,
}

/// One kernel of the registry.
pub struct KernelEntry {
    pub kernel: Kernel,
    activity: Mutex<Activity>,
    connections: AtomicUsize,
    pub(crate) notices: broadcast::Sender<Notice>,
    pub(crate) sessions: crate::ws::Sessions,
    slot: Mutex<Option<Slot>>,
    supervisor: Mutex<Option<AbortHandle>>,
}

impl KernelEntry {
    pub fn id(&self) -> &str {
        self.kernel.id()
    }

    pub(crate) fn activity(&self) -> Activity {
        lock(&self.activity).clone()
    }

    pub(crate) fn record(&self, update: impl FnOnce(&mut Activity)) {
        update(&mut lock(&self.activity));
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Counts a WebSocket connection for as long as the guard lives.
    pub(crate) fn connect(self: &Arc<Self>) -> ConnectionGuard {
        self.connections.fetch_add(1, Ordering::SeqCst);
        ConnectionGuard(self.clone())
    }

    /// The kernel model: `{id, name, last_activity, execution_state, connections}`.
    pub fn model(&self) -> Value {
        let activity = self.activity();
        json!({
            "id": self.id(),
            "name": self.kernel.spec().name,
            "last_activity": timestamp(activity.last_activity),
            "execution_state": activity.execution_state,
            "connections": self.connections(),
        })
    }
}

pub(crate) struct ConnectionGuard(Arc<KernelEntry>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A place under `max_kernels`, held from before a start until the kernel is removed.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub struct KernelRegistry {
    config: Arc<Config>,
    kernels: Mutex<Vec<Arc<KernelEntry>>>,
    reserved: Arc<AtomicUsize>,
    closing: AtomicBool,
    pool: Pool,
    background: Mutex<Vec<AbortHandle>>,
}

impl KernelRegistry {
    pub fn new(config: Arc<Config>) -> Arc<Self> {
        Arc::new(Self {
            pool: Pool::new(&config),
            config,
            kernels: Mutex::default(),
            reserved: Arc::default(),
            closing: AtomicBool::new(false),
            background: Mutex::default(),
        })
    }

    pub fn len(&self) -> usize {
        lock(&self.kernels).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn list(&self) -> Vec<Arc<KernelEntry>> {
        lock(&self.kernels).clone()
    }

    pub fn get(&self, id: &str) -> Result<Arc<KernelEntry>, ApiError> {
        lock(&self.kernels)
            .iter()
            .find(|entry| entry.id() == id)
            .cloned()
            .ok_or_else(|| ApiError::KernelNotFound { id: id.to_owned() })
    }

    /// Warm kernels waiting in the pool (for tests and health).
    pub fn pooled(&self) -> usize {
        self.pool.len()
    }

    fn reserve(&self) -> Result<Slot, ApiError> {
        let max = self.config.max_kernels.unwrap_or(usize::MAX);
        self.reserved
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                (used < max).then_some(used + 1)
            })
            .map_err(|_| ApiError::ResourceLimit { max })?;
        Ok(Slot(self.reserved.clone()))
    }

    /// Starts (or takes from the pool) a kernel of `name` for a request's `env` and `path`.
    pub async fn create(
        self: &Arc<Self>,
        name: Option<&str>,
        env: Option<&Value>,
        path: Option<&Value>,
    ) -> Result<Arc<KernelEntry>, ApiError> {
        if self.closing.load(Ordering::SeqCst) {
            return Err(ApiError::ShuttingDown);
        }
        let name = name.unwrap_or(self.config.default_kernel_name());
        if let Some(gateway) = &self.config.gateway {
            return self.create_on_gateway(gateway, name, env).await;
        }
        let spec = crate::kernelspecs::find_in(&self.config, name).await?;
        let launch = env::launch_for(&self.config, env, path, std::env::vars())?;
        let slot = self.reserve()?;
        let warm = if launch.pool_compatible {
            self.pool.take(&spec.name)
        } else {
            None
        };
        let kernel = match warm {
            Some(kernel) => kernel,
            None => {
                let options = LaunchOptions {
                    env: launch.env,
                    inherit_env: false,
                    cwd: Some(launch.cwd),
                    start_timeout: launch.start_timeout,
                    fork_server: self.config.fork_server,
                    ..LaunchOptions::default()
                };
                nbgate_kernel::start(spec, options).await?
            }
        };
        Ok(self.register(kernel, slot))
    }

    /// A kernel of the gateway's kernelspec `name`, started on the configured gateway (`--gateway-url`):
    /// the request's `KERNEL_*` variables (as KG's env rules keep them) go in the start request; `path`
    /// is a local notion the gateway does not share. An unknown name is a 404 listing the gateway's.
    async fn create_on_gateway(
        self: &Arc<Self>,
        gateway: &nbgate_kernel::Gateway,
        name: &str,
        env: Option<&Value>,
    ) -> Result<Arc<KernelEntry>, ApiError> {
        let launch = env::launch_for(&self.config, env, None, std::env::vars())?;
        let slot = self.reserve()?;
        let options = LaunchOptions {
            env: launch.env,
            inherit_env: false,
            start_timeout: launch.start_timeout,
            ..LaunchOptions::default()
        };
        let kernel = nbgate_kernel::gateway::start(gateway, name, options)
            .await
            .map_err(|error| match error {
                nbgate_kernel::KernelError::KernelNotFound {
                    name, available, ..
                } => ApiError::KernelSpecNotFound { name, available },
                other => other.into(),
            })?;
        Ok(self.register(kernel, slot))
    }

    fn register(self: &Arc<Self>, kernel: Kernel, slot: Slot) -> Arc<KernelEntry> {
        let (notices, _) = broadcast::channel(16);
        let events = kernel.subscribe();
        let entry = Arc::new(KernelEntry {
            kernel,
            activity: Mutex::new(Activity {
                last_activity: now(),
                // Started kernels have answered kernel_info: they are idle, not "starting" forever.
                execution_state: "idle".into(),
            }),
            connections: AtomicUsize::new(0),
            notices,
            sessions: crate::ws::Sessions::default(),
            slot: Mutex::new(Some(slot)),
            supervisor: Mutex::new(None),
        });
        let task = tokio::spawn(supervise::supervise(
            Arc::downgrade(&entry),
            events,
            self.config.restart_limit,
        ));
        *lock(&entry.supervisor) = Some(task.abort_handle());
        lock(&self.kernels).push(entry.clone());
        entry
    }

    /// Takes the kernel out of the registry (its slot is free at once) and shuts it down.
    pub async fn delete(&self, id: &str) -> Result<(), ApiError> {
        let entry = self.remove(id)?;
        entry.kernel.shutdown().await?;
        Ok(())
    }

    fn remove(&self, id: &str) -> Result<Arc<KernelEntry>, ApiError> {
        let entry = {
            let mut kernels = lock(&self.kernels);
            let index = kernels
                .iter()
                .position(|entry| entry.id() == id)
                .ok_or_else(|| ApiError::KernelNotFound { id: id.to_owned() })?;
            kernels.remove(index)
        };
        lock(&entry.slot).take();
        if let Some(task) = lock(&entry.supervisor).take() {
            task.abort();
        }
        Ok(entry)
    }

    /// Starts the culler and the pool filler; [`KernelRegistry::shutdown_all`] stops them.
    pub fn start_background(self: &Arc<Self>) {
        let mut tasks = Vec::new();
        if self.config.cull.idle_timeout.is_some() {
            tasks.push(tokio::spawn(cull::run(Arc::downgrade(self))).abort_handle());
        }
        // Warm kernels are local ones: none with a gateway.
        if self.pool.enabled() && self.config.gateway.is_none() {
            tasks.push(tokio::spawn(pool::fill(Arc::downgrade(self))).abort_handle());
        }
        lock(&self.background).extend(tasks);
    }

    /// Refuses new kernels, stops the background tasks and shuts every kernel down (pool included).
    pub async fn shutdown_all(&self) {
        self.closing.store(true, Ordering::SeqCst);
        for task in lock(&self.background).drain(..) {
            task.abort();
        }
        let mut kernels = self.pool.drain();
        let entries: Vec<Arc<KernelEntry>> = lock(&self.kernels).drain(..).collect();
        for entry in &entries {
            lock(&entry.slot).take();
            if let Some(task) = lock(&entry.supervisor).take() {
                task.abort();
            }
        }
        kernels.extend(entries.iter().map(|entry| entry.kernel.clone()));
        if !kernels.is_empty() {
            tracing::info!(count = kernels.len(), "shutting kernels down");
        }
        for (result, entry) in nbgate_kernel::shutdown_all(kernels)
            .await
            .into_iter()
            .zip(0..)
        {
            if let Err(error) = result {
                tracing::warn!(%error, entry, "kernel shutdown failed");
            }
        }
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }
}

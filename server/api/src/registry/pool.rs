//! Warm kernels per kernelspec. `POST /api/kernels` takes one when the request asks for nothing a warm
//! kernel lacks (no client variables besides `KERNEL_LAUNCH_TIMEOUT`/`KERNEL_WORKING_DIR`, the root as
//! working directory); the filler then starts a replacement. Warm kernels inherit the gateway's
//! environment (minus the token), are not listed and do not count against `max_kernels` until taken.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use nbgate_kernel::sync::lock;
use nbgate_kernel::{Kernel, LaunchOptions};
use tokio::sync::Notify;

use super::{KernelRegistry, env};
use crate::Config;

/// After a failed start, the filler waits this long before trying that kernelspec again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

pub(crate) struct Pool {
    size: usize,
    specs: Vec<String>,
    warm: Mutex<HashMap<String, Vec<Kernel>>>,
    wake: Arc<Notify>,
}

impl Pool {
    pub(crate) fn new(config: &Config) -> Self {
        let specs = if config.prespawn_kernels.is_empty() {
            vec![config.default_kernel_name().to_owned()]
        } else {
            config.prespawn_kernels.clone()
        };
        Self {
            size: config.prespawn,
            specs,
            warm: Mutex::default(),
            wake: Arc::default(),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.size > 0
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.warm).values().map(Vec::len).sum()
    }

    /// A live warm kernel of `spec`, if one is waiting; wakes the filler to replace it.
    pub(crate) fn take(&self, spec: &str) -> Option<Kernel> {
        let kernel = {
            let mut warm = lock(&self.warm);
            let kernels = warm.get_mut(spec)?;
            // Dead warm kernels are dropped (which cleans them up) on the way.
            kernels.retain(Kernel::is_alive);
            kernels.pop()
        };
        if kernel.is_some() {
            self.wake.notify_one();
        }
        kernel
    }

    pub(crate) fn drain(&self) -> Vec<Kernel> {
        lock(&self.warm)
            .drain()
            .flat_map(|(_, kernels)| kernels)
            .collect()
    }

    fn missing(&self, spec: &str) -> bool {
        let mut warm = lock(&self.warm);
        let kernels = warm.entry(spec.to_owned()).or_default();
        kernels.retain(Kernel::is_alive);
        kernels.len() < self.size
    }
}

/// Keeps every pool full, one start at a time; sleeps until a kernel is taken.
pub(crate) async fn fill(registry: Weak<KernelRegistry>) {
    loop {
        let Some(strong) = registry.upgrade() else {
            return;
        };
        let wake = strong.pool.wake.clone();
        let mut failed = false;
        for name in strong.pool.specs.clone() {
            while strong.pool.missing(&name) && !strong.is_closing() {
                match start_warm(strong.config(), &name).await {
                    Ok(kernel) => lock(&strong.pool.warm)
                        .entry(name.clone())
                        .or_default()
                        .push(kernel),
                    Err(error) => {
                        tracing::warn!(kernel = %name, %error, "cannot prespawn a kernel");
                        failed = true;
                        break;
                    }
                }
            }
        }
        drop(strong);
        if failed {
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(RETRY_AFTER) => {}
            }
        } else {
            wake.notified().await;
        }
    }
}

async fn start_warm(config: &Config, name: &str) -> Result<Kernel, crate::ApiError> {
    let spec = crate::kernelspecs::find_in(config, name).await?;
    let options = LaunchOptions {
        env: env::inherited_env(config, std::env::vars()),
        inherit_env: false,
        cwd: Some(config.root_dir.clone()),
        start_timeout: config.start_timeout,
        fork_server: config.fork_server,
        ..LaunchOptions::default()
    };
    Ok(nbgate_kernel::start(spec, options).await?)
}

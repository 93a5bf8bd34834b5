//! Idle culling with Kernel Gateway's rules: every `interval`, a kernel is shut down when it has been
//! idle longer than `idle_timeout` **and** (`busy` or it is not busy) **and** (`connected` or nobody is
//! connected). A dead kernel is culled at once. Activity is any iopub message.

use std::sync::Weak;
use std::time::Duration;

use super::{KernelRegistry, now};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CullPolicy {
    /// `None` disables culling.
    pub idle_timeout: Option<Duration>,
    pub interval: Duration,
    /// Cull kernels with open WebSockets too.
    pub connected: bool,
    /// Cull busy kernels too.
    pub busy: bool,
}

impl Default for CullPolicy {
    fn default() -> Self {
        Self {
            idle_timeout: None,
            interval: Duration::from_secs(300),
            connected: false,
            busy: false,
        }
    }
}

impl CullPolicy {
    /// Whether a kernel in `state`, idle for `idle`, with `connections` open, goes now.
    pub fn should_cull(&self, state: &str, idle: Duration, connections: usize) -> bool {
        let Some(timeout) = self.idle_timeout else {
            return false;
        };
        state == "dead"
            || (idle > timeout
                && (self.busy || state != "busy")
                && (self.connected || connections == 0))
    }
}

pub(crate) async fn run(registry: Weak<KernelRegistry>) {
    let Some(interval) = registry.upgrade().map(|r| r.config().cull.interval) else {
        return;
    };
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(registry) = registry.upgrade() else {
            return;
        };
        let policy = registry.config().cull.clone();
        let at = now();
        for entry in registry.list() {
            let activity = entry.activity();
            let idle = (at - activity.last_activity).to_std().unwrap_or_default();
            if policy.should_cull(&activity.execution_state, idle, entry.connections()) {
                tracing::info!(kernel = %entry.id(), state = %activity.execution_state,
                    idle_s = idle.as_secs_f64(), "culling idle kernel");
                let registry = registry.clone();
                let id = entry.id().to_owned();
                tokio::spawn(async move {
                    if let Err(error) = registry.delete(&id).await {
                        tracing::warn!(kernel = %id, %error, "culling failed");
                    }
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn kernel_gateway_rules() {
        let off = CullPolicy::default();
        assert!(!off.should_cull("dead", S(1000), 0), "culling off");
        let policy = CullPolicy {
            idle_timeout: Some(S(60)),
            ..CullPolicy::default()
        };
        assert!(policy.should_cull("idle", S(61), 0));
        assert!(!policy.should_cull("idle", S(59), 0));
        assert!(!policy.should_cull("busy", S(61), 0), "busy kernels stay");
        assert!(
            !policy.should_cull("idle", S(61), 1),
            "connected kernels stay"
        );
        assert!(
            policy.should_cull("dead", S(0), 3),
            "dead kernels go at once"
        );
        let eager = CullPolicy {
            connected: true,
            busy: true,
            ..policy
        };
        assert!(eager.should_cull("busy", S(61), 2));
    }
}

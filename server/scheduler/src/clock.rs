//! The one place time is read. The scheduler asks its [`Clock`] for the wall time and sleeps with
//! tokio; [`TokioClock`] derives the wall time from tokio's clock so tests with paused time control both.

use std::sync::Arc;

use chrono::{DateTime, Utc};

/// Wall time for fire times and timestamps.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A wall clock that starts at `origin` and advances with tokio's clock (`tokio::time::advance`, or
/// auto-advance under `start_paused`).
#[derive(Debug, Clone)]
pub struct TokioClock {
    origin: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl TokioClock {
    pub fn starting_at(origin: DateTime<Utc>) -> Arc<TokioClock> {
        Arc::new(TokioClock {
            origin,
            start: tokio::time::Instant::now(),
        })
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.start.elapsed();
        self.origin + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }
}

/// How long to sleep from `now` until `deadline` (zero if it has passed).
pub fn until(now: DateTime<Utc>, deadline: DateTime<Utc>) -> std::time::Duration {
    (deadline - now).to_std().unwrap_or_default()
}

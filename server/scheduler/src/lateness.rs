//! How late schedules fire: for every fire the loop records (run or recorded `skipped`), the time from
//! its fire time to the moment its row was committed to the store, kept as a cumulative histogram for
//! `/metrics` (`nbgate_schedule_fire_lateness_seconds`). Catch-up fires after downtime count with their
//! whole delay.

use std::sync::Mutex;

/// Upper bounds of the buckets, in seconds (the target is p99 ≤ 50 ms: one bound is 0.05).
pub const LATENESS_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// A snapshot of the histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct FireLateness {
    /// `(upper bound in seconds, fires at most that late)`, cumulative, for each of
    /// [`LATENESS_BUCKETS`]; fires later than the last bound are only in `count`.
    pub buckets: Vec<(f64, u64)>,
    /// Fires recorded since start.
    pub count: u64,
    /// Their lateness added up, in seconds.
    pub sum: f64,
}

#[derive(Default)]
pub(crate) struct LatenessRecorder {
    inner: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    /// Per bucket, not cumulative.
    buckets: [u64; LATENESS_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl LatenessRecorder {
    /// Adds fires `seconds` late each (negative values count as 0: a clock step back).
    pub(crate) fn record(&self, lateness: impl IntoIterator<Item = f64>) {
        let mut counts = nbgate_kernel::sync::lock(&self.inner);
        for seconds in lateness {
            let seconds = seconds.max(0.0);
            if let Some(bucket) = LATENESS_BUCKETS.iter().position(|bound| seconds <= *bound) {
                counts.buckets[bucket] += 1;
            }
            counts.count += 1;
            counts.sum += seconds;
        }
    }

    pub(crate) fn snapshot(&self) -> FireLateness {
        let counts = nbgate_kernel::sync::lock(&self.inner);
        let mut total = 0;
        let buckets = LATENESS_BUCKETS
            .iter()
            .zip(counts.buckets)
            .map(|(bound, n)| {
                total += n;
                (*bound, total)
            })
            .collect();
        FireLateness {
            buckets,
            count: counts.count,
            sum: counts.sum,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_bounds_inclusive() {
        let recorder = LatenessRecorder::default();
        recorder.record([0.0, 0.005, 0.02, 0.05, 0.051, -1.0, 1000.0]);
        let snapshot = recorder.snapshot();
        let at = |bound: f64| {
            snapshot
                .buckets
                .iter()
                .find(|(b, _)| *b == bound)
                .map(|(_, n)| *n)
        };
        // -1 counts as 0; 0.005 is in the 0.005 bucket; 1000 s only in the count.
        assert_eq!(at(0.005), Some(3));
        assert_eq!(at(0.025), Some(4));
        assert_eq!(at(0.05), Some(5));
        assert_eq!(at(0.1), Some(6));
        assert_eq!(at(300.0), Some(6));
        assert_eq!(snapshot.count, 7);
        assert!((snapshot.sum - 1000.126).abs() < 1e-9, "{}", snapshot.sum);
    }
}

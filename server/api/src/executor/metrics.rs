//! `GET /metrics` in Prometheus text format: executions queued and running (from the store at start,
//! then kept by the scheduler's events), executions finished since start by status, a summary of run
//! durations, the kernels running (the gateway's and the executions'), and how late schedules fired
//! (a histogram kept by the scheduler).
//!
//! One task reads the scheduler's event stream; it ends when the server stops. A lag re-reads the
//! store, so the gauges never drift.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::State;
use axum::http::{Method, header};
use axum::response::IntoResponse;
use nbgate_scheduler::{
    EventKind, ExecutionFilter, ExecutionStatus, FireLateness, MAX_PAGE, Received, SchedulerHandle,
};
use tokio_util::sync::CancellationToken;

use crate::AppState;
use crate::routes::Route;

/// Durations kept for the summary's quantiles.
const WINDOW: usize = 1024;

pub(super) fn routes() -> Vec<Route> {
    vec![Route::new(Method::GET, "/metrics", metrics)]
}

#[derive(Default)]
pub(crate) struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Executions queued or running now, by id.
    active: HashMap<String, ExecutionStatus>,
    /// Terminal statuses reached since start.
    finished: HashMap<ExecutionStatus, u64>,
    recent: VecDeque<f64>,
    duration_sum: f64,
    duration_count: u64,
}

impl Metrics {
    pub(crate) fn start(scheduler: SchedulerHandle, stopping: CancellationToken) -> Arc<Metrics> {
        let metrics = Arc::new(Metrics::default());
        tokio::spawn(follow(metrics.clone(), scheduler, stopping));
        metrics
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        nbgate_kernel::sync::lock(&self.inner)
    }
}

async fn follow(metrics: Arc<Metrics>, scheduler: SchedulerHandle, stopping: CancellationToken) {
    let mut events = scheduler.subscribe(None);
    resync(&metrics, &scheduler).await;
    loop {
        let received = tokio::select! {
            _ = stopping.cancelled() => return,
            received = events.recv() => received,
        };
        match received {
            Received::Event(event) => match event.kind {
                EventKind::Status { status, .. } if status.is_terminal() => {
                    metrics.lock().active.remove(&event.execution_id);
                    *metrics.lock().finished.entry(status).or_default() += 1;
                    if let Ok(execution) = scheduler.get_execution(&event.execution_id).await
                        && let (Some(start), Some(end)) = (execution.started_at, execution.ended_at)
                    {
                        let seconds = (end - start).num_milliseconds().max(0) as f64 / 1e3;
                        let mut inner = metrics.lock();
                        inner.duration_sum += seconds;
                        inner.duration_count += 1;
                        if inner.recent.len() == WINDOW {
                            inner.recent.pop_front();
                        }
                        inner.recent.push_back(seconds);
                    }
                }
                EventKind::Status { status, .. } => {
                    metrics.lock().active.insert(event.execution_id, status);
                }
                EventKind::Deleted => {
                    metrics.lock().active.remove(&event.execution_id);
                }
                _ => {}
            },
            Received::Lagged { .. } => resync(&metrics, &scheduler).await,
            Received::Closed => return,
        }
    }
}

/// Re-reads the queued and running executions from the store.
async fn resync(metrics: &Metrics, scheduler: &SchedulerHandle) {
    let mut active = HashMap::new();
    for status in [ExecutionStatus::Queued, ExecutionStatus::Running] {
        let mut cursor: Option<String> = None;
        loop {
            let filter = ExecutionFilter {
                schedule: None,
                status: Some(status),
            };
            let page = match scheduler
                .list_executions(filter, MAX_PAGE, cursor.as_deref())
                .await
            {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, "metrics: cannot read executions");
                    return;
                }
            };
            active.extend(page.items.into_iter().map(|e| (e.id, e.status)));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    metrics.lock().active = active;
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::new();
    if let Some(executor) = &state.executor {
        executor.metrics.render(&mut out);
    }
    let gateway_kernels = state.kernels.len();
    let _ = writeln!(
        out,
        "# HELP nbgate_kernels_running Kernels running, by owner (gateway clients or executions).\n\
         # TYPE nbgate_kernels_running gauge\n\
         nbgate_kernels_running{{owner=\"gateway\"}} {gateway_kernels}"
    );
    if let Some(executor) = &state.executor {
        let running = executor.metrics.count(ExecutionStatus::Running);
        let _ = writeln!(
            out,
            "nbgate_kernels_running{{owner=\"executions\"}} {running}"
        );
        render_lateness(&mut out, &executor.scheduler.fire_lateness());
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}

impl Metrics {
    fn count(&self, status: ExecutionStatus) -> usize {
        self.lock()
            .active
            .values()
            .filter(|s| **s == status)
            .count()
    }

    fn render(&self, out: &mut String) {
        let inner = self.lock();
        let count = |status| inner.active.values().filter(|s| **s == status).count();
        let (queued, running) = (
            count(ExecutionStatus::Queued),
            count(ExecutionStatus::Running),
        );
        let _ = writeln!(
            out,
            "# HELP nbgate_executions Executions queued or running now.\n\
             # TYPE nbgate_executions gauge\n\
             nbgate_executions{{status=\"queued\"}} {queued}\n\
             nbgate_executions{{status=\"running\"}} {running}\n\
             # HELP nbgate_execution_queue_depth Executions waiting for a slot.\n\
             # TYPE nbgate_execution_queue_depth gauge\n\
             nbgate_execution_queue_depth {queued}\n\
             # HELP nbgate_executions_finished_total Executions that ended since nbgate started, by status.\n\
             # TYPE nbgate_executions_finished_total counter"
        );
        for status in ExecutionStatus::ALL.into_iter().filter(|s| s.is_terminal()) {
            let n = inner.finished.get(&status).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "nbgate_executions_finished_total{{status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP nbgate_execution_duration_seconds Run time of executions that ran (start to end); \
             quantiles over the last {WINDOW}.\n\
             # TYPE nbgate_execution_duration_seconds summary"
        );
        let mut sorted: Vec<f64> = inner.recent.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        for q in [0.5, 0.9, 0.99] {
            let value = if sorted.is_empty() {
                f64::NAN
            } else {
                sorted[((sorted.len() - 1) as f64 * q).round() as usize]
            };
            let _ = writeln!(
                out,
                "nbgate_execution_duration_seconds{{quantile=\"{q}\"}} {value}"
            );
        }
        let _ = writeln!(
            out,
            "nbgate_execution_duration_seconds_sum {}\nnbgate_execution_duration_seconds_count {}",
            inner.duration_sum, inner.duration_count
        );
    }
}

/// `nbgate_schedule_fire_lateness_seconds`: fire time → its execution row committed, for every fire
/// recorded since start (run or skipped).
fn render_lateness(out: &mut String, lateness: &FireLateness) {
    let name = "nbgate_schedule_fire_lateness_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} How late schedules fired: from the fire time to its execution being recorded.\n\
         # TYPE {name} histogram"
    );
    for (bound, count) in &lateness.buckets {
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum}\n{name}_count {count}",
        count = lateness.count,
        sum = lateness.sum
    );
}

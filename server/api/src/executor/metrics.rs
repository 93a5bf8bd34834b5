//! `GET /metrics` in Prometheus text format: executions queued and running (from the store at start,
//! then kept by the scheduler's events), executions finished since start by status, a summary of run
//! durations, the kernels running (the gateway's and the executions'), and how late schedules fired
//! (a histogram kept by the scheduler).
//!
//! One task reads the scheduler's event stream; it ends when the server stops. A lag re-reads the
//! store, so the gauges never drift.
//!
//! With machine types configured, the executions' gauges and counters carry a `machine_type` label
//! (every configured type, zeros included; `""` for executions without one), looked up once per
//! execution when it first appears.
//!
//! Replicas (`nbgate serve --replica-id`): every replica serves its own `/metrics`, opening with
//! `nbgate_replica_info{replica="ID"} 1` so that Prometheus tells them apart (and joins on it). On a
//! store shared by replicas (PostgreSQL) the series count this replica's work: executions running
//! here, finished here, their durations, the fires it recorded; `queued` and the queue depth are the
//! shared queue's, which any replica may start from. Other replicas' events (relayed) only move
//! executions out of that queue.

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
    /// The configured machine types' names: the `machine_type` label's values (none: no label).
    machine_types: Vec<String>,
}

#[derive(Default)]
struct Inner {
    /// Executions queued or running now, by id, with their machine type.
    active: HashMap<String, (ExecutionStatus, Option<String>)>,
    /// Terminal statuses reached since start, by machine type.
    finished: HashMap<(ExecutionStatus, Option<String>), u64>,
    recent: VecDeque<f64>,
    duration_sum: f64,
    duration_count: u64,
}

impl Metrics {
    pub(crate) fn start(scheduler: SchedulerHandle, stopping: CancellationToken) -> Arc<Metrics> {
        let metrics = Arc::new(Metrics {
            machine_types: scheduler.machine_types().names(),
            ..Metrics::default()
        });
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
            // Another replica's: it leaves the shared queue (runs or ends there), or joins it.
            Received::Event(event)
                if event.replica.is_some()
                    && !matches!(
                        event.kind,
                        EventKind::Status {
                            status: ExecutionStatus::Queued,
                            ..
                        }
                    ) =>
            {
                if matches!(event.kind, EventKind::Status { .. } | EventKind::Deleted) {
                    metrics.lock().active.remove(&event.execution_id);
                }
            }
            Received::Event(event) => match event.kind {
                EventKind::Status { status, .. } if status.is_terminal() => {
                    let active = metrics.lock().active.remove(&event.execution_id);
                    let execution = scheduler.get_execution(&event.execution_id).await.ok();
                    let machine_type = match &execution {
                        Some(execution) => execution.machine_type.clone(),
                        None => active.and_then(|(_, machine_type)| machine_type),
                    };
                    *metrics
                        .lock()
                        .finished
                        .entry((status, machine_type))
                        .or_default() += 1;
                    if let Some(execution) = execution
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
                    let known = (metrics.lock().active.get(&event.execution_id))
                        .map(|(_, machine_type)| machine_type.clone());
                    let machine_type = match known {
                        Some(machine_type) => machine_type,
                        None if metrics.machine_types.is_empty() => None,
                        None => (scheduler.get_execution(&event.execution_id).await)
                            .ok()
                            .and_then(|execution| execution.machine_type),
                    };
                    (metrics.lock().active).insert(event.execution_id, (status, machine_type));
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
            // Running on another replica: its metrics count it.
            let elsewhere = |e: &nbgate_scheduler::Execution| {
                e.status == ExecutionStatus::Running
                    && scheduler.shares_store()
                    && e.replica.as_deref() != Some(scheduler.replica_id())
            };
            active.extend(
                (page.items.into_iter())
                    .filter(|e| !elsewhere(e))
                    .map(|e| (e.id, (e.status, e.machine_type))),
            );
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
        let replica = label_value(executor.scheduler.replica_id());
        let _ = writeln!(
            out,
            "# HELP nbgate_replica_info This nbgate serve replica (--replica-id).\n\
             # TYPE nbgate_replica_info gauge\n\
             nbgate_replica_info{{replica=\"{replica}\"}} 1"
        );
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
            .filter(|(s, _)| *s == status)
            .count()
    }

    /// `status="…"`, or `status="…",machine_type="…"` per type (with `""` for executions without
    /// one, when there are such), each with its count among `counts`.
    fn series<'a>(
        &self,
        status: ExecutionStatus,
        counts: impl Iterator<Item = (ExecutionStatus, Option<&'a str>, u64)> + Clone,
    ) -> Vec<(String, u64)> {
        let of = |machine_type: Option<&str>| {
            (counts.clone())
                .filter(|(s, t, _)| *s == status && (machine_type.is_none() || *t == machine_type))
                .map(|(_, _, n)| n)
                .sum::<u64>()
        };
        if self.machine_types.is_empty() {
            return vec![(format!("status=\"{status}\""), of(None))];
        }
        let untyped = (counts.clone())
            .filter(|(s, t, _)| {
                *s == status && t.is_none_or(|t| !self.machine_types.iter().any(|k| k == t))
            })
            .map(|(_, _, n)| n)
            .sum::<u64>();
        let mut series: Vec<(String, u64)> = (self.machine_types.iter())
            .map(|name| {
                (
                    format!("status=\"{status}\",machine_type=\"{name}\""),
                    of(Some(name)),
                )
            })
            .collect();
        if untyped > 0 {
            series.push((format!("status=\"{status}\",machine_type=\"\""), untyped));
        }
        series
    }

    fn render(&self, out: &mut String) {
        let inner = self.lock();
        let queued = (inner.active.values())
            .filter(|(s, _)| *s == ExecutionStatus::Queued)
            .count();
        let _ = writeln!(
            out,
            "# HELP nbgate_executions Executions queued or running now.\n\
             # TYPE nbgate_executions gauge"
        );
        let active = || (inner.active.values()).map(|(s, t)| (*s, t.as_deref(), 1u64));
        for status in [ExecutionStatus::Queued, ExecutionStatus::Running] {
            for (labels, n) in self.series(status, active()) {
                let _ = writeln!(out, "nbgate_executions{{{labels}}} {n}");
            }
        }
        let _ = writeln!(
            out,
            "# HELP nbgate_execution_queue_depth Executions waiting for a slot.\n\
             # TYPE nbgate_execution_queue_depth gauge\n\
             nbgate_execution_queue_depth {queued}\n\
             # HELP nbgate_executions_finished_total Executions that ended since nbgate started, by status.\n\
             # TYPE nbgate_executions_finished_total counter"
        );
        let finished = || (inner.finished.iter()).map(|((s, t), n)| (*s, t.as_deref(), *n));
        for status in ExecutionStatus::ALL.into_iter().filter(|s| s.is_terminal()) {
            for (labels, n) in self.series(status, finished()) {
                let _ = writeln!(out, "nbgate_executions_finished_total{{{labels}}} {n}");
            }
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

/// A Prometheus label value: `\`, `"` and line feeds escaped.
fn label_value(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
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

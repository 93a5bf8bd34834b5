//! `GET /api/executions/{id}/events`: live progress as server-sent events.
//!
//! The stream opens with a `status` event carrying the execution as it stands (status, progress, error),
//! then relays `status`, `progress` (cell n of m), `output` (nbformat JSON), `notified` and `deleted`
//! events, and ends after a terminal status or deletion. A slow reader that lagged gets a fresh `status`
//! snapshot (with `lagged`: how many events it missed, `null` when another replica's may be missing
//! because a replica bus was down). Streams also end when the server stops.
//!
//! Subscribing happens before the execution is read, so no event between the two is lost, and an
//! execution that is already over yields its snapshot and ends.

use std::collections::VecDeque;
use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use nbgate_scheduler::{
    EventKind, Execution, ExecutionEvent, Received, SchedulerHandle, Subscription,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::ExecutorError;
use super::dto::ExecutionDto;
use crate::AppState;
use crate::routes::Route;

pub(super) fn routes() -> Vec<Route> {
    vec![Route::new(
        Method::GET,
        "/api/executions/{id}/events",
        events,
    )]
}

async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ExecutorError> {
    let executor = state.executor()?;
    let subscription = executor.scheduler.subscribe(Some(&id));
    let execution = executor.scheduler.get_execution(&id).await?;
    let mut relay = Relay {
        subscription,
        scheduler: executor.scheduler.clone(),
        stopping: executor.stopping.clone(),
        id,
        pending: VecDeque::new(),
        done: false,
    };
    relay.snapshot(execution, None);
    let stream = futures_util::stream::unfold(relay, |mut relay| async move {
        let event = relay.next().await?;
        Some((Ok(event), relay))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

struct Relay {
    subscription: Subscription,
    scheduler: SchedulerHandle,
    stopping: CancellationToken,
    id: String,
    pending: VecDeque<Event>,
    done: bool,
}

impl Relay {
    async fn next(&mut self) -> Option<Event> {
        if let Some(event) = self.pending.pop_front() {
            return Some(event);
        }
        if self.done {
            return None;
        }
        let received = tokio::select! {
            _ = self.stopping.cancelled() => return None,
            received = self.subscription.recv() => received,
        };
        match received {
            Received::Event(event) => Some(self.relay(event)),
            Received::Lagged { missed } => {
                match self.scheduler.get_execution(&self.id).await {
                    Ok(execution) => self.snapshot(execution, Some(json!(missed))),
                    Err(_) => self.deleted(),
                }
                self.pending.pop_front()
            }
            Received::Closed => None,
        }
    }

    /// A `status` event with the whole execution; the stream ends after it when it is terminal. After
    /// a lag it carries `lagged`: how many events were missed (`null`: unknown).
    fn snapshot(&mut self, execution: Execution, lagged: Option<Value>) {
        self.done = execution.status.is_terminal();
        let mut data = json!({
            "execution_id": execution.id,
            "status": execution.status.as_str(),
            "reason": execution.reason,
            "execution": ExecutionDto::from(execution),
        });
        if let Some(missed) = lagged {
            data["lagged"] = missed;
        }
        self.pending.push_back(sse("status", &data));
    }

    fn deleted(&mut self) {
        self.done = true;
        let data = json!({"execution_id": self.id});
        self.pending.push_back(sse("deleted", &data));
    }

    fn relay(&mut self, event: ExecutionEvent) -> Event {
        let id = event.execution_id;
        match event.kind {
            EventKind::Status { status, reason, .. } => {
                self.done = status.is_terminal();
                let data = json!({"execution_id": id, "status": status.as_str(), "reason": reason});
                sse("status", &data)
            }
            EventKind::Progress { cell, total } => {
                let data = json!({"execution_id": id, "cell": cell, "total": total});
                sse("progress", &data)
            }
            EventKind::Output { cell, output } => {
                let data = json!({"execution_id": id, "cell": cell, "output": output});
                sse("output", &data)
            }
            EventKind::Notified { error } => {
                let data = json!({"execution_id": id, "error": error});
                sse("notified", &data)
            }
            EventKind::Deleted => {
                self.done = true;
                sse("deleted", &json!({"execution_id": id}))
            }
        }
    }
}

fn sse(name: &str, data: &Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

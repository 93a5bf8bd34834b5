//! `GET /api/events`: every execution's and schedule's changes on one server-sent-events stream, so a
//! browser follows all of them over one connection (it opens at most six per server).
//!
//! Events, each naming its object (`execution_id` or `schedule_id`):
//! - `ready` `{}`: first, once the stream is subscribed. Nothing is replayed: a client reads the lists
//!   after `ready` (on every connection, so also after a reconnect) and applies the events that follow
//!   it, in order; whatever changed after the lists were read arrives as an event, so nothing is missed.
//! - `created` `{execution_id, execution}`: a new execution (queued, or skipped by a fire), as listed
//!   when the event is relayed: a quick one may already be `running` (its `status` event follows).
//! - `status` `{execution_id, status, reason}`: it moved on (queued → running); `progress`
//!   `{execution_id, cell, total}`: cell n of m started; `output` `{execution_id, cell}`: a cell printed
//!   (the output itself is on the notebook and on the execution's own stream); `notified`
//!   `{execution_id, error}`.
//! - `finished` `{execution_id, execution}`: it ended (the whole record: times, error, values).
//! - `deleted` `{execution_id}`.
//! - `schedule_created`, `schedule_updated` `{schedule_id, schedule}` (edited, paused, resumed or fired:
//!   its next run moved), `schedule_deleted` `{schedule_id}`.
//! - `lagged` `{missed}`: the reader was too slow and `missed` events were dropped, or (`missed: null`)
//!   another replica's events may be missing because a replica bus was down: read the lists again.
//!
//! An execution or schedule gone by the time its `created`/`finished`/`schedule_*` record is read is
//! skipped (its `deleted` follows). The stream ends when the server stops.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::Method;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use nbgate_scheduler::{
    Change, EventKind, ExecutionEvent, Feed, Received, ScheduleChange, ScheduleEvent,
    SchedulerHandle,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::ExecutorError;
use super::dto::ExecutionDto;
use super::values::values_object;
use crate::AppState;
use crate::routes::Route;

pub(super) fn routes() -> Vec<Route> {
    vec![Route::new(Method::GET, "/api/events", events)]
}

async fn events(
    State(state): State<AppState>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ExecutorError> {
    let executor = state.executor()?;
    let relay = Relay {
        feed: executor.scheduler.feed(),
        scheduler: executor.scheduler.clone(),
        stopping: executor.stopping.clone(),
        ready: false,
    };
    let stream = futures_util::stream::unfold(relay, |mut relay| async move {
        let event = relay.next().await?;
        Some((Ok(event), relay))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

struct Relay {
    feed: Feed,
    scheduler: SchedulerHandle,
    stopping: CancellationToken,
    /// `ready` was sent.
    ready: bool,
}

impl Relay {
    async fn next(&mut self) -> Option<Event> {
        if !self.ready {
            self.ready = true;
            return Some(sse("ready", &json!({})));
        }
        loop {
            let received = tokio::select! {
                _ = self.stopping.cancelled() => return None,
                received = self.feed.recv() => received,
            };
            let event = match received {
                Received::Event(Change::Execution(event)) => self.execution(event).await,
                Received::Event(Change::Schedule(event)) => self.schedule(event).await,
                Received::Lagged { missed } => Some(sse("lagged", &json!({"missed": missed}))),
                // Another replica's events may be missing: how many is not known.
                Received::Event(Change::Resync) => Some(sse("lagged", &json!({"missed": null}))),
                Received::Closed => return None,
            };
            if event.is_some() {
                return event;
            }
        }
    }

    async fn execution(&self, event: ExecutionEvent) -> Option<Event> {
        let id = event.execution_id;
        Some(match event.kind {
            EventKind::Status {
                status,
                reason,
                created,
            } => {
                if created || status.is_terminal() {
                    let execution = self.scheduler.get_execution(&id).await.ok()?;
                    let values = self.scheduler.execution_values(&id).await.ok()?;
                    let dto = ExecutionDto::from(execution).with_values(values_object(values));
                    let name = if created { "created" } else { "finished" };
                    sse(name, &json!({"execution_id": id, "execution": dto}))
                } else {
                    let data =
                        json!({"execution_id": id, "status": status.as_str(), "reason": reason});
                    sse("status", &data)
                }
            }
            EventKind::Progress { cell, total } => sse(
                "progress",
                &json!({"execution_id": id, "cell": cell, "total": total}),
            ),
            EventKind::Output { cell, .. } => {
                sse("output", &json!({"execution_id": id, "cell": cell}))
            }
            EventKind::Notified { error } => {
                sse("notified", &json!({"execution_id": id, "error": error}))
            }
            EventKind::Deleted => sse("deleted", &json!({"execution_id": id})),
        })
    }

    async fn schedule(&self, event: ScheduleEvent) -> Option<Event> {
        let id = event.schedule_id;
        let name = match event.change {
            ScheduleChange::Deleted => {
                return Some(sse("schedule_deleted", &json!({"schedule_id": id})));
            }
            ScheduleChange::Created => "schedule_created",
            ScheduleChange::Updated => "schedule_updated",
        };
        let schedule = self.scheduler.get_schedule(&id).await.ok()?;
        let dto = super::schedules::dto(&self.scheduler, schedule)
            .await
            .ok()?;
        Some(sse(name, &json!({"schedule_id": id, "schedule": dto})))
    }
}

fn sse(name: &str, data: &Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

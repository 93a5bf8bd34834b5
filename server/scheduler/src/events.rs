//! Live progress: one broadcast of execution events (created, status changes, cell n of m, outputs) and
//! schedule changes (created, updated, deleted) that the API streams as server-sent events. Slow
//! subscribers lag and are told how much they missed; the current state is always in the store.
//!
//! On a shared (PostgreSQL) store each event is also handed to `replicas`, which publishes it to the
//! other replicas and relays theirs into this broadcast ([`ExecutionEvent::replica`] says whose).

use serde::Serialize;
use serde_json::Value;
use std::sync::{Arc, OnceLock};

use tokio::sync::{broadcast, mpsc};

use crate::model::{Execution, ExecutionStatus};

/// Events kept for slow subscribers before they lag.
pub const EVENT_BUFFER: usize = 4096;

/// Something that happened to an execution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExecutionEvent {
    pub execution_id: String,
    #[serde(flatten)]
    pub kind: EventKind,
    /// The replica it happened on when another replica's event was relayed (a shared store);
    /// `None`: this process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// The status changed (`reason` for skipped, cancelled and failures without a cell error);
    /// `created`: the execution was just inserted with this status (queued, or skipped by a fire).
    Status {
        status: ExecutionStatus,
        reason: Option<String>,
        created: bool,
    },
    /// Cell `cell` (0-based) of `total` started, in the user's numbering (see `CellProgress`).
    Progress { cell: usize, total: usize },
    /// Cell `cell` produced an output (nbformat JSON).
    Output { cell: usize, output: Value },
    /// The webhook was delivered (`error` `None`) or given up on.
    Notified { error: Option<String> },
    /// The execution was deleted (by request, retention or its schedule's deletion).
    Deleted,
}

/// Something that happened to a schedule: created, edited (paused, resumed, re-snapshotted) or fired
/// (its next run moved), or deleted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduleEvent {
    pub schedule_id: String,
    pub change: ScheduleChange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleChange {
    Created,
    Updated,
    Deleted,
}

/// One item of the broadcast: an execution's event or a schedule's change, in the order they happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Execution(ExecutionEvent),
    Schedule(ScheduleEvent),
    /// Other replicas' events may be missing (a replica bus was down, here or there): subscribers
    /// read the state again, as after a lag.
    Resync,
}

/// What a subscription yields: [`ExecutionEvent`]s from a [`Subscription`], [`Change`]s from a [`Feed`].
#[derive(Debug, Clone, PartialEq)]
pub enum Received<E = ExecutionEvent> {
    Event(E),
    /// Events were dropped: `missed` of them because the subscriber was slow, or an unknown number
    /// (`None`) of other replicas' while a replica bus was down; re-read the state.
    Lagged {
        missed: Option<u64>,
    },
    /// The scheduler stopped.
    Closed,
}

/// Events of every execution, or of one.
pub struct Subscription {
    receiver: broadcast::Receiver<Change>,
    execution_id: Option<String>,
}

impl Subscription {
    pub(crate) fn new(receiver: broadcast::Receiver<Change>, execution_id: Option<String>) -> Self {
        Subscription {
            receiver,
            execution_id,
        }
    }

    /// The next event that matches.
    pub async fn recv(&mut self) -> Received {
        loop {
            match self.receiver.recv().await {
                Ok(Change::Schedule(_)) => {}
                Ok(Change::Resync) => return Received::Lagged { missed: None },
                Ok(Change::Execution(event)) => {
                    let wanted = self
                        .execution_id
                        .as_deref()
                        .is_none_or(|id| id == event.execution_id);
                    if wanted {
                        return Received::Event(event);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    return Received::Lagged {
                        missed: Some(missed),
                    };
                }
                Err(broadcast::error::RecvError::Closed) => return Received::Closed,
            }
        }
    }
}

/// Every execution's events and every schedule's changes, in order.
pub struct Feed {
    receiver: broadcast::Receiver<Change>,
}

impl Feed {
    pub async fn recv(&mut self) -> Received<Change> {
        match self.receiver.recv().await {
            Ok(change) => Received::Event(change),
            Err(broadcast::error::RecvError::Lagged(missed)) => Received::Lagged {
                missed: Some(missed),
            },
            Err(broadcast::error::RecvError::Closed) => Received::Closed,
        }
    }
}

/// What this replica tells the others (a shared store).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outgoing {
    Change(Change),
    /// Stop a run of another replica's (`replica`), as `cancel_execution` does.
    Cancel {
        execution_id: String,
        replica: String,
    },
}

/// The sending side, shared by the loop, the workers and the service.
#[derive(Clone)]
pub(crate) struct Events {
    sender: broadcast::Sender<Change>,
    /// To the other replicas, once `replicas` has started (a shared store).
    publish: Arc<OnceLock<mpsc::UnboundedSender<Outgoing>>>,
}

impl Events {
    pub(crate) fn new() -> Events {
        Events {
            sender: broadcast::channel(EVENT_BUFFER).0,
            publish: Arc::default(),
        }
    }

    /// From now on every local event also goes to `outgoing`.
    pub(crate) fn publish_to(&self, outgoing: mpsc::UnboundedSender<Outgoing>) {
        let _ = self.publish.set(outgoing);
    }

    /// Tells the other replicas (nothing without a shared store).
    pub(crate) fn publish(&self, outgoing: Outgoing) {
        if let Some(publish) = self.publish.get() {
            let _ = publish.send(outgoing);
        }
    }

    /// Another replica's change, into this broadcast only.
    pub(crate) fn relay(&self, change: Change) {
        let _ = self.sender.send(change);
    }

    fn local(&self, change: Change) {
        if self.publish.get().is_some() {
            self.publish(Outgoing::Change(change.clone()));
        }
        // No subscriber is fine.
        let _ = self.sender.send(change);
    }

    pub(crate) fn subscribe(&self, execution_id: Option<String>) -> Subscription {
        Subscription::new(self.sender.subscribe(), execution_id)
    }

    pub(crate) fn feed(&self) -> Feed {
        Feed {
            receiver: self.sender.subscribe(),
        }
    }

    pub(crate) fn send(&self, execution_id: &str, kind: EventKind) {
        self.local(Change::Execution(ExecutionEvent {
            execution_id: execution_id.into(),
            kind,
            replica: None,
        }));
    }

    pub(crate) fn schedule(&self, schedule_id: &str, change: ScheduleChange) {
        self.local(Change::Schedule(ScheduleEvent {
            schedule_id: schedule_id.into(),
            change,
        }));
    }

    /// A new execution, with the status it was inserted with.
    pub(crate) fn created(&self, execution: &Execution) {
        self.send(
            &execution.id,
            EventKind::Status {
                status: execution.status,
                reason: execution.reason.clone(),
                created: true,
            },
        );
    }

    pub(crate) fn status(&self, execution_id: &str, status: ExecutionStatus, reason: Option<&str>) {
        self.send(
            execution_id,
            EventKind::Status {
                status,
                reason: reason.map(str::to_owned),
                created: false,
            },
        );
    }
}

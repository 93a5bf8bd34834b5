//! Replicas sharing a PostgreSQL store tell each other what happened, so that any of them serves
//! the whole API: every local event (an execution's status, progress, outputs, deletion; a
//! schedule's change) is published on the store's bus ([`crate::store::listen`], LISTEN/NOTIFY on
//! the channel [`CHANNEL`]), and the other replicas' events are relayed into the local broadcast,
//! marked with the replica they came from, so `GET /api/events` and an execution's own stream show
//! them. A cancel of an execution another replica runs is published too (again every 0.5 s while
//! the store still shows it running there, 20 times at most); its owner stops the run as
//! `cancel_execution` would have there. A schedule's deletion stops its runs on every replica, as
//! on the one that deleted it.
//!
//! A message is JSON of at most [`MAX_PAYLOAD`] bytes: ids and the event's small fields. An output
//! too large to fit is relayed without its content (`null`: the client reads the output notebook,
//! as the sidebar does on every `output` event), and a status whose reason does not fit is relayed
//! with the reason read from the store.
//!
//! Relayed creations and schedule changes also wake the local loop, which may start the new
//! execution or fire the new schedule.
//!
//! What is published while a bus is down is lost, and what others publish meanwhile does not
//! arrive. So each time a replica's bus connects again, its own event streams are told to read the
//! state again (`lagged` with `missed: null`, [`Change::Resync`]), and it tells the others to do the
//! same with theirs, since they may have missed what it published meanwhile.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::context::{Ctx, Running, StopCause};
use crate::events::{Change, EventKind, ExecutionEvent, Outgoing, ScheduleChange, ScheduleEvent};
use crate::model::ExecutionStatus;
use crate::store::listen::{Bus, MAX_PAYLOAD};

/// The NOTIFY channel of the replicas' messages.
pub const CHANNEL: &str = "nbgate_replicas";

/// A message between replicas.
#[derive(Debug, Serialize, Deserialize)]
struct Message {
    /// The replica that sent it.
    from: String,
    what: What,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum What {
    Status {
        id: String,
        status: ExecutionStatus,
        reason: Option<String>,
        created: bool,
        /// The reason did not fit: read it from the store.
        #[serde(default)]
        read_reason: bool,
    },
    Progress {
        id: String,
        cell: usize,
        total: usize,
    },
    /// `output` is `None` when it did not fit.
    Output {
        id: String,
        cell: usize,
        output: Option<Value>,
    },
    Notified {
        id: String,
        error: Option<String>,
    },
    Deleted {
        id: String,
    },
    Schedule {
        id: String,
        change: WireChange,
    },
    /// Stop the run of `id`, if `replica` is the reader.
    Cancel {
        id: String,
        replica: String,
    },
    /// The sender's bus was down: what it published meanwhile is lost.
    Resync,
}

/// [`ScheduleChange`] on the wire.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WireChange {
    Created,
    Updated,
    Deleted,
}

/// How long the start waits for the bus's first connection (its LISTEN in force) before it goes on
/// without it (it keeps trying).
const FIRST_CONNECTION: Duration = Duration::from_secs(10);

/// Starts the bus of the store at `url` and the relay (both end on shutdown), and waits until the
/// bus listens: a replica that answers HTTP hears the others.
pub(crate) async fn start(ctx: &Arc<Ctx>, url: &str) -> crate::Result<()> {
    let bus = Bus::new(url, CHANNEL)?;
    let (publish, outgoing) = mpsc::unbounded_channel();
    let (to_relay, incoming) = mpsc::unbounded_channel();
    let (connected, reconnections) = mpsc::unbounded_channel();
    let (encoded, to_bus) = mpsc::unbounded_channel();
    ctx.events.publish_to(publish);
    ctx.tasks
        .spawn(bus.run(to_bus, to_relay, connected, ctx.shutdown.clone()));
    ctx.tasks.spawn(encode(
        ctx.replica.id.clone(),
        outgoing,
        encoded,
        ctx.shutdown.clone(),
    ));
    let mut reconnections = reconnections;
    if tokio::time::timeout(FIRST_CONNECTION, reconnections.recv())
        .await
        .is_err()
    {
        tracing::warn!(
            "the replica bus is not connected yet: other replicas' events come once it is"
        );
    }
    ctx.tasks.spawn(relay(ctx.clone(), incoming, reconnections));
    Ok(())
}

/// How often, and how many times, a cancel is told again while the owner still runs the execution
/// (its bus was reconnecting, or the message came before its run was registered).
const CANCEL_AGAIN: Duration = Duration::from_millis(500);
const CANCEL_TRIES: usize = 20;

/// Tells `owner` to stop its run of `execution_id`, again every [`CANCEL_AGAIN`] while the store
/// still shows it running there (a few times at most).
pub(crate) fn cancel_elsewhere(ctx: &Arc<Ctx>, execution_id: &str, owner: &str) {
    let cancel = Outgoing::Cancel {
        execution_id: execution_id.to_owned(),
        replica: owner.to_owned(),
    };
    ctx.events.publish(cancel.clone());
    let (ctx, id, owner) = (ctx.clone(), execution_id.to_owned(), owner.to_owned());
    ctx.tasks.clone().spawn(async move {
        for _ in 0..CANCEL_TRIES {
            tokio::select! {
                () = ctx.shutdown.cancelled() => return,
                () = tokio::time::sleep(CANCEL_AGAIN) => {}
            }
            let key = id.clone();
            let still = match ctx.db.call(move |store| store.get_execution(&key)).await {
                Ok(Some(row)) => {
                    row.status == ExecutionStatus::Running && row.replica.as_deref() == Some(&owner)
                }
                Ok(None) => false,
                // The store is out of reach: try again later.
                Err(_) => true,
            };
            if !still {
                return;
            }
            ctx.events.publish(cancel.clone());
        }
    });
}

/// Local events → messages.
async fn encode(
    from: String,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    encoded: mpsc::UnboundedSender<String>,
    shutdown: CancellationToken,
) {
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => return,
            message = outgoing.recv() => match message {
                Some(message) => message,
                None => return,
            },
        };
        if let Some(text) = message_text(&from, message)
            && encoded.send(text).is_err()
        {
            return;
        }
    }
}

/// The message's JSON, made to fit [`MAX_PAYLOAD`]; `None` if it cannot.
fn message_text(from: &str, outgoing: Outgoing) -> Option<String> {
    let mut message = Message {
        from: from.to_owned(),
        what: what(outgoing),
    };
    let text = serde_json::to_string(&message).ok()?;
    if text.len() <= MAX_PAYLOAD {
        return Some(text);
    }
    match &mut message.what {
        What::Output { output, .. } => *output = None,
        What::Status {
            reason,
            read_reason,
            ..
        } => {
            *reason = None;
            *read_reason = true;
        }
        What::Notified {
            error: Some(error), ..
        } => {
            let mut end = 1000.min(error.len());
            while !error.is_char_boundary(end) {
                end -= 1;
            }
            error.truncate(end);
        }
        _ => {}
    }
    let text = serde_json::to_string(&message).ok()?;
    (text.len() <= MAX_PAYLOAD).then_some(text)
}

fn what(outgoing: Outgoing) -> What {
    match outgoing {
        Outgoing::Cancel {
            execution_id,
            replica,
        } => What::Cancel {
            id: execution_id,
            replica,
        },
        Outgoing::Change(Change::Resync) => What::Resync,
        Outgoing::Change(Change::Schedule(ScheduleEvent {
            schedule_id,
            change,
        })) => What::Schedule {
            id: schedule_id,
            change: match change {
                ScheduleChange::Created => WireChange::Created,
                ScheduleChange::Updated => WireChange::Updated,
                ScheduleChange::Deleted => WireChange::Deleted,
            },
        },
        Outgoing::Change(Change::Execution(ExecutionEvent {
            execution_id: id,
            kind,
            ..
        })) => match kind {
            EventKind::Status {
                status,
                reason,
                created,
            } => What::Status {
                id,
                status,
                reason,
                created,
                read_reason: false,
            },
            EventKind::Progress { cell, total } => What::Progress { id, cell, total },
            EventKind::Output { cell, output } => What::Output {
                id,
                cell,
                output: Some(output),
            },
            EventKind::Notified { error } => What::Notified { id, error },
            EventKind::Deleted => What::Deleted { id },
        },
    }
}

/// Other replicas' messages → the local broadcast, or a cancel.
async fn relay(
    ctx: Arc<Ctx>,
    mut incoming: mpsc::UnboundedReceiver<String>,
    mut reconnections: mpsc::UnboundedReceiver<()>,
) {
    loop {
        let text = tokio::select! {
            // A reconnection first: the streams hear `lagged` before anything relayed after it.
            biased;
            () = ctx.shutdown.cancelled() => return,
            Some(()) = reconnections.recv() => {
                // Whatever was missed while the bus was down: the loop reads the store again, the
                // event streams here and on the other replicas read the state again.
                ctx.wake.notify_one();
                ctx.events.relay(Change::Resync);
                ctx.events.publish(Outgoing::Change(Change::Resync));
                continue;
            }
            text = incoming.recv() => match text {
                Some(text) => text,
                None => return,
            },
        };
        let message: Message = match serde_json::from_str(&text) {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, "a replica message that is not one");
                continue;
            }
        };
        if message.from != ctx.replica.id {
            receive(&ctx, message).await;
        }
    }
}

async fn receive(ctx: &Ctx, message: Message) {
    let from = message.from;
    let execution = |id: String, kind: EventKind| {
        Change::Execution(ExecutionEvent {
            execution_id: id,
            kind,
            replica: Some(from.clone()),
        })
    };
    let change = match message.what {
        What::Resync => Change::Resync,
        What::Cancel { id, replica } => {
            if replica == ctx.replica.id
                && let Some(running) = ctx.running().get_mut(&id)
            {
                tracing::info!(execution = %id, by = %from, "cancelled from another replica");
                running.cause.get_or_insert(StopCause::User);
                running.cancel.cancel();
            }
            return;
        }
        What::Schedule { id, change } => {
            ctx.wake.notify_one();
            if matches!(change, WireChange::Deleted) {
                // Its runs here stop as the deleting replica's own do (the output goes too if the
                // rows went with the schedule).
                let ours = |running: &&mut Running| running.schedule_id.as_deref() == Some(&id);
                for running in ctx.running().values_mut().filter(ours) {
                    running.delete_output = true;
                    running.cause.get_or_insert(StopCause::ScheduleDeleted);
                    running.cancel.cancel();
                }
            }
            Change::Schedule(ScheduleEvent {
                schedule_id: id,
                change: match change {
                    WireChange::Created => ScheduleChange::Created,
                    WireChange::Updated => ScheduleChange::Updated,
                    WireChange::Deleted => ScheduleChange::Deleted,
                },
            })
        }
        What::Status {
            id,
            status,
            mut reason,
            created,
            read_reason,
        } => {
            if created || status.is_terminal() {
                // A new queued execution to start, or a slot freed on a shared limit.
                ctx.wake.notify_one();
            }
            if read_reason {
                let key = id.clone();
                reason = (ctx.db.call(move |store| store.get_execution(&key)).await)
                    .ok()
                    .flatten()
                    .and_then(|row| row.reason);
            }
            execution(
                id,
                EventKind::Status {
                    status,
                    reason,
                    created,
                },
            )
        }
        What::Progress { id, cell, total } => execution(id, EventKind::Progress { cell, total }),
        What::Output { id, cell, output } => execution(
            id,
            EventKind::Output {
                cell,
                output: output.unwrap_or(Value::Null),
            },
        ),
        What::Notified { id, error } => execution(id, EventKind::Notified { error }),
        What::Deleted { id } => execution(id, EventKind::Deleted),
    };
    ctx.events.relay(change);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(reason: &str) -> Outgoing {
        Outgoing::Change(Change::Execution(ExecutionEvent {
            execution_id: "e1".into(),
            kind: EventKind::Status {
                status: ExecutionStatus::Failed,
                reason: Some(reason.into()),
                created: false,
            },
            replica: None,
        }))
    }

    #[test]
    fn messages_fit_a_notification() {
        let small = message_text("a:1", status("boom")).expect("fits");
        let read: Message = serde_json::from_str(&small).expect("reads back");
        assert!(
            matches!(read.what, What::Status { ref reason, read_reason: false, .. } if reason.as_deref() == Some("boom")),
            "{small}"
        );
        let big = message_text("a:1", status(&"x".repeat(20_000))).expect("fits without it");
        assert!(big.len() <= MAX_PAYLOAD);
        let read: Message = serde_json::from_str(&big).expect("reads back");
        assert!(
            matches!(
                read.what,
                What::Status {
                    reason: None,
                    read_reason: true,
                    ..
                }
            ),
            "{big}"
        );
        let output = Outgoing::Change(Change::Execution(ExecutionEvent {
            execution_id: "e1".into(),
            kind: EventKind::Output {
                cell: 2,
                output: serde_json::json!({"output_type": "stream", "text": "y".repeat(9000)}),
            },
            replica: None,
        }));
        let text = message_text("a:1", output).expect("fits without it");
        let read: Message = serde_json::from_str(&text).expect("reads back");
        assert!(
            matches!(
                read.what,
                What::Output {
                    cell: 2,
                    output: None,
                    ..
                }
            ),
            "{text}"
        );
    }

    #[test]
    fn numbers_in_outputs_keep_their_text() {
        let output =
            serde_json::from_str::<Value>(r#"{"data": {"text/plain": 12345678901234567890123}}"#)
                .expect("json");
        let sent = Outgoing::Change(Change::Execution(ExecutionEvent {
            execution_id: "e1".into(),
            kind: EventKind::Output {
                cell: 0,
                output: output.clone(),
            },
            replica: None,
        }));
        let text = message_text("a:1", sent).expect("fits");
        let read: Message = serde_json::from_str(&text).expect("reads back");
        match read.what {
            What::Output { output: got, .. } => assert_eq!(got, Some(output)),
            other => panic!("{other:?}"),
        }
    }
}

//! The replicas' message bus: one connection per replica, outside the pool, that LISTENs on one
//! channel and NOTIFYs on it. What a replica publishes reaches every replica listening (itself too:
//! the caller tells its own messages apart); PostgreSQL delivers a sender's notifications in the
//! order they were committed, after the data they announce, since each one is sent after its store
//! call returned.
//!
//! The connection is made again after a loss (PostgreSQL restarted, the network cut), with a
//! back-off from 0.1 s doubling to 5 s. While it is down, messages published are dropped (the other
//! replicas read the state from the store: every event stream says so with its first `ready` or
//! after a lag), and none arrive.

use std::future::poll_fn;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;
use tokio_util::sync::CancellationToken;

use super::tls::Target;
use crate::error::StoreError;

/// PostgreSQL's limit on a notification's payload is 8000 bytes; callers keep theirs under this.
pub const MAX_PAYLOAD: usize = 7900;
/// Messages sent in one statement at most.
const BATCH: usize = 256;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Where a bus connects, and on which channel.
pub struct Bus {
    target: Target,
    channel: String,
    /// For logs: the URL without its password.
    shown: String,
}

impl Bus {
    /// The bus of the database at `url` (as [`super::PostgresStore::connect`] takes it) on `channel`
    /// (an SQL identifier of lowercase letters and `_`).
    pub fn new(url: &str, channel: &str) -> Result<Bus, StoreError> {
        assert!(
            channel.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "a plain channel name"
        );
        Ok(Bus {
            target: super::tls::target(url)?,
            channel: channel.to_owned(),
            shown: super::super::redacted(url),
        })
    }

    /// Publishes what arrives on `outgoing` and hands every notification's payload to `incoming`,
    /// connecting again after each loss, until `shutdown`. `connected` is told of every (re)connection,
    /// once LISTEN is in force.
    pub async fn run(
        self,
        mut outgoing: mpsc::UnboundedReceiver<String>,
        incoming: mpsc::UnboundedSender<String>,
        connected: mpsc::UnboundedSender<()>,
        shutdown: CancellationToken,
    ) {
        let mut backoff = BACKOFF_MIN;
        let mut failing = false;
        loop {
            let session = tokio::select! {
                () = shutdown.cancelled() => return,
                session = self.connect(&incoming) => session,
            };
            match session {
                Ok((client, mut forwarder)) => {
                    if failing {
                        tracing::info!(url = %self.shown, "replica bus connected again");
                    }
                    failing = false;
                    backoff = BACKOFF_MIN;
                    let _ = connected.send(());
                    let ended = self
                        .serve(&client, &mut forwarder, &mut outgoing, &shutdown)
                        .await;
                    forwarder.abort();
                    match ended {
                        Ok(()) => return,
                        Err(reason) => {
                            tracing::warn!(url = %self.shown, %reason, "replica bus lost");
                        }
                    }
                }
                Err(reason) => {
                    if !failing {
                        tracing::warn!(url = %self.shown, %reason, "replica bus cannot connect");
                    }
                    failing = true;
                }
            }
            // Down: drop what is published meanwhile, wait, try again.
            let wait = tokio::time::sleep(backoff);
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = &mut wait => break,
                    message = outgoing.recv() => if message.is_none() { return },
                }
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// A connection whose notifications on the channel go to `incoming`, LISTEN done.
    async fn connect(
        &self,
        incoming: &mpsc::UnboundedSender<String>,
    ) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<String>), String> {
        let connecting = self.target.config.connect(self.target.tls.clone());
        let (client, mut connection) = tokio::time::timeout(super::CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| format!("no connection within {:?}", super::CONNECT_TIMEOUT))?
            .map_err(|error| super::describe(&error))?;
        let channel = self.channel.clone();
        let incoming = incoming.clone();
        // The connection's I/O, on a task of its own so that the client's queries progress.
        let forwarder = tokio::spawn(async move {
            loop {
                match poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(notification))) => {
                        if notification.channel() == channel {
                            let _ = incoming.send(notification.payload().to_owned());
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => return super::describe(&error),
                    None => return "the server closed the connection".to_owned(),
                }
            }
        });
        if let Err(error) = client
            .batch_execute(&format!("LISTEN {}", self.channel))
            .await
        {
            forwarder.abort();
            return Err(super::describe(&error));
        }
        Ok((client, forwarder))
    }

    /// Sends batches of `outgoing` until shutdown (`Ok`) or the connection's loss (its reason).
    async fn serve(
        &self,
        client: &tokio_postgres::Client,
        forwarder: &mut tokio::task::JoinHandle<String>,
        outgoing: &mut mpsc::UnboundedReceiver<String>,
        shutdown: &CancellationToken,
    ) -> Result<(), String> {
        let statement = client
            .prepare("SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload")
            .await
            .map_err(|error| super::describe(&error))?;
        loop {
            let first = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                ended = &mut *forwarder => {
                    return Err(ended.unwrap_or_else(|error| error.to_string()));
                }
                message = outgoing.recv() => match message {
                    Some(message) => message,
                    None => return Ok(()),
                },
            };
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match outgoing.try_recv() {
                    Ok(message) => batch.push(message),
                    Err(_) => break,
                }
            }
            // One transaction: delivered in this order, after each other.
            client
                .execute(&statement, &[&self.channel, &batch])
                .await
                .map_err(|error| super::describe(&error))?;
        }
    }
}

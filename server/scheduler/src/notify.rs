//! Webhook notifications, delivered by their own task so that a slow or dead receiver never delays a
//! worker nor changes an execution's status. A delivery that still fails after its retries is logged
//! and recorded as the execution's `notify_error`.
//!
//! The client is a minimal HTTP/1.1 POST over a tokio `TcpStream`, for `http://` URLs only. A full
//! client (hyper-util, or reqwest with rustls) would add a TLS stack and dozens of crates to the build
//! for one request per execution; receivers reached over https go through a local forwarding proxy.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::events::{EventKind, Events};
use crate::store::Db;

/// Attempts per delivery, with exponential delays between them from [`FIRST_RETRY_DELAY`].
pub const ATTEMPTS: u32 = 4;
pub const FIRST_RETRY_DELAY: Duration = Duration::from_secs(1);
/// How long a delivery in flight may go on after shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Connect, send and read the status line within this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One notification to deliver.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub execution_id: String,
    pub url: String,
    pub payload: Value,
}

/// `(host, port, path)` of an `http://` URL.
pub fn parse_http_url(url: &str) -> Result<(String, u16, String), String> {
    if url.starts_with("https://") {
        return Err(
            "https is not supported by the built-in client: point the webhook at a \
                    local forwarding proxy over http"
                .into(),
        );
    }
    let rest = url
        .strip_prefix("http://")
        .ok_or("expected a URL starting with http://")?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') || url.chars().any(char::is_whitespace) {
        return Err("expected http://host[:port][/path] without credentials or spaces".into());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => (
            host,
            port.parse::<u16>()
                .map_err(|_| format!("invalid port {port:?}"))?,
        ),
        _ => (authority, 80),
    };
    Ok((
        host.trim_matches(['[', ']']).to_owned(),
        port,
        path.to_owned(),
    ))
}

/// POSTs `body` as JSON; `Ok` for a 2xx answer.
pub async fn post_json(url: &str, body: &[u8]) -> Result<(), String> {
    let (host, port, path) = parse_http_url(url)?;
    let exchange = async {
        let mut stream = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|error| format!("cannot connect to {host}:{port}: {error}"))?;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: nbgate\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream
            .write_all(head.as_bytes())
            .await
            .and(stream.write_all(body).await)
            .map_err(|error| format!("cannot send to {host}:{port}: {error}"))?;
        let mut answer = Vec::new();
        let mut buffer = [0u8; 1024];
        while !answer.windows(2).any(|w| w == b"\r\n") {
            let read = stream
                .read(&mut buffer)
                .await
                .map_err(|error| format!("no answer from {host}:{port}: {error}"))?;
            if read == 0 || answer.len() > 8192 {
                break;
            }
            answer.extend_from_slice(&buffer[..read]);
        }
        let line = String::from_utf8_lossy(&answer);
        let line = line.lines().next().unwrap_or("").to_owned();
        match line
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse::<u16>().ok())
        {
            Some(code) if (200..300).contains(&code) => Ok(()),
            Some(_) => Err(format!("the receiver answered {line:?}")),
            None => Err(format!("not an HTTP answer from {host}:{port}: {line:?}")),
        }
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {REQUEST_TIMEOUT:?}")))
}

/// The notifier task: delivers in order until shutdown, then records what it could not deliver.
pub(crate) async fn run_notifier(
    mut queue: mpsc::UnboundedReceiver<Delivery>,
    db: Db,
    events: Events,
    shutdown: CancellationToken,
) {
    loop {
        let delivery = tokio::select! {
            delivery = queue.recv() => match delivery {
                Some(delivery) => delivery,
                None => return,
            },
            () = shutdown.cancelled() => break,
        };
        // At shutdown, the delivery in flight gets a short grace to finish.
        let grace = async {
            shutdown.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        let outcome = tokio::select! {
            outcome = deliver(&delivery) => outcome,
            () = grace => Err("not delivered: nbgate shut down".into()),
        };
        record(&db, &events, &delivery, outcome).await;
    }
    queue.close();
    while let Ok(delivery) = queue.try_recv() {
        let outcome = Err("not delivered: nbgate shut down".into());
        record(&db, &events, &delivery, outcome).await;
    }
}

async fn deliver(delivery: &Delivery) -> Result<(), String> {
    let body = serde_json::to_vec(&delivery.payload).unwrap_or_default();
    let mut delay = FIRST_RETRY_DELAY;
    let mut attempt = 1;
    loop {
        match post_json(&delivery.url, &body).await {
            Ok(()) => return Ok(()),
            Err(error) if attempt == ATTEMPTS => {
                return Err(format!("{error} (after {ATTEMPTS} attempts)"));
            }
            Err(error) => {
                tracing::debug!(url = %delivery.url, attempt, %error, "webhook delivery failed; retrying");
            }
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
        attempt += 1;
    }
}

async fn record(db: &Db, events: &Events, delivery: &Delivery, outcome: Result<(), String>) {
    let id = delivery.execution_id.clone();
    if let Err(error) = &outcome {
        tracing::warn!(execution = %id, url = %delivery.url, %error, "webhook not delivered");
    }
    let error = outcome.err();
    let recorded = error.clone();
    if let Err(store_error) = db
        .call(move |store| store.set_notify_error(&id, recorded.as_deref()))
        .await
    {
        tracing::error!(%store_error, "cannot record a webhook delivery");
    }
    events.send(&delivery.execution_id, EventKind::Notified { error });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_http_url("http://127.0.0.1:9000/hook?x=1").expect("ok"),
            ("127.0.0.1".into(), 9000, "/hook?x=1".into())
        );
        assert_eq!(
            parse_http_url("http://example.org").expect("ok"),
            ("example.org".into(), 80, "/".into())
        );
        for bad in [
            "https://x/",
            "ftp://x",
            "http://",
            "http://u:p@x/",
            "http://x:99999/",
        ] {
            assert!(parse_http_url(bad).is_err(), "{bad}");
        }
    }
}

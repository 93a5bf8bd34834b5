//! Webhook notifications, delivered by their own task so that a slow or dead receiver never delays a
//! worker nor changes an execution's status. A delivery that still fails after its retries is logged
//! and recorded as the execution's `notify_error`.
//!
//! The client is hyper-util's, for `http://` URLs only (no TLS stack in the scheduler): receivers
//! reached over https go through a local forwarding proxy.

use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Uri, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
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

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// One notification to deliver.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub execution_id: String,
    pub url: String,
    pub payload: Value,
}

/// An `http://host[:port][/path]` URL, without credentials.
pub fn parse_http_url(url: &str) -> Result<Uri, String> {
    if url.starts_with("https://") {
        return Err(
            "https is not supported by the built-in client: point the webhook at a \
                    local forwarding proxy over http"
                .into(),
        );
    }
    if !url.starts_with("http://") {
        return Err("expected a URL starting with http://".into());
    }
    let malformed =
        || "expected http://host[:port][/path] without credentials or spaces".to_owned();
    let uri: Uri = url.parse().map_err(|_| malformed())?;
    let authority = uri.authority().ok_or_else(malformed)?;
    if authority.host().is_empty()
        || authority.as_str().contains('@')
        || url.chars().any(char::is_whitespace)
    {
        return Err(malformed());
    }
    // `http` accepts any digits after the colon (and gives no port past 65535): 0 and those are refused.
    let written = authority.as_str();
    let after_host = &written[written.rfind(']').unwrap_or(0)..];
    if let Some((_, port)) = after_host.rsplit_once(':')
        && !matches!(port.parse::<u16>(), Ok(1..))
    {
        return Err(format!("invalid port {port:?}"));
    }
    Ok(uri)
}

/// One client for the notifier's life: HTTP/1.1, header names as most receivers log them
/// (`Content-Type`), no idle connections kept between deliveries.
fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .http1_title_case_headers(true)
        .pool_max_idle_per_host(0)
        .build(HttpConnector::new())
}

/// POSTs `body` as JSON; `Ok` for a 2xx answer.
async fn post_json(client: &HttpClient, url: &str, body: &[u8]) -> Result<(), String> {
    let uri = parse_http_url(url)?;
    let authority = uri.authority().map(ToString::to_string).unwrap_or_default();
    let request = Request::post(uri)
        .header(header::USER_AGENT, "nbgate")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::copy_from_slice(body)))
        .map_err(|error| format!("cannot build the request: {error}"))?;
    let exchange = async {
        match client.request(request).await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!("the receiver answered {}", response.status())),
            Err(error) if error.is_connect() => Err(format!(
                "cannot connect to {authority}: {}",
                root_cause(&error)
            )),
            Err(error) => Err(format!(
                "no answer from {authority}: {}",
                root_cause(&error)
            )),
        }
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {REQUEST_TIMEOUT:?}")))
}

/// The innermost cause (e.g. "Connection refused (os error 111)"), what a reader can act on.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// The notifier task: delivers in order until shutdown, then records what it could not deliver.
pub(crate) async fn run_notifier(
    mut queue: mpsc::UnboundedReceiver<Delivery>,
    db: Db,
    events: Events,
    shutdown: CancellationToken,
) {
    let client = http_client();
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
            outcome = deliver(&client, &delivery) => outcome,
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

async fn deliver(client: &HttpClient, delivery: &Delivery) -> Result<(), String> {
    let body = serde_json::to_vec(&delivery.payload).unwrap_or_default();
    let mut delay = FIRST_RETRY_DELAY;
    let mut attempt = 1;
    loop {
        match post_json(client, &delivery.url, &body).await {
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
        let uri = parse_http_url("http://127.0.0.1:9000/hook?x=1").expect("ok");
        assert_eq!(
            (
                uri.host(),
                uri.port_u16(),
                uri.path_and_query().map(|p| p.as_str())
            ),
            (Some("127.0.0.1"), Some(9000), Some("/hook?x=1"))
        );
        let uri = parse_http_url("http://example.org").expect("ok");
        assert_eq!((uri.host(), uri.port_u16()), (Some("example.org"), None));
        assert!(parse_http_url("http://[::1]:8080/x").is_ok());
        for bad in [
            "https://x/",
            "ftp://x",
            "http://",
            "http://u:p@x/",
            "http://x:99999/",
            "http://x:0/",
            "http://x y/",
        ] {
            assert!(parse_http_url(bad).is_err(), "{bad}");
        }
    }
}

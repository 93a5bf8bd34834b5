//! The gateway's REST API: hyper-util's client, http or https (rustls with `ring`, the system's roots),
//! `Authorization: token T` on every request. Failures become [`KernelError`]s naming the gateway URL.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::Gateway;
use crate::error::{KernelError, Result};

/// How long connecting to the gateway may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub(crate) struct Rest {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    pub(crate) tls: Arc<rustls::ClientConfig>,
    /// The URL without a trailing slash, as users gave it.
    pub(crate) url: String,
    token: Option<String>,
}

impl Rest {
    pub(crate) fn new(gateway: &Gateway) -> Result<Self> {
        let url = gateway.url.trim_end_matches('/').to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url.parse::<hyper::Uri>().is_err()
        {
            return Err(KernelError::GatewayUnreachable {
                url,
                reason: "not an http:// or https:// URL".into(),
            });
        }
        let mut roots = rustls::RootCertStore::empty();
        if url.starts_with("https://") {
            for certificate in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(certificate);
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|error| KernelError::GatewayUnreachable {
            url: url.clone(),
            reason: format!("TLS set-up: {error}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tls = Arc::new(tls);
        let mut connector = HttpConnector::new();
        connector.enforce_http(false);
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        Ok(Self {
            http: Client::builder(TokioExecutor::new()).build(connector),
            tls,
            url,
            token: gateway.token.clone().filter(|token| !token.is_empty()),
        })
    }

    /// The `Authorization` header's value, when a token is set.
    pub(crate) fn authorization(&self) -> Option<String> {
        self.token.as_ref().map(|token| format!("token {token}"))
    }

    /// `method path` with an optional JSON body; the answer's JSON (`null` for an empty body) when it is
    /// a 2xx, else [`KernelError::Gateway`] with the gateway's own message.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Value> {
        let action = format!("{method} {path}");
        let (status, _, bytes) = self.exchange(method, path, body, timeout).await?;
        if status.is_success() {
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes).map_err(|_| KernelError::Gateway {
                url: self.url.clone(),
                action,
                status: status.as_u16(),
                message: "the answer is not JSON".into(),
            });
        }
        Err(KernelError::Gateway {
            url: self.url.clone(),
            action,
            status: status.as_u16(),
            message: gateway_message(status, &bytes),
        })
    }

    /// `GET path`: the body of a 2xx and its content type, else [`KernelError::Gateway`].
    pub(crate) async fn get_bytes(
        &self,
        path: &str,
        timeout: Duration,
    ) -> Result<(Option<String>, Bytes)> {
        let (status, content_type, bytes) = self.exchange(Method::GET, path, None, timeout).await?;
        if status.is_success() {
            return Ok((content_type, bytes));
        }
        Err(KernelError::Gateway {
            url: self.url.clone(),
            action: format!("GET {path}"),
            status: status.as_u16(),
            message: gateway_message(status, &bytes),
        })
    }

    /// One request: the answer's status, content type and body.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<(StatusCode, Option<String>, Bytes)> {
        let action = format!("{method} {path}");
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url));
        if let Some(authorization) = self.authorization() {
            request = request.header(hyper::header::AUTHORIZATION, authorization);
        }
        let body = match body {
            Some(body) => {
                request = request.header(hyper::header::CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(body.to_string()))
            }
            None => Full::new(Bytes::new()),
        };
        let request = request
            .body(body)
            .map_err(|error| self.unreachable(error.to_string()))?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|error| self.unreachable(error_chain(&error)))?;
            let status = response.status();
            let content_type = response
                .headers()
                .get(hyper::header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|error| self.unreachable(error_chain(&error)))?
                .to_bytes();
            Ok::<_, KernelError>((status, content_type, bytes))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| self.unreachable(format!("{action}: no answer within {timeout:?}")))?
    }

    fn unreachable(&self, reason: String) -> KernelError {
        KernelError::GatewayUnreachable {
            url: self.url.clone(),
            reason,
        }
    }
}

/// Jupyter servers answer errors as `{"reason", "message"}`; else the body's first line, else the
/// status's name.
fn gateway_message(status: StatusCode, body: &[u8]) -> String {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        json.as_ref()
            .and_then(|json| json.get(name))
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    };
    field("message")
        .or_else(|| field("reason"))
        .or_else(|| {
            String::from_utf8_lossy(body)
                .lines()
                .map(str::trim)
                .find(|line| !line.is_empty())
                .map(|line| line.chars().take(300).collect())
        })
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned())
}

/// An error and its sources on one line (hyper's own message alone says only "client error (Connect)").
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateways_own_message_is_kept() {
        let body = br#"{"reason": "Forbidden", "message": "User 'root' is not authorized to start kernel 'Python 3'."}"#;
        assert_eq!(
            gateway_message(StatusCode::FORBIDDEN, body),
            "User 'root' is not authorized to start kernel 'Python 3'."
        );
        assert_eq!(
            gateway_message(StatusCode::BAD_GATEWAY, b"\n<html>bad</html>\n"),
            "<html>bad</html>"
        );
        assert_eq!(gateway_message(StatusCode::NOT_FOUND, b""), "Not Found");
    }

    #[test]
    fn a_url_that_is_not_http_is_refused_naming_it() {
        let gateway = Gateway::new("ftp://example.org/");
        let error = Rest::new(&gateway).err().expect("refused").to_string();
        assert_eq!(
            error,
            "gateway ftp://example.org is unreachable: not an http:// or https:// URL"
        );
    }
}

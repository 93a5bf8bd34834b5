//! The client commands' HTTP: hyper-util's client driven by a current-thread tokio runtime, for
//! `http://` and `https://` (rustls with the `ring` provider; the system's trusted roots, or those of
//! `SSL_CERT_FILE`/`SSL_CERT_DIR` when set, plus `--ca-file`). A 4xx answer becomes the server's
//! message with exit code 2, anything else that is not 2xx exit code 1.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Uri, header};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;
use tokio::runtime::Runtime;

use super::args::ServerArgs;
use crate::Failure;

/// How long one request may take (not `wait`, which lasts as long as the execution).
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Everything but RFC 3986's unreserved characters is percent-encoded in a path segment or a query
/// value.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` as one path segment or query value.
pub(super) fn encode(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

type HttpClient = hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

pub(super) struct Client {
    runtime: Arc<Runtime>,
    http: HttpClient,
    /// `scheme://authority/prefix`, without a trailing `/`: a request's path is appended to it.
    base: String,
    token: Option<String>,
    /// The URL as given without its query (which may hold the token), for messages.
    url: String,
}

pub(super) struct Response {
    pub(super) status: u16,
    pub(super) reason: String,
    pub(super) body: Box<dyn Read>,
}

impl Client {
    pub(super) fn new(args: &ServerArgs) -> Result<Client, Failure> {
        let given = args.url.trim();
        let uri: Uri = given.parse().map_err(|error| {
            Failure::usage(format!(
                "--url {given}: not a URL ({error}); e.g. http://127.0.0.1:8888"
            ))
        })?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => {
                return Err(Failure::usage(format!(
                    "--url {given}: give an http:// or https:// URL, e.g. http://127.0.0.1:8888"
                )));
            }
        };
        let authority = match uri.authority() {
            Some(authority) if !authority.host().is_empty() => authority,
            _ => return Err(Failure::usage(format!("--url {given}: no host"))),
        };
        let url_token = uri.query().and_then(|query| {
            query.split('&').find_map(|pair| {
                // Decoded as the server decodes a query's token: `+` for a space, `%XX` escapes.
                let value = pair.strip_prefix("token=")?.replace('+', " ");
                Some(percent_decode_str(&value).decode_utf8_lossy().into_owned())
            })
        });
        let roots = match https {
            true => trusted_roots(args.ca_file.as_deref())?,
            false => rustls::RootCertStore::empty(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|error| Failure::run(format!("TLS set-up: {error}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut connector = HttpConnector::new();
        connector.enforce_http(false);
        connector.set_connect_timeout(Some(REQUEST_TIMEOUT));
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| Failure::run(format!("cannot start the client: {error}")))?;
        Ok(Client {
            runtime: Arc::new(runtime),
            http: hyper_util::client::legacy::Client::builder(TokioExecutor::new())
                .build(connector),
            base: format!(
                "{}://{authority}{}",
                uri.scheme_str().unwrap_or("http"),
                uri.path().trim_end_matches('/')
            ),
            token: args.token.clone().or(url_token),
            url: given.split('?').next().unwrap_or(given).to_owned(),
        })
    }

    pub(super) fn io_error(&self, error: std::io::Error) -> Failure {
        match error.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Failure::run(format!(
                "{}: no answer within {} s",
                self.url,
                REQUEST_TIMEOUT.as_secs()
            )),
            _ => Failure::run(format!("{}: {error}", self.url)),
        }
    }

    /// Sends one request and reads the status line and headers within [`REQUEST_TIMEOUT`]; the body
    /// is left to read, each read waiting at most `timeout` (`None`: as long as it takes).
    pub(super) fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        timeout: Option<Duration>,
    ) -> Result<Response, Failure> {
        let request = self.request(method, path, body)?;
        let answer = self.runtime.block_on(async {
            tokio::time::timeout(REQUEST_TIMEOUT, self.http.request(request)).await
        });
        let response = match answer {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => return Err(self.failed(&error)),
            Err(_) => return Err(self.io_error(std::io::ErrorKind::TimedOut.into())),
        };
        let status = response.status();
        let reason = match response.extensions().get::<hyper::ext::ReasonPhrase>() {
            Some(reason) => String::from_utf8_lossy(reason.as_bytes()).into_owned(),
            None => status.canonical_reason().unwrap_or("").to_owned(),
        };
        Ok(Response {
            status: status.as_u16(),
            reason,
            body: Box::new(BodyReader {
                runtime: self.runtime.clone(),
                body: response.into_body(),
                chunk: Bytes::new(),
                timeout,
            }),
        })
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Request<Full<Bytes>>, Failure> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(
                header::USER_AGENT,
                concat!("nbgate/", env!("CARGO_PKG_VERSION")),
            )
            .header(header::ACCEPT, "application/json");
        if !body.is_empty() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some(token) = &self.token {
            request = request.header(header::AUTHORIZATION, format!("token {token}"));
        }
        request.body(Full::new(Bytes::from(body))).map_err(|error| {
            Failure::usage(format!(
                "{}: cannot send {method} {path}: {error} (check --url and --token)",
                self.url
            ))
        })
    }

    /// A request that got no answer: unreachable, refused by TLS, or cut off.
    fn failed(&self, error: &hyper_util::client::legacy::Error) -> Failure {
        if let Some(tls) = tls_error(error) {
            return Failure::run(format!(
                "{}: TLS: {tls} (is it an https server? if its certificate is signed by a private \
                 CA, give the CA's PEM file with --ca-file or NBGATE_CA_FILE)",
                self.url
            ));
        }
        if error.is_connect() {
            return Failure::run(format!(
                "cannot reach nbgate at {}: {} (is `nbgate serve` running? set --url or NBGATE_URL)",
                self.url,
                root_cause(error)
            ));
        }
        Failure::run(format!("{}: {}", self.url, root_cause(error)))
    }

    /// The body of a 2xx answer.
    pub(super) fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Vec<u8>, Failure> {
        let response = self.send(method, path, body, Some(REQUEST_TIMEOUT))?;
        let mut response = response.success()?;
        let mut bytes = Vec::new();
        response
            .body
            .read_to_end(&mut bytes)
            .map_err(|error| self.io_error(error))?;
        Ok(bytes)
    }

    /// The JSON of a 2xx answer (`null` for an empty one, e.g. 204).
    pub(super) fn json(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        let bytes = self.call(method, path, body)?;
        if bytes.trim_ascii().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|error| {
            Failure::run(format!("{method} {path}: the answer is not JSON: {error}"))
        })
    }
}

/// The system's trusted roots (as rustls-native-certs finds them, `SSL_CERT_FILE`/`SSL_CERT_DIR`
/// first) and every certificate in `ca_file`.
fn trusted_roots(ca_file: Option<&Path>) -> Result<rustls::RootCertStore, Failure> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        let unreadable = |error: &dyn std::fmt::Display| {
            Failure::usage(format!(
                "--ca-file {}: {error} (give a PEM file of CA certificates)",
                path.display()
            ))
        };
        let certificates = CertificateDer::pem_file_iter(path)
            .map_err(|error| unreadable(&error))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| unreadable(&error))?;
        if certificates.is_empty() {
            return Err(unreadable(&"no certificate in it"));
        }
        for certificate in certificates {
            roots.add(certificate).map_err(|error| unreadable(&error))?;
        }
    }
    Ok(roots)
}

/// The rustls error behind a failed request, if TLS is what failed.
fn tls_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // An I/O error's `source` skips the error it wraps (hyper-rustls wraps tokio-rustls's I/O
        // error, which wraps rustls's): go inside it instead.
        cause = match error.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    None
}

/// The innermost cause (e.g. "Connection refused (os error 111)"), what a reader can act on.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

impl Response {
    /// The response itself when 2xx; otherwise the server's message: exit 2 for a 4xx, 1 for the rest.
    pub(super) fn success(mut self) -> Result<Response, Failure> {
        if (200..300).contains(&self.status) {
            return Ok(self);
        }
        let mut text = String::new();
        let _ = self.body.read_to_string(&mut text);
        // The executor API's `{"message"}`; the gateway's auth answers `{"reason", "message": ""}`.
        let json = serde_json::from_str::<Value>(&text).ok();
        let message = json
            .as_ref()
            .and_then(|value| value["message"].as_str())
            .filter(|message| !message.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| {
                let detail = match (&json, text.lines().next().map(str::trim)) {
                    (None, Some(line)) if !line.is_empty() => format!(": {line}"),
                    _ => String::new(),
                };
                let hint = match self.status {
                    401 | 403 => " (check --token or NBGATE_TOKEN)",
                    _ => "",
                };
                format!("HTTP {} {}{detail}{hint}", self.status, self.reason)
            });
        Err(match self.status {
            400..500 => Failure::usage(message),
            _ => Failure::run(message),
        })
    }
}

/// A response body read synchronously: each read drives the runtime until the next data frame (sized,
/// chunked or close-delimited, as hyper decodes it) or the end.
struct BodyReader {
    runtime: Arc<Runtime>,
    body: Incoming,
    /// What is left of the last frame.
    chunk: Bytes,
    timeout: Option<Duration>,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            let next = self.body.frame();
            let frame = match self.timeout {
                Some(timeout) => self
                    .runtime
                    // The timer is made inside the runtime: a `Sleep` needs its reactor.
                    .block_on(async { tokio::time::timeout(timeout, next).await })
                    .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?,
                None => self.runtime.block_on(next),
            };
            match frame {
                None => return Ok(0),
                Some(Err(error)) => return Err(std::io::Error::other(error)),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.chunk = data;
                    }
                }
            }
        }
        let read = buf.len().min(self.chunk.len());
        buf[..read].copy_from_slice(&self.chunk[..read]);
        self.chunk = self.chunk.split_off(read);
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_and_query_values_are_encoded() {
        assert_eq!(encode("a-b.c_d~e"), "a-b.c_d~e");
        assert_eq!(
            encode("night ly/x?y&z=é"),
            "night%20ly%2Fx%3Fy%26z%3D%C3%A9"
        );
    }
}

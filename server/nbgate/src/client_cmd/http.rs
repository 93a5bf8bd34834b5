//! A small blocking HTTP/1.1 client over `std::net`: plain `http://`, one request per connection
//! (`Connection: close`), sized, chunked or close-delimited bodies. A 4xx answer becomes the server's
//! message with exit code 2, anything else that is not 2xx exit code 1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde_json::Value;

use super::args::ServerArgs;
use crate::Failure;

/// How long one request may take (not `wait`, which lasts as long as the execution).
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub(super) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

pub(super) struct Client {
    /// `host:port` to connect to and to send as `Host`.
    authority: String,
    /// Path prefix from the URL, without a trailing `/`.
    prefix: String,
    token: Option<String>,
    /// The URL as given, for messages.
    url: String,
}

pub(super) struct Response {
    pub(super) status: u16,
    pub(super) reason: String,
    pub(super) body: Box<dyn Read>,
}

impl Client {
    pub(super) fn new(args: &ServerArgs) -> Result<Client, Failure> {
        let url = args.url.trim();
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some(("https", _)) => {
                return Err(Failure::usage(format!(
                    "--url {url}: https is not supported by the client; use http:// (nbgate serve \
                     speaks plain HTTP; put a TLS proxy in front of it for remote access)"
                )));
            }
            Some(_) | None => {
                return Err(Failure::usage(format!(
                    "--url {url}: give an http:// URL, e.g. http://127.0.0.1:8888"
                )));
            }
        };
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(Failure::usage(format!("--url {url}: no host")));
        }
        // A port is explicit when the authority ends in `:digits` after any IPv6 brackets.
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.ends_with(':') && !port.contains(']'));
        let authority = match has_port {
            true => authority.to_owned(),
            false => format!("{authority}:80"),
        };
        let url_token = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("token="))
            .map(str::to_owned);
        Ok(Client {
            authority,
            prefix: path.trim_end_matches('/').to_owned(),
            token: args.token.clone().or(url_token),
            url: url.split('?').next().unwrap_or(url).to_owned(),
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

    /// Sends one request and reads the status line and headers; the body is left to read.
    pub(super) fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        timeout: Option<Duration>,
    ) -> Result<Response, Failure> {
        let unreachable = |error: std::io::Error| {
            Failure::run(format!(
                "cannot reach nbgate at {}: {error} (is `nbgate serve` running? set --url or NBGATE_URL)",
                self.url
            ))
        };
        let addresses = self.authority.to_socket_addrs().map_err(unreachable)?;
        let mut last = std::io::Error::other("no address");
        let mut stream = None;
        for address in addresses {
            match TcpStream::connect_timeout(&address, REQUEST_TIMEOUT) {
                Ok(connected) => {
                    stream = Some(connected);
                    break;
                }
                Err(error) => last = error,
            }
        }
        let stream = stream.ok_or_else(|| unreachable(last))?;
        let io = |error| self.io_error(error);
        stream.set_read_timeout(timeout).map_err(io)?;
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut head = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             User-Agent: nbgate/{}\r\nAccept: application/json\r\nContent-Length: {}\r\n",
            self.prefix,
            self.authority,
            env!("CARGO_PKG_VERSION"),
            body.len()
        );
        if !body.is_empty() {
            head.push_str("Content-Type: application/json\r\n");
        }
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: token {token}\r\n"));
        }
        head.push_str("\r\n");
        let mut writer = &stream;
        writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(body.as_bytes()))
            .map_err(io)?;

        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).map_err(io)?;
        let mut parts = line.trim_end().splitn(3, ' ');
        let status = parts
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| {
                Failure::run(format!(
                    "{}: not an HTTP answer: {:?}",
                    self.url,
                    line.trim_end()
                ))
            })?;
        let reason = parts.next().unwrap_or("").to_owned();
        let mut length = None;
        let mut chunked = false;
        loop {
            line.clear();
            if reader.read_line(&mut line).map_err(io)? == 0 || line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse::<u64>().ok();
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.eq_ignore_ascii_case("chunked");
                }
            }
        }
        let body: Box<dyn Read> = match (chunked, length) {
            (true, _) => Box::new(Chunked {
                inner: reader,
                left: 0,
                done: false,
            }),
            (false, Some(length)) => Box::new(reader.take(length)),
            (false, None) => Box::new(reader),
        };
        Ok(Response {
            status,
            reason,
            body,
        })
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

/// A `Transfer-Encoding: chunked` body.
struct Chunked {
    inner: BufReader<TcpStream>,
    /// Bytes left in the current chunk.
    left: usize,
    done: bool,
}

impl Read for Chunked {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::io::{Error, ErrorKind};
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut line = String::new();
            if self.inner.read_line(&mut line)? == 0 {
                return Err(Error::new(
                    ErrorKind::UnexpectedEof,
                    "the answer was cut short",
                ));
            }
            let size = line.split(';').next().unwrap_or("").trim();
            self.left = usize::from_str_radix(size, 16)
                .map_err(|_| Error::new(ErrorKind::InvalidData, "bad chunk size in the answer"))?;
            if self.left == 0 {
                self.done = true;
                return Ok(0);
            }
        }
        let max = buf.len().min(self.left);
        let read = self.inner.read(&mut buf[..max])?;
        if read == 0 {
            return Err(Error::new(
                ErrorKind::UnexpectedEof,
                "the answer was cut short",
            ));
        }
        self.left -= read;
        if self.left == 0 {
            let mut crlf = String::new();
            self.inner.read_line(&mut crlf)?;
        }
        Ok(read)
    }
}

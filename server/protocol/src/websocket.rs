//! The channels WebSocket's frames ↔ kernel messages, on raw parts, both ways: what nbgate's Kernel
//! Gateway API reads from clients and writes to them, and what its gateway client writes to a Kernel
//! Gateway-compatible server and reads from it. Pure functions, no sockets.
//!
//! - **Legacy JSON** (text): `{"header", "msg_id", "msg_type", "parent_header", "metadata", "content",
//!   "buffers": [], "channel"}`. Built by splicing the raw header/parent/metadata/content bytes into the
//!   frame: nothing a kernel or client sent is re-serialised. jupyter_server's gateway mode and
//!   Enterprise Gateway speak only this.
//! - **Legacy binary** (a message with buffers, either direction): `u32 BE n` (1 + buffers), `n × u32 BE`
//!   offsets from the frame start, the JSON message (without `buffers`), the buffers.
//! - **`v1.kernel.websocket.jupyter.org`** (binary): `u64 LE n`, `n × u64 LE` offsets, then `channel`,
//!   header, parent_header, metadata, content and the buffers; the last offset is the total length.
//!
//! Decoded JSON parts are kept as written (`RawValue`); `null` or missing parts become `{}`. The
//! [`Sender`] of a frame decides which channels it may name.

use crate::{Channel, RawMessage};
use bytes::{BufMut, Bytes, BytesMut};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The subprotocol of the binary format.
pub const V1_PROTOCOL: &str = "v1.kernel.websocket.jupyter.org";

/// A frame as received or to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Text(String),
    Binary(Bytes),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("malformed frame: {0}")]
    Malformed(&'static str),
    #[error("invalid JSON in {part}")]
    Json { part: &'static str },
    #[error("unknown channel {0:?}")]
    Channel(String),
}

fn json_part<'a>(part: &'a [u8], name: &'static str) -> Result<&'a [u8], FrameError> {
    if part.is_empty() {
        return Ok(b"{}");
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(part)
        .map(|_| part)
        .map_err(|_| FrameError::Json { part: name })
}

/// The legacy JSON object for a kernel message, without the `buffers` key when `with_buffers` is false.
fn legacy_json(
    channel: Channel,
    message: &RawMessage,
    with_buffers: bool,
) -> Result<Vec<u8>, FrameError> {
    let routing = message
        .routing()
        .map_err(|_| FrameError::Json { part: "header" })?;
    let parent = json_part(&message.parent_header, "parent_header")?;
    let metadata = json_part(&message.metadata, "metadata")?;
    let content = json_part(&message.content, "content")?;
    let string = |text: &str| serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into());
    let mut out = Vec::with_capacity(
        message.header.len() + parent.len() + metadata.len() + content.len() + 160,
    );
    out.extend_from_slice(b"{\"header\":");
    out.extend_from_slice(&message.header);
    out.extend_from_slice(b",\"msg_id\":");
    out.extend_from_slice(string(&routing.msg_id).as_bytes());
    out.extend_from_slice(b",\"msg_type\":");
    out.extend_from_slice(string(&routing.msg_type).as_bytes());
    out.extend_from_slice(b",\"parent_header\":");
    out.extend_from_slice(parent);
    out.extend_from_slice(b",\"metadata\":");
    out.extend_from_slice(metadata);
    out.extend_from_slice(b",\"content\":");
    out.extend_from_slice(content);
    if with_buffers {
        out.extend_from_slice(b",\"buffers\":[]");
    }
    out.extend_from_slice(b",\"channel\":\"");
    out.extend_from_slice(channel.as_str().as_bytes());
    out.extend_from_slice(b"\"}");
    Ok(out)
}

/// A kernel message in the legacy format: text, or the binary variant when it has buffers.
pub fn encode_legacy(channel: Channel, message: &RawMessage) -> Result<Frame, FrameError> {
    if message.buffers.is_empty() {
        let json = legacy_json(channel, message, true)?;
        // Every part was checked to be JSON, hence UTF-8.
        return String::from_utf8(json)
            .map(Frame::Text)
            .map_err(|_| FrameError::Json { part: "message" });
    }
    let json = legacy_json(channel, message, false)?;
    let count = 1 + message.buffers.len();
    // The JSON starts after the table; offset i ≥ 1 is where buffer i-1 starts.
    let mut starts = vec![4 * (count + 1)];
    let mut position = starts[0] + json.len();
    for buffer in &message.buffers {
        starts.push(position);
        position += buffer.len();
    }
    let mut out = BytesMut::with_capacity(position);
    out.put_u32(u32::try_from(count).map_err(|_| FrameError::Malformed("too many buffers"))?);
    for start in &starts {
        out.put_u32(u32::try_from(*start).map_err(|_| FrameError::Malformed("frame over 4 GiB"))?);
    }
    out.extend_from_slice(&json);
    for buffer in &message.buffers {
        out.extend_from_slice(buffer);
    }
    Ok(Frame::Binary(out.freeze()))
}

/// A kernel message in the v1 binary format: the raw parts as they are.
pub fn encode_v1(channel: Channel, message: &RawMessage) -> Bytes {
    let channel = channel.as_str().as_bytes();
    let parts: Vec<&[u8]> = [
        channel,
        &message.header[..],
        &message.parent_header[..],
        &message.metadata[..],
        &message.content[..],
    ]
    .into_iter()
    .chain(message.buffers.iter().map(|b| &b[..]))
    .collect();
    // offset_number = channel + parts + the end offset.
    let count = parts.len() + 1;
    let mut position = 8 * (count + 1);
    let total = position + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut out = BytesMut::with_capacity(total);
    out.put_u64_le(count as u64);
    for part in &parts {
        out.put_u64_le(position as u64);
        position += part.len();
    }
    out.put_u64_le(position as u64);
    for part in parts {
        out.extend_from_slice(part);
    }
    out.freeze()
}

#[derive(Deserialize)]
struct LegacyIn<'a> {
    #[serde(borrow)]
    header: &'a RawValue,
    #[serde(borrow, default)]
    parent_header: Option<&'a RawValue>,
    #[serde(borrow, default)]
    metadata: Option<&'a RawValue>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
    #[serde(default)]
    channel: Option<String>,
}

fn raw_or_empty(value: Option<&RawValue>) -> Bytes {
    match value.map(RawValue::get) {
        None | Some("null") => Bytes::from_static(b"{}"),
        Some(text) => Bytes::copy_from_slice(text.as_bytes()),
    }
}

/// Who wrote a frame, which decides the channels it may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// A client (JupyterLab, a gateway client): requests on shell, control or stdin; a frame without
    /// a channel is for shell, as jupyter_server assumes.
    Client,
    /// A server (a gateway): any channel, iopub included; the channel is required.
    Server,
}

fn channel(name: Option<&str>, from: Sender) -> Result<Channel, FrameError> {
    let name = match (name, from) {
        (Some(name), _) => name,
        (None, Sender::Client) => "shell",
        (None, Sender::Server) => return Err(FrameError::Channel(String::new())),
    };
    match (name.parse::<Channel>(), from) {
        (Ok(channel @ (Channel::Shell | Channel::Control | Channel::Stdin)), _) => Ok(channel),
        (Ok(channel @ Channel::IoPub), Sender::Server) => Ok(channel),
        _ => Err(FrameError::Channel(name.to_owned())),
    }
}

fn from_legacy_json(
    json: &[u8],
    buffers: Vec<Bytes>,
    from: Sender,
) -> Result<(Channel, RawMessage), FrameError> {
    let parsed: LegacyIn =
        serde_json::from_slice(json).map_err(|_| FrameError::Json { part: "message" })?;
    let mut message = RawMessage::from_parts(
        Bytes::copy_from_slice(parsed.header.get().as_bytes()),
        raw_or_empty(parsed.parent_header),
        raw_or_empty(parsed.metadata),
        raw_or_empty(parsed.content),
    );
    message.buffers = buffers;
    Ok((channel(parsed.channel.as_deref(), from)?, message))
}

/// A legacy text frame written by `from`.
pub fn decode_legacy_text(text: &str, from: Sender) -> Result<(Channel, RawMessage), FrameError> {
    from_legacy_json(text.as_bytes(), Vec::new(), from)
}

/// Offsets of a binary frame: `count` integers of `width` bytes after the count itself.
fn offsets(frame: &[u8], width: usize, count: usize) -> Result<Vec<usize>, FrameError> {
    let table = frame
        .get(width..width * (count + 1))
        .ok_or(FrameError::Malformed("offset table past the end"))?;
    let offsets: Vec<usize> = table
        .chunks_exact(width)
        .map(|chunk| {
            if width == 4 {
                u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as usize
            } else {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(chunk);
                usize::try_from(u64::from_le_bytes(bytes)).unwrap_or(usize::MAX)
            }
        })
        .collect();
    if offsets.windows(2).any(|w| w[0] > w[1]) || offsets.iter().any(|&o| o > frame.len()) {
        return Err(FrameError::Malformed(
            "offsets out of order or past the end",
        ));
    }
    Ok(offsets)
}

/// A legacy binary frame (a message with buffers) written by `from`.
pub fn decode_legacy_binary(
    frame: &[u8],
    from: Sender,
) -> Result<(Channel, RawMessage), FrameError> {
    let count = frame
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or(FrameError::Malformed("shorter than its count"))?;
    if count == 0 || count > frame.len() / 4 {
        return Err(FrameError::Malformed("bad buffer count"));
    }
    let mut bounds = offsets(frame, 4, count)?;
    bounds.push(frame.len());
    let json = &frame[bounds[0]..bounds[1]];
    let buffers = bounds[1..]
        .windows(2)
        .map(|w| Bytes::copy_from_slice(&frame[w[0]..w[1]]))
        .collect();
    from_legacy_json(json, buffers, from)
}

/// A v1 binary frame written by `from`.
pub fn decode_v1(frame: &[u8], from: Sender) -> Result<(Channel, RawMessage), FrameError> {
    let count = frame
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(FrameError::Malformed("shorter than its count"))?;
    // channel, header, parent, metadata, content (+ buffers), and the end offset.
    if count < 6 || count > frame.len() / 8 {
        return Err(FrameError::Malformed("bad offset count"));
    }
    let bounds = offsets(frame, 8, count)?;
    let part = |i: usize| &frame[bounds[i]..bounds[i + 1]];
    let name = std::str::from_utf8(part(0)).map_err(|_| FrameError::Malformed("channel"))?;
    let channel = channel(Some(name), from)?;
    let bytes = |i: usize| Bytes::copy_from_slice(part(i));
    let mut message = RawMessage::from_parts(
        Bytes::copy_from_slice(json_part(part(1), "header")?),
        Bytes::copy_from_slice(json_part(part(2), "parent_header")?),
        Bytes::copy_from_slice(json_part(part(3), "metadata")?),
        Bytes::copy_from_slice(json_part(part(4), "content")?),
    );
    message.buffers = (5..count - 1).map(bytes).collect();
    Ok((channel, message))
}

#[cfg(test)]
#[path = "websocket_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "websocket_props.rs"]
mod props;

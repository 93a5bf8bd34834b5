//! The channels WebSocket's frames, client side, in the format every Kernel Gateway-compatible server
//! speaks (jupyter_server's legacy format, as Enterprise Gateway 3 does):
//!
//! - text: `{"header", "parent_header", "metadata", "content", "buffers": [], "channel"}`;
//! - binary, for a message with buffers: `u32 BE n` (1 + buffers), `n × u32 BE` offsets from the frame
//!   start, the JSON message (without `buffers`), then the buffers.
//!
//! Outgoing frames splice the message's raw JSON parts in; incoming parts are kept as the server wrote
//! them (`RawValue`), so nothing is re-serialised either way. Pure functions, no sockets.

use bytes::{BufMut, Bytes, BytesMut};
use nbgate_protocol::{Channel, RawMessage};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Why a frame from the gateway could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum FrameError {
    #[error("malformed binary frame: {0}")]
    Malformed(&'static str),
    #[error("a frame that is not a JSON message")]
    Json,
    #[error("unknown channel {0:?}")]
    Channel(String),
}

/// The frame for `message` on `channel`: text, or binary when it has buffers.
pub(crate) fn encode(channel: Channel, message: &RawMessage) -> Result<EncodedFrame, FrameError> {
    let part = |bytes: &Bytes| -> Bytes {
        if bytes.is_empty() {
            Bytes::from_static(b"{}")
        } else {
            bytes.clone()
        }
    };
    let mut json = Vec::with_capacity(
        message.header.len() + message.parent_header.len() + message.content.len() + 96,
    );
    json.extend_from_slice(b"{\"header\":");
    json.extend_from_slice(&part(&message.header));
    json.extend_from_slice(b",\"parent_header\":");
    json.extend_from_slice(&part(&message.parent_header));
    json.extend_from_slice(b",\"metadata\":");
    json.extend_from_slice(&part(&message.metadata));
    json.extend_from_slice(b",\"content\":");
    json.extend_from_slice(&part(&message.content));
    if message.buffers.is_empty() {
        json.extend_from_slice(b",\"buffers\":[]");
    }
    json.extend_from_slice(b",\"channel\":\"");
    json.extend_from_slice(channel.as_str().as_bytes());
    json.extend_from_slice(b"\"}");
    if message.buffers.is_empty() {
        // Parts nbgate sends were built as JSON text; a part that is not UTF-8 is refused here.
        return String::from_utf8(json)
            .map(EncodedFrame::Text)
            .map_err(|_| FrameError::Json);
    }
    let count = 1 + message.buffers.len();
    let mut starts = vec![4 * (count + 1)];
    let mut position = starts[0] + json.len();
    for buffer in &message.buffers {
        starts.push(position);
        position += buffer.len();
    }
    let mut out = BytesMut::with_capacity(position);
    out.put_u32(u32::try_from(count).map_err(|_| FrameError::Malformed("too many buffers"))?);
    for start in starts {
        out.put_u32(u32::try_from(start).map_err(|_| FrameError::Malformed("over 4 GiB"))?);
    }
    out.extend_from_slice(&json);
    for buffer in &message.buffers {
        out.extend_from_slice(buffer);
    }
    Ok(EncodedFrame::Binary(out.freeze()))
}

/// A frame to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EncodedFrame {
    Text(String),
    Binary(Bytes),
}

#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(borrow)]
    header: &'a RawValue,
    #[serde(borrow, default)]
    parent_header: Option<&'a RawValue>,
    #[serde(borrow, default)]
    metadata: Option<&'a RawValue>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
    channel: String,
}

fn raw_or_empty(value: Option<&RawValue>) -> Bytes {
    match value.map(RawValue::get) {
        None | Some("null") => Bytes::from_static(b"{}"),
        Some(text) => Bytes::copy_from_slice(text.as_bytes()),
    }
}

fn from_json(json: &[u8], buffers: Vec<Bytes>) -> Result<(Channel, RawMessage), FrameError> {
    let parsed: Incoming = serde_json::from_slice(json).map_err(|_| FrameError::Json)?;
    let channel = parsed
        .channel
        .parse::<Channel>()
        .map_err(|_| FrameError::Channel(parsed.channel.clone()))?;
    let mut message = RawMessage::from_parts(
        Bytes::copy_from_slice(parsed.header.get().as_bytes()),
        raw_or_empty(parsed.parent_header),
        raw_or_empty(parsed.metadata),
        raw_or_empty(parsed.content),
    );
    message.buffers = buffers;
    Ok((channel, message))
}

/// A text frame from the gateway.
pub(crate) fn decode_text(text: &str) -> Result<(Channel, RawMessage), FrameError> {
    from_json(text.as_bytes(), Vec::new())
}

/// A binary frame from the gateway (a message with buffers).
pub(crate) fn decode_binary(frame: &[u8]) -> Result<(Channel, RawMessage), FrameError> {
    let read = |at: usize| {
        frame
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let count = read(0).ok_or(FrameError::Malformed("shorter than its count"))?;
    if count == 0 || count > frame.len() / 4 {
        return Err(FrameError::Malformed("bad buffer count"));
    }
    let mut bounds = (1..=count)
        .map(|index| read(4 * index).ok_or(FrameError::Malformed("offset table past the end")))
        .collect::<Result<Vec<_>, _>>()?;
    bounds.push(frame.len());
    if bounds.windows(2).any(|w| w[0] > w[1]) {
        return Err(FrameError::Malformed(
            "offsets out of order or past the end",
        ));
    }
    let buffers = bounds[1..]
        .windows(2)
        .map(|w| Bytes::copy_from_slice(&frame[w[0]..w[1]]))
        .collect();
    from_json(&frame[bounds[0]..bounds[1]], buffers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> RawMessage {
        RawMessage::from_parts(
            Bytes::from_static(br#"{"msg_id":"m1","msg_type":"execute_request","session":"s"}"#),
            Bytes::from_static(b"{}"),
            Bytes::from_static(b"{}"),
            Bytes::from_static(br#"{"code":"1 + 1","n":12345678901234567890123}"#),
        )
    }

    #[test]
    fn a_text_frame_carries_the_parts_as_they_are() {
        let EncodedFrame::Text(text) = encode(Channel::Shell, &message()).expect("encodes") else {
            panic!("a message without buffers is a text frame");
        };
        assert_eq!(
            text,
            r#"{"header":{"msg_id":"m1","msg_type":"execute_request","session":"s"},"parent_header":{},"metadata":{},"content":{"code":"1 + 1","n":12345678901234567890123},"buffers":[],"channel":"shell"}"#
        );
        let (channel, decoded) = decode_text(&text).expect("decodes");
        assert_eq!(channel, Channel::Shell);
        assert_eq!(decoded.header, message().header);
        assert_eq!(decoded.content, message().content);
    }

    #[test]
    fn iopub_frames_from_the_server_decode_with_null_parts_as_empty_objects() {
        let text = r#"{"header": {"msg_id": "x", "msg_type": "status"}, "parent_header": null, "metadata": {}, "content": {"execution_state": "idle"}, "buffers": [], "channel": "iopub", "msg_id": "x", "msg_type": "status"}"#;
        let (channel, decoded) = decode_text(text).expect("decodes");
        assert_eq!(channel, Channel::IoPub);
        assert_eq!(&decoded.parent_header[..], b"{}");
        assert_eq!(&decoded.content[..], br#"{"execution_state": "idle"}"#);
        assert_eq!(
            decode_text(r#"{"header": {}, "channel": "nowhere"}"#),
            Err(FrameError::Channel("nowhere".into()))
        );
    }

    #[test]
    fn binary_frames_round_trip_with_their_buffers() {
        let mut with_buffers = message();
        with_buffers.buffers = vec![Bytes::from_static(b"\x00\x01"), Bytes::new()];
        let EncodedFrame::Binary(frame) = encode(Channel::Shell, &with_buffers).expect("encodes")
        else {
            panic!("a message with buffers is a binary frame");
        };
        assert_eq!(&frame[..4], &3u32.to_be_bytes());
        let (channel, decoded) = decode_binary(&frame).expect("decodes");
        assert_eq!(channel, Channel::Shell);
        assert_eq!(decoded.buffers, with_buffers.buffers);
        assert_eq!(decoded.content, with_buffers.content);
        assert_eq!(
            decode_binary(&[0, 0, 0, 9]),
            Err(FrameError::Malformed("bad buffer count"))
        );
        assert_eq!(
            decode_binary(&[0, 0, 0, 1, 0, 0, 0, 200]),
            Err(FrameError::Malformed(
                "offsets out of order or past the end"
            ))
        );
    }
}

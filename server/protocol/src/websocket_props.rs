//! Property tests for the WebSocket frame codecs: decoding arbitrary bytes or text never panics, and
//! what is encoded decodes back to the same message, for v1 and legacy binary frames.
//! `PROPTEST_CASES` runs more cases.

use crate::{Channel, RawMessage};
use bytes::Bytes;
use proptest::prelude::*;

use super::{
    Frame, Sender, decode_legacy_binary, decode_legacy_text, decode_v1, encode_legacy, encode_v1,
};

/// A JSON object as text (what headers and contents are).
fn json_object() -> impl Strategy<Value = Bytes> {
    proptest::collection::btree_map("[a-z_]{1,8}", "\\PC{0,12}", 0..4).prop_map(|map| {
        let mut map: serde_json::Map<String, serde_json::Value> =
            map.into_iter().map(|(k, v)| (k, v.into())).collect();
        map.insert("msg_id".into(), "m".into());
        map.insert("msg_type".into(), "execute_request".into());
        Bytes::from(serde_json::Value::Object(map).to_string())
    })
}

fn request_channel() -> impl Strategy<Value = Channel> {
    prop_oneof![
        Just(Channel::Shell),
        Just(Channel::Control),
        Just(Channel::Stdin)
    ]
}

fn message() -> impl Strategy<Value = RawMessage> {
    (
        json_object(),
        json_object(),
        json_object(),
        json_object(),
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..4),
    )
        .prop_map(|(header, parent, metadata, content, buffers)| {
            let mut message = RawMessage::from_parts(header, parent, metadata, content);
            message.buffers = buffers.into_iter().map(Bytes::from).collect();
            message
        })
}

/// Bytes that often look like a frame: a plausible count and offsets, then noise.
fn binary_frame(width: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..128),
        (
            0u64..10,
            proptest::collection::vec(any::<u64>(), 0..10),
            proptest::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(move |(count, offsets, tail)| {
                let mut out = Vec::new();
                let total = (width * (offsets.len() + 1) + tail.len()) as u64;
                if width == 8 {
                    out.extend(count.to_le_bytes());
                    offsets
                        .iter()
                        .for_each(|o| out.extend((o % (total + 2)).to_le_bytes()));
                } else {
                    out.extend((count as u32).to_be_bytes());
                    offsets
                        .iter()
                        .for_each(|o| out.extend(((o % (total + 2)) as u32).to_be_bytes()));
                }
                out.extend(tail);
                out
            }),
    ]
}

proptest! {
    #[test]
    fn decoding_arbitrary_frames_never_panics(
        v1 in binary_frame(8),
        legacy in binary_frame(4),
        text in "\\PC{0,200}",
    ) {
        for from in [Sender::Client, Sender::Server] {
            let _ = decode_v1(&v1, from);
            let _ = decode_legacy_binary(&legacy, from);
            let _ = decode_legacy_text(&text, from);
            let _ = decode_legacy_text(&format!("{{\"header\":{text}}}"), from);
        }
    }

    #[test]
    fn v1_frames_round_trip(channel in request_channel(), message in message(), cut in any::<prop::sample::Index>()) {
        let frame = encode_v1(channel, &message);
        let (decoded_channel, decoded) = decode_v1(&frame, Sender::Client).expect("an encoded frame decodes");
        prop_assert_eq!(decoded_channel, channel);
        prop_assert_eq!(decoded, message);
        // Any truncation is refused (the last offset is the length), never a panic.
        let cut = cut.index(frame.len());
        prop_assert!(decode_v1(&frame[..cut], Sender::Client).is_err());
    }

    #[test]
    fn legacy_binary_frames_round_trip(channel in request_channel(), mut message in message()) {
        if message.buffers.is_empty() {
            message.buffers.push(Bytes::from_static(b"\0buffer"));
        }
        let Frame::Binary(frame) = encode_legacy(channel, &message).expect("encodes") else {
            panic!("a message with buffers is a binary frame");
        };
        let (decoded_channel, decoded) = decode_legacy_binary(&frame, Sender::Client).expect("decodes");
        prop_assert_eq!(decoded_channel, channel);
        // The JSON parts come back byte for byte (they are spliced, never re-serialised).
        prop_assert_eq!(decoded.parts(), message.parts());
        prop_assert_eq!(decoded.buffers, message.buffers);
    }
}

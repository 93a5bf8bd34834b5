//! Property tests for the wire: decoding arbitrary frames never panics, a signed message verifies and
//! decodes back to itself, and any change to a signed part (or the signature) is refused. Case counts
//! are small for CI; `PROPTEST_CASES=10000 cargo test -p nbgate-protocol --test wire_props` runs longer.

use bytes::Bytes;
use nbgate_protocol::{DELIMITER, RawMessage, Signer};
use proptest::prelude::*;

/// A frame: arbitrary bytes, sometimes the delimiter or a JSON-looking part.
fn frame() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from),
        1 => Just(Bytes::from_static(DELIMITER)),
        1 => Just(Bytes::from_static(b"{}")),
        1 => "[ -~]{0,40}".prop_map(|s| Bytes::from(format!("{{\"msg_id\":{s:?}}}"))),
    ]
}

fn part() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..200).prop_map(Bytes::from)
}

fn message() -> impl Strategy<Value = RawMessage> {
    (
        proptest::collection::vec(part(), 0..3),
        part(),
        part(),
        part(),
        part(),
        proptest::collection::vec(part(), 0..3),
    )
        .prop_filter("identities are never the delimiter", |(ids, ..)| {
            ids.iter().all(|id| id.as_ref() != DELIMITER)
        })
        .prop_map(|(identities, header, parent, metadata, content, buffers)| {
            let mut message = RawMessage::from_parts(header, parent, metadata, content);
            message.identities = identities;
            message.buffers = buffers;
            message
        })
}

proptest! {
    #[test]
    fn decoding_arbitrary_frames_never_panics(
        frames in proptest::collection::vec(frame(), 0..12),
        key in proptest::collection::vec(any::<u8>(), 0..40),
        signature in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let signer = Signer::new("hmac-sha256", &key).expect("any key");
        let _ = RawMessage::decode(frames.clone(), &signer);
        if let Ok(message) = RawMessage::decode_unverified(frames.clone()) {
            // What decodes has the five parts after the delimiter, and re-encodes to the same frames.
            prop_assert_eq!(message.clone().into_frames(), frames);
            let _ = message.routing();
            let _ = message.content_json();
        }
        let _ = signer.verify(&signature, [b"h", b"p", b"m", b"c"]);
    }

    #[test]
    fn signed_messages_round_trip_and_tampering_is_refused(
        mut message in message(),
        key in proptest::collection::vec(any::<u8>(), 1..40),
        which in 0usize..5,
        flip in any::<u8>().prop_filter("a change", |b| *b != 0),
    ) {
        let signer = Signer::new("hmac-sha256", &key).expect("signer");
        message.sign(&signer);
        let frames = message.clone().into_frames();
        let decoded = RawMessage::decode(frames.clone(), &signer).expect("a signed message verifies");
        prop_assert_eq!(&decoded, &message);

        // Flip one byte of a signed part or of the signature: verification fails.
        let delimiter = message.identities.len();
        let index = delimiter + 1 + which;
        let mut tampered = frames;
        let mut bytes = tampered[index].to_vec();
        if bytes.is_empty() {
            bytes.push(flip);
        } else if which == 0 {
            // The signature is hex (either case reads the same): change one digit's value.
            let at = usize::from(flip) % bytes.len();
            bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
        } else {
            let at = usize::from(flip) % bytes.len();
            bytes[at] ^= flip;
        }
        tampered[index] = Bytes::from(bytes);
        prop_assert!(RawMessage::decode(tampered, &signer).is_err());

        // Buffers are not signed: changing one still verifies.
        if !message.buffers.is_empty() {
            let mut with_buffer = message.clone();
            with_buffer.buffers[0] = Bytes::from_static(b"changed");
            prop_assert!(RawMessage::decode(with_buffer.into_frames(), &signer).is_ok());
        }
    }
}

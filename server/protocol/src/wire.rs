//! Messages as frames: the `<IDS|MSG>` split and HMAC-SHA256 signatures over the exact bytes.
//!
//! A message on a ZeroMQ socket is `[identities…, <IDS|MSG>, signature, header, parent_header,
//! metadata, content, buffers…]`. Identities are routing frames on ROUTER sockets and the topic on
//! iopub; a client DEALER sees none. Buffers are not signed.

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::ProtocolError;
use crate::message::Routing;

/// The frame that separates routing identities from the message proper.
pub const DELIMITER: &[u8] = b"<IDS|MSG>";

/// The only scheme Jupyter kernels use in practice, and the only one nbgate accepts.
pub const HMAC_SHA256: &str = "hmac-sha256";

/// Signs and verifies messages with a connection's key. An empty key means "no signing": the
/// signature frame is empty and nothing is checked, as in jupyter_client.
#[derive(Clone)]
pub struct Signer {
    mac: Option<Hmac<Sha256>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Signer")
            .field("signing", &self.mac.is_some())
            .finish()
    }
}

impl Signer {
    /// A signer for `scheme` (as written in a connection file) and `key` (its bytes as written).
    pub fn new(scheme: &str, key: &[u8]) -> Result<Self, ProtocolError> {
        if key.is_empty() {
            return Ok(Self::unsigned());
        }
        if scheme != HMAC_SHA256 {
            return Err(ProtocolError::UnsupportedScheme {
                scheme: scheme.to_owned(),
            });
        }
        // HMAC accepts keys of any length, so this cannot fail; map it anyway rather than panic.
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| ProtocolError::BadSignature)?;
        Ok(Self { mac: Some(mac) })
    }

    /// A signer that neither signs nor checks (empty key).
    pub fn unsigned() -> Self {
        Self { mac: None }
    }

    /// Lower-case hex HMAC of the four JSON parts, or the empty string without a key.
    pub fn sign(&self, parts: [&[u8]; 4]) -> String {
        match &self.mac {
            None => String::new(),
            Some(mac) => hex::encode(Self::digest(mac, parts).finalize().into_bytes()),
        }
    }

    /// Checks `signature` (hex, as received) against the four parts in constant time.
    pub fn verify(&self, signature: &[u8], parts: [&[u8]; 4]) -> Result<(), ProtocolError> {
        let Some(mac) = &self.mac else {
            return Ok(());
        };
        let expected = hex::decode(signature).map_err(|_| ProtocolError::BadSignature)?;
        Self::digest(mac, parts)
            .verify_slice(&expected)
            .map_err(|_| ProtocolError::BadSignature)
    }

    fn digest(mac: &Hmac<Sha256>, parts: [&[u8]; 4]) -> Hmac<Sha256> {
        let mut mac = mac.clone();
        for part in parts {
            mac.update(part);
        }
        mac
    }
}

/// One message exactly as its frames carry it. Parts stay `Bytes` (cheap clones, no re-serialising),
/// so a message can be forwarded byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// Frames before the delimiter: ROUTER identities, or the iopub topic.
    pub identities: Vec<Bytes>,
    pub signature: Bytes,
    pub header: Bytes,
    pub parent_header: Bytes,
    pub metadata: Bytes,
    pub content: Bytes,
    pub buffers: Vec<Bytes>,
}

impl RawMessage {
    /// A message from its four JSON parts, not yet signed and with no identities or buffers.
    pub fn from_parts(
        header: Bytes,
        parent_header: Bytes,
        metadata: Bytes,
        content: Bytes,
    ) -> Self {
        Self {
            identities: Vec::new(),
            signature: Bytes::new(),
            header,
            parent_header,
            metadata,
            content,
            buffers: Vec::new(),
        }
    }

    /// Splits frames at the first delimiter and verifies the signature.
    pub fn decode(frames: Vec<Bytes>, signer: &Signer) -> Result<Self, ProtocolError> {
        let message = Self::decode_unverified(frames)?;
        signer.verify(&message.signature, message.parts())?;
        Ok(message)
    }

    /// Splits frames at the first delimiter without checking the signature.
    pub fn decode_unverified(frames: Vec<Bytes>) -> Result<Self, ProtocolError> {
        let total = frames.len();
        let delimiter = frames
            .iter()
            .position(|frame| frame.as_ref() == DELIMITER)
            .ok_or(ProtocolError::MissingDelimiter { frames: total })?;
        let after = total - delimiter - 1;
        if after < 5 {
            return Err(ProtocolError::TooFewFrames { found: after });
        }
        let mut frames = frames.into_iter();
        let identities: Vec<Bytes> = frames.by_ref().take(delimiter).collect();
        frames.next(); // the delimiter
        let mut next = || frames.next().unwrap_or_default();
        let (signature, header, parent_header, metadata, content) =
            (next(), next(), next(), next(), next());
        Ok(Self {
            identities,
            signature,
            header,
            parent_header,
            metadata,
            content,
            buffers: frames.collect(),
        })
    }

    /// The frames to send, as they are (call [`RawMessage::sign`] first for a changed message).
    pub fn into_frames(self) -> Vec<Bytes> {
        let mut frames = Vec::with_capacity(self.identities.len() + 6 + self.buffers.len());
        frames.extend(self.identities);
        frames.push(Bytes::from_static(DELIMITER));
        frames.push(self.signature);
        frames.push(self.header);
        frames.push(self.parent_header);
        frames.push(self.metadata);
        frames.push(self.content);
        frames.extend(self.buffers);
        frames
    }

    /// Recomputes the signature over the current parts.
    pub fn sign(&mut self, signer: &Signer) {
        self.signature = Bytes::from(signer.sign(self.parts()));
    }

    /// The four signed parts in wire order.
    pub fn parts(&self) -> [&[u8]; 4] {
        [
            &self.header,
            &self.parent_header,
            &self.metadata,
            &self.content,
        ]
    }

    /// The fields needed to route this message, read without re-serialising it.
    pub fn routing(&self) -> Result<Routing, ProtocolError> {
        Routing::read(&self.header, &self.parent_header)
    }

    /// The content as a JSON value (a copy; the frames are untouched).
    pub fn content_json(&self) -> Result<serde_json::Value, ProtocolError> {
        serde_json::from_slice(&self.content).map_err(|source| ProtocolError::BadJson {
            part: "content",
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"a0436f6c-1916-498b-8eb9-e81ab9368e84";
    const HEADER: &[u8] = br#"{"msg_id":"m1","session":"s1","username":"u","date":"2024-01-01T00:00:00.000000Z","msg_type":"kernel_info_request","version":"5.3"}"#;
    /// Computed by Python: `hmac.new(KEY, HEADER + b"{}" * 3, hashlib.sha256).hexdigest()`, the same
    /// digest `jupyter_client.session.Session(key=KEY).sign([...])` returns.
    const SIGNATURE: &str = "6266b3b511c3b48eb711e9994593682ad95a00af3c99eed46948acf4bb756803";

    fn signer() -> Signer {
        Signer::new(HMAC_SHA256, KEY).expect("valid scheme")
    }

    #[test]
    fn signature_matches_python_vector() {
        assert_eq!(signer().sign([HEADER, b"{}", b"{}", b"{}"]), SIGNATURE);
    }

    #[test]
    fn verification_accepts_good_and_rejects_tampered_or_foreign() {
        let parts: [&[u8]; 4] = [HEADER, b"{}", b"{}", b"{}"];
        assert!(signer().verify(SIGNATURE.as_bytes(), parts).is_ok());
        let tampered: [&[u8]; 4] = [HEADER, b"{}", b"{}", b"{ }"];
        assert!(signer().verify(SIGNATURE.as_bytes(), tampered).is_err());
        let other = Signer::new(HMAC_SHA256, b"another key").expect("valid scheme");
        assert!(other.verify(SIGNATURE.as_bytes(), parts).is_err());
        assert!(signer().verify(b"not hex", parts).is_err());
        assert!(signer().verify(b"", parts).is_err());
    }

    #[test]
    fn empty_key_neither_signs_nor_checks() {
        let unsigned = Signer::new("", b"").expect("empty key is fine");
        assert_eq!(unsigned.sign([HEADER, b"{}", b"{}", b"{}"]), "");
        assert!(unsigned.verify(b"anything", [b"", b"", b"", b""]).is_ok());
    }

    #[test]
    fn other_schemes_are_refused_by_name() {
        let error = Signer::new("hmac-md5", KEY).expect_err("md5 is not supported");
        assert!(error.to_string().contains("hmac-md5"), "{error}");
    }

    fn frames(list: &[&'static [u8]]) -> Vec<Bytes> {
        list.iter().map(|frame| Bytes::from_static(frame)).collect()
    }

    #[test]
    fn decode_splits_identities_topic_and_buffers() {
        let wire = frames(&[
            b"kernel.abc.status",
            b"<IDS|MSG>",
            SIGNATURE.as_bytes(),
            HEADER,
            b"{}",
            b"{}",
            b"{}",
            b"buffer-0",
            b"buffer-1",
        ]);
        let message = RawMessage::decode(wire.clone(), &signer()).expect("valid message");
        assert_eq!(message.identities, frames(&[b"kernel.abc.status"]));
        assert_eq!(message.header.as_ref(), HEADER);
        assert_eq!(message.buffers, frames(&[b"buffer-0", b"buffer-1"]));
        assert_eq!(message.into_frames(), wire, "frames survive byte for byte");
    }

    #[test]
    fn decode_splits_at_the_first_delimiter_only() {
        let wire = frames(&[
            b"<IDS|MSG>",
            b"",
            HEADER,
            b"{}",
            b"{}",
            br#"{"text":"x"}"#,
            b"<IDS|MSG>",
        ]);
        let message = RawMessage::decode_unverified(wire).expect("valid");
        assert!(message.identities.is_empty());
        assert_eq!(message.buffers, frames(&[b"<IDS|MSG>"]));
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        assert!(matches!(
            RawMessage::decode_unverified(frames(&[b"a", b"b"])),
            Err(ProtocolError::MissingDelimiter { frames: 2 })
        ));
        assert!(matches!(
            RawMessage::decode_unverified(frames(&[b"<IDS|MSG>", b"sig", HEADER])),
            Err(ProtocolError::TooFewFrames { found: 2 })
        ));
        assert!(matches!(
            RawMessage::decode_unverified(Vec::new()),
            Err(ProtocolError::MissingDelimiter { frames: 0 })
        ));
    }

    #[test]
    fn bad_signature_is_rejected_on_decode() {
        let wire = frames(&[b"<IDS|MSG>", b"00ff", HEADER, b"{}", b"{}", b"{}"]);
        assert!(matches!(
            RawMessage::decode(wire, &signer()),
            Err(ProtocolError::BadSignature)
        ));
    }

    #[test]
    fn sign_then_encode_produces_the_python_frames() {
        let mut message = RawMessage::from_parts(
            Bytes::from_static(HEADER),
            Bytes::from_static(b"{}"),
            Bytes::from_static(b"{}"),
            Bytes::from_static(b"{}"),
        );
        message.sign(&signer());
        assert_eq!(
            message.into_frames(),
            frames(&[
                b"<IDS|MSG>",
                SIGNATURE.as_bytes(),
                HEADER,
                b"{}",
                b"{}",
                b"{}"
            ])
        );
    }

    /// Frames produced by `jupyter_client.session.Session(key=b"nbgate-test-key").serialize(msg)` for an
    /// execute_request with non-ASCII code (msg_id and date fixed before serialising).
    #[test]
    fn decodes_frames_serialised_by_jupyter_client_session() {
        let key = b"nbgate-test-key";
        let wire = frames(&[
            b"<IDS|MSG>",
            b"60c3bcd6c676551d5811ad13db9222674a06aa1e62d53f99b838d582d83209e4",
            br#"{"msg_id": "m1", "msg_type": "execute_request", "username": "u", "session": "s1", "date": "2026-11-28T20:00:00.000000Z", "version": "5.4"}"#,
            b"{}",
            b"{}",
            "{\"code\": \"print('\u{e9}')\", \"silent\": false}".as_bytes(),
        ]);
        let signer = Signer::new(HMAC_SHA256, key).expect("valid");
        let message =
            RawMessage::decode(wire.clone(), &signer).expect("Python's signature verifies");
        let mut resigned = message.clone();
        resigned.sign(&signer);
        assert_eq!(
            resigned.into_frames(),
            wire,
            "re-signing reproduces Python's frames"
        );
        assert_eq!(
            message.routing().expect("routing").msg_type,
            "execute_request"
        );
    }
}

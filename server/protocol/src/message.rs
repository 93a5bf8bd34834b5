//! Headers nbgate creates, and the routing fields it reads from messages it does not create.

use bytes::Bytes;
use jupyter_protocol::JupyterMessageContent;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ProtocolError;
use crate::wire::{RawMessage, Signer};

/// The protocol version nbgate speaks in headers it creates.
pub const PROTOCOL_VERSION: &str = "5.3";

/// The user name nbgate puts in headers it creates.
pub const USERNAME: &str = "nbgate";

/// Now, as Jupyter header dates are written: `2026-11-28T20:48:26.195111Z`.
///
/// The one place in this crate that reads the clock.
pub fn now_iso() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// A fresh header: a new `msg_id`, the given session, today's date.
pub fn new_header(msg_type: &str, session: &str) -> Value {
    json!({
        "msg_id": uuid::Uuid::new_v4().to_string(),
        "username": USERNAME,
        "session": session,
        "date": now_iso(),
        "msg_type": msg_type,
        "version": PROTOCOL_VERSION,
    })
}

impl RawMessage {
    /// A new signed message of `msg_type` with `content`, answering `parent` (the parent's header
    /// bytes, copied verbatim) when given.
    pub fn new_signed(
        msg_type: &str,
        session: &str,
        content: &Value,
        parent: Option<&Bytes>,
        signer: &Signer,
    ) -> Self {
        let header = new_header(msg_type, session);
        let mut message = RawMessage::from_parts(
            Bytes::from(header.to_string()),
            parent.cloned().unwrap_or_else(|| Bytes::from_static(b"{}")),
            Bytes::from_static(b"{}"),
            Bytes::from(content.to_string()),
        );
        message.sign(signer);
        message
    }
}

impl RawMessage {
    /// A new signed message whose content is one of `jupyter-protocol`'s typed messages (what nbgate
    /// itself sends: execute, kernel_info, interrupt and shutdown requests).
    pub fn new_typed(
        content: impl Into<JupyterMessageContent>,
        session: &str,
        parent: Option<&Bytes>,
        signer: &Signer,
    ) -> Self {
        let content = content.into();
        // The typed contents are plain structs of strings, numbers and maps: serialising cannot fail.
        let value = serde_json::to_value(&content).unwrap_or_else(|_| json!({}));
        Self::new_signed(content.message_type(), session, &value, parent, signer)
    }
}

/// The fields of a message that route it. Read from the raw parts; nothing else is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    pub msg_id: String,
    pub msg_type: String,
    /// The sender's session, empty when the header has none.
    pub session: String,
    /// `parent_header.msg_id`, when the message answers one.
    pub parent_msg_id: Option<String>,
}

#[derive(Deserialize)]
struct HeaderFields {
    msg_id: Option<String>,
    msg_type: Option<String>,
    session: Option<String>,
}

#[derive(Deserialize)]
struct ParentFields {
    msg_id: Option<String>,
}

impl Routing {
    /// Reads the routing fields from a header and parent header.
    pub fn read(header: &[u8], parent_header: &[u8]) -> Result<Self, ProtocolError> {
        let fields: HeaderFields =
            serde_json::from_slice(header).map_err(|source| ProtocolError::BadJson {
                part: "header",
                source,
            })?;
        // A parent header that is not an object (or not JSON) simply means "no parent".
        let parent_msg_id = serde_json::from_slice::<ParentFields>(parent_header)
            .ok()
            .and_then(|parent| parent.msg_id);
        Ok(Self {
            msg_id: fields
                .msg_id
                .ok_or(ProtocolError::MissingHeaderField { field: "msg_id" })?,
            msg_type: fields
                .msg_type
                .ok_or(ProtocolError::MissingHeaderField { field: "msg_type" })?,
            session: fields.session.unwrap_or_default(),
            parent_msg_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::HMAC_SHA256;

    #[test]
    fn routing_reads_ids_without_touching_other_fields() {
        let routing = Routing::read(
            br#"{"msg_id":"m2","msg_type":"status","session":"k","subshell_id":null,"date":"x"}"#,
            br#"{"msg_id":"m1","msg_type":"execute_request"}"#,
        )
        .expect("valid header");
        assert_eq!(
            routing,
            Routing {
                msg_id: "m2".into(),
                msg_type: "status".into(),
                session: "k".into(),
                parent_msg_id: Some("m1".into()),
            }
        );
    }

    #[test]
    fn empty_parent_means_no_parent() {
        let routing = Routing::read(br#"{"msg_id":"w","msg_type":"iopub_welcome"}"#, b"{}")
            .expect("valid header");
        assert_eq!(routing.parent_msg_id, None);
        assert_eq!(routing.session, "");
    }

    #[test]
    fn header_without_msg_type_is_an_error() {
        let error = Routing::read(br#"{"msg_id":"m"}"#, b"{}").expect_err("msg_type missing");
        assert!(error.to_string().contains("msg_type"), "{error}");
        assert!(Routing::read(b"not json", b"{}").is_err());
    }

    #[test]
    fn new_signed_message_verifies_and_copies_the_parent() {
        let signer = Signer::new(HMAC_SHA256, b"key").expect("valid");
        let parent = Bytes::from_static(br#"{"msg_id":"p","msg_type":"execute_request"}"#);
        let message = RawMessage::new_signed(
            "input_reply",
            "session-1",
            &json!({"value": "x"}),
            Some(&parent),
            &signer,
        );
        assert_eq!(message.parent_header, parent);
        let decoded = RawMessage::decode(message.clone().into_frames(), &signer).expect("signed");
        let routing = decoded.routing().expect("routing");
        assert_eq!(routing.msg_type, "input_reply");
        assert_eq!(routing.session, "session-1");
        assert_eq!(routing.parent_msg_id.as_deref(), Some("p"));
    }

    #[test]
    fn typed_requests_carry_their_type_and_fields() {
        let request = jupyter_protocol::ExecuteRequest {
            code: "print(1)".into(),
            silent: false,
            store_history: true,
            user_expressions: None,
            allow_stdin: false,
            stop_on_error: true,
        };
        let message = RawMessage::new_typed(request, "s", None, &Signer::unsigned());
        assert_eq!(
            message.routing().expect("routing").msg_type,
            "execute_request"
        );
        assert_eq!(
            message.content_json().expect("json"),
            json!({"code": "print(1)", "silent": false, "store_history": true,
                   "user_expressions": {}, "allow_stdin": false, "stop_on_error": true})
        );
        let shutdown = RawMessage::new_typed(
            jupyter_protocol::ShutdownRequest { restart: false },
            "s",
            None,
            &Signer::unsigned(),
        );
        assert_eq!(
            shutdown.routing().expect("routing").msg_type,
            "shutdown_request"
        );
        assert_eq!(
            shutdown.content_json().expect("json"),
            json!({"restart": false})
        );
    }

    #[test]
    fn dates_have_six_fraction_digits_and_z() {
        let date = now_iso();
        assert_eq!(date.len(), "2026-11-28T20:48:26.195111Z".len(), "{date}");
        assert!(date.ends_with('Z'));
    }
}

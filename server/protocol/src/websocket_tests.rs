use super::*;
use serde_json::{Value, json};

const HEADER: &str = r#"{"msg_id":"m1","session":"s1","username":"u","date":"2024-01-01T00:00:00.000000Z","msg_type":"kernel_info_request","version":"5.3"}"#;

fn message(content: &'static str, buffers: &[&'static [u8]]) -> RawMessage {
    let mut message = RawMessage::from_parts(
        Bytes::from_static(HEADER.as_bytes()),
        Bytes::from_static(br#"{"msg_id":"p0"}"#),
        Bytes::from_static(b"{}"),
        Bytes::from_static(content.as_bytes()),
    );
    message.buffers = buffers.iter().map(|b| Bytes::from_static(b)).collect();
    message
}

#[test]
fn v1_matches_the_reference_vector() {
    // Reference §3.5: channel "shell", a 131-byte header and `{}` ×3.
    let header = format!("{{\"msg_id\":\"{}\"}}", "x".repeat(131 - 13));
    assert_eq!(header.len(), 131);
    let raw = RawMessage::from_parts(
        Bytes::from(header),
        Bytes::from_static(b"{}"),
        Bytes::from_static(b"{}"),
        Bytes::from_static(b"{}"),
    );
    let frame = encode_v1(Channel::Shell, &raw);
    assert_eq!(frame.len(), 198);
    let prefix: String = frame[..56].iter().map(|b| format!("{b:02x}")).collect();
    let expected = "0600000000000000 3800000000000000 3d00000000000000 c000000000000000 \
                    c200000000000000 c400000000000000 c600000000000000";
    assert_eq!(prefix, expected.replace(' ', ""));
    let (channel, decoded) = decode_v1(&frame, Sender::Client).expect("round trip");
    assert_eq!(channel, Channel::Shell);
    assert_eq!(decoded, raw);
}

#[test]
fn v1_round_trips_buffers_byte_for_byte() {
    let raw = message(r#"{"data":{"x":1.50}}"#, &[b"abc", b"", b"\xff\x00"]);
    let (channel, decoded) =
        decode_v1(&encode_v1(Channel::Control, &raw), Sender::Client).expect("valid");
    assert_eq!(channel, Channel::Control);
    assert_eq!(decoded, raw, "content keeps 1.50 as sent");
}

#[test]
fn legacy_text_splices_the_raw_parts() {
    let raw = message(r#"{"z":1.50,"a":"é"}"#, &[]);
    let Frame::Text(text) = encode_legacy(Channel::IoPub, &raw).expect("valid") else {
        panic!("no buffers: text");
    };
    assert!(text.contains(r#""content":{"z":1.50,"a":"é"}"#), "{text}");
    let json: Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(json["msg_id"], "m1");
    assert_eq!(json["msg_type"], "kernel_info_request");
    assert_eq!(json["channel"], "iopub");
    assert_eq!(json["buffers"], json!([]));
    assert_eq!(json["parent_header"], json!({"msg_id": "p0"}));
    let keys: Vec<&str> = json
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "header",
            "msg_id",
            "msg_type",
            "parent_header",
            "metadata",
            "content",
            "buffers",
            "channel"
        ]
    );
}

#[test]
fn legacy_binary_matches_the_reference_prefix() {
    let raw = message("{}", &[b"xyz"]);
    let Frame::Binary(frame) = encode_legacy(Channel::IoPub, &raw).expect("valid") else {
        panic!("buffers: binary");
    };
    assert_eq!(&frame[..8], &[0, 0, 0, 2, 0, 0, 0, 12]);
    let json_end = u32::from_be_bytes([frame[8], frame[9], frame[10], frame[11]]) as usize;
    assert_eq!(&frame[json_end..], b"xyz");
    let json: Value = serde_json::from_slice(&frame[12..json_end]).expect("JSON part");
    assert!(json.get("buffers").is_none());
    // And the client direction parses the same layout.
    let mut to_kernel = frame.to_vec();
    let text = String::from_utf8(to_kernel[12..json_end].to_vec())
        .expect("utf8")
        .replace("\"iopub\"", "\"shell\"");
    to_kernel.splice(12..json_end, text.bytes());
    let (channel, decoded) = decode_legacy_binary(&to_kernel, Sender::Client).expect("valid");
    assert_eq!(channel, Channel::Shell);
    assert_eq!(decoded.buffers, vec![Bytes::from_static(b"xyz")]);
}

#[test]
fn client_text_keeps_its_bytes_and_tolerates_kg_quirks() {
    // KG's tests send `"buffers": {}` and omit parent_header/metadata and the date.
    let text = r#"{"header": {"msg_id": "a", "msg_type": "execute_request", "session": "s"}, "content": {"code": "1.50"}, "buffers": {}, "channel": "shell"}"#;
    let (channel, message) = decode_legacy_text(text, Sender::Client).expect("valid");
    assert_eq!(channel, Channel::Shell);
    assert_eq!(
        &message.header[..],
        br#"{"msg_id": "a", "msg_type": "execute_request", "session": "s"}"#
    );
    assert_eq!(&message.content[..], br#"{"code": "1.50"}"#);
    assert_eq!(&message.parent_header[..], b"{}");
    let no_channel = r#"{"header": {"msg_id": "a", "msg_type": "x"}}"#;
    assert_eq!(
        decode_legacy_text(no_channel, Sender::Client)
            .expect("valid")
            .0,
        Channel::Shell
    );
}

#[test]
fn bad_client_frames_are_errors_not_panics() {
    assert!(decode_legacy_text("not json", Sender::Client).is_err());
    assert!(
        decode_legacy_text(r#"{"content": {}}"#, Sender::Client).is_err(),
        "header is required"
    );
    assert_eq!(
        decode_legacy_text(r#"{"header": {}, "channel": "iopub"}"#, Sender::Client).map(|_| ()),
        Err(FrameError::Channel("iopub".into()))
    );
    for frame in [
        &b""[..],
        b"\x06\0\0\0\0\0\0\0",
        b"\xff\xff\xff\xff\xff\xff\xff\x7f",
        &[0u8; 64],
    ] {
        assert!(decode_v1(frame, Sender::Client).is_err());
        assert!(decode_legacy_binary(frame, Sender::Server).is_err());
    }
    let mut backwards = encode_v1(Channel::Shell, &message("{}", &[])).to_vec();
    backwards[16..24].copy_from_slice(&1000u64.to_le_bytes());
    assert!(decode_v1(&backwards, Sender::Client).is_err());
}

#[test]
fn server_frames_carry_iopub_and_null_parts_read_as_empty_objects() {
    // As Enterprise Gateway writes them: null parent for a kernel's own status, msg_id/msg_type keys.
    let text = r#"{"header": {"msg_id": "x", "msg_type": "status"}, "parent_header": null, "metadata": {}, "content": {"execution_state": "idle"}, "buffers": [], "channel": "iopub", "msg_id": "x", "msg_type": "status"}"#;
    let (channel, decoded) = decode_legacy_text(text, Sender::Server).expect("decodes");
    assert_eq!(channel, Channel::IoPub);
    assert_eq!(&decoded.parent_header[..], b"{}");
    assert_eq!(&decoded.content[..], br#"{"execution_state": "idle"}"#);
    // A server names the channel; a client may not write on iopub.
    assert_eq!(
        decode_legacy_text(r#"{"header": {}}"#, Sender::Server).map(|_| ()),
        Err(FrameError::Channel(String::new()))
    );
    assert_eq!(
        decode_legacy_text(r#"{"header": {}, "channel": "nowhere"}"#, Sender::Server).map(|_| ()),
        Err(FrameError::Channel("nowhere".into()))
    );
}

#[test]
fn what_a_client_sends_a_server_decodes_and_back() {
    // The gateway client's requests, as the gateway reads them, and its replies, as the client does.
    let request = message(r#"{"code":"1 + 1","n":12345678901234567890123}"#, &[]);
    let Frame::Text(text) = encode_legacy(Channel::Shell, &request).expect("encodes") else {
        panic!("no buffers: text");
    };
    let (channel, decoded) = decode_legacy_text(&text, Sender::Client).expect("decodes");
    assert_eq!(
        (channel, &decoded.content),
        (Channel::Shell, &request.content)
    );
    let with_buffers = message("{}", &[b"\x00\x01", b""]);
    let Frame::Binary(frame) = encode_legacy(Channel::IoPub, &with_buffers).expect("encodes")
    else {
        panic!("buffers: binary");
    };
    let (channel, decoded) = decode_legacy_binary(&frame, Sender::Server).expect("decodes");
    assert_eq!(channel, Channel::IoPub);
    assert_eq!(decoded.buffers, with_buffers.buffers);
}

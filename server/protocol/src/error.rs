use std::path::PathBuf;

/// Everything that can be wrong with bytes that claim to be a Jupyter message or connection file.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("unsupported signature scheme {scheme:?}: nbgate signs with \"hmac-sha256\" only")]
    UnsupportedScheme { scheme: String },
    #[error("message has no <IDS|MSG> delimiter among its {frames} frames")]
    MissingDelimiter { frames: usize },
    #[error(
        "message has {found} frames after <IDS|MSG>, needs at least 5 (signature and four JSON parts)"
    )]
    TooFewFrames { found: usize },
    #[error("invalid message signature")]
    BadSignature,
    #[error("message {part} is not valid JSON: {source}")]
    BadJson {
        part: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("message header has no string field {field:?}")]
    MissingHeaderField { field: &'static str },
    #[error("connection file {path}: {reason}")]
    ConnectionFile { path: PathBuf, reason: String },
}

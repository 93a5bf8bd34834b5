//! The Jupyter wire protocol, free of transport.
//!
//! # Map
//! - [`wire`]: a message as the raw frames a kernel sends (`<IDS|MSG>` split, identities, topic frames,
//!   buffers), and [`Signer`], HMAC-SHA256 over the exact bytes with a constant-time check.
//! - [`message`]: headers nbgate creates, and the few fields nbgate reads from a received message to
//!   route it (`msg_id`, `msg_type`, `session`, the parent's `msg_id`) without re-serialising it.
//! - [`connection`]: connection files (read, and written with mode 0600).
//! - [`channel`]: the five channels and their names.
//! - [`websocket`]: the channels WebSocket's frames (legacy JSON/binary, `v1.kernel.websocket.jupyter.org`)
//!   ↔ messages, for nbgate's Kernel Gateway API and its gateway client alike.
//!
//! # Invariants
//! - No sockets, no tokio, no clock reads other than [`message::now_iso`] (the one place that stamps
//!   header dates). Everything here is a pure function that unit tests pin to byte vectors.
//! - A received message is never re-serialised: forwarding keeps its frames byte for byte and only what
//!   nbgate itself changes is re-signed. Typed views (`jupyter-protocol`) are built from copies.

pub mod channel;
pub mod connection;
pub mod error;
pub mod message;
pub mod websocket;
pub mod wire;

pub use channel::Channel;
pub use connection::{read_connection_file, write_connection_file};
pub use error::ProtocolError;
pub use message::{Routing, new_header, now_iso};
pub use wire::{DELIMITER, RawMessage, Signer};

/// Re-exported so that callers use the same message types nbgate does.
pub use jupyter_protocol;

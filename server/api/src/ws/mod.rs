//! The WebSocket bridge: `GET /api/kernels/{id}/channels[?session_id=S]`.
//!
//! - frames: the three formats ↔ raw kernel messages are `nbgate_protocol::websocket` (clients' frames
//!   decoded as `Sender::Client`'s).
//! - `session`: one [`Sessions`] per kernel: `session_id` → a pump task owning a `KernelClient` whose
//!   socket identity is the session id (so the kernel routes replies and stdin to it), fanning iopub and
//!   the session's replies out to the current connection, buffering while there is none, and ending after
//!   the linger period without one. A second connection with the same id takes the session over; the
//!   stale one is closed.
//! - `connection`: one task per socket: frames in (re-signed with the kernel key) and out, pings.
//!
//! The subprotocol `v1.kernel.websocket.jupyter.org` is selected when offered; otherwise the legacy JSON
//! format is used (jupyter_server in gateway mode always uses it).

mod connection;
mod session;

use std::collections::HashMap;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use nbgate_protocol::websocket as frames;

pub(crate) use session::Sessions;

use crate::routes::Route;
use crate::{ApiError, AppState, auth};

/// Which format a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Legacy,
    V1,
}

pub(crate) fn routes() -> Vec<Route> {
    vec![Route::new(
        Method::GET,
        "/api/kernels/{id}/channels",
        channels,
    )]
}

/// ZeroMQ identities are at most 255 bytes.
const MAX_SESSION_ID: usize = 255;

async fn channels(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let entry = state.kernels.get(&id)?;
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let origin = text(header::ORIGIN);
    if !auth::origin_allowed(&state.config.cors, origin, text(header::HOST)) {
        return Err(ApiError::ForbiddenOrigin {
            origin: origin.unwrap_or_default().to_owned(),
        });
    }
    let upgrade = upgrade
        .map_err(|rejection| {
            ApiError::BadRequest(format!(
                "not a WebSocket request: {}",
                rejection.body_text()
            ))
        })?
        .protocols([frames::V1_PROTOCOL]);
    let format = if upgrade.selected_protocol().is_some() {
        Format::V1
    } else {
        Format::Legacy
    };
    let session_id = match query.get("session_id").filter(|s| !s.is_empty()) {
        Some(session) if session.len() <= MAX_SESSION_ID => session.clone(),
        Some(_) => {
            return Err(ApiError::BadRequest(format!(
                "session_id is longer than {MAX_SESSION_ID} bytes"
            )));
        }
        None => {
            tracing::warn!(kernel = %id, "no session_id given; using a fresh one");
            uuid::Uuid::new_v4().to_string()
        }
    };
    let config = state.config.clone();
    let ticket = entry.sessions.ticket();
    // Attached before the handshake is answered: once a client sees the socket open, every kernel
    // message from then on reaches it (or its session's buffer), whatever it does next.
    let counted = entry.connect();
    let attached = Sessions::attach(&entry, &session_id, ticket, config.session_linger)
        .await
        .inspect_err(|error| {
            tracing::warn!(kernel = %id, session = %session_id, %error, "cannot connect to the kernel");
        })?;
    Ok(upgrade
        .on_failed_upgrade(|error| tracing::warn!(%error, "WebSocket upgrade failed"))
        .on_upgrade(move |socket| {
            connection::serve(socket, entry, attached, counted, format, config)
        })
        .into_response())
}

//! Socket.IO's WebSocket transport served natively: a client that connects straight over a WebSocket
//! (`transports: ["websocket"]`, `GET /socket.io/?EIO=4&transport=websocket`, no session id) is one task
//! holding its WebSocket ([`socket`]) and a seat in its license's room ([`crate::ws::room`]), where the
//! license's relay writes each live event straight into the connection ([`crate::ws::line`]), instead of
//! socketioxide's session (a 32-slot packet channel and three tasks, about 12 KiB of the 20 a socket
//! measured in issue 14). Long polling, and a polling session upgrading to a WebSocket, stay with
//! socketioxide; both kinds see the same events, emits ([`super::emits`]) and recovery.

use super::SocketIoState;
use crate::domain::LicenseKey;
use bytes::Bytes;
use dashmap::DashMap;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE};
use hyper::{Request, Response, StatusCode};
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

mod ending;
mod line_io;
mod packet;
mod socket;

/// A license's native sockets on this node, as its relay sees them.
pub(super) type Room = crate::ws::room::Room<crate::ws::room::SocketIoFrames>;

#[cfg(test)]
mod tests;

/// Whether `request` opens a Socket.IO session straight over a WebSocket (Engine.IO 4, no session id to
/// upgrade from): those are served here, everything else by socketioxide.
pub(super) fn wants(request: &Request<Incoming>) -> bool {
    let upgrading = request.headers().get(UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if !upgrading || request.method() != hyper::Method::GET {
        return false;
    }
    let query = request.uri().query().unwrap_or_default();
    let param = |name: &str| query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='));
    param("EIO") == Some("4") && param("transport") == Some("websocket") && param("sid").is_none()
}

/// Answers the WebSocket handshake and starts the socket's task once hyper hands the connection over.
pub(super) fn upgrade(mut request: Request<Incoming>, state: SocketIoState) -> Response<Full<Bytes>> {
    let key = request.headers().get(SEC_WEBSOCKET_KEY).map(|key| derive_accept_key(key.as_bytes()));
    let version = request.headers().get(SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes);
    let (Some(accept), Some(b"13")) = (key, version) else {
        let body = serde_json::json!({ "error": { "code": "bad_handshake", "message": "a WebSocket handshake needs Sec-WebSocket-Key and Sec-WebSocket-Version: 13" } });
        let mut refused = Response::new(Full::new(Bytes::from(body.to_string())));
        *refused.status_mut() = StatusCode::BAD_REQUEST;
        refused.headers_mut().insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return refused;
    };
    let source = super::listener::ClientAddr::of(request.extensions());
    let upgraded = hyper::upgrade::on(&mut request);
    // The request (headers, URI) is not kept: only the connection lives on.
    drop(request);
    tokio::spawn(async move {
        match upgraded.await {
            Ok(connection) => socket::Connection::start(connection, state, source).await,
            Err(err) => tracing::debug!(%err, "Socket.IO WebSocket upgrade failed"),
        }
    });
    let mut switching = Response::new(Full::new(Bytes::new()));
    *switching.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = switching.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    }
    switching
}

/// The natively served sockets open on this node, by license (socketioxide counts its own).
#[derive(Default)]
pub(super) struct NativeCounts {
    by_license: DashMap<LicenseKey, usize>,
    total: AtomicUsize,
}

impl NativeCounts {
    /// Open sockets, of one license or of all.
    pub(super) fn sockets(&self, license: Option<&LicenseKey>) -> usize {
        match license {
            Some(license) => self.by_license.get(license).map_or(0, |count| *count),
            None => self.total.load(Ordering::Relaxed),
        }
    }

    fn opened(&self, license: &LicenseKey) {
        *self.by_license.entry(license.clone()).or_default() += 1;
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    fn closed(&self, license: &LicenseKey) {
        self.by_license.remove_if_mut(license, |_, count| {
            *count = count.saturating_sub(1);
            *count == 0
        });
        self.total.fetch_sub(1, Ordering::Relaxed);
    }
}

//! The Socket.IO port's accept loop: connection caps (total and per source address), a header timeout
//! against slowloris, and a stop at the shutdown signal.

use super::loops::EventLoops;
use super::stall_guard::StallGuard;
use crate::domain::client_address;
use crate::limits::{Admitted, RateLimits};
use crate::shutdown::Shutdown;
use hyper::body::{Body, Incoming};
use hyper::header::{HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper::{Request, Response, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// What the listener refuses: connections beyond a total and per source address, and clients that
/// do not finish their request headers in time (slowloris); and how it tells a request's client address.
pub struct ListenerCaps {
    /// Open connections at most; more are closed at accept.
    pub max_connections: usize,
    /// Time a client has to send a request's headers.
    pub header_timeout: Duration,
    /// The node's limits: open connections per source address (shared with the WebSocket endpoints)
    /// and the members' emit budgets.
    pub limits: Arc<RateLimits>,
    /// Take a request's client address from `X-Forwarded-For` (behind a trusted proxy only).
    pub trust_x_forwarded_for: bool,
}

/// A request's client address (the peer, or the proxy's `X-Forwarded-For` hop when trusted), put in its
/// extensions: Socket.IO's connect handler reads it from the socket's request parts for the allow-list.
#[derive(Debug, Clone, Copy)]
pub(super) struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The client address in a request's `extensions`. Every request through [`accept`] carries one; the
    /// fallback, unspecified, matches no allow-list entry.
    pub(super) fn of(extensions: &hyper::http::Extensions) -> IpAddr {
        extensions.get::<Self>().map_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |client| client.0)
    }
}

/// Serves connections from `listener` with `service` until `shutdown` fires; returns with the listener
/// closed.
pub(super) async fn accept<S, B>(
    listener: tokio::net::TcpListener,
    service: S,
    caps: &ListenerCaps,
    loops: &EventLoops,
    shutdown: &Shutdown,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let open = Arc::new(tokio::sync::Semaphore::new(caps.max_connections.max(1)));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(caps.header_timeout);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, usually: back off instead of spinning.
                    tracing::warn!(%err, "Socket.IO accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.triggered() => break,
        };
        // Over a cap, the connection is closed at once: it holds no descriptor beyond this point.
        let refused = |reason: &'static str| {
            metrics::counter!(crate::telemetry::CONNECTIONS_REFUSED, "reason" => reason).increment(1);
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            refused("listener_full");
            tracing::debug!(%peer, "Socket.IO connection refused: listener at MAX_CONNECTIONS");
            continue;
        };
        let Some(slot) = caps.limits.source_connections.take(peer.ip()) else {
            refused("source_full");
            tracing::debug!(%peer, "Socket.IO connection refused: source at MAX_CONNECTIONS_PER_SOURCE");
            continue;
        };
        // Small frames go out at once instead of waiting for the previous one's acknowledgement (Nagle).
        let _ = stream.set_nodelay(true);
        // Off this runtime's reactor, to be registered with the event loop that serves it.
        let Ok(stream) = stream.into_std() else { continue };
        let (service, http) = (service.clone(), http.clone());
        let trust = caps.trust_x_forwarded_for;
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            let forwarded = request.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
            let client = client_address(forwarded, Some(peer.ip()), trust);
            request.extensions_mut().insert(ClientAddr(client));
            detach_from_read_buffer(&mut request);
            service.call(request)
        });
        loops.spawn(async move {
            let Ok(stream) = tokio::net::TcpStream::from_std(stream) else { return };
            // A client that stops reading is cut instead of holding its session forever.
            let stream = StallGuard::new(stream, crate::ws::driver::SEND_TIMEOUT);
            // hyper's connection future ends at a websocket upgrade while the socket lives on in
            // engineioxide: the caps go with the stream, so they count the socket until it closes.
            let stream = Admitted::new(stream, (permit, slot));
            let served = http.serve_connection(TokioIo::new(stream), service).with_upgrades().await;
            if let Err(err) = served {
                tracing::debug!(%err, "Socket.IO connection ended with an error");
            }
        });
    }
}

/// What admitted a connection: counted against the listener's and its source's caps while it is held.
pub(super) type ConnectionSlots = (tokio::sync::OwnedSemaphorePermit, crate::limits::slots::Slot<IpAddr>);

/// A connection as [`accept`] hands it to hyper.
type Accepted = TokioIo<Admitted<StallGuard<tokio::net::TcpStream>, ConnectionSlots>>;

/// An upgraded connection's TCP stream, the bytes hyper read past the upgrade, and what admitted it;
/// `None` if it did not come through [`accept`].
pub(super) fn unwrap_upgraded(
    upgraded: hyper::upgrade::Upgraded,
) -> Option<(tokio::net::TcpStream, bytes::Bytes, ConnectionSlots)> {
    let parts = upgraded.downcast::<Accepted>().ok()?;
    let (guarded, slots) = parts.io.into_inner().into_parts();
    Some((guarded.into_inner(), parts.read_buf, slots))
}

/// Copies the request's header values and URI out of hyper's read buffer. hyper hands them out as slices of
/// that buffer (8 KiB), and engineioxide keeps the request's parts for the socket's whole life, so without the
/// copy every Socket.IO socket kept the whole buffer alive: 8.7 KiB a socket in heaptrack (issue 14).
fn detach_from_read_buffer(request: &mut Request<Incoming>) {
    let headers: HeaderMap = request
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            let mut copy = HeaderValue::from_bytes(value.as_bytes()).ok()?;
            copy.set_sensitive(value.is_sensitive());
            Some((name.clone(), copy))
        })
        .collect();
    *request.headers_mut() = headers;
    if let Ok(uri) = Uri::try_from(request.uri().to_string()) {
        *request.uri_mut() = uri;
    }
}

//! The socket loops once upgraded (the upgrade handlers are HTTP handlers, `http::sockets`). Each
//! WebSocket is one `select!` loop over inbound frames, what it is to forward (conversation updates for a
//! widget) and a heartbeat ([`driver`]: keep-alive, send timeout and closes, shared by every loop); it
//! writes its frames straight to the connection ([`writer`], each send bounded by the timeout), talks to
//! the actors by message and cleans up in one place. A dashboard's live events are written by its
//! license's [`relay`] into its connection directly ([`room`], [`mod@line`]), not by its loop.

pub mod dashboard;
pub mod driver;
pub mod frame_guard;
pub mod line;
pub mod recovery;
pub mod relay;
pub mod room;
pub mod socketio;
pub mod widget;
pub mod writer;

use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use frame_guard::{guard_payload, FrameGuard};
use std::sync::atomic::{AtomicU64, Ordering};
use writer::SocketWriter;

/// An upgraded socket: the response to send, the session to write to, the frames read (continuations
/// aggregated, every frame and message at most `max_frame` bytes) and the guard that tells whether the
/// stream ended on an oversized frame header.
pub struct Upgraded {
    /// The 101 response.
    pub response: HttpResponse,
    /// Writes to the client.
    pub session: SocketWriter,
    /// Reads from the client.
    pub stream: actix_ws::AggregatedMessageStream,
    /// Set when a header announced more than `max_frame` bytes.
    pub guard: FrameGuard,
}

/// Completes a WebSocket handshake with the frame limit enforced on announced lengths. The 101 carries
/// the [`writer::Handover`] that gives the socket's writer its connection (`http::handover`).
pub fn upgrade(req: &HttpRequest, body: web::Payload, max_frame: usize) -> Result<Upgraded, actix_web::Error> {
    let (mut guarded, guard) = guard_payload(body.into_inner(), max_frame);
    let body = web::Payload::from_request(req, &mut guarded).into_inner()?;
    // actix-ws makes its frame reader only together with its own session, which is dropped here with the
    // response's body (its outbound queue): frames are written by `SocketWriter`, the 101 goes without a body.
    let (response, _, stream) = actix_ws::handle(req, body)?;
    let stream = stream.max_frame_size(max_frame).aggregate_continuations().max_continuation_size(max_frame);
    let (session, handover) = SocketWriter::new();
    let mut response = response.drop_body().map_into_boxed_body();
    response.extensions_mut().insert(handover);
    Ok(Upgraded { response, session, stream, guard })
}

/// The close for a stream that ended with `err`: 1009 when a frame or message was too large.
pub fn protocol_close(err: &actix_ws::ProtocolError, guard: &FrameGuard, max_frame: usize) -> actix_ws::CloseReason {
    use actix_ws::{CloseCode, CloseReason, ProtocolError};
    if guard.tripped() || matches!(err, ProtocolError::Overflow) {
        return CloseReason {
            code: CloseCode::Size,
            description: Some(format!("frames and messages are limited to {max_frame} bytes")),
        };
    }
    CloseReason { code: CloseCode::Protocol, description: Some(format!("protocol error: {err}")) }
}

/// A process-unique id for a socket, so actors can tell watchers apart.
pub fn next_socket_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

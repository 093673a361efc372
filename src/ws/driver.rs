//! What both WebSocket loops (widget and dashboard) do the same way, so they cannot drift apart: a
//! ping every [`HEARTBEAT`], the close for a client silent for [`CLIENT_TIMEOUT`], how long a send waits
//! for a client that stops reading ([`SEND_TIMEOUT`], applied by [`within_send_timeout`] to every write:
//! a slow consumer is closed, never buffered for), and the closes for a server restart and a slow client.
//! Each loop keeps only what is its own: what it reads and writes.

use actix_ws::{CloseCode, CloseReason};
use std::future::Future;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::time::Interval;

/// How often a socket pings its client.
pub const HEARTBEAT: Duration = Duration::from_secs(20);
/// Silence (no frame, no pong) after which a client counts as gone.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one outbound frame may wait for the client before it counts as a slow consumer.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Close code for a client that stopped reading its socket.
pub const CLOSE_TOO_SLOW: u16 = 4001;
/// Close code when the socket's session is revoked (logout, license suspended).
pub const CLOSE_REVOKED: u16 = 4003;
/// Close code when the server stops: reconnect, to another node or to this one after its restart.
pub const CLOSE_RESTART: u16 = 1012;

/// The keep-alive of one socket: when to ping, and when the client counts as gone.
pub struct KeepAlive {
    tick: Interval,
    last_heard: Instant,
}

impl KeepAlive {
    /// Starts counting from now.
    pub fn new() -> Self {
        Self { tick: tokio::time::interval(HEARTBEAT), last_heard: Instant::now() }
    }

    /// The client sent something (any frame, a pong included).
    pub fn heard(&mut self) {
        self.last_heard = Instant::now();
    }

    /// Waits for the next heartbeat: `Ok` when it is time to ping, the close when the client has been
    /// silent for longer than [`CLIENT_TIMEOUT`].
    pub async fn beat(&mut self) -> Result<(), CloseReason> {
        self.tick.tick().await;
        if self.last_heard.elapsed() > CLIENT_TIMEOUT {
            return Err(CloseReason { code: CloseCode::Away, description: Some("no frames or pongs for 60 s".into()) });
        }
        Ok(())
    }
}

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The client is gone; there is nobody to tell.
    Gone,
    /// The client did not take the frame within [`SEND_TIMEOUT`]: close it with this reason.
    TooSlow(CloseReason),
}

impl SendError {
    /// The close to send after this failure, if anyone is left to read it.
    pub fn into_close(self) -> Option<CloseReason> {
        match self {
            SendError::Gone => None,
            SendError::TooSlow(reason) => Some(reason),
        }
    }
}

/// Awaits `sending` (a write to a client), at most [`SEND_TIMEOUT`]: past it, the client is too slow.
///
/// Most writes complete at the first poll; only one that waits gets a timer, boxed: this future sits in
/// a socket loop's state for the socket's whole life, and a tokio timer inline (~250 bytes) would add its
/// size to every socket.
pub async fn within_send_timeout<T>(sending: impl Future<Output = T>) -> Result<T, SendError> {
    let mut sending = std::pin::pin!(sending);
    match std::future::poll_fn(|cx| Poll::Ready(sending.as_mut().poll(cx))).await {
        Poll::Ready(sent) => Ok(sent),
        Poll::Pending => Box::pin(tokio::time::timeout(SEND_TIMEOUT, sending))
            .await
            .map_err(|_elapsed| SendError::TooSlow(too_slow())),
    }
}

/// The close for a client that stopped reading (its queue or the send timeout overflowed).
pub fn too_slow() -> CloseReason {
    CloseReason {
        code: CloseCode::Other(CLOSE_TOO_SLOW),
        description: Some("too slow: the client stopped reading".into()),
    }
}

/// The close for a dashboard whose session was revoked (logout, license suspended).
pub fn revoked() -> CloseReason {
    CloseReason { code: CloseCode::Other(CLOSE_REVOKED), description: Some("session revoked".into()) }
}

/// The close every socket gets when the server stops.
pub fn restarting() -> CloseReason {
    CloseReason {
        code: CloseCode::Other(CLOSE_RESTART),
        description: Some("the server is restarting; reconnect".into()),
    }
}

/// The metric label of the close a socket ended with (`None`: the client went away).
pub fn close_label(reason: Option<&CloseReason>) -> &'static str {
    use actix_ws::CloseCode;
    match reason.map(|r| r.code) {
        None | Some(CloseCode::Normal | CloseCode::Away) => "client",
        Some(CloseCode::Size) => "too_large",
        Some(CloseCode::Policy) => "policy",
        Some(CloseCode::Error) => "store",
        Some(CloseCode::Restart) => "restart",
        Some(CloseCode::Protocol | CloseCode::Invalid | CloseCode::Unsupported) => "protocol",
        Some(CloseCode::Other(CLOSE_TOO_SLOW)) => "too_slow",
        Some(CloseCode::Other(CLOSE_RESTART)) => "restart",
        Some(CloseCode::Other(CLOSE_REVOKED)) => "revoked",
        Some(_) => "other",
    }
}

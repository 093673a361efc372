//! What both WebSocket loops (widget and dashboard) do the same way, so they cannot drift apart: a
//! ping every [`HEARTBEAT`], the close for a client silent for [`CLIENT_TIMEOUT`], how long a send waits
//! for a client that stops reading ([`SEND_TIMEOUT`], applied by [`within_send_timeout`] to every write:
//! a slow consumer is closed, never buffered for), and the closes for a server restart and a slow client.
//! Each loop keeps only what is its own: what it reads and writes.

use actix_ws::{CloseCode, CloseReason};
use std::future::Future;
use std::sync::OnceLock;
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
        Self { tick: coalesced_interval(HEARTBEAT), last_heard: Instant::now() }
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

/// Ticks every `period` (whole seconds), the first time about `period` from now, always on a whole second
/// of one clock the process shares: the heartbeats of every socket that fall due within the same second
/// tick in the same turn of the runtime's timer, which wakes once for all of them instead of once per
/// socket (8,000 Socket.IO sockets ping 320 times a second), and their pongs come back together. A
/// heartbeat moves by less than a second.
pub fn coalesced_interval(period: Duration) -> Interval {
    static GRID: OnceLock<tokio::time::Instant> = OnceLock::new();
    let grid = *GRID.get_or_init(tokio::time::Instant::now);
    tokio::time::interval_at(first_beat(grid, tokio::time::Instant::now(), period), period)
}

/// The first whole second after `grid` that is at least `period` after `now`.
fn first_beat(grid: tokio::time::Instant, now: tokio::time::Instant, period: Duration) -> tokio::time::Instant {
    let since = (now + period).duration_since(grid);
    grid + Duration::from_secs(since.as_secs() + u64::from(since.subsec_nanos() > 0))
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

#[cfg(test)]
mod tests {
    use super::first_beat;
    use std::time::Duration;
    use tokio::time::Instant;

    #[test]
    fn heartbeats_due_within_one_second_share_their_tick() {
        let grid = Instant::now();
        let period = Duration::from_secs(20);
        let at = |ms| first_beat(grid, grid + Duration::from_millis(ms), period);
        // Sockets opened 1.3 s and 1.9 s after the grid began: both first ping 22 s after it.
        assert_eq!(at(1_300), grid + Duration::from_secs(22));
        assert_eq!(at(1_900), grid + Duration::from_secs(22));
        // On a whole second: exactly one period later; never sooner than a period.
        assert_eq!(at(2_000), grid + Duration::from_secs(22));
        assert_eq!(at(2_001), grid + Duration::from_secs(23));
        for ms in [0, 1, 499, 999, 12_345] {
            let now = grid + Duration::from_millis(ms);
            let first = at(ms);
            assert!(first >= now + period && first < now + period + Duration::from_secs(1), "{ms} ms");
        }
    }
}

//! WebSocket endpoints. Each socket is one `select!` loop over inbound frames, its bounded outbound
//! queue and a heartbeat; it talks to the actors by message and cleans up in one place.

pub mod dashboard;
pub mod socketio;
pub mod widget;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How often a socket pings its client.
pub const HEARTBEAT: Duration = Duration::from_secs(20);
/// Silence (no frame, no pong) after which a client counts as gone.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one outbound frame may wait for the client before it counts as a slow consumer.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Close code for a client that stopped reading its socket.
pub const CLOSE_TOO_SLOW: u16 = 4001;

/// A process-unique id for a socket, so actors can tell watchers apart.
pub fn next_socket_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

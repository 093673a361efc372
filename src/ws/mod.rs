//! WebSocket endpoints. Each socket is one `select!` loop over inbound frames, its bounded outbound
//! queue and a heartbeat; it talks to the actors by message and cleans up in one place.

pub mod dashboard;
pub mod socketio;
pub mod widget;

use std::sync::atomic::{AtomicU64, Ordering};

/// A process-unique id for a socket, so actors can tell watchers apart.
pub fn next_socket_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

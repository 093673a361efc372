//! How a native Socket.IO socket ended ([`super::socket`]): what it sends the client on the way out,
//! and the label its gauge counts it under.

use actix_ws::{CloseCode, CloseReason};

/// How a socket ended: what it sends the client on the way out, and the metric label.
pub(super) struct Ending {
    /// What it sends.
    pub(super) farewell: Farewell,
    /// Why it ended, for the socket gauge.
    pub(super) label: &'static str,
}

/// What an ending socket sends the client.
pub(super) enum Farewell {
    /// Nothing: the client went away, or its buffers are full.
    Nothing,
    /// A close of ours, if the client can still take one (the same closes as a plain socket's,
    /// [`crate::ws::driver`]).
    Close(CloseReason),
    /// The answer to the client's own close, which tungstenite queued when it read that close: a flush
    /// sends it (dropped unsent, the client saw its connection reset without the closing handshake).
    Answer,
}

impl Ending {
    /// The client went away: nothing to send.
    pub(super) fn gone() -> Self {
        Self { farewell: Farewell::Nothing, label: "client" }
    }

    /// The client closed the WebSocket: its close is answered.
    pub(super) fn client_closed() -> Self {
        Self { farewell: Farewell::Answer, label: "client" }
    }

    /// The client's buffers are full: there is no room for a close either.
    pub(super) fn too_slow() -> Self {
        Self { farewell: Farewell::Nothing, label: "too_slow" }
    }

    /// A close of ours with `code` and `reason`.
    pub(super) fn closing(code: CloseCode, reason: &str, label: &'static str) -> Self {
        Self::with(CloseReason { code, description: Some(reason.to_owned()) }, label)
    }

    /// A close of ours.
    pub(super) fn with(close: CloseReason, label: &'static str) -> Self {
        Self { farewell: Farewell::Close(close), label }
    }
}

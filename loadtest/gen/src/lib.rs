//! Switchboard's lean load generator (`loadgen`) and floor server (`floor`), for measurement only.
//!
//! `loadgen` speaks the k6 scenarios' protocols (Socket.IO dashboards, plain-WebSocket dashboards, widget
//! visitors) from one small tokio runtime so the server, not the generator, is what saturates on a small box.
//! `floor` is the least a fan-out server can do: the same frames, encoded once, written to each socket.

pub mod config;
pub mod connect;
pub mod probe;
pub mod procstat;
pub mod report;
pub mod scenario;
pub mod setup;
pub mod wire;

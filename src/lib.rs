//! Switchboard: a real-time customer-messaging server.
//!
//! - [`domain`]: typed values (license and product keys, e-mails, products); parsing is validation.
//! - [`store`]: SQLite or PostgreSQL behind one handle; all SQL lives there.
//! - [`bus`]: license-scoped event bus; [`actors`]: conversation and tenant actors and their registry.
//! - [`channels`]: Messenger and WhatsApp (Twilio): webhook verification and parsing, outbound API calls.
//! - [`auth`]: password hashing, JWTs and revocable sessions (cached in memory or Redis).
//! - [`http`]: thin actix-web handlers and the one error → response mapping.
//! - [`ws`]: the widget WebSocket (and dashboard streams), one `select!` loop per socket.
//! - [`limits`]: per-visitor and per-license rate limits, local and across nodes.
//! - [`telemetry`]: Prometheus metrics (names, the recorder, `/metrics`).
//! - [`shutdown`]: the one stop signal every listener and socket loop obeys.
//! - [`app`]: wiring and the server's lifecycle; [`config`]: environment variables.
//! - [`cli`]: operator commands (issue and manage licenses without the HTTP admin).

pub mod actors;
pub mod app;
pub mod auth;
pub mod bus;
pub mod channels;
pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod limits;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod ws;

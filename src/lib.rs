//! Switchboard: a real-time customer-messaging server.
//!
//! - [`domain`]: typed values (license and product keys, e-mails, products); parsing is validation.
//! - [`store`]: SQLite or PostgreSQL behind one handle; all SQL lives there.
//! - [`bus`]: license-scoped event bus; [`actors`]: conversation and tenant actors and their registry.
//! - [`channels`]: Messenger and WhatsApp (Twilio): webhook verification and parsing, outbound API calls;
//!   `delivery`: the worker that sends agents' replies through them, with retries.
//! - [`auth`]: password hashing, JWTs and revocable sessions (cached in memory or Redis).
//! - `error`: the one error → wire-code mapping, shared by HTTP, Socket.IO and the widget socket.
//! - [`http`]: thin actix-web handlers; the only place errors become HTTP responses.
//! - [`ws`]: the socket loops once upgraded (widget, dashboard, Socket.IO), one `select!` loop per socket;
//!   the upgrade handlers are HTTP handlers (`http::sockets`), so `ws` never imports `http`.
//! - [`limits`]: per-visitor and per-license rate limits, local and across nodes.
//! - [`telemetry`]: Prometheus metrics (names, the recorder, `/metrics`).
//! - [`shutdown`]: the one stop signal every listener and socket loop obeys.
//! - [`app`]: wiring (`state`: what it shares with every handler) and the server's lifecycle; [`config`]: environment variables; `backends`: the
//!   in-process or Redis state nodes share.
//! - `licenses`: issue, suspend and reinstate licenses, one set of operations for the admin API and the CLI.
//! - `audit`: the append-only audit trail the operations write; `usage`: daily API allowances per tier.
//! - [`webhooks`]: outgoing tenant webhooks: the worker that signs, sends and retries what the store's
//!   outbox holds, and the guard on where they may go.
//! - `retention`: the job that deletes what each license's retention period has expired.
//! - [`cli`]: operator commands (issue and manage licenses without the HTTP admin).

// The crate's docs are for the people who work on it: `.ci/run` builds them with `--document-private-items`,
// where links to the internal layers (most of them `pub(crate)`, below) resolve.
#![allow(rustdoc::private_intra_doc_links)]

// Internal layers are `pub(crate)`: only what main.rs, tests/ and benches/ use is public, so the
// compiler reports dead code in the rest instead of keeping it alive as an unused export.
pub(crate) mod actors;
pub mod app;
pub(crate) mod audit;
pub mod auth;
pub(crate) mod backends;
pub mod bus;
pub mod channels;
pub mod cli;
pub mod config;
pub(crate) mod delivery;
pub mod domain;
pub(crate) mod error;
pub(crate) mod http;
pub(crate) mod licenses;
pub(crate) mod limits;
pub(crate) mod retention;
pub mod shutdown;
pub(crate) mod state;
pub mod store;
pub mod telemetry;
pub(crate) mod usage;
pub mod webhooks;
pub(crate) mod ws;

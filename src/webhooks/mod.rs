//! Outgoing tenant webhooks: the worker every node runs, the signature, and the address guard.
//!
//! The store writes events and their deliveries in the transaction of the change that caused them (see
//! `store::outbox`). Each node's [`WebhookWorker`] leases due deliveries (a conditional UPDATE, so one node
//! sends each), POSTs them signed, records every attempt, and retries 5xx, 408, 429 and network errors with
//! exponential backoff and jitter for `WEBHOOK_RETRY_HOURS`; other 4xx fail at once. A conversation's
//! events reach an endpoint in order: a later one is not claimed while an earlier one is pending. A lease
//! outlives the request timeout, so a node killed mid-send only delays its deliveries; at shutdown it
//! hands unfinished ones back. Delivery is at least once: receivers deduplicate on the event `id`.
//! Signing secrets are stored sealed when `SECRETS_KEY` is set ([`seal_for_storage`]).

pub mod address;
mod sealing;
pub mod signature;
mod worker;

pub use sealing::{open_stored, seal_for_storage};
pub use signature::SeenSignatures;
pub use worker::{WebhookSettings, WebhookWorker};

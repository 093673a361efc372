//! The delivery worker: claim, sign, send, record, retry; disable an endpoint that keeps failing.

use super::address::{literal_private_host, PublicResolver};
use super::sealing::open_stored;
use super::signature::{signature_header, DELIVERY_HEADER, EVENT_HEADER, EVENT_ID_HEADER, SIGNATURE_HEADER};
use crate::audit::{Actor, Audit, AuditEvent};
use crate::bus::{Event, Notification, SharedBus};
use crate::channels::token_box::TokenBox;
use crate::config::Config;
use crate::domain::{now_millis, AuditAction, NotificationKind, Permission, WebhookDeliveryId, WebhookDeliveryStatus};
use crate::shutdown::Shutdown;
use crate::store::{AttemptRecord, ClaimedDelivery, DisablePolicy, DisabledEndpoint, Store};
use anyhow::Context;
use dashmap::DashMap;
use rand::Rng;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Most of a receiver's answer kept per attempt.
const EXCERPT_BYTES: usize = 1024;
/// Longest wait between two retries.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);

/// How the worker sends and retries.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// https and public addresses only (checked at send time too).
    pub strict_urls: bool,
    /// How long a receiver has to answer.
    pub timeout: Duration,
    /// The first retry's delay; doubles per attempt, ±25 % jitter, at most an hour.
    pub retry_base: Duration,
    /// When a failing endpoint is disabled.
    pub disable: DisablePolicy,
    /// Requests in flight on this node at most.
    pub concurrency: usize,
    /// Time between scans for due deliveries.
    pub poll: Duration,
}

impl WebhookSettings {
    /// The wait before attempt `attempt + 1`.
    fn retry_delay(&self, attempt: i64) -> Duration {
        let doublings = u32::try_from(attempt.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
        let delay = self.retry_base.saturating_mul(1 << doublings).min(MAX_RETRY_DELAY);
        delay.mul_f64(rand::thread_rng().gen_range(0.75..1.25))
    }

    /// How long a claim holds: past the request's timeout, so a live sender always records first.
    fn lease(&self) -> Duration {
        self.timeout.saturating_mul(2) + Duration::from_secs(5)
    }
}

/// One node's webhook sender (cheap to clone).
#[derive(Clone)]
pub struct WebhookWorker {
    store: Store,
    bus: SharedBus,
    audit: Audit,
    client: reqwest::Client,
    settings: Arc<WebhookSettings>,
    in_flight: Arc<DashMap<WebhookDeliveryId, ()>>,
    finished: Arc<Notify>,
    /// Opens sealed signing secrets; `None` without `SECRETS_KEY`.
    tokens: Option<Arc<TokenBox>>,
}

impl WebhookWorker {
    /// This node's worker, from the `WEBHOOK_*` settings; `tokens` opens sealed secrets.
    pub fn from_config(
        config: &Config,
        store: &Store,
        bus: &SharedBus,
        tokens: Option<Arc<TokenBox>>,
    ) -> anyhow::Result<Self> {
        let webhooks = &config.webhooks;
        let settings = WebhookSettings {
            strict_urls: webhooks.strict_urls(config.public_url.as_deref()),
            timeout: Duration::from_millis(webhooks.webhook_timeout_ms.max(1)),
            retry_base: Duration::from_millis(webhooks.webhook_retry_base_ms),
            disable: DisablePolicy {
                after_failures: i64::from(webhooks.webhook_disable_after_failures.max(1)),
                after_ms: i64::try_from(webhooks.webhook_disable_after_seconds.saturating_mul(1000))
                    .unwrap_or(i64::MAX),
            },
            concurrency: webhooks.webhook_concurrency.max(1),
            poll: Duration::from_millis(webhooks.webhook_poll_ms.max(10)),
        };
        let worker = Self::new(store.clone(), bus.clone(), Audit::new(store.clone()), settings)
            .context("building the webhook HTTP client")?;
        Ok(Self { tokens, ..worker })
    }

    /// A worker with its own HTTP client (no redirects; public addresses only in strict mode).
    pub fn new(store: Store, bus: SharedBus, audit: Audit, settings: WebhookSettings) -> anyhow::Result<Self> {
        let mut client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Switchboard-Webhooks/", env!("CARGO_PKG_VERSION")));
        if settings.strict_urls {
            client = client.dns_resolver(Arc::new(PublicResolver));
        }
        let client = client.build()?;
        let settings = Arc::new(settings);
        let (in_flight, finished) = (Arc::default(), Arc::default());
        Ok(Self { store, bus, audit, client, settings, in_flight, finished, tokens: None })
    }

    /// Runs the claim loop until `shutdown`: after every scan, a commit of this node, a finished
    /// delivery (its conversation's next event may now go), or `WEBHOOK_POLL_MS`.
    pub fn start(&self, shutdown: Shutdown) {
        let worker = self.clone();
        tokio::spawn(async move {
            while !shutdown.is_triggered() {
                worker.claim_and_send().await;
                tokio::select! {
                    _ = worker.store.outbox_written() => {}
                    _ = worker.finished.notified() => {}
                    _ = tokio::time::sleep(worker.settings.poll) => {}
                    _ = shutdown.triggered() => {}
                }
            }
        });
    }

    /// At shutdown: lets running requests finish for up to `wait`, then hands the rest back so another
    /// node sends them at its next scan (the receiver may then see one twice: it deduplicates on `id`).
    pub async fn release(&self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        while !self.in_flight.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left: Vec<WebhookDeliveryId> = self.in_flight.iter().map(|entry| entry.key().clone()).collect();
        if let Err(err) = self.store.release_webhook_deliveries(&left).await {
            tracing::warn!(%err, "could not release webhook deliveries at shutdown");
        }
    }

    async fn claim_and_send(&self) {
        let free = self.settings.concurrency.saturating_sub(self.in_flight.len());
        if free == 0 {
            return;
        }
        let lease_ms = i64::try_from(self.settings.lease().as_millis()).unwrap_or(i64::MAX);
        let limit = i64::try_from(free).unwrap_or(i64::MAX);
        let claimed = match self.store.claim_webhook_deliveries(limit, now_millis().saturating_add(lease_ms)).await {
            Ok(claimed) => claimed,
            Err(err) => return tracing::warn!(%err, "could not claim webhook deliveries"),
        };
        for delivery in claimed {
            self.in_flight.insert(delivery.id.clone(), ());
            let worker = self.clone();
            tokio::spawn(async move {
                let id = delivery.id.clone();
                worker.deliver(delivery).await;
                worker.in_flight.remove(&id);
                worker.finished.notify_one();
            });
        }
    }

    async fn deliver(&self, delivery: ClaimedDelivery) {
        let started = Instant::now();
        let sent = self.send(&delivery).await;
        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let record = self.judge(&delivery, sent, latency_ms);
        let result = match record.status {
            WebhookDeliveryStatus::Succeeded => "succeeded",
            WebhookDeliveryStatus::Pending => "retry",
            WebhookDeliveryStatus::Failed => "failed",
        };
        metrics::counter!(crate::telemetry::WEBHOOK_ATTEMPTS, "result" => result).increment(1);
        match self.store.record_webhook_attempt(&delivery, &record, self.settings.disable).await {
            Ok(Some(disabled)) => self.announce_disabled(disabled).await,
            Ok(None) => {}
            Err(err) => tracing::warn!(%err, delivery = %delivery.id, "could not record a webhook attempt"),
        }
    }

    /// POSTs the delivery: `Ok((status, excerpt))` when the receiver answered, `Err(why)` otherwise.
    async fn send(&self, delivery: &ClaimedDelivery) -> Result<(u16, String), String> {
        let url = reqwest::Url::parse(&delivery.url).map_err(|e| format!("invalid url: {e}"))?;
        if self.settings.strict_urls && (url.scheme() != "https" || literal_private_host(&url)) {
            return Err("refused: not an https URL of a public address (WEBHOOK_STRICT_URLS)".into());
        }
        let secrets = delivery
            .secrets
            .iter()
            .map(|stored| open_stored(self.tokens.as_deref(), &delivery.license_key, stored))
            .collect::<Result<Vec<_>, _>>()?;
        let timestamp = now_millis() / 1000;
        let body = delivery.payload.as_bytes();
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature_header(&secrets, timestamp, body))
            .header(EVENT_HEADER, delivery.event.as_str())
            .header(DELIVERY_HEADER, delivery.id.as_str())
            .header(EVENT_ID_HEADER, delivery.event_id.as_str())
            .body(delivery.payload.clone())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_default();
        let cut = bytes.get(..EXCERPT_BYTES.min(bytes.len())).unwrap_or_default();
        Ok((status, String::from_utf8_lossy(cut).replace('\0', "")))
    }

    /// What an attempt's outcome means for the delivery.
    fn judge(&self, delivery: &ClaimedDelivery, sent: Result<(u16, String), String>, latency_ms: i64) -> AttemptRecord {
        let (status_code, excerpt, error) = match sent {
            Ok((code, excerpt)) => (Some(code), Some(excerpt), None),
            Err(error) => (None, None, Some(error)),
        };
        let refused = error.as_deref().is_some_and(|e| e.starts_with("refused") || e.starts_with("invalid url"));
        let retry_at = now_millis()
            .saturating_add(i64::try_from(self.settings.retry_delay(delivery.attempt).as_millis()).unwrap_or(i64::MAX));
        let status = match status_code {
            Some(200..=299) => WebhookDeliveryStatus::Succeeded,
            Some(code) if code < 500 && code != 408 && code != 429 => WebhookDeliveryStatus::Failed,
            _ if refused || retry_at > delivery.retry_until => WebhookDeliveryStatus::Failed,
            _ => WebhookDeliveryStatus::Pending,
        };
        AttemptRecord { status_code, response_excerpt: excerpt, latency_ms, error, status, next_attempt_at: retry_at }
    }

    /// Tells the license's admins (a notification each) and the audit trail that an endpoint was disabled.
    async fn announce_disabled(&self, disabled: DisabledEndpoint) {
        tracing::warn!(endpoint = %disabled.id, failures = disabled.failures, "disabled a failing webhook endpoint");
        let event = AuditEvent::new(AuditAction::WebhookEndpointDisabled, Actor::system())
            .license(&disabled.license_key)
            .target(disabled.id.as_str())
            .metadata(json!({ "url": disabled.url, "failures": disabled.failures }));
        self.audit.record(event).await;
        let members = match self.store.members(&disabled.license_key).await {
            Ok(members) => members,
            Err(err) => return tracing::warn!(%err, "could not list the admins to notify"),
        };
        let admins = members.iter().filter(|m| m.status == "active" && m.role.can(Permission::ManageSettings));
        for admin in admins {
            let notification = Notification {
                kind: NotificationKind::WebhookDisabled,
                title: "Webhook endpoint disabled".into(),
                body: format!("{} failed {} times in a row and was disabled.", disabled.url, disabled.failures),
                conversation_id: None,
                recipient: Some(admin.id.clone()),
                at: now_millis(),
            };
            self.bus.publish(&disabled.license_key, Event::Notification(notification));
        }
    }
}

/// A transport failure in a few words (never the URL's secrets: reqwest's text includes the URL).
fn describe(err: &reqwest::Error) -> String {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let source = std::error::Error::source(err).map(|s| s.to_string()).unwrap_or_default();
    format!("{what}: {source}").chars().take(300).collect()
}

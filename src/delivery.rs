//! The outbound delivery worker: hands agents' replies in Messenger and WhatsApp conversations to the
//! provider, retrying with exponential backoff and jitter on refused connections and 5xx (never on 4xx).
//! Every attempt is stored as an intent before the call and completed after it; every change of the
//! message's delivery state is stored and announced as `activity:new`. Actors reach it through
//! [`Dispatch`] only, so they never depend on the channels.
//!
//! At most once where it cannot be known: Messenger's Send API and Twilio's Messages API take no
//! idempotency key, so a call whose answer was lost (a timeout, or the node died mid-call and another
//! node finds the intent still `in_flight`) ends `unknown` and is never resent automatically: a
//! duplicate to a customer's phone cannot be taken back, a missing reply can be sent again by the agent.

use crate::actors::{Destination, Dispatch};
use crate::bus::{Activity, Event, SharedBus};
use crate::channels::outbound::Outbound;
use crate::channels::token_box::TokenBox;
use crate::domain::{now_millis, ConversationId, Delivery, LicenseKey, Message, MessageId};
use crate::store::{attempt_outcome, Store};
use dashmap::DashMap;
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;

/// Retry settings.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Delay before the second attempt; doubles each time, ±50 % jitter, at most 30 s.
    pub base_delay: Duration,
}

impl RetryPolicy {
    fn delay(&self, attempt: u32) -> Duration {
        let exponential = self.base_delay.saturating_mul(1 << attempt.saturating_sub(1).min(16));
        let capped = exponential.min(Duration::from_secs(30));
        capped.mul_f64(rand::thread_rng().gen_range(0.5..1.5))
    }
}

/// Everything a delivery needs.
#[derive(Clone)]
pub struct Deliverer {
    /// Provider clients.
    pub outbound: Arc<Outbound>,
    /// Where attempts and states are recorded.
    pub store: Store,
    /// Where state changes are announced.
    pub bus: SharedBus,
    /// Retry settings.
    pub policy: RetryPolicy,
    /// Deliveries running on this node (message ids), released to other nodes at shutdown.
    pub in_flight: Arc<DashMap<MessageId, ()>>,
    /// Opens pages' own tokens; `None` without `SECRETS_KEY`.
    pub tokens: Option<Arc<TokenBox>>,
}

impl Deliverer {
    /// Every `every`, resumes deliveries left pending for longer than `orphaned_after` (their node stopped
    /// mid-retry). A conditional claim in the store makes sure one node resends each.
    pub fn resume_orphans(&self, every: Duration, orphaned_after: Duration) {
        let deliverer = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(err) = deliverer.resume_orphans_once(orphaned_after).await {
                    tracing::warn!(%err, "could not look for orphaned deliveries");
                }
            }
        });
    }

    /// At shutdown: lets running deliveries finish for up to `wait`, then releases the rest in the
    /// store so another node resumes them at its next scan (a few seconds) rather than after
    /// `OUTBOUND_ORPHAN_SECONDS`. A provider call cut off mid-flight is not repeated there: its stored
    /// intent makes that delivery `unknown`.
    pub async fn release(&self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        while !self.in_flight.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let left: Vec<MessageId> = self.in_flight.iter().map(|entry| entry.key().clone()).collect();
        for id in &left {
            if let Err(err) = self.store.release_delivery(id).await {
                tracing::warn!(%err, message = %id, "could not release a delivery at shutdown");
            }
        }
        if !left.is_empty() {
            tracing::info!(released = left.len(), "released unfinished deliveries to the other nodes");
        }
    }

    /// The page's own token, opened, or `None` to use the operator's.
    async fn account_token(&self, to: &Destination) -> Result<Option<String>, String> {
        let sealed = match self.store.sealed_access_token(to.channel, &to.account_id).await {
            Ok(sealed) => sealed,
            Err(err) => {
                tracing::warn!(%err, "could not read the page's token; using the operator's");
                None
            }
        };
        match (sealed, &self.tokens) {
            (None, _) => Ok(None),
            (Some(sealed), Some(tokens)) => tokens.open(&to.account_id, &sealed).map(Some).map_err(|e| e.to_string()),
            (Some(_), None) => Err("the page has its own token, but SECRETS_KEY is not set on this node".into()),
        }
    }

    async fn resume_orphans_once(&self, orphaned_after: Duration) -> Result<(), crate::store::StoreError> {
        let age = i64::try_from(orphaned_after.as_millis()).unwrap_or(i64::MAX);
        let now = now_millis();
        for orphan in self.store.orphaned_deliveries(now.saturating_sub(age), 100).await? {
            if self.in_flight.contains_key(&orphan.message_id) {
                continue; // still being delivered here (a slow call), not orphaned
            }
            // Hold it for as long as a whole retry sequence may take.
            if !self.store.claim_delivery(&orphan.message_id, now.saturating_add(age)).await? {
                continue;
            }
            let Ok(license) = LicenseKey::parse(&orphan.license_key) else { continue };
            let conversation = self.store.conversation(&license, &orphan.conversation_id).await?;
            let message = self.store.message(&license, &orphan.message_id).await?;
            let (Some(conversation), Some(message)) = (conversation, message) else { continue };
            let to = Destination::of(&conversation);
            // Its node stopped during a provider call: the contact may have the message. Not resent.
            if let Some(intent) = self.store.unfinished_attempt(&message.id).await? {
                let error =
                    "its node stopped during the provider call; the contact may have it, so it is not sent again";
                self.store.finish_attempt(&intent, attempt_outcome::UNKNOWN, None, Some(error)).await?;
                tracing::warn!(message = %message.id, "an orphaned delivery's outcome is unknown; not resending");
                self.settle(&to, &message, Delivery::Unknown, None, Some(error.to_owned())).await;
                continue;
            }
            tracing::info!(message = %message.id, "resuming an orphaned delivery");
            self.dispatch(to, message);
        }
        Ok(())
    }

    async fn deliver(&self, to: Destination, message: Message) {
        let mut last_error = String::new();
        let token = match self.account_token(&to).await {
            Ok(token) => token,
            Err(error) => return self.settle(&to, &message, Delivery::Failed, None, Some(error)).await,
        };
        for attempt in 1..=self.policy.max_attempts {
            // The intent is stored before the call: if this node dies during it, whoever resumes the
            // delivery sees the call may have happened. Without a stored intent the provider is not called.
            let intent = match self.store.begin_attempt(&to.license, &message.id, i64::from(attempt)).await {
                Ok(intent) => intent,
                Err(err) => {
                    tracing::warn!(%err, message = %message.id, "could not record a delivery intent; not calling");
                    last_error = format!("could not record the attempt: {err}");
                    tokio::time::sleep(self.policy.delay(attempt)).await;
                    continue;
                }
            };
            let result = self
                .outbound
                .send(to.channel, &to.account_id, to.contact_id.as_str(), &message.text, token.as_deref())
                .await;
            let (status, error) = match &result {
                Ok((status, _)) => (Some(*status), None),
                Err(failure) => (failure.status, Some(failure.error.as_str())),
            };
            let outcome = match &result {
                Ok(_) => attempt_outcome::SENT,
                Err(failure) if failure.ambiguous => attempt_outcome::UNKNOWN,
                Err(failure) if failure.retryable && attempt < self.policy.max_attempts => attempt_outcome::RETRY,
                Err(_) => attempt_outcome::FAILED,
            };
            tracing::info!(message = %message.id, attempt, ?status, error, outcome, "outbound delivery attempt");
            if let Err(err) = self.store.finish_attempt(&intent, outcome, status, error).await {
                tracing::warn!(%err, "could not record a delivery attempt's outcome");
            }
            metrics::counter!(crate::telemetry::OUTBOUND_ATTEMPTS, "provider" => to.channel.as_str(), "result" => outcome)
                .increment(1);
            match result {
                Ok((_, provider_id)) => {
                    return self.settle(&to, &message, Delivery::Sent, Some(&provider_id), None).await
                }
                Err(failure) if outcome == attempt_outcome::RETRY => {
                    last_error = failure.error;
                    tokio::time::sleep(self.policy.delay(attempt)).await;
                }
                Err(failure) if failure.ambiguous => {
                    let error = format!("{}; the provider may have it, so it is not sent again", failure.error);
                    return self.settle(&to, &message, Delivery::Unknown, None, Some(error)).await;
                }
                Err(failure) => {
                    last_error = failure.error;
                    break;
                }
            }
        }
        self.settle(&to, &message, Delivery::Failed, None, Some(last_error)).await;
    }

    async fn settle(
        &self,
        to: &Destination,
        message: &Message,
        delivery: Delivery,
        provider_id: Option<&str>,
        error: Option<String>,
    ) {
        match self.store.set_delivery(&to.license, &message.id, delivery, provider_id).await {
            Ok(_) => announce_delivery(&self.bus, &to.license, &message.conversation_id, &message.id, delivery, error),
            Err(err) => tracing::error!(%err, message = %message.id, "could not store a delivery state"),
        }
    }
}

impl Dispatch for Deliverer {
    /// Delivers `message` in the background.
    fn dispatch(&self, destination: Destination, message: Message) {
        let deliverer = self.clone();
        deliverer.in_flight.insert(message.id.clone(), ());
        tokio::spawn(async move {
            let id = message.id.clone();
            deliverer.deliver(destination, message).await;
            deliverer.in_flight.remove(&id);
        });
    }
}

/// Publishes a delivery state change as `activity:new`.
pub fn announce_delivery(
    bus: &SharedBus,
    license: &LicenseKey,
    conversation_id: &ConversationId,
    message_id: &MessageId,
    delivery: Delivery,
    error: Option<String>,
) {
    bus.publish(
        license,
        Event::Activity(Activity::DeliveryUpdated {
            conversation_id: conversation_id.clone(),
            message_id: message_id.clone(),
            delivery,
            error,
        }),
    );
}

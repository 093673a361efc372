//! Sends agents' replies through the providers' HTTP APIs and classifies failures for retry.

use super::messenger::{self, MessengerConfig};
use super::twilio::{self, TwilioConfig};
use crate::domain::Channel;
use std::time::Duration;

/// How one send attempt failed.
#[derive(Debug, Clone, PartialEq)]
pub struct SendFailure {
    /// HTTP status, if the provider answered.
    pub status: Option<u16>,
    /// What went wrong.
    pub error: String,
    /// Connection errors and 5xx are worth another try; 4xx are not.
    pub retryable: bool,
    /// The request may have reached the provider without an answer coming back (a timeout, a cut
    /// connection): the contact may have the message, so it is not sent again.
    pub ambiguous: bool,
}

/// The provider clients, configured from the operator's credentials.
#[derive(Clone)]
pub struct Outbound {
    http: reqwest::Client,
    messenger: Option<MessengerConfig>,
    twilio: Option<TwilioConfig>,
    twilio_status_callback: Option<String>,
}

impl Outbound {
    /// Clients for whichever providers are configured; each request times out after `timeout`.
    pub fn new(
        messenger: Option<MessengerConfig>,
        twilio: Option<TwilioConfig>,
        twilio_status_callback: Option<String>,
        timeout: Duration,
    ) -> reqwest::Result<Self> {
        let http = reqwest::Client::builder().timeout(timeout).user_agent("switchboard").build()?;
        Ok(Self { http, messenger, twilio, twilio_status_callback })
    }

    /// Sends `text` from the tenant's `account_id` (page or number) to `contact_id`; answers the provider's
    /// message id. `page_token` is the page's own Messenger token; `None` uses the operator's.
    pub async fn send(
        &self,
        channel: Channel,
        account_id: &str,
        contact_id: &str,
        text: &str,
        page_token: Option<&str>,
    ) -> Result<(u16, String), SendFailure> {
        let permanent =
            |error: &str| SendFailure { status: None, error: error.to_owned(), retryable: false, ambiguous: false };
        let request = match channel {
            Channel::Messenger => {
                let config = self.messenger.as_ref().ok_or_else(|| permanent("Messenger is disabled"))?;
                let token = page_token.or(config.page_access_token.as_deref()).ok_or_else(|| {
                    permanent(
                        "no token for this page: connect it with page_access_token or set MESSENGER_PAGE_ACCESS_TOKEN",
                    )
                })?;
                messenger::send_request(&self.http, config, token, contact_id, text)
            }
            Channel::Whatsapp => {
                let config = self
                    .twilio
                    .as_ref()
                    .ok_or_else(|| permanent("WhatsApp is disabled: set the TWILIO_* variables"))?;
                twilio::send_request(
                    &self.http,
                    config,
                    account_id,
                    contact_id,
                    text,
                    self.twilio_status_callback.as_deref(),
                )
            }
            Channel::Widget => return Err(permanent("widget messages are delivered over the socket")),
        };
        // Only a refused connection proves the provider never saw the request.
        let response = request.send().await.map_err(|e| SendFailure {
            status: None,
            error: format!("request failed: {e}"),
            retryable: e.is_connect(),
            ambiguous: !e.is_connect(),
        })?;
        let status = response.status();
        let answer: serde_json::Value = response.json().await.unwrap_or_default();
        if !status.is_success() {
            return Err(SendFailure {
                status: Some(status.as_u16()),
                error: format!("provider answered {status}: {answer}"),
                retryable: status.is_server_error(),
                ambiguous: false,
            });
        }
        let id = match channel {
            Channel::Messenger => messenger::sent_id(&answer),
            _ => twilio::sent_id(&answer),
        };
        id.map(|id| (status.as_u16(), id)).ok_or_else(|| SendFailure {
            status: Some(status.as_u16()),
            error: format!("provider answered without a message id: {answer}"),
            retryable: false,
            ambiguous: false,
        })
    }
}

//! Which provider channels the settings enable: a channel is on only when its credentials are complete.

use super::Config;
use crate::channels::messenger::MessengerConfig;
use crate::channels::twilio::TwilioConfig;

impl Config {
    /// Messenger settings, or `None` (channel disabled) unless the app secret and verify token are set.
    pub fn messenger(&self) -> Option<MessengerConfig> {
        Some(MessengerConfig {
            app_secret: self.messenger_app_secret.clone()?,
            verify_token: self.messenger_verify_token.clone()?,
            page_access_token: self.messenger_page_access_token.clone(),
            api_base: self.messenger_api_base.clone(),
        })
    }

    /// Twilio settings, or `None` (WhatsApp disabled) unless the account SID and auth token are set.
    pub fn twilio(&self) -> Option<TwilioConfig> {
        Some(TwilioConfig {
            account_sid: self.twilio_account_sid.clone()?,
            auth_token: self.twilio_auth_token.clone()?,
            api_base: self.twilio_api_base.clone(),
        })
    }
}

//! Settings that cannot work are refused at start, naming their variable; connection URLs are redacted
//! before they reach a log line.

use super::Config;

impl Config {
    /// Refuses settings that cannot work, naming the variable: a short `JWT_SECRET`, URLs that do not
    /// parse, a non-positive token lifetime.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        self.clone().without_blanks().check()
    }

    /// A variable set to an empty (or blank) value counts as unset, as scripts and `.env` files
    /// often write `REDIS_URL=` to mean "none".
    pub fn without_blanks(mut self) -> Self {
        for value in [
            &mut self.redis_url,
            &mut self.jwt_secret,
            &mut self.admin_token,
            &mut self.public_url,
            &mut self.messenger_app_secret,
            &mut self.messenger_verify_token,
            &mut self.messenger_page_access_token,
            &mut self.twilio_account_sid,
            &mut self.twilio_auth_token,
            &mut self.metrics_token,
            &mut self.secrets_key,
            &mut self.node_id,
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                *value = None;
            }
        }
        self
    }

    fn check(&self) -> Result<(), InvalidSetting> {
        if let Some(secret) = &self.jwt_secret {
            if secret.len() < MIN_JWT_SECRET_BYTES {
                return Err(invalid("JWT_SECRET", format!("must be at least {MIN_JWT_SECRET_BYTES} bytes")));
            }
        }
        check_url("DATABASE_URL", Some(&self.database_url), &["sqlite", "postgres", "postgresql"])?;
        check_url("REDIS_URL", self.redis_url.as_deref(), &["redis", "rediss"])?;
        check_url("PUBLIC_URL", self.public_url.as_deref(), &["http", "https"])?;
        check_url("MESSENGER_API_BASE", Some(&self.messenger_api_base), &["http", "https"])?;
        check_url("TWILIO_API_BASE", Some(&self.twilio_api_base), &["http", "https"])?;
        if let Some(key) = &self.secrets_key {
            crate::channels::token_box::TokenBox::new(key).map_err(|e| invalid("SECRETS_KEY", e.to_string()))?;
        }
        if self.usage.usage_alert_percents.iter().any(|p| *p == 0 || *p > 1000) {
            return Err(invalid("USAGE_ALERT_PERCENTS", "each threshold must be 1 to 1000 (percent)"));
        }
        if self.usage.usage_flush_seconds == 0 {
            return Err(invalid("USAGE_FLUSH_SECONDS", "must be positive"));
        }
        if self.jwt_ttl_seconds <= 0 {
            return Err(invalid("JWT_TTL_SECONDS", "must be positive"));
        }
        Ok(())
    }
}

/// Shortest `JWT_SECRET` accepted: HS256 keys shorter than the hash output weaken it.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// A setting that cannot work, said before anything starts.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {problem}")]
pub struct InvalidSetting {
    /// The environment variable.
    pub name: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

fn invalid(name: &'static str, problem: impl Into<String>) -> InvalidSetting {
    InvalidSetting { name, problem: problem.into() }
}

fn check_url(name: &'static str, value: Option<&str>, schemes: &[&str]) -> Result<(), InvalidSetting> {
    let Some(value) = value else { return Ok(()) };
    let (scheme, rest) = value.split_once("://").ok_or_else(|| invalid(name, format!("'{value}' is not a URL")))?;
    if !schemes.contains(&scheme) {
        return Err(invalid(name, format!("the scheme must be one of {}, not '{scheme}'", schemes.join(", "))));
    }
    if rest.is_empty() && scheme != "sqlite" {
        return Err(invalid(name, format!("'{value}' names no host")));
    }
    Ok(())
}

/// Hides the password in a connection URL before it reaches a log line.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

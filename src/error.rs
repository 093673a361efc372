//! The one error → wire-code mapping, shared by every transport: HTTP turns an [`ApiError`] into a
//! status and a JSON body (`http/error.rs`), Socket.IO into an `{ok: false, error}` acknowledgement, the
//! widget socket into an `error` frame. Each failure of the layers below (store, auth, actors, parsing)
//! becomes one stable snake_case code here, so the three can never disagree. Unexpected errors keep
//! their source for the log and tell the client only `internal`.

use crate::actors::{AgentError, RegistryError};
use crate::auth::{AuthError, TwoFactorError};
use crate::domain::{ParseError, Permission};
use crate::licenses::LicenseError;
use crate::store::StoreError;

/// Everything a request or a socket frame can be answered with besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or a value is invalid.
    #[error("{message}")]
    BadRequest {
        /// Stable machine-readable code.
        code: &'static str,
        /// What is wrong, for people.
        message: String,
    },
    /// No valid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// The password was right but the second factor is missing or wrong (401 with its own code).
    #[error("{message}")]
    Challenge {
        /// `two_factor_required` or `invalid_two_factor`.
        code: &'static str,
        /// What to send.
        message: String,
    },
    /// Valid credentials that do not allow this.
    #[error("{message}")]
    Forbidden {
        /// Stable machine-readable code.
        code: &'static str,
        /// Why not.
        message: String,
    },
    /// Absent, or belongs to another tenant (never told apart).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The path exists, not with this method; the header lists the ones it takes.
    #[error("this path takes {0}")]
    MethodNotAllowed(String),
    /// Clashes with the current state.
    #[error("{message}")]
    Conflict {
        /// Stable machine-readable code.
        code: &'static str,
        /// What clashes.
        message: String,
    },
    /// Too many requests from this source or for this account; retry after `retry_after` seconds.
    #[error("{message}")]
    TooManyRequests {
        /// Stable machine-readable code.
        code: &'static str,
        /// What was limited.
        message: String,
        /// Seconds until a retry may pass (the `Retry-After` header).
        retry_after: u64,
    },
    /// Body over the limit.
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// Body is not JSON (or the form the endpoint takes).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A feature the operator has not configured.
    #[error("{0}")]
    Disabled(String),
    /// This node is shutting down; another node (or this one after its restart) will answer.
    #[error("this node is shutting down")]
    ShuttingDown,
    /// A dependency is down; retrying later may work.
    #[error("the service is temporarily unavailable; retry shortly")]
    Unavailable,
    /// A bug or broken dependency; details go to the log, not the client.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// A 400 with `code` and `message`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest { code, message: message.into() }
    }

    /// A 403 with `code` and `message`.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::Forbidden { code, message: message.into() }
    }

    /// The refusal of an action the caller's role does not allow (403 `insufficient_role`).
    pub fn insufficient_role(permission: Permission) -> Self {
        let least = permission.least_role().as_str();
        Self::forbidden("insufficient_role", format!("this needs the {least} role or higher"))
    }

    /// A 409 with `code` and `message`.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict { code, message: message.into() }
    }

    /// The stable snake_case code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Forbidden { code, .. }
            | Self::Conflict { code, .. }
            | Self::Challenge { code, .. }
            | Self::TooManyRequests { code, .. } => code,
            Self::Unauthorized(_) => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Unavailable => "unavailable",
            Self::ShuttingDown => "shutting_down",
            Self::Disabled(_) => "channel_disabled",
            Self::Internal(_) => "internal",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable { context, source } => {
                tracing::warn!(error = %source, operation = context, "store unavailable");
                Self::Unavailable
            }
            StoreError::LicenseSuspended => Self::forbidden("license_suspended", "the license is suspended"),
            StoreError::InvalidValue(reason) => Self::bad_request("invalid_value", reason),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Store(e) => e.into(),
            AuthError::IpNotAllowed => Self::forbidden("ip_not_allowed", err.to_string()),
            AuthError::TwoFactorSetupRequired => Self::forbidden("two_factor_setup_required", err.to_string()),
            other => Self::Unauthorized(other.to_string()),
        }
    }
}

impl From<TwoFactorError> for ApiError {
    fn from(err: TwoFactorError) -> Self {
        let message = err.to_string();
        match err {
            TwoFactorError::StorageDisabled => Self::bad_request("two_factor_storage_disabled", message),
            TwoFactorError::Required => Self::Challenge { code: "two_factor_required", message },
            TwoFactorError::Refused => Self::Challenge { code: "invalid_two_factor", message },
            TwoFactorError::WrongCode => Self::forbidden("invalid_two_factor", message),
            TwoFactorError::AlreadyEnabled => Self::conflict("two_factor_enabled", message),
            TwoFactorError::NotSetUp => Self::conflict("two_factor_not_set_up", message),
            TwoFactorError::Unreadable => Self::Internal(err.into()),
            TwoFactorError::Store(e) => e.into(),
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(err: RegistryError) -> Self {
        AgentError::from(err).into()
    }
}

impl From<AgentError> for ApiError {
    fn from(err: AgentError) -> Self {
        match err {
            AgentError::NotFound => Self::NotFound("conversation"),
            AgentError::Invalid(e) => e.into(),
            AgentError::Store(e) => e.into(),
            AgentError::Unavailable => Self::Unavailable,
            AgentError::NotAllowed(permission) => Self::insufficient_role(permission),
            AgentError::UnknownMember => Self::NotFound("member"),
        }
    }
}

impl From<LicenseError> for ApiError {
    fn from(err: LicenseError) -> Self {
        match err {
            LicenseError::NotFound => Self::NotFound("license"),
            LicenseError::Invalid(e) => e.into(),
            LicenseError::Store(e) => e.into(),
        }
    }
}

impl From<ParseError> for ApiError {
    fn from(err: ParseError) -> Self {
        Self::bad_request("invalid_value", err.0)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        Self::Internal(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_has_one_code_whatever_the_transport() {
        let cases: Vec<(ApiError, &str)> = vec![
            (StoreError::LicenseSuspended.into(), "license_suspended"),
            (StoreError::InvalidValue("NUL".into()).into(), "invalid_value"),
            (StoreError::Corrupt("bad row".into()).into(), "internal"),
            (AgentError::NotFound.into(), "not_found"),
            (AgentError::Invalid(ParseError("too long".into())).into(), "invalid_value"),
            (AgentError::Unavailable.into(), "unavailable"),
            (AgentError::Store(StoreError::LicenseSuspended).into(), "license_suspended"),
            (LicenseError::NotFound.into(), "not_found"),
            (AuthError::Expired.into(), "unauthorized"),
            (AuthError::IpNotAllowed.into(), "ip_not_allowed"),
            (AuthError::TwoFactorSetupRequired.into(), "two_factor_setup_required"),
            (TwoFactorError::Required.into(), "two_factor_required"),
            (TwoFactorError::Refused.into(), "invalid_two_factor"),
        ];
        for (err, code) in cases {
            assert_eq!(err.code(), code, "{err:?}");
        }
    }

    #[test]
    fn unexpected_failures_tell_the_client_nothing_more() {
        let err = ApiError::from(StoreError::Corrupt("secret detail".into()));
        assert_eq!(err.to_string(), "internal error");
    }
}

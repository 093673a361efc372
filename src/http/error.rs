//! The HTTP layer's one error type and the only place errors become responses:
//! `{"error": {"code": "snake_case", "message": "…"}}` with the matching status.

use crate::actors::{AgentError, RegistryError};
use crate::auth::AuthError;
use crate::domain::ParseError;
use crate::licenses::LicenseError;
use crate::store::StoreError;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError, UrlencodedError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde_json::json;

/// Everything a handler can answer besides success.
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

    /// A 409 with `code` and `message`.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict { code, message: message.into() }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Forbidden { code, .. }
            | Self::Conflict { code, .. }
            | Self::TooManyRequests { code, .. } => code,
            Self::Unauthorized(_) => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Unavailable => "unavailable",
            Self::ShuttingDown => "shutting_down",
            Self::Disabled(_) => "channel_disabled",
            Self::Internal(_) => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable | Self::ShuttingDown | Self::Disabled(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(err) = self {
            tracing::error!(error = ?err, "request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::Unavailable => {
                response.insert_header(("Retry-After", "1"));
            }
            Self::TooManyRequests { retry_after, .. } => {
                response.insert_header(("Retry-After", retry_after.to_string()));
            }
            _ => {}
        }
        response.json(json!({ "error": { "code": self.code(), "message": self.to_string() } }))
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(e) => {
                tracing::warn!(error = %e, "store unavailable");
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
            other => Self::Unauthorized(other.to_string()),
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

impl From<actix_web::Error> for ApiError {
    /// Failures of actix itself before a handler runs, such as a refused WebSocket handshake.
    fn from(err: actix_web::Error) -> Self {
        // Some actix errors (the WebSocket handshake's) set their status only on the response.
        let status = err.error_response().status();
        if status.is_client_error() {
            Self::bad_request("invalid_request", format!("{err}"))
        } else {
            Self::Internal(anyhow::anyhow!("{err}"))
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        Self::Internal(err)
    }
}

/// Turns actix's JSON extractor failures into our shape: size, content type, syntax and type errors.
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    match err {
        JsonPayloadError::Overflow { limit } | JsonPayloadError::OverflowKnownLength { limit, .. } => {
            ApiError::PayloadTooLarge(limit)
        }
        JsonPayloadError::ContentType => {
            ApiError::UnsupportedMediaType("send the body as JSON with Content-Type: application/json".into())
        }
        JsonPayloadError::Deserialize(e) => ApiError::bad_request("invalid_json", format!("invalid JSON body: {e}")),
        other => ApiError::bad_request("invalid_body", other.to_string()),
    }
    .into()
}

/// Form bodies (webhooks) get the same treatment.
pub fn form_error(err: UrlencodedError, _req: &HttpRequest) -> actix_web::Error {
    match err {
        UrlencodedError::Overflow { limit, .. } => ApiError::PayloadTooLarge(limit),
        UrlencodedError::ContentType => {
            ApiError::UnsupportedMediaType("send the body as application/x-www-form-urlencoded".into())
        }
        other => ApiError::bad_request("invalid_form", format!("invalid form body: {other}")),
    }
    .into()
}

/// Malformed query strings.
pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request("invalid_query", format!("invalid query string: {err}")).into()
}

/// Malformed path segments.
pub fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request("invalid_path", format!("invalid path: {err}")).into()
}

/// Unknown routes answer in the same JSON shape.
pub async fn route_not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("route"))
}

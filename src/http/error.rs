//! The only place errors become HTTP responses: `{"error": {"code": "snake_case", "message": "…"}}` with
//! the status of the error's kind. The codes themselves come from [`crate::error`], shared with the sockets.

pub use crate::error::ApiError;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError, UrlencodedError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde_json::json;

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) | Self::Challenge { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
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
            Self::MethodNotAllowed(methods) => {
                response.insert_header(("Allow", methods.as_str()));
            }
            _ => {}
        }
        response.json(json!({ "error": { "code": self.code(), "message": self.to_string() } }))
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
pub async fn route_not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    match super::openapi::allowed_methods(req.path()) {
        // A known path with another method: 405 with the methods it takes (RFC 9110 `Allow`).
        Some(methods) => Err(ApiError::MethodNotAllowed(methods)),
        None => Err(ApiError::NotFound("route")),
    }
}

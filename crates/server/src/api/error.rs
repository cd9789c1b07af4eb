//! The one error body every endpoint answers with:
//! `{"error": {"code", "message", "details": [{"path", "message"}]}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use courier_core::FieldError;
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<FieldError>,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after_secs: None,
        }
    }

    pub fn validation(details: Vec<FieldError>) -> Self {
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            "the request has invalid fields; see details",
        );
        e.details = details;
        e
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "validation_error", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is required: Authorization: Bearer <key>",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// A workspace limit the request would pass (409, code `limit_reached`).
    pub fn limit_reached(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "limit_reached", message)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "not_found",
            "this endpoint does not take that method",
        )
    }

    /// An update raced another change to the same resource.
    pub fn changed_meanwhile() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "conflict",
            "the destination changed while this request was handled (a test, a delivery result or another update); read it again and retry",
        )
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests for this API key; retry later",
        );
        e.retry_after_secs = Some(retry_after_secs);
        e
    }

    pub fn auth_throttled(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many failed authentications from this address; retry later",
        );
        e.retry_after_secs = Some(retry_after_secs);
        e
    }

    pub fn too_many_tests() -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "this workspace already runs as many connection tests as it may; retry when one ends",
        );
        e.retry_after_secs = Some(1);
        e
    }

    pub fn body_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request body did not arrive in time (body_read_timeout_ms)",
        )
    }

    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is over the server's size limit (max_body_bytes)",
        )
    }

    /// Storing failed (the database refused or is unreachable): nothing was accepted, and the
    /// client may send again. Logged with its cause, answered without it.
    pub fn unavailable(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "storing failed");
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the events could not be stored; nothing was accepted, send them again",
        );
        e.retry_after_secs = Some(1);
        e
    }

    /// An unexpected failure: logged with its cause, answered without it.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred; it has been logged",
        )
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::internal(format!("{e:#}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let details: Vec<_> = self
            .details
            .iter()
            .map(|d| json!({"path": d.path, "message": d.message}))
            .collect();
        let body =
            json!({"error": {"code": self.code, "message": self.message, "details": details}});
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

//! The one error body every endpoint answers with:
//! `{"error": {"code", "message", "details": [{"path", "message"}]}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use courier_core::FieldError;
use schemars::JsonSchema;
use serde::Serialize;

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

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be JSON: send Content-Type: application/json",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this endpoint does not take that method",
        )
    }

    /// An idempotency key repeated with another body than it was first sent with.
    pub fn idempotency_conflict(first_event: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "idempotency_conflict",
            format!(
                "this idempotency_key was first used, within 24 hours, for event {first_event} with another type or payload; use a new key for a new event"
            ),
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

impl ApiError {
    /// A failed write as an answer: a taken unique value is this conflict, anything else an
    /// internal error.
    pub fn or_taken(message: &'static str) -> impl Fn(crate::store::WriteError) -> ApiError {
        move |e| match e {
            crate::store::WriteError::Taken => ApiError::conflict(message),
            crate::store::WriteError::Failed(e) => ApiError::internal(format!("{e:#}")),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::internal(format!("{e:#}"))
    }
}

/// Every error answer's body.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Error")]
pub struct ErrorBody {
    pub error: ErrorInner,
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "ErrorDetail")]
pub struct ErrorInner {
    /// What kind of error: `validation_error`, `unauthorized`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `conflict`, `limit_reached`, `idempotency_conflict`,
    /// `rate_limited`, `request_timeout`, `payload_too_large`, `unsupported_media_type`,
    /// `unavailable`, `internal`.
    pub code: &'static str,
    pub message: String,
    /// Each invalid field or parameter.
    pub details: Vec<FieldDetail>,
}

/// One invalid field, at its JSON path (`""`: the whole body).
#[derive(Debug, Serialize, JsonSchema)]
pub struct FieldDetail {
    pub path: String,
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let details = self
            .details
            .into_iter()
            .map(|d| FieldDetail {
                path: d.path,
                message: d.message,
            })
            .collect();
        let body = ErrorBody {
            error: ErrorInner {
                code: self.code,
                message: self.message,
                details,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"courier\""),
            );
        }
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

//! The error taxonomy: what kind of failure happened, whether retrying can help, and what to change.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The classified kind of a connector failure. Retryability is a property of the kind, so the
/// runtime decides retries from it alone (plus `retry_after`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The destination's config or auth_config is wrong; a person must change it.
    InvalidConfig,
    /// The target did not accept the credentials.
    Unauthenticated,
    /// The credentials are valid but lack a permission.
    Forbidden,
    /// The target (bucket, path, endpoint, stream) does not exist.
    NotFound,
    /// The target refused the write because of a conflicting existing state.
    Conflict,
    /// The payload exceeds the destination's cap or the target's limit.
    PayloadTooLarge,
    /// The target refused this record permanently (validation, gone, other 4xx).
    Rejected,
    /// The target asked us to slow down; `retry_after` says for how long when it was told.
    RateLimited,
    /// The target is unreachable or failing (connection refused, 5xx); may recover.
    Unavailable,
    /// The target did not answer in time.
    Timeout,
    /// OAuth consent was revoked or expired; a person must reconnect the destination.
    ReauthRequired,
    /// A defect or unexpected state inside Courier or the connector.
    Internal,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::InvalidConfig,
        ErrorKind::Unauthenticated,
        ErrorKind::Forbidden,
        ErrorKind::NotFound,
        ErrorKind::Conflict,
        ErrorKind::PayloadTooLarge,
        ErrorKind::Rejected,
        ErrorKind::RateLimited,
        ErrorKind::Unavailable,
        ErrorKind::Timeout,
        ErrorKind::ReauthRequired,
        ErrorKind::Internal,
    ];

    /// What an HTTP status answered to a request means, for any service: the shared table
    /// connectors fall back to after matching the few statuses their service uses differently.
    pub fn from_http_status(status: u16) -> ErrorKind {
        match status {
            401 => ErrorKind::Unauthenticated,
            403 => ErrorKind::Forbidden,
            404 | 410 => ErrorKind::NotFound,
            409 | 412 => ErrorKind::Conflict,
            413 => ErrorKind::PayloadTooLarge,
            408 | 429 => ErrorKind::RateLimited,
            500.. => ErrorKind::Unavailable,
            _ => ErrorKind::Rejected,
        }
    }

    /// Whether sending the same thing again later can succeed without anybody changing anything.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited | ErrorKind::Unavailable | ErrorKind::Timeout
        )
    }

    /// The snake_case name used in JSON and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidConfig => "invalid_config",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::Rejected => "rejected",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::ReauthRequired => "reauth_required",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A classified connector failure. `message` says what failed, `hint` what to change. Neither ever
/// contains a secret or a credential-bearing URL; `source` is kept for logs of the cause chain
/// and is never serialized.
pub struct ConnectorError {
    /// The classification the runtime decides retries from.
    pub kind: ErrorKind,
    /// What failed, for a person.
    pub message: String,
    /// What to change or check to fix it.
    pub hint: String,
    /// How long the target asked us to wait before retrying, when it said (`Retry-After`).
    pub retry_after: Option<Duration>,
    /// The underlying error, for logs only: dropped by `Clone` and never serialized.
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl ConnectorError {
    /// An error of `kind`, without `retry_after` or a source.
    pub fn new(kind: ErrorKind, message: impl Into<String>, hint: impl Into<String>) -> Self {
        ConnectorError {
            kind,
            message: message.into(),
            hint: hint.into(),
            retry_after: None,
            source: None,
        }
    }

    /// The same error with `retry_after` replaced (`None` clears it).
    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// The same error with `source` as its cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Whether its kind is retryable (see [`ErrorKind::is_retryable`]).
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }

    /// An [`ErrorKind::Internal`] error, with a hint to report it.
    pub fn internal(message: impl Into<String>) -> Self {
        ConnectorError::new(
            ErrorKind::Internal,
            message,
            "this is a defect in Courier or the connector; report it with the logs",
        )
    }

    /// A copy without the source chain (sources are not `Clone`).
    pub fn detached(&self) -> Self {
        ConnectorError {
            kind: self.kind,
            message: self.message.clone(),
            hint: self.hint.clone(),
            retry_after: self.retry_after,
            source: None,
        }
    }
}

impl Clone for ConnectorError {
    fn clone(&self) -> Self {
        self.detached()
    }
}

impl fmt::Debug for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectorError")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("hint", &self.hint)
            .field("retry_after", &self.retry_after)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for ConnectorError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The wire form of an error: what APIs, the CLI and stored outcomes show.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorBody {
    /// The classified kind.
    pub kind: ErrorKind,
    /// Whether the kind is retryable.
    pub retryable: bool,
    /// What failed.
    pub message: String,
    /// What to change.
    pub hint: String,
    /// The target's requested wait before retrying, in milliseconds; absent when it gave none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl From<&ConnectorError> for ErrorBody {
    fn from(e: &ConnectorError) -> Self {
        ErrorBody {
            kind: e.kind,
            retryable: e.kind.is_retryable(),
            message: e.message.clone(),
            hint: e.hint.clone(),
            retry_after_ms: e.retry_after.map(|d| d.as_millis() as u64),
        }
    }
}

impl Serialize for ConnectorError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ErrorBody::from(self).serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_kinds_are_retryable() {
        let retryable: Vec<_> = ErrorKind::ALL
            .iter()
            .filter(|k| k.is_retryable())
            .map(|k| k.as_str())
            .collect();
        assert_eq!(retryable, ["rate_limited", "unavailable", "timeout"]);
    }

    #[test]
    fn kind_names_match_serde() {
        for kind in ErrorKind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.as_str());
        }
    }

    #[test]
    fn serialized_error_has_no_source() {
        let io = std::io::Error::other("inner detail");
        let e = ConnectorError::new(ErrorKind::Unavailable, "connect failed", "check the host")
            .with_source(io)
            .with_retry_after(Some(Duration::from_secs(2)));
        let json = serde_json::to_string(&e).unwrap();
        assert!(!json.contains("inner detail"));
        assert!(json.contains("\"retry_after_ms\":2000"));
        assert!(json.contains("\"retryable\":true"));
    }
}

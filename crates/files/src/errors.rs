//! What a file store's answers mean, once for every file connector: the HTTP status → error
//! kind table and the operation context messages name. Connectors match the few statuses
//! their service uses differently (or with a more precise hint) before falling back to
//! [`Op::status_error`].

use courier_core::{ConnectorError, ErrorKind};

/// What was being done when the store answered, for messages: the service, the action and the
/// resource it was done to (`S3`, `PutObject`, `s3://bucket/key`).
#[derive(Debug, Clone)]
pub struct Op<'a> {
    /// The service's name as users know it (`Google Cloud Storage`).
    pub service: &'static str,
    /// What was being done (`write`, `s3:PutObject`).
    pub action: &'a str,
    /// What it was done to (`gs://bucket/object`, `folder /exports`).
    pub resource: String,
}

/// The kind of failure an HTTP status means from any file store (core's shared table).
pub fn status_kind(status: u16) -> ErrorKind {
    ErrorKind::from_http_status(status)
}

impl<'a> Op<'a> {
    /// An operation on `resource` of `service`.
    pub fn new(service: &'static str, action: &'a str, resource: impl Into<String>) -> Self {
        Op {
            service,
            action,
            resource: resource.into(),
        }
    }

    /// A non-success HTTP status as a classified error, with the message and hint every store
    /// shares.
    pub fn status_error(&self, status: u16) -> ConnectorError {
        let (service, action, resource) = (self.service, self.action, &self.resource);
        let kind = status_kind(status);
        let (message, hint) = match kind {
            ErrorKind::Unauthenticated => (
                format!("{service} did not accept the credentials (HTTP {status})"),
                "check the credentials in auth_config".to_string(),
            ),
            ErrorKind::Forbidden => (
                format!("access denied: {action} on {resource} (HTTP {status})"),
                format!("grant {action} on {resource} to the identity in auth_config"),
            ),
            ErrorKind::NotFound => (
                format!("{resource} was not found ({action}, HTTP {status})"),
                "check the destination's config".to_string(),
            ),
            ErrorKind::Conflict => (
                format!("{resource} already exists (HTTP {status})"),
                "the file was written before; a retry keeps the first copy".to_string(),
            ),
            ErrorKind::PayloadTooLarge => (
                format!("{service} refused {resource} as too large (HTTP {status})"),
                "lower payload_cap_bytes or send smaller batches".to_string(),
            ),
            ErrorKind::RateLimited => (
                format!("{service} is throttling {action} on {resource} (HTTP {status})"),
                "the request is retried with backoff".to_string(),
            ),
            ErrorKind::Unavailable => (
                format!("{service} failed {action} on {resource} (HTTP {status})"),
                "the request is retried with backoff".to_string(),
            ),
            _ => (
                format!("{service} refused {action} on {resource} (HTTP {status})"),
                "check the destination's config".to_string(),
            ),
        };
        ConnectorError::new(kind, message, hint)
    }

    /// The store could not be reached for this operation (transient).
    pub fn unreachable(&self, where_to_look: &str) -> ConnectorError {
        ConnectorError::new(
            ErrorKind::Unavailable,
            format!(
                "could not reach {} for {} on {}",
                self.service, self.action, self.resource
            ),
            format!("check {where_to_look} and network access; the request is retried"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_class_has_a_kind_and_names_the_operation() {
        let op = Op::new("GCS", "write", "gs://b/k");
        for (status, kind) in [
            (401, ErrorKind::Unauthenticated),
            (403, ErrorKind::Forbidden),
            (404, ErrorKind::NotFound),
            (412, ErrorKind::Conflict),
            (413, ErrorKind::PayloadTooLarge),
            (429, ErrorKind::RateLimited),
            (408, ErrorKind::RateLimited),
            (503, ErrorKind::Unavailable),
            (400, ErrorKind::Rejected),
        ] {
            let e = op.status_error(status);
            assert_eq!(e.kind, kind, "{status}");
            assert!(e.message.contains(&status.to_string()), "{e:?}");
            assert_eq!(
                e.kind.is_retryable(),
                matches!(status, 408 | 429 | 503),
                "{status}"
            );
        }
        assert!(op.status_error(403).message.contains("write on gs://b/k"));
    }
}

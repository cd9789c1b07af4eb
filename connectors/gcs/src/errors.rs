//! GCS failures as classified connector errors, naming the bucket, object and operation.

use courier_core::{ConnectorError, ErrorKind};

/// What was being done, for messages: the operation and the resource.
pub struct Op<'a> {
    pub action: &'static str,
    pub bucket: &'a str,
    pub object: Option<&'a str>,
}

impl Op<'_> {
    fn resource(&self) -> String {
        match self.object {
            Some(o) => format!("gs://{}/{o}", self.bucket),
            None => format!("bucket {}", self.bucket),
        }
    }
}

/// A failure of the Google client.
pub fn classify(op: &Op<'_>, err: google_cloud_storage::Error) -> ConnectorError {
    let error = if err.is_authentication() {
        ConnectorError::new(
            ErrorKind::Unauthenticated,
            "the service account key cannot sign requests",
            "check auth_config.service_account_json (a PKCS#8 private key from the key file)",
        )
    } else if err.is_timeout() {
        ConnectorError::new(
            ErrorKind::Timeout,
            format!("{} on {} timed out", op.action, op.resource()),
            "check network access to the GCS endpoint; the request is retried",
        )
    } else if err.is_connect() || err.is_io() {
        unreachable_endpoint(op)
    } else if let Some(status) = err.http_status_code() {
        classify_status(op, status)
    } else {
        ConnectorError::new(
            ErrorKind::Unavailable,
            format!("{} on {} failed: {err}", op.action, op.resource()),
            "the request is retried",
        )
    };
    error.with_source(err)
}

pub fn unreachable_endpoint(op: &Op<'_>) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Unavailable,
        format!(
            "could not reach the GCS endpoint for {} on {}",
            op.action,
            op.resource()
        ),
        "check config.endpoint and network access; the request is retried",
    )
}

/// A JSON API answer by HTTP status.
pub fn classify_status(op: &Op<'_>, status: u16) -> ConnectorError {
    let (action, resource) = (op.action, op.resource());
    match status {
        401 => ConnectorError::new(
            ErrorKind::Unauthenticated,
            "GCS did not accept the credentials (HTTP 401)",
            "check auth_config.service_account_json; the key may have been deleted or disabled",
        ),
        403 => ConnectorError::new(
            ErrorKind::Forbidden,
            format!("access denied: {action} on {resource}"),
            format!(
                "grant the service account a role with {} on the bucket (e.g. Storage Object Admin)",
                permission(action)
            ),
        ),
        404 => ConnectorError::new(
            ErrorKind::NotFound,
            format!("bucket {} does not exist", op.bucket),
            "check config.bucket and config.endpoint",
        ),
        409 | 412 => ConnectorError::new(
            ErrorKind::Conflict,
            format!("{resource} already exists (create_only)"),
            "the object was written before; with create_only a retry keeps the first copy",
        ),
        413 => ConnectorError::new(
            ErrorKind::PayloadTooLarge,
            format!("GCS refused {resource} as too large"),
            "lower payload_cap_bytes",
        ),
        408 | 429 => ConnectorError::new(
            ErrorKind::RateLimited,
            format!("GCS is throttling {action} on {resource} (HTTP {status})"),
            "the request is retried with backoff",
        ),
        500.. => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("GCS failed {action} on {resource} (HTTP {status})"),
            "the request is retried with backoff",
        ),
        _ => ConnectorError::new(
            ErrorKind::Rejected,
            format!("GCS refused {action} on {resource} (HTTP {status})"),
            "check the destination's config and the bucket's policies",
        ),
    }
}

fn permission(action: &str) -> &'static str {
    match action {
        "list objects" => "storage.objects.list",
        "delete" => "storage.objects.delete",
        _ => "storage.objects.create",
    }
}

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

/// A request sent once: its answer when the status is a success (or one of `also`, such as
/// 308 for an unfinished upload session), otherwise the classified failure.
pub async fn send(
    op: &Op<'_>,
    request: reqwest::RequestBuilder,
    also: &[u16],
) -> Result<reqwest::Response, ConnectorError> {
    let response = request
        .send()
        .await
        .map_err(|e| courier_net::transport_error("Google Cloud Storage", e))?;
    let status = response.status().as_u16();
    if response.status().is_success() || also.contains(&status) {
        return Ok(response);
    }
    Err(answer_error(op, response).await)
}

/// A JSON API answer that is not a success, classified, with the service's own message (from
/// the first 64 KiB of its body) when it gives one.
pub async fn answer_error(op: &Op<'_>, response: reqwest::Response) -> ConnectorError {
    let status = response.status().as_u16();
    let body = courier_net::body::error_text(response).await;
    let said = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string));
    let mut error = classify_status(op, status);
    if let Some(message) = said {
        let message: String = message.chars().take(300).collect();
        error.message = format!("{} (GCS: {message})", error.message);
    }
    error
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

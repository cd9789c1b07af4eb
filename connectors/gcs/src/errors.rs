//! GCS failures as classified connector errors, naming the bucket, object and operation. Most
//! statuses mean what they mean from any store (`courier_files::Op::status_error`); the
//! credentials, permission and missing-bucket answers say what to change in GCS's terms.

use courier_core::{ConnectorError, ErrorKind};

/// The service's name in messages.
pub const SERVICE: &str = "Google Cloud Storage";

/// What was being done, for messages: the operation and the resource. The bucket is kept
/// apart because a 404 from the JSON API means the bucket is missing, whatever the object.
pub struct Op<'a> {
    pub action: &'static str,
    pub bucket: &'a str,
    pub object: Option<&'a str>,
}

impl Op<'_> {
    /// The operation as every file store names it.
    pub fn shared(&self) -> courier_files::Op<'static> {
        let resource = match self.object {
            Some(o) => format!("gs://{}/{o}", self.bucket),
            None => format!("bucket {}", self.bucket),
        };
        courier_files::Op::new(SERVICE, self.action, resource)
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
        .map_err(|e| courier_net::transport_error(SERVICE, e))?;
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

/// A JSON API answer by HTTP status.
pub fn classify_status(op: &Op<'_>, status: u16) -> ConnectorError {
    let shared = op.shared();
    match status {
        401 => ConnectorError::new(
            ErrorKind::Unauthenticated,
            "GCS did not accept the credentials (HTTP 401)",
            "check auth_config.service_account_json; the key may have been deleted or disabled",
        ),
        403 => ConnectorError::new(
            ErrorKind::Forbidden,
            format!("access denied: {} on {}", op.action, shared.resource),
            format!(
                "grant the service account a role with {} on the bucket (e.g. Storage Object Admin)",
                permission(op.action)
            ),
        ),
        404 => ConnectorError::new(
            ErrorKind::NotFound,
            format!("bucket {} does not exist", op.bucket),
            "check config.bucket and config.endpoint",
        ),
        _ => shared.status_error(status),
    }
}

/// The IAM permission an operation needs.
fn permission(action: &str) -> &'static str {
    match action {
        "list objects" => "storage.objects.list",
        "delete" => "storage.objects.delete",
        _ => "storage.objects.create",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcs_answers_name_the_bucket_and_the_permission() {
        let op = Op {
            action: "write",
            bucket: "b",
            object: Some("k"),
        };
        let missing = classify_status(&op, 404);
        assert_eq!(missing.kind, ErrorKind::NotFound);
        assert!(missing.message.contains("bucket b"), "{missing:?}");
        assert!(
            classify_status(&op, 403)
                .hint
                .contains("storage.objects.create")
        );
        assert_eq!(classify_status(&op, 412).kind, ErrorKind::Conflict);
        assert_eq!(classify_status(&op, 503).kind, ErrorKind::Unavailable);
    }
}

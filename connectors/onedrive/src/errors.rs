//! Microsoft Graph error answers as classified connector errors. Most statuses mean what they
//! mean from any store (`courier_files::Op::status_error`), 429 and 503 waiting for their
//! `Retry-After`; Graph's own are matched first: a 401 means the grant must be renewed, a taken
//! name under `conflict_behavior: fail` is a conflict to resolve in config, a full drive (507)
//! is not an outage, and permission and missing-folder hints name the folder.

use std::time::SystemTime;

use courier_core::retry_after::parse_retry_after;
use courier_core::{ConnectorError, ErrorKind};
use courier_files::Op;
use serde_json::Value;

/// The service's name in messages.
pub const SERVICE: &str = "Microsoft Graph";

fn code_of(body: &str) -> (String, String) {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let code = v["error"]["code"].as_str().unwrap_or_default().to_string();
    let message = v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect();
    (code, message)
}

/// Classifies a non-success answer (the body already read). The message carries Graph's error
/// code, which says more than the status alone.
pub fn classify(op: &Op<'_>, status: u16, retry_after: Option<&str>, body: &str) -> ConnectorError {
    let (code, message) = code_of(body);
    let detail = if code.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status} {code}: {message}")
    };
    let what = format!("{} refused to {} ({detail})", op.service, op.action);
    let folder = &op.resource;
    let (kind, hint) = match status {
        401 => (
            ErrorKind::ReauthRequired,
            "reconnect the destination: the account's token is no longer accepted".to_string(),
        ),
        403 => (
            ErrorKind::Forbidden,
            format!("give the connected account write access to {folder} (the app needs Files.ReadWrite)"),
        ),
        404 => (
            ErrorKind::NotFound,
            format!("check drive_id and folder_path: {folder} must exist in the drive"),
        ),
        409 => (
            ErrorKind::Conflict,
            "a file with this name exists and conflict_behavior is fail: use replace or rename, or a file_name_template with {batch_id}".to_string(),
        ),
        507 => (
            ErrorKind::Rejected,
            "the drive is out of storage: free space or raise its quota".to_string(),
        ),
        _ => {
            let shared = op.status_error(status);
            (shared.kind, shared.hint)
        }
    };
    // Only a retried request waits for Retry-After.
    let retry_after = retry_after
        .filter(|_| kind.is_retryable())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    ConnectorError::new(kind, what, hint).with_retry_after(retry_after)
}

/// Reads a failed response and classifies it.
pub async fn from_response(op: &Op<'_>, response: reqwest::Response) -> ConnectorError {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = courier_oauth::body::error_text(response).await;
    classify(op, status, retry_after.as_deref(), &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn throttling_and_outages_carry_retry_after() {
        let op = Op::new(SERVICE, "upload", "Exports");
        let e = classify(
            &op,
            429,
            Some("12"),
            r#"{"error":{"code":"activityLimitReached","message":"slow down"}}"#,
        );
        assert_eq!(
            (e.kind, e.retry_after),
            (ErrorKind::RateLimited, Some(Duration::from_secs(12)))
        );
        let e = classify(&op, 503, Some("2"), "");
        assert_eq!(
            (e.kind, e.retry_after),
            (ErrorKind::Unavailable, Some(Duration::from_secs(2)))
        );
        assert_eq!(classify(&op, 409, None, "").kind, ErrorKind::Conflict);
        let e = classify(&op, 404, None, "");
        assert!(e.hint.contains("Exports"));
        assert_eq!(classify(&op, 400, None, "x").kind, ErrorKind::Rejected);
    }
}

//! Drive API error answers as classified connector errors. Most statuses mean what they mean
//! from any store (`courier_files::Op::status_error`); Drive's own are matched first: rate
//! limits also come as 403 `rateLimitExceeded`/`userRateLimitExceeded` and are throttling, a
//! 401 means the grant must be renewed, a full account is not a permission problem, and
//! permission and missing-folder hints name the folder.

use std::time::SystemTime;

use courier_core::retry_after::parse_retry_after;
use courier_core::{ConnectorError, ErrorKind};
use courier_files::Op;
use serde_json::Value;

/// The service's name in messages.
pub const SERVICE: &str = "Google Drive";

/// Google's reason for an error (`userRateLimitExceeded`), and its message.
fn reason_of(body: &str) -> (String, String) {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let reason = v["error"]["errors"][0]["reason"]
        .as_str()
        .or_else(|| v["error"]["status"].as_str())
        .unwrap_or_default()
        .to_string();
    let message: String = v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect();
    (reason, message)
}

/// Classifies a non-success answer (the body already read). The message carries Google's
/// reason, which says more than the status alone.
pub fn classify(op: &Op<'_>, status: u16, retry_after: Option<&str>, body: &str) -> ConnectorError {
    let (reason, message) = reason_of(body);
    let detail = if message.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status} {reason}: {message}")
    };
    let what = format!("{} refused to {} ({detail})", op.service, op.action);
    let (kind, hint) = match (status, reason.as_str()) {
        (403, "rateLimitExceeded" | "userRateLimitExceeded" | "sharingRateLimitExceeded") => (
            ErrorKind::RateLimited,
            "Drive is throttling this account; the delivery is retried with backoff".to_string(),
        ),
        (401, _) => (
            ErrorKind::ReauthRequired,
            "reconnect the destination: the account's token is no longer accepted".to_string(),
        ),
        (403, "storageQuotaExceeded") => (
            ErrorKind::Rejected,
            "the Drive account is out of storage: free space or raise its quota".to_string(),
        ),
        (403, _) => (
            ErrorKind::Forbidden,
            format!(
                "give the connected account edit access to {} (or pick another folder)",
                op.resource
            ),
        ),
        (404, _) => (
            ErrorKind::NotFound,
            format!(
                "check {}: it must exist and be shared with the connected account",
                op.resource
            ),
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

    fn op() -> Op<'static> {
        Op::new(SERVICE, "create a file", "folder f1")
    }

    fn body(reason: &str) -> String {
        format!(r#"{{"error":{{"code":403,"message":"m","errors":[{{"reason":"{reason}"}}]}}}}"#)
    }

    #[test]
    fn rate_limits_are_throttling_not_permission_errors() {
        for reason in ["rateLimitExceeded", "userRateLimitExceeded"] {
            let e = classify(&op(), 403, Some("3"), &body(reason));
            assert_eq!(e.kind, ErrorKind::RateLimited, "{reason}");
            assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(3)));
        }
        assert_eq!(classify(&op(), 429, None, "").kind, ErrorKind::RateLimited);
        let e = classify(&op(), 403, None, &body("insufficientFilePermissions"));
        assert_eq!(e.kind, ErrorKind::Forbidden);
        assert!(e.hint.contains("f1"));
        assert_eq!(classify(&op(), 404, None, "").kind, ErrorKind::NotFound);
        assert_eq!(
            classify(&op(), 503, None, "garbage").kind,
            ErrorKind::Unavailable
        );
        assert_eq!(classify(&op(), 400, None, "").kind, ErrorKind::Rejected);
    }
}

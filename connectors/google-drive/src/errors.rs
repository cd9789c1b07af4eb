//! Drive API error answers as classified connector errors: rate limits (403
//! `rateLimitExceeded`/`userRateLimitExceeded`, 429) are throttling and retried; permissions,
//! missing folders and bad requests are permanent and say what to change.

use std::time::SystemTime;

use courier_core::retry_after::parse_retry_after;
use courier_core::{ConnectorError, ErrorKind};
use serde_json::Value;

/// What the request was for, to name it in messages.
pub struct Op<'a> {
    pub action: &'static str,
    /// The folder as configured: its id, or `folder_path` under it.
    pub folder: &'a str,
}

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

/// Classifies a non-success answer (the body already read).
pub fn classify(op: &Op<'_>, status: u16, retry_after: Option<&str>, body: &str) -> ConnectorError {
    let (reason, message) = reason_of(body);
    let retry_after = retry_after.and_then(|v| parse_retry_after(v, SystemTime::now()));
    let detail = if message.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status} {reason}: {message}")
    };
    let what = format!("Google Drive refused to {} ({detail})", op.action);
    let rate_limited = status == 429
        || (status == 403
            && matches!(
                reason.as_str(),
                "rateLimitExceeded" | "userRateLimitExceeded" | "sharingRateLimitExceeded"
            ));
    if rate_limited {
        return ConnectorError::new(
            ErrorKind::RateLimited,
            what,
            "Drive is throttling this account; the delivery is retried with backoff",
        )
        .with_retry_after(retry_after);
    }
    match status {
        401 => ConnectorError::new(
            ErrorKind::ReauthRequired,
            what,
            "reconnect the destination: the account's token is no longer accepted",
        ),
        403 if reason == "storageQuotaExceeded" => ConnectorError::new(
            ErrorKind::Rejected,
            what,
            "the Drive account is out of storage: free space or raise its quota",
        ),
        403 => ConnectorError::new(
            ErrorKind::Forbidden,
            what,
            format!(
                "give the connected account edit access to folder {} (or pick another folder)",
                op.folder
            ),
        ),
        404 => ConnectorError::new(
            ErrorKind::NotFound,
            what,
            format!(
                "check folder {}: it must exist and be shared with the connected account",
                op.folder
            ),
        ),
        408 | 500..=599 => ConnectorError::new(
            ErrorKind::Unavailable,
            what,
            "Drive is failing for now; the delivery is retried",
        )
        .with_retry_after(retry_after),
        413 => ConnectorError::new(
            ErrorKind::PayloadTooLarge,
            what,
            "lower payload_cap_bytes or send smaller batches",
        ),
        _ => ConnectorError::new(
            ErrorKind::Rejected,
            what,
            "check the destination's config (file name template, format)",
        ),
    }
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

    const OP: Op<'static> = Op {
        action: "create a file",
        folder: "f1",
    };

    fn body(reason: &str) -> String {
        format!(r#"{{"error":{{"code":403,"message":"m","errors":[{{"reason":"{reason}"}}]}}}}"#)
    }

    #[test]
    fn rate_limits_are_throttling_not_permission_errors() {
        for reason in ["rateLimitExceeded", "userRateLimitExceeded"] {
            let e = classify(&OP, 403, Some("3"), &body(reason));
            assert_eq!(e.kind, ErrorKind::RateLimited, "{reason}");
            assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(3)));
        }
        assert_eq!(classify(&OP, 429, None, "").kind, ErrorKind::RateLimited);
        let e = classify(&OP, 403, None, &body("insufficientFilePermissions"));
        assert_eq!(e.kind, ErrorKind::Forbidden);
        assert!(e.hint.contains("f1"));
        assert_eq!(classify(&OP, 404, None, "").kind, ErrorKind::NotFound);
        assert_eq!(
            classify(&OP, 503, None, "garbage").kind,
            ErrorKind::Unavailable
        );
        assert_eq!(classify(&OP, 400, None, "").kind, ErrorKind::Rejected);
    }
}

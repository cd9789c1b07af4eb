//! Microsoft Graph error answers as classified connector errors: 429 and 503 with their
//! `Retry-After` are transient, a taken name under `conflict_behavior: fail` is a conflict, and
//! permissions and missing folders are permanent and say what to change.

use std::time::SystemTime;

use courier_core::retry_after::parse_retry_after;
use courier_core::{ConnectorError, ErrorKind};
use serde_json::Value;

/// What the request was for, to name it in messages.
pub struct Op<'a> {
    pub action: &'static str,
    pub folder: &'a str,
}

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

/// Classifies a non-success answer (the body already read).
pub fn classify(op: &Op<'_>, status: u16, retry_after: Option<&str>, body: &str) -> ConnectorError {
    let (code, message) = code_of(body);
    let retry_after = retry_after.and_then(|v| parse_retry_after(v, SystemTime::now()));
    let detail = if code.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status} {code}: {message}")
    };
    let what = format!("Microsoft Graph refused to {} ({detail})", op.action);
    let folder = if op.folder.is_empty() {
        "the drive's root"
    } else {
        op.folder
    };
    match status {
        429 => ConnectorError::new(
            ErrorKind::RateLimited,
            what,
            "Graph is throttling this app or account; the delivery waits for Retry-After and is retried",
        )
        .with_retry_after(retry_after),
        401 => ConnectorError::new(
            ErrorKind::ReauthRequired,
            what,
            "reconnect the destination: the account's token is no longer accepted",
        ),
        403 => ConnectorError::new(
            ErrorKind::Forbidden,
            what,
            format!("give the connected account write access to {folder} (the app needs Files.ReadWrite)"),
        ),
        404 => ConnectorError::new(
            ErrorKind::NotFound,
            what,
            format!("check drive_id and folder_path: {folder} must exist in the drive"),
        ),
        409 => ConnectorError::new(
            ErrorKind::Conflict,
            what,
            "a file with this name exists and conflict_behavior is fail: use replace or rename, or a file_name_template with {batch_id}",
        ),
        413 => ConnectorError::new(
            ErrorKind::PayloadTooLarge,
            what,
            "lower payload_cap_bytes or send smaller batches",
        ),
        507 => ConnectorError::new(
            ErrorKind::Rejected,
            what,
            "the drive is out of storage: free space or raise its quota",
        ),
        408 | 500..=599 => ConnectorError::new(
            ErrorKind::Unavailable,
            what,
            "Graph is failing for now; the delivery waits for Retry-After and is retried",
        )
        .with_retry_after(retry_after),
        _ => ConnectorError::new(
            ErrorKind::Rejected,
            what,
            "check the destination's config (folder_path, file name template)",
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
    use std::time::Duration;

    #[test]
    fn throttling_and_outages_carry_retry_after() {
        let op = Op {
            action: "upload",
            folder: "Exports",
        };
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

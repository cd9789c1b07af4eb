//! Service Bus answers as classified connector errors, after the REST API's documented statuses
//! (Send Message Batch: 400, 401, 403 quota or size, 410 missing entity, 500; the service's
//! 404, 413, 429 and 503 Server Busy besides). The XML error's `Detail` says which 401 is a bad
//! signature and which a missing right, and which 403 is the size.

use std::time::{Duration, SystemTime};

use courier_core::retry_after::parse_retry_after;
use courier_core::{ConnectorError, ErrorKind};

/// What was being done, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Sending messages to the entity.
    Send,
    /// Reading the entity's description (Manage rights).
    ReadEntity,
}

impl Action {
    fn describe(self) -> &'static str {
        match self {
            Action::Send => "send messages to",
            Action::ReadEntity => "read the description of",
        }
    }

    /// The right the action needs.
    fn right(self) -> &'static str {
        match self {
            Action::Send => "Send",
            Action::ReadEntity => "Manage",
        }
    }
}

/// A failed answer, read: its status, `Retry-After` and the error's detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// `Retry-After`, when the answer carries one.
    pub retry_after: Option<Duration>,
    /// The error's detail (the XML `Detail`, or the start of the body), cut short and with
    /// anything credential-like removed.
    pub detail: String,
}

impl Answer {
    /// Reads a failed response (its body capped).
    pub async fn read(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = courier_net::body::error_text(response).await;
        Answer {
            status,
            retry_after,
            detail: detail(&body),
        }
    }
}

/// The detail of an error body: the XML `<Detail>` when there is one, without the tracking
/// suffix, at most 300 characters; a body that echoes a credential is not repeated.
pub fn detail(body: &str) -> String {
    let inner = body
        .split_once("<Detail>")
        .and_then(|(_, rest)| rest.split_once("</Detail>"))
        .map_or(body, |(d, _)| d);
    let text = inner.split(". TrackingId:").next().unwrap_or(inner).trim();
    let lower = text.to_ascii_lowercase();
    if [
        "sharedaccesssignature",
        "sig=",
        "bearer ",
        "sharedaccesskey",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        return "(the answer is not repeated: it quotes a credential)".into();
    }
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    clean
}

/// Lower-case text of Service Bus's refusal of a batch of distinct message ids or sessions on a
/// partitioned entity (with duplicate detection, or sessions).
pub const UNBATCHABLE: &str = "batching brokered messages with distinct";
/// What [`UNBATCHABLE`] means, as the error says it.
pub const UNBATCHABLE_REASON: &str =
    "a partitioned entity takes a batch only of messages sharing their MessageId and SessionId";

/// A failed answer as a classified error naming the entity.
pub fn classify(action: Action, entity: &str, answer: &Answer) -> ConnectorError {
    let status = answer.status;
    let said = if answer.detail.is_empty() {
        String::new()
    } else {
        format!(": {}", answer.detail)
    };
    let lower = answer.detail.to_ascii_lowercase();
    let what = format!("{} entity {entity}", action.describe());
    let error = match status {
        400 if lower.contains(UNBATCHABLE) => ConnectorError::new(
            ErrorKind::Rejected,
            format!("Service Bus refused a batch to {what}: {UNBATCHABLE_REASON}{said}"),
            "messages are sent one at a time to such an entity",
        ),
        400 if lower.contains("sessionid was not set") || lower.contains("requires sessions") => {
            ConnectorError::new(
                ErrorKind::Rejected,
                format!("Service Bus refused to {what}: the entity requires sessions{said}"),
                "set config.session_id_template so every message carries a SessionId",
            )
        }
        400 => ConnectorError::new(
            ErrorKind::Rejected,
            format!("Service Bus refused to {what} as a bad request{said}"),
            "check config.session_id_template and config.application_properties, and the record",
        ),
        // A 401 that names claims accepted the credential but found a right missing.
        401 if lower.contains("claim") => ConnectorError::new(
            ErrorKind::Forbidden,
            format!(
                "the credentials may not {what}: the {} right is missing{said}",
                action.right()
            ),
            format!(
                "give the shared access policy {} rights on {entity} (or the service principal the Azure Service Bus Data {} role)",
                action.right(),
                if action == Action::Send {
                    "Sender"
                } else {
                    "Owner"
                }
            ),
        ),
        401 => ConnectorError::new(
            ErrorKind::Unauthenticated,
            format!("Service Bus did not accept the credentials{said}"),
            "check the connection string, or sas_key_name and sas_key (the policy's primary or secondary key), in auth_config",
        ),
        403 if [
            "messagesizeexceeded",
            "message is larger",
            "too large",
            "toolarge",
        ]
        .iter()
        .any(|w| lower.contains(w)) =>
        {
            ConnectorError::new(
                ErrorKind::PayloadTooLarge,
                format!("Service Bus refused the messages for {entity} as too large{said}"),
                "send smaller records (256 KiB a message on the Standard tier)",
            )
        }
        // A full entity (QuotaExceeded) empties as its consumers catch up: retried.
        403 => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("Service Bus refused to {what}: a quota is exceeded{said}"),
            format!(
                "the entity {entity} or its namespace is full or over a quota: drain it, or raise its maximum size"
            ),
        ),
        404 | 410 => ConnectorError::new(
            ErrorKind::NotFound,
            format!("the queue or topic {entity} does not exist in the namespace{said}"),
            format!(
                "create the queue or topic {entity} in the namespace, or correct config.entity_path"
            ),
        ),
        413 => ConnectorError::new(
            ErrorKind::PayloadTooLarge,
            format!("Service Bus refused the request for {entity} as too large{said}"),
            "send smaller records (256 KiB a request on the Standard tier)",
        ),
        429 | 503 => ConnectorError::new(
            ErrorKind::RateLimited,
            format!("Service Bus is busy or throttling requests to {entity}{said}"),
            "the messages are retried after the wait Service Bus asks for",
        ),
        500..=599 => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("Service Bus failed to {what} (HTTP {status}){said}"),
            "the request is retried",
        ),
        _ => ConnectorError::new(
            ErrorKind::from_http_status(status),
            format!("Service Bus answered HTTP {status} when asked to {what}{said}"),
            "check the destination's config",
        ),
    };
    error.with_retry_after(answer.retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: u16, detail: &str) -> ErrorKind {
        let answer = Answer {
            status,
            retry_after: None,
            detail: detail.into(),
        };
        classify(Action::Send, "orders", &answer).kind
    }

    #[test]
    fn statuses_and_details_map_to_kinds() {
        assert_eq!(kind(400, "bad"), ErrorKind::Rejected);
        assert_eq!(
            kind(401, "InvalidSignature: The token has an invalid signature"),
            ErrorKind::Unauthenticated
        );
        assert_eq!(
            kind(401, "Unauthorized access. 'Send' claim(s) are required"),
            ErrorKind::Forbidden
        );
        assert_eq!(
            kind(403, "MessageSizeExceeded: too large"),
            ErrorKind::PayloadTooLarge
        );
        // A full entity (its size quota reached) drains: retried, not too large.
        assert_eq!(
            kind(
                403,
                "QuotaExceeded: The maximum entity size has been reached or exceeded. Size of entity in bytes:1073741824"
            ),
            ErrorKind::Unavailable
        );
        assert_eq!(
            kind(
                400,
                "Batching brokered messages with distinct SessionId, PartitionKey, or MessageId is not supported for an entity with partitioning and duplicate detection enabled."
            ),
            ErrorKind::Rejected
        );
        assert_eq!(kind(404, ""), ErrorKind::NotFound);
        assert_eq!(kind(410, ""), ErrorKind::NotFound);
        assert_eq!(kind(413, ""), ErrorKind::PayloadTooLarge);
        assert_eq!(kind(429, ""), ErrorKind::RateLimited);
        assert_eq!(kind(503, "ServerBusy"), ErrorKind::RateLimited);
        assert_eq!(kind(500, ""), ErrorKind::Unavailable);
        let busy = Answer {
            status: 503,
            retry_after: Some(Duration::from_secs(3)),
            detail: String::new(),
        };
        let e = classify(Action::Send, "orders", &busy);
        assert!(e.is_retryable());
        assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
    }

    #[test]
    fn details_are_read_from_the_xml_and_never_quote_credentials() {
        let body = "<Error><Code>401</Code><Detail>ExpiredToken: The token is expired. TrackingId:abc, SystemTracker:x</Detail></Error>";
        assert_eq!(detail(body), "ExpiredToken: The token is expired");
        let echoed = "<Error><Detail>got SharedAccessSignature sr=x&amp;sig=abc</Detail></Error>";
        assert!(!detail(echoed).contains("sig"));
        assert_eq!(detail(&"x".repeat(1000)).len(), 300);
    }
}

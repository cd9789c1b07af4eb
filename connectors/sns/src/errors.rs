//! SNS failures, request-level and per entry, as classified connector errors naming the topic
//! and the missing permission.

use aws_sdk_sns::config::http::HttpResponse;
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use courier_core::{ConnectorError, ErrorKind};

/// A failed SNS call as a classified error.
/// A failed SNS call as a classified error.
pub fn classify<E>(action: &str, topic: &str, err: SdkError<E, HttpResponse>) -> ConnectorError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let resource = format!("topic {topic}");
    let call = courier_aws::Call {
        service: "SNS",
        action,
        resource: &resource,
    };
    courier_aws::classify_sdk_error(call, err, KNOWN_CODES, |code, status| {
        by_code(action, topic, code, status)
    })
}

/// Codes looked for in an answer the SDK could not read.
const KNOWN_CODES: &[&str] = &[
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignature",
    "ExpiredToken",
    "AuthorizationError",
    "AccessDenied",
    "NotFound",
];

/// Whether `code` is one of SNS's throttling codes (of a request, or of one batch entry).
pub fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "Throttled"
            | "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "TooManyRequestsException"
            | "KMSThrottling"
            | "KMSThrottlingException"
            | "RequestThrottled"
    )
}

/// An SNS error code (of a request, or of one entry of a batch) as a classified error.
pub fn by_code(
    action: &str,
    topic: &str,
    code: Option<&str>,
    status: Option<u16>,
) -> ConnectorError {
    let code_text = code.map(|c| format!(" ({c})")).unwrap_or_default();
    match (code, status) {
        (Some(c), _) if is_throttling(c) => ConnectorError::new(
            ErrorKind::RateLimited,
            format!("SNS is throttling {action} on topic {topic}{code_text}"),
            "messages are retried with backoff",
        ),
        // A 429 from a gateway, or one whose code could not be read, is throttling too.
        (_, Some(429)) => ConnectorError::new(
            ErrorKind::RateLimited,
            format!("SNS answered 429 to {action} on topic {topic}{code_text}"),
            "messages are retried with backoff",
        ),
        (
            Some(
                "InvalidClientTokenId"
                | "SignatureDoesNotMatch"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "IncompleteSignature"
                | "InvalidSecurity"
                | "ExpiredToken"
                | "ExpiredTokenException",
            ),
            _,
        ) => ConnectorError::new(
            ErrorKind::Unauthenticated,
            format!("SNS did not accept the credentials{code_text}"),
            "check access_key_id, secret_access_key and session_token in auth_config",
        ),
        (Some(c), _) if c.starts_with("KMS") || c.starts_with("Kms") => ConnectorError::new(
            ErrorKind::Forbidden,
            format!("the topic's KMS key refused the write{code_text}"),
            "grant kms:GenerateDataKey and kms:Decrypt on the topic's key to the identity in auth_config",
        ),
        (Some("AuthorizationError" | "AccessDenied" | "AccessDeniedException"), _)
        | (_, Some(403)) => ConnectorError::new(
            ErrorKind::Forbidden,
            format!("access denied: {action} on topic {topic}{code_text}"),
            format!("grant {action} on topic {topic} to the identity in auth_config"),
        ),
        (Some("NotFound" | "NotFoundException" | "ResourceNotFound"), _) | (None, Some(404)) => {
            ConnectorError::new(
                ErrorKind::NotFound,
                format!("topic {topic} does not exist (in the region or endpoint configured)"),
                "check config.topic_arn and config.region",
            )
        }
        (Some("BatchRequestTooLong"), _) => ConnectorError::new(
            ErrorKind::PayloadTooLarge,
            format!("SNS refused the batch for topic {topic} as too long"),
            "send smaller records",
        ),
        (Some("InternalError" | "InternalFailure" | "ServiceUnavailable"), _)
        | (_, Some(500..=599)) => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("SNS failed {action} on topic {topic}{code_text}"),
            "the request is retried with backoff",
        ),
        _ => ConnectorError::new(
            ErrorKind::Rejected,
            format!("SNS refused {action} on topic {topic}{code_text}"),
            "check the destination's config and the record",
        ),
    }
}

/// One failed entry of a PublishBatch answer as its record's error: throttling is
/// `rate_limited`; otherwise a fault SNS puts on the sender is permanent and any other is
/// SNS's own, retried.
pub fn entry_error(
    topic: &str,
    code: &str,
    sender_fault: bool,
    message: Option<&str>,
) -> ConnectorError {
    let mut error = by_code("sns:Publish", topic, Some(code), None);
    if !is_throttling(code) {
        match (sender_fault, error.kind.is_retryable()) {
            (true, true) => error.kind = ErrorKind::Rejected,
            (false, false) => error.kind = ErrorKind::Unavailable,
            _ => {}
        }
    }
    if let Some(m) = message {
        error.message = format!(
            "{} — {}",
            error.message,
            m.chars().take(200).collect::<String>()
        );
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:t";

    #[test]
    fn throttling_is_rate_limited_whoever_the_fault_is_put_on() {
        // A 429 without a code SNS would send (a gateway's) is throttling too.
        assert_eq!(
            by_code("sns:Publish", TOPIC, None, Some(429)).kind,
            ErrorKind::RateLimited
        );
        for code in ["Throttled", "ThrottlingException", "KMSThrottling"] {
            for sender_fault in [true, false] {
                let e = entry_error(TOPIC, code, sender_fault, Some("Rate exceeded"));
                assert_eq!(e.kind, ErrorKind::RateLimited, "{code} {sender_fault}");
                assert!(e.is_retryable());
                assert!(e.message.contains("Rate exceeded"), "{e:?}");
            }
            assert_eq!(
                by_code("sns:Publish", TOPIC, Some(code), Some(400)).kind,
                ErrorKind::RateLimited
            );
        }
    }

    #[test]
    fn a_senders_fault_is_permanent_and_snss_own_is_retried() {
        let e = entry_error(TOPIC, "InvalidParameter", true, None);
        assert_eq!(e.kind, ErrorKind::Rejected);
        assert!(!e.is_retryable());
        let e = entry_error(TOPIC, "InternalError", false, None);
        assert_eq!(e.kind, ErrorKind::Unavailable);
        let e = entry_error(TOPIC, "SomethingNew", false, None);
        assert!(e.is_retryable(), "{e:?}");
        let e = entry_error(TOPIC, "InternalError", true, None);
        assert!(!e.is_retryable(), "{e:?}");
        let e = entry_error(TOPIC, "KMSAccessDenied", true, None);
        assert_eq!(e.kind, ErrorKind::Forbidden);
    }

    #[test]
    fn request_errors_name_the_permission_and_the_topic() {
        let e = by_code("sns:Publish", TOPIC, Some("AuthorizationError"), Some(403));
        assert_eq!(e.kind, ErrorKind::Forbidden);
        assert!(e.hint.contains("sns:Publish") && e.hint.contains(TOPIC));
        let e = by_code("sns:Publish", TOPIC, Some("NotFound"), Some(404));
        assert_eq!(e.kind, ErrorKind::NotFound);
        let e = by_code(
            "sns:Publish",
            TOPIC,
            Some("SignatureDoesNotMatch"),
            Some(403),
        );
        assert_eq!(e.kind, ErrorKind::Unauthenticated);
        let e = by_code("sns:Publish", TOPIC, None, Some(503));
        assert_eq!(e.kind, ErrorKind::Unavailable);
    }
}

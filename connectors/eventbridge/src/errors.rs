//! EventBridge failures, request-level and per entry, as classified connector errors naming the
//! event bus and the missing permission.

use aws_sdk_eventbridge::config::http::HttpResponse;
use aws_sdk_eventbridge::error::{ProvideErrorMetadata, SdkError};
use courier_core::{ConnectorError, ErrorKind};

/// A failed EventBridge call as a classified error.
/// A failed EventBridge call as a classified error.
pub fn classify<E>(action: &str, bus: &str, err: SdkError<E, HttpResponse>) -> ConnectorError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let resource = format!("event bus {bus}");
    let call = courier_aws::Call {
        service: "EventBridge",
        action,
        resource: &resource,
    };
    courier_aws::classify_sdk_error(call, err, KNOWN_CODES, |code, status| {
        by_code(action, bus, code, status)
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
    "AccessDenied",
    "AccessDeniedException",
];

/// Whether `code` is one of EventBridge's throttling codes.
pub fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "ThrottlingException" | "Throttling" | "TooManyRequestsException" | "RequestThrottled"
    )
}

/// An EventBridge error code (of a request, or of one entry of a PutEvents answer) as a
/// classified error.
pub fn by_code(action: &str, bus: &str, code: Option<&str>, status: Option<u16>) -> ConnectorError {
    let code_text = code.map(|c| format!(" ({c})")).unwrap_or_default();
    match (code, status) {
        (Some(c), _) if is_throttling(c) => ConnectorError::new(
            ErrorKind::RateLimited,
            format!("EventBridge is throttling {action} on event bus {bus}{code_text}"),
            "events are retried with backoff",
        ),
        // A 429 from a gateway, or one whose code could not be read, is throttling too.
        (_, Some(429)) => ConnectorError::new(
            ErrorKind::RateLimited,
            format!("EventBridge answered 429 to {action} on event bus {bus}{code_text}"),
            "events are retried with backoff",
        ),
        (
            Some(
                "InvalidClientTokenId"
                | "SignatureDoesNotMatch"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "IncompleteSignature"
                | "ExpiredToken"
                | "ExpiredTokenException",
            ),
            _,
        ) => ConnectorError::new(
            ErrorKind::Unauthenticated,
            format!("EventBridge did not accept the credentials{code_text}"),
            "check access_key_id, secret_access_key and session_token in auth_config",
        ),
        (Some("NotAuthorizedForSourceException"), _) => ConnectorError::new(
            ErrorKind::Forbidden,
            format!(
                "the identity may not put events with this source on event bus {bus}{code_text}"
            ),
            "check config.source, or allow the identity to use it",
        ),
        (Some(c), _) if c.starts_with("KMS") || c.starts_with("Kms") => ConnectorError::new(
            ErrorKind::Forbidden,
            format!("the event bus's KMS key refused the write{code_text}"),
            "grant kms:GenerateDataKey and kms:Decrypt on the bus's key to the identity in auth_config",
        ),
        (Some("AccessDenied" | "AccessDeniedException"), _) | (_, Some(403)) => {
            ConnectorError::new(
                ErrorKind::Forbidden,
                format!("access denied: {action} on event bus {bus}{code_text}"),
                format!("grant {action} on event bus {bus} to the identity in auth_config"),
            )
        }
        (Some("ResourceNotFoundException" | "ResourceNotFound"), _) | (None, Some(404)) => {
            ConnectorError::new(
                ErrorKind::NotFound,
                format!("event bus {bus} does not exist (in the region or endpoint configured)"),
                "check config.event_bus_name and config.region",
            )
        }
        (
            Some("InternalFailure" | "InternalException" | "InternalError" | "ServiceUnavailable"),
            _,
        )
        | (_, Some(500..=599)) => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("EventBridge failed {action} on event bus {bus}{code_text}"),
            "the request is retried with backoff",
        ),
        _ => ConnectorError::new(
            ErrorKind::Rejected,
            format!("EventBridge refused {action} on event bus {bus}{code_text}"),
            "check the destination's config and the record",
        ),
    }
}

/// One failed entry of a PutEvents answer as its record's error: `ThrottlingException` is
/// `rate_limited`, `InternalFailure` / `InternalError` / `ServiceUnavailable` EventBridge's own
/// (`unavailable`, retried), and any other code permanent.
pub fn entry_error(bus: &str, code: &str, message: Option<&str>) -> ConnectorError {
    let mut error = by_code("events:PutEvents", bus, Some(code), None);
    let transient = is_throttling(code)
        || matches!(
            code,
            "InternalFailure" | "InternalException" | "InternalError" | "ServiceUnavailable"
        );
    if !transient && error.kind.is_retryable() {
        error.kind = ErrorKind::Rejected;
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

    #[test]
    fn throttling_is_rate_limited_and_internal_failures_are_retried() {
        let e = entry_error("orders", "ThrottlingException", Some("Rate exceeded"));
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert!(e.is_retryable() && e.message.contains("Rate exceeded"));
        for code in ["InternalFailure", "InternalError", "ServiceUnavailable"] {
            let e = entry_error("orders", code, None);
            assert_eq!(e.kind, ErrorKind::Unavailable, "{code}");
        }
        let e = by_code("events:PutEvents", "orders", None, Some(429));
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert_eq!(
            by_code(
                "events:PutEvents",
                "orders",
                Some("ThrottlingException"),
                Some(400)
            )
            .kind,
            ErrorKind::RateLimited
        );
    }

    #[test]
    fn other_entry_failures_are_permanent() {
        for code in ["InvalidArgument", "MalformedDetail", "SomethingNew"] {
            let e = entry_error("orders", code, None);
            assert!(!e.is_retryable(), "{code}: {e:?}");
        }
        let e = entry_error("orders", "AccessDeniedException", None);
        assert_eq!(e.kind, ErrorKind::Forbidden);
        let e = entry_error("orders", "NotAuthorizedForSourceException", None);
        assert_eq!(e.kind, ErrorKind::Forbidden);
    }

    #[test]
    fn request_errors_name_the_permission_and_the_bus() {
        let e = by_code(
            "events:DescribeEventBus",
            "orders",
            Some("AccessDeniedException"),
            Some(400),
        );
        assert_eq!(e.kind, ErrorKind::Forbidden);
        assert!(e.hint.contains("events:DescribeEventBus") && e.hint.contains("orders"));
        let e = by_code(
            "events:PutEvents",
            "orders",
            Some("ResourceNotFoundException"),
            Some(400),
        );
        assert_eq!(e.kind, ErrorKind::NotFound);
        let e = by_code(
            "events:PutEvents",
            "orders",
            Some("UnrecognizedClientException"),
            Some(400),
        );
        assert_eq!(e.kind, ErrorKind::Unauthenticated);
    }
}

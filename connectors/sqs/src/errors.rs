//! SQS failures, request-level and per entry, as classified connector errors naming the queue
//! and the missing permission.

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use courier_core::{ConnectorError, ErrorKind};

/// A failed SQS call as a classified error.
/// A failed SQS call as a classified error.
pub fn classify<E>(action: &str, queue: &str, err: SdkError<E, HttpResponse>) -> ConnectorError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let resource = format!("queue {queue}");
    let call = courier_aws::Call {
        service: "SQS",
        action,
        resource: &resource,
    };
    courier_aws::classify_sdk_error(call, err, KNOWN_CODES, |code, status| {
        by_code(action, queue, code, status)
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
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
];

/// An SQS error code (of a request, or of one entry of a batch) as a classified error.
pub fn by_code(
    action: &str,
    queue: &str,
    code: Option<&str>,
    status: Option<u16>,
) -> ConnectorError {
    let code_text = code.map(|c| format!(" ({c})")).unwrap_or_default();
    match (code, status) {
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
            format!("SQS did not accept the credentials{code_text}"),
            "check access_key_id, secret_access_key and session_token in auth_config",
        ),
        (Some("AccessDenied" | "AccessDeniedException"), _) | (_, Some(403)) => {
            ConnectorError::new(
                ErrorKind::Forbidden,
                format!("access denied: {action} on queue {queue}{code_text}"),
                format!("grant {action} on queue {queue} to the identity in auth_config"),
            )
        }
        (
            Some(
                "AWS.SimpleQueueService.NonExistentQueue"
                | "QueueDoesNotExist"
                | "NonExistentQueue",
            ),
            _,
        ) => ConnectorError::new(
            ErrorKind::NotFound,
            format!("queue {queue} does not exist (in the region or endpoint configured)"),
            "check config.queue_url and config.region",
        ),
        (Some("ThrottlingException" | "RequestThrottled" | "KmsThrottled"), _) | (_, Some(429)) => {
            ConnectorError::new(
                ErrorKind::RateLimited,
                format!("SQS is throttling {action} on queue {queue}{code_text}"),
                "messages are retried with backoff",
            )
        }
        (Some("BatchRequestTooLong" | "AWS.SimpleQueueService.BatchRequestTooLong"), _) => {
            ConnectorError::new(
                ErrorKind::PayloadTooLarge,
                format!("SQS refused the batch for queue {queue} as too long"),
                "send smaller records",
            )
        }
        (Some(c), _) if c.starts_with("Kms") || c.starts_with("KMS") => ConnectorError::new(
            ErrorKind::Forbidden,
            format!("the queue's KMS key refused the write{code_text}"),
            "grant kms:GenerateDataKey and kms:Decrypt on the queue's key to the identity in auth_config",
        ),
        (Some("InternalError" | "InternalFailure" | "ServiceUnavailable"), _)
        | (_, Some(500..=599)) => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("SQS failed {action} on queue {queue}{code_text}"),
            "the request is retried with backoff",
        ),
        _ => ConnectorError::new(
            ErrorKind::Rejected,
            format!("SQS refused {action} on queue {queue}{code_text}"),
            "check the destination's config and the record",
        ),
    }
}

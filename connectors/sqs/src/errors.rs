//! SQS failures, request-level and per entry, as classified connector errors naming the queue
//! and the missing permission.

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use courier_core::{ConnectorError, ErrorKind};

/// A failed SQS call as a classified error.
pub fn classify<E>(action: &str, queue: &str, err: SdkError<E, HttpResponse>) -> ConnectorError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let Some(refused) = courier_aws::refusal(&err) {
        return refused.with_source(err);
    }
    let error = match &err {
        SdkError::TimeoutError(_) => ConnectorError::new(
            ErrorKind::Timeout,
            format!("{action} on queue {queue} timed out"),
            "check network access to SQS; the request is retried",
        ),
        SdkError::DispatchFailure(_) => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("could not reach SQS for {action} on queue {queue}"),
            "check endpoint_url/region and network access; the request is retried",
        ),
        SdkError::ServiceError(service) => {
            // Some gateways and emulators answer auth failures in the query protocol's XML,
            // which the SDK cannot read: find the code in the raw body then.
            let raw = service.raw();
            let sniffed = || {
                let body = raw
                    .body()
                    .bytes()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                KNOWN_CODES
                    .iter()
                    .copied()
                    .find(|c| body.contains(&format!("<Code>{c}</Code>")))
            };
            let code = service.err().code().or_else(sniffed);
            by_code(action, queue, code, Some(raw.status().as_u16()))
        }
        _ => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("{action} on queue {queue} failed before an answer was read"),
            "the request is retried",
        ),
    };
    error.with_source(err)
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

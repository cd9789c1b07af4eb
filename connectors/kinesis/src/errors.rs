//! Kinesis failures, request-level and per record, as classified connector errors.

use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use courier_core::{ConnectorError, ErrorKind};

/// A failed Kinesis call as a classified error.
pub fn classify<E>(action: &str, stream: &str, err: SdkError<E, HttpResponse>) -> ConnectorError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let resource = format!("stream {stream}");
    let call = courier_aws::Call {
        service: "Kinesis",
        action,
        resource: &resource,
    };
    courier_aws::classify_sdk_error(call, err, KNOWN_CODES, |code, status| {
        by_code(action, stream, code, status)
    })
}

const KNOWN_CODES: &[&str] = &[
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "IncompleteSignature",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "AccessDeniedException",
    "ResourceNotFoundException",
];

/// Also used for the per-record `ErrorCode` of a PutRecords answer.
pub fn by_code(
    action: &str,
    stream: &str,
    code: Option<&str>,
    status: Option<u16>,
) -> ConnectorError {
    let code_text = code.map(|c| format!(" ({c})")).unwrap_or_default();
    match (code, status) {
        (
            Some(
                "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "ExpiredTokenException"
                | "IncompleteSignature"
                | "InvalidClientTokenId"
                | "SignatureDoesNotMatch",
            ),
            _,
        ) => ConnectorError::new(
            ErrorKind::Unauthenticated,
            format!("Kinesis did not accept the credentials{code_text}"),
            "check access_key_id, secret_access_key and session_token in auth_config",
        ),
        (Some("AccessDeniedException"), _) | (_, Some(403)) => ConnectorError::new(
            ErrorKind::Forbidden,
            format!("access denied: {action} on stream {stream}{code_text}"),
            format!("grant {action} on stream {stream} to the identity in auth_config"),
        ),
        (Some("ResourceNotFoundException"), _) => ConnectorError::new(
            ErrorKind::NotFound,
            format!("stream {stream} does not exist (in the region or endpoint configured)"),
            "check config.stream_name / stream_arn and config.region",
        ),
        (
            Some(
                "ProvisionedThroughputExceededException"
                | "LimitExceededException"
                | "ThrottlingException",
            ),
            _,
        ) => ConnectorError::new(
            ErrorKind::RateLimited,
            format!("stream {stream} is over its throughput{code_text}"),
            "records are retried with backoff; add shards or spread partition keys if this persists",
        ),
        (Some("ResourceInUseException"), _) => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("stream {stream} is not writable right now (creating, updating or deleting)"),
            "wait for the stream to be ACTIVE; records are retried",
        ),
        (Some(c), _) if c.starts_with("KMS") => ConnectorError::new(
            ErrorKind::Forbidden,
            format!("the stream's KMS key refused the write{code_text}"),
            "grant kms:GenerateDataKey on the stream's key, and check that the key is enabled",
        ),
        (Some("InternalFailure" | "ServiceUnavailable"), _) | (_, Some(500..=599)) => {
            ConnectorError::new(
                ErrorKind::Unavailable,
                format!("Kinesis failed {action} on stream {stream}{code_text}"),
                "the request is retried with backoff",
            )
        }
        _ => ConnectorError::new(
            ErrorKind::Rejected,
            format!("Kinesis refused {action} on stream {stream}{code_text}"),
            "check the destination's config",
        ),
    }
}

//! S3 failures as classified connector errors, naming the bucket, key and permission involved.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use courier_core::{ConnectorError, ErrorKind};
use courier_files::Op;

/// What was being done, for messages: the S3 action and the resource.
pub struct S3Op<'a> {
    pub action: &'static str,
    pub bucket: &'a str,
    pub key: Option<&'a str>,
}

impl S3Op<'_> {
    fn resource(&self) -> String {
        match self.key {
            Some(k) => format!("s3://{}/{k}", self.bucket),
            None => format!("bucket {}", self.bucket),
        }
    }
}

pub fn classify<E>(op: &S3Op<'_>, err: SdkError<E, HttpResponse>) -> ConnectorError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let Some(refused) = courier_aws::refusal(&err) {
        return refused.with_source(err);
    }
    let resource = op.resource();
    match &err {
        SdkError::TimeoutError(_) => ConnectorError::new(
            ErrorKind::Timeout,
            format!("{} on {resource} timed out", op.action),
            "check network access to the S3 endpoint; the request is retried",
        ),
        SdkError::DispatchFailure(_) => ConnectorError::new(
            ErrorKind::Unavailable,
            format!(
                "could not reach the S3 endpoint for {} on {resource}",
                op.action
            ),
            "check endpoint_url/region and network access; the request is retried",
        ),
        SdkError::ServiceError(service) => {
            let status = Some(service.raw().status().as_u16());
            classify_service(op, &resource, service.err().code(), status)
        }
        SdkError::ResponseError(_) => ConnectorError::new(
            ErrorKind::Unavailable,
            format!(
                "S3 answered {} on {resource} with a response that could not be read",
                op.action
            ),
            "the request is retried",
        ),
        _ => ConnectorError::new(
            ErrorKind::Internal,
            format!("{} on {resource} could not be sent", op.action),
            "check the destination's config",
        ),
    }
    .with_source(err)
}

fn classify_service(
    op: &S3Op<'_>,
    resource: &str,
    code: Option<&str>,
    status: Option<u16>,
) -> ConnectorError {
    let code_text = code.map(|c| format!(" ({c})")).unwrap_or_default();
    match (code, status) {
        (
            Some(
                "InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "InvalidToken"
                | "ExpiredToken"
                | "TokenRefreshRequired",
            ),
            _,
        ) => ConnectorError::new(
            ErrorKind::Unauthenticated,
            format!("S3 did not accept the credentials{code_text}"),
            "check access_key_id, secret_access_key and session_token in auth_config",
        ),
        (Some("AccessDenied" | "AllAccessDisabled"), _) | (None, Some(403)) => ConnectorError::new(
            ErrorKind::Forbidden,
            format!("access denied: {} on {resource}{code_text}", op.action),
            format!(
                "grant {} on {resource} to the identity in auth_config",
                op.action
            ),
        ),
        (Some("NoSuchBucket"), _) | (None, Some(404)) if op.key.is_none() => ConnectorError::new(
            ErrorKind::NotFound,
            format!(
                "bucket {} does not exist (in region or endpoint configured)",
                op.bucket
            ),
            "check config.bucket, config.region and config.endpoint_url",
        ),
        (Some("NoSuchBucket"), _) => ConnectorError::new(
            ErrorKind::NotFound,
            format!("bucket {} does not exist", op.bucket),
            "check config.bucket, config.region and config.endpoint_url",
        ),
        (Some("PreconditionFailed"), _) => ConnectorError::new(
            ErrorKind::Conflict,
            format!("{resource} already exists (create_only)"),
            "the object was written before; with create_only a retry keeps the first copy",
        ),
        (Some("EntityTooLarge"), _) => ConnectorError::new(
            ErrorKind::PayloadTooLarge,
            format!("S3 refused {resource} as too large"),
            "lower payload_cap_bytes or send smaller batches",
        ),
        (Some("SlowDown" | "RequestLimitExceeded" | "Throttling"), _) => ConnectorError::new(
            ErrorKind::RateLimited,
            format!("S3 is throttling {} on {resource}{code_text}", op.action),
            "the request is retried with backoff",
        ),
        (Some("InvalidBucketName"), _) => ConnectorError::new(
            ErrorKind::InvalidConfig,
            format!("S3 says bucket name {} is invalid", op.bucket),
            "correct config.bucket",
        ),
        (Some("PermanentRedirect" | "AuthorizationHeaderMalformed"), _) | (_, Some(301)) => {
            ConnectorError::new(
                ErrorKind::InvalidConfig,
                format!(
                    "bucket {} is not in the configured region{code_text}",
                    op.bucket
                ),
                "set config.region to the bucket's region",
            )
        }
        (_, Some(412)) => ConnectorError::new(
            ErrorKind::Conflict,
            format!("{resource} already exists (create_only)"),
            "the object was written before; with create_only a retry keeps the first copy",
        ),
        // Any other answer: the status table every store shares, with S3's code in the message.
        (_, Some(status)) => {
            let mut error = Op::new("S3", op.action, resource).status_error(status);
            error.message.push_str(&code_text);
            error
        }
        _ => ConnectorError::new(
            ErrorKind::Rejected,
            format!("S3 refused {} on {resource}{code_text}", op.action),
            "check the destination's config and the bucket's policies",
        ),
    }
}

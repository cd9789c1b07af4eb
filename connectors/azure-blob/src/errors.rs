//! Azure Storage failures as classified connector errors, naming the container, blob and
//! operation involved. Azure puts its error code in `x-ms-error-code`; the SDK hands it over.

use azure_core::error::ErrorKind as AzureKind;
use courier_core::{ConnectorError, ErrorKind};

/// What was being done, for messages: the operation and the resource.
pub struct Op<'a> {
    pub action: &'static str,
    pub container: &'a str,
    pub blob: Option<&'a str>,
}

impl Op<'_> {
    fn resource(&self) -> String {
        match self.blob {
            Some(b) => format!("blob {}/{b}", self.container),
            None => format!("container {}", self.container),
        }
    }
}

/// The HTTP status and Azure error code of a failed request, if it got an answer.
pub fn status_of(err: &azure_core::Error) -> Option<(u16, Option<String>)> {
    match err.kind() {
        AzureKind::HttpResponse {
            status, error_code, ..
        } => Some((u16::from(*status), error_code.clone())),
        _ => None,
    }
}

pub fn classify(op: &Op<'_>, err: azure_core::Error) -> ConnectorError {
    let resource = op.resource();
    let action = op.action;
    let error = match (err.kind(), status_of(&err)) {
        (_, Some((status, code))) => {
            // Azurite answers a bad signature with AuthorizationFailure where Azure says
            // AuthenticationFailed; both say "failed to authenticate" in the message.
            let code = match code.as_deref() {
                Some("AuthorizationFailure")
                    if err.to_string().contains("failed to authenticate") =>
                {
                    Some("AuthenticationFailed")
                }
                other => other,
            };
            classify_status(op, &resource, status, code)
        }
        (AzureKind::Credential, _) => ConnectorError::new(
            ErrorKind::Unauthenticated,
            "Entra ID did not issue a token for the service principal",
            "check tenant_id, client_id and client_secret in auth_config (and authority_host for sovereign clouds)",
        ),
        (AzureKind::Connection | AzureKind::Io, _) => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("could not reach the blob endpoint for {action} on {resource}"),
            "check config.endpoint and network access; the request is retried",
        ),
        _ => ConnectorError::new(
            ErrorKind::Internal,
            format!("{action} on {resource} failed before Azure answered"),
            "check the destination's config",
        ),
    };
    error.with_source(err)
}

fn classify_status(op: &Op<'_>, resource: &str, status: u16, code: Option<&str>) -> ConnectorError {
    let action = op.action;
    let code_text = code.map(|c| format!(" ({c})")).unwrap_or_default();
    match (status, code) {
        (403, Some("AuthenticationFailed")) | (401, _) => ConnectorError::new(
            ErrorKind::Unauthenticated,
            format!("Azure Storage did not accept the credentials{code_text}"),
            "check account_key, sas_token or connection_string in auth_config (and that the key belongs to config.account)",
        ),
        (403, _) => ConnectorError::new(
            ErrorKind::Forbidden,
            format!("access denied: {action} on {resource}{code_text}"),
            format!(
                "grant {action} on {resource} (SAS permissions or the Storage Blob Data Contributor role)"
            ),
        ),
        (404, Some("ContainerNotFound")) | (404, None) if op.blob.is_none() => ConnectorError::new(
            ErrorKind::NotFound,
            format!("container {} does not exist", op.container),
            "check config.container, config.account and config.endpoint",
        ),
        (404, Some("ContainerNotFound")) => ConnectorError::new(
            ErrorKind::NotFound,
            format!("container {} does not exist", op.container),
            "check config.container, config.account and config.endpoint",
        ),
        (409 | 412, Some("BlobAlreadyExists" | "ConditionNotMet")) | (412, _) => {
            ConnectorError::new(
                ErrorKind::Conflict,
                format!("{resource} already exists (create_only)"),
                "the blob was written before; with create_only a retry keeps the first copy",
            )
        }
        (413, _) | (_, Some("RequestBodyTooLarge")) => ConnectorError::new(
            ErrorKind::PayloadTooLarge,
            format!("Azure refused {resource} as too large"),
            "lower payload_cap_bytes or block_size_bytes",
        ),
        (429, _) | (503, Some("ServerBusy")) => ConnectorError::new(
            ErrorKind::RateLimited,
            format!("Azure Storage is throttling {action} on {resource}{code_text}"),
            "the request is retried with backoff",
        ),
        (408, _) | (500.., _) => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("Azure Storage failed {action} on {resource}{code_text} (HTTP {status})"),
            "the request is retried with backoff",
        ),
        (400, Some("InvalidResourceName" | "OutOfRangeInput")) => ConnectorError::new(
            ErrorKind::InvalidConfig,
            format!("Azure says the name of {resource} is invalid{code_text}"),
            "correct config.container, config.prefix or config.key_template",
        ),
        _ => ConnectorError::new(
            ErrorKind::Rejected,
            format!("Azure Storage refused {action} on {resource}{code_text} (HTTP {status})"),
            "check the destination's config and the account's policies",
        ),
    }
}

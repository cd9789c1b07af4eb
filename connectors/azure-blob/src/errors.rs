//! Azure Storage failures as classified connector errors, naming the container, blob and
//! operation involved. Azure puts its error code in `x-ms-error-code`; the SDK hands it over.
//! Most statuses mean what they mean from any store (`courier_files::Op::status_error`, with
//! the code added); Azure's own are matched first: a 403 that is a bad signature, a missing
//! container, a 409 that is not an existing blob, throttling as 503 `ServerBusy`, and names
//! Azure refuses.

use azure_core::error::ErrorKind as AzureKind;
use courier_core::{ConnectorError, ErrorKind};

/// The service's name in messages.
const SERVICE: &str = "Azure Storage";

/// What was being done, for messages: the operation and the resource. The container is kept
/// apart for the messages that say it is missing.
pub struct Op<'a> {
    pub action: &'static str,
    pub container: &'a str,
    pub blob: Option<&'a str>,
}

impl Op<'_> {
    /// The operation as every file store names it.
    fn shared(&self) -> courier_files::Op<'static> {
        let resource = match self.blob {
            Some(b) => format!("blob {}/{b}", self.container),
            None => format!("container {}", self.container),
        };
        courier_files::Op::new(SERVICE, self.action, resource)
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
    let shared = op.shared();
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
            classify_status(op, &shared, status, code)
        }
        (AzureKind::Credential, _) => ConnectorError::new(
            ErrorKind::Unauthenticated,
            "Entra ID did not issue a token for the service principal",
            "check tenant_id, client_id and client_secret in auth_config (and authority_host for sovereign clouds)",
        ),
        (AzureKind::Connection | AzureKind::Io, _) => shared.unreachable("config.endpoint"),
        _ => ConnectorError::new(
            ErrorKind::Internal,
            format!(
                "{} on {} failed before Azure answered",
                op.action, shared.resource
            ),
            "check the destination's config",
        ),
    };
    error.with_source(err)
}

fn classify_status(
    op: &Op<'_>,
    shared: &courier_files::Op<'_>,
    status: u16,
    code: Option<&str>,
) -> ConnectorError {
    let (action, resource) = (op.action, &shared.resource);
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
        // An answer without a code (a HEAD has no body) on the container itself means the
        // container is missing too.
        (404, _) if code == Some("ContainerNotFound") || (code.is_none() && op.blob.is_none()) => {
            ConnectorError::new(
                ErrorKind::NotFound,
                format!("container {} does not exist", op.container),
                "check config.container, config.account and config.endpoint",
            )
        }
        // A 409 is also a lease, a container being deleted or an archived blob: only these
        // codes mean the blob is there (which create_only counts as delivered).
        (409, _) if !matches!(code, Some("BlobAlreadyExists" | "ConditionNotMet")) => {
            ConnectorError::new(
                ErrorKind::Rejected,
                format!("Azure Storage refused {action} on {resource}{code_text} (HTTP {status})"),
                "check the destination's config and the account's policies",
            )
        }
        (413, _) | (_, Some("RequestBodyTooLarge")) => ConnectorError::new(
            ErrorKind::PayloadTooLarge,
            format!("Azure refused {resource} as too large"),
            "lower payload_cap_bytes or block_size_bytes",
        ),
        // How Azure throttles: a rate limit, not an outage.
        (503, Some("ServerBusy")) => ConnectorError::new(
            ErrorKind::RateLimited,
            format!("Azure Storage is throttling {action} on {resource}{code_text}"),
            "the request is retried with backoff",
        ),
        (400, Some("InvalidResourceName" | "OutOfRangeInput")) => ConnectorError::new(
            ErrorKind::InvalidConfig,
            format!("Azure says the name of {resource} is invalid{code_text}"),
            "correct config.container, config.prefix or config.key_template",
        ),
        _ => {
            let mut error = shared.status_error(status);
            error.message.push_str(&code_text);
            error
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_existing_blob_is_a_conflict() {
        let op = Op {
            action: "write",
            container: "c",
            blob: Some("k"),
        };
        let kind = |status, code| classify_status(&op, &op.shared(), status, code).kind;
        assert_eq!(kind(409, Some("BlobAlreadyExists")), ErrorKind::Conflict);
        assert_eq!(kind(412, None), ErrorKind::Conflict);
        // create_only counts a conflict as delivered: a lease must not pass for one.
        assert_eq!(kind(409, Some("LeaseIdMissing")), ErrorKind::Rejected);
        assert_eq!(kind(503, Some("ServerBusy")), ErrorKind::RateLimited);
        assert_eq!(kind(404, Some("ContainerNotFound")), ErrorKind::NotFound);
        let e = classify_status(&op, &op.shared(), 500, Some("InternalError"));
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert!(e.message.contains("(InternalError)"), "{e:?}");
    }
}

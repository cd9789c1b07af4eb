//! A failed AWS SDK call as a classified connector error: the guard's refusal, a timeout, an
//! endpoint that could not be reached, or the service's error code (found in the raw body when
//! the SDK could not read it) handed to the service's own table.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use courier_core::{ConnectorError, ErrorKind};

/// What a call was, as errors name it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The service, e.g. `SQS`.
    pub service: &'a str,
    /// The action as IAM names it, e.g. `sqs:SendMessage`.
    pub action: &'a str,
    /// The resource, e.g. `queue https://…/orders`.
    pub resource: &'a str,
}

/// Classifies `err`: refusals of the host's network policy, timeouts and unreachable endpoints
/// here; an answer's error code by `by_code(code, status)`. Some gateways and emulators answer
/// in a format the SDK cannot read (another protocol's XML, an HTML page): the code is then
/// looked for in the raw body among `known_codes`.
pub fn classify_sdk_error<E>(
    call: Call<'_>,
    err: SdkError<E, HttpResponse>,
    known_codes: &[&str],
    by_code: impl FnOnce(Option<&str>, Option<u16>) -> ConnectorError,
) -> ConnectorError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let Some(refused) = crate::refusal(&err) {
        return refused.with_source(err);
    }
    let Call {
        service,
        action,
        resource,
    } = call;
    let sniff = |raw: &HttpResponse| {
        let body = raw
            .body()
            .bytes()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        known_codes.iter().copied().find(|c| {
            [format!(">{c}<"), format!("\"{c}\""), format!("#{c}\"")]
                .iter()
                .any(|p| body.contains(p.as_str()))
        })
    };
    let error = match &err {
        SdkError::TimeoutError(_) => ConnectorError::new(
            ErrorKind::Timeout,
            format!("{action} on {resource} timed out"),
            format!("check network access to {service}; the request is retried"),
        ),
        SdkError::DispatchFailure(_) => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("could not reach {service} for {action} on {resource}"),
            "check endpoint_url/region and network access; the request is retried",
        ),
        SdkError::ServiceError(service_error) => {
            let raw = service_error.raw();
            let code = service_error.err().code().or_else(|| sniff(raw));
            by_code(code, Some(raw.status().as_u16()))
        }
        SdkError::ResponseError(response) => {
            let raw = response.raw();
            by_code(sniff(raw), Some(raw.status().as_u16()))
        }
        _ => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("{action} on {resource} failed before an answer was read"),
            "the request is retried",
        ),
    };
    error.with_source(err)
}

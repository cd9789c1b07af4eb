//! A request that got no HTTP answer, as a classified connector error.

use courier_core::{ConnectorError, ErrorKind};

/// A request that got no HTTP answer, classified: timeouts and connection failures are
/// transient.
pub fn transport_error(service: &str, e: reqwest::Error) -> ConnectorError {
    if let Some(refused) = crate::refusal(&e) {
        return crate::refused(service, refused);
    }
    // The URL is left out: upload-session URLs carry their authorization in the query.
    let e = e.without_url();
    if e.is_builder() {
        return ConnectorError::internal(format!("could not build a request to {service}: {e}"));
    }
    if e.is_timeout() {
        ConnectorError::new(
            ErrorKind::Timeout,
            format!("{service} did not answer in time"),
            "the request is retried; raise timeout_ms if large files time out",
        )
        .with_source(e)
    } else {
        ConnectorError::new(
            ErrorKind::Unavailable,
            format!("could not reach {service}: {}", root_cause(&e)),
            "check the API base URL and network access; the request is retried",
        )
        .with_source(e)
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

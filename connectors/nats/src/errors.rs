//! NATS failures as classified connector errors: connecting (refused credentials are
//! `unauthenticated`, never retried), publishing and JetStream's answers (a missing stream is
//! `not_found`, an oversized message `payload_too_large`, a lost connection `unavailable`).

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::{self, ErrorCode};
use async_nats::rustls;
use async_nats::{ConnectError, ConnectErrorKind};
use courier_core::{ConnectorError, ErrorKind};

/// The hint for a stream that does not capture a subject.
pub fn create_stream_hint(subject: &str) -> String {
    format!(
        "create a stream whose subjects include {subject} (e.g. `nats stream add ORDERS --subjects '{subject}'`), or set config.jetstream to false to publish to core NATS"
    )
}

/// A failed connection (or reconnection) as a classified error. The client's text is kept: it
/// names the failure, never the credentials.
pub fn connect_error(error: &ConnectError) -> ConnectorError {
    // The client reports a handshake the server's certificate failed as an I/O error (carrying
    // rustls' error), not as a TLS one: look for it, or the advice would be about reachability.
    if let Some(tls) = tls_failure(error) {
        let message = if matches!(tls, rustls::Error::InvalidCertificate(_)) {
            format!("the NATS server's TLS certificate was not accepted: {tls}")
        } else {
            format!("the TLS handshake with the NATS server failed: {tls}")
        };
        return ConnectorError::new(ErrorKind::Unavailable, message, TLS_HINT);
    }
    let (kind, message, hint) = match error.kind() {
        ConnectErrorKind::AuthorizationViolation => (
            ErrorKind::Unauthenticated,
            "the NATS server refused the credentials (Authorization Violation)".to_string(),
            "check auth_config against the server's users (token, user and password, nkey or .creds)",
        ),
        ConnectErrorKind::Authentication => (
            ErrorKind::Unauthenticated,
            format!("the credentials could not be used to sign in: {error}"),
            "check auth_config: the nkey seed or .creds file is not usable",
        ),
        ConnectErrorKind::Tls => (
            ErrorKind::Unavailable,
            format!("the TLS handshake with the NATS server failed: {error}"),
            TLS_HINT,
        ),
        ConnectErrorKind::TimedOut => (
            ErrorKind::Timeout,
            "the NATS server did not complete the connection in time".to_string(),
            "check that the servers are reachable from here (host, port, firewall)",
        ),
        ConnectErrorKind::ServerParse => (
            ErrorKind::InvalidConfig,
            "a server address cannot be used".to_string(),
            "correct config.servers",
        ),
        ConnectErrorKind::Dns => (
            ErrorKind::Unavailable,
            format!("a NATS server's name did not resolve: {error}"),
            "check the host names in config.servers",
        ),
        _ => (
            ErrorKind::Unavailable,
            format!("could not connect to NATS: {error}"),
            "check that the servers are running and reachable from here (host, port, firewall)",
        ),
    };
    ConnectorError::new(kind, message, hint)
}

/// What to check when TLS fails.
const TLS_HINT: &str = "check the server's TLS certificate and host name, or set config.ca_pem to the CA that signed it";

/// The rustls error behind `error`, if the TLS handshake is what failed. An I/O error's own
/// `source` skips the error it wraps, so each one is opened too.
fn tls_failure(error: &ConnectError) -> Option<&rustls::Error> {
    let mut next = std::error::Error::source(error);
    while let Some(cause) = next {
        let wrapped = cause
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        if let Some(tls) = [Some(cause), wrapped]
            .into_iter()
            .flatten()
            .find_map(|e| e.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        next = cause.source();
    }
    None
}

/// A publish (or its acknowledgement) that failed, for a message to `subject`.
pub fn publish_error(
    kind: PublishErrorKind,
    source: Option<&(dyn std::error::Error + 'static)>,
    subject: &str,
) -> ConnectorError {
    match kind {
        PublishErrorKind::StreamNotFound => ConnectorError::new(
            ErrorKind::NotFound,
            format!("no JetStream stream captures subject {subject}"),
            create_stream_hint(subject),
        ),
        PublishErrorKind::TimedOut => ConnectorError::new(
            ErrorKind::Timeout,
            format!("the stream did not acknowledge the message to {subject} in time"),
            "the record is retried; check the stream's health (`nats stream info`)",
        ),
        PublishErrorKind::BrokenPipe => lost_connection(subject),
        PublishErrorKind::MaxPayloadExceeded => ConnectorError::new(
            ErrorKind::PayloadTooLarge,
            format!("the message to {subject} is larger than the server's max_payload"),
            "send smaller records, or raise max_payload on the server",
        ),
        PublishErrorKind::MaxAckPending => ConnectorError::new(
            ErrorKind::RateLimited,
            "too many messages are waiting for their acknowledgement",
            "the record is retried",
        ),
        _ => match source.and_then(|s| s.downcast_ref::<jetstream::Error>()) {
            Some(api) => api_error(api, subject),
            None => ConnectorError::new(
                ErrorKind::Unavailable,
                format!(
                    "publishing to {subject} failed: {}",
                    source.map(|s| s.to_string()).unwrap_or_default()
                ),
                "the record is retried",
            ),
        },
    }
}

/// A connection that broke before the message was acknowledged.
pub fn lost_connection(subject: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Unavailable,
        format!("the connection to NATS broke before the message to {subject} was acknowledged"),
        "the record is retried once the connection is back",
    )
}

/// JetStream's refusal of one message.
pub fn api_error(api: &jetstream::Error, subject: &str) -> ConnectorError {
    let code = api.error_code();
    let (kind, hint) = if code == ErrorCode::STREAM_MESSAGE_EXCEEDS_MAXIMUM
        || code == ErrorCode::STREAM_HEADER_EXCEEDS_MAXIMUM
    {
        (
            ErrorKind::PayloadTooLarge,
            "send smaller records, or raise the stream's max_msg_size".to_string(),
        )
    } else if code == ErrorCode::JETSTREAM_NOT_ENABLED
        || code == ErrorCode::JETSTREAM_NOT_ENABLED_FOR_ACCOUNT
    {
        (
            ErrorKind::NotFound,
            "enable JetStream for the account, or set config.jetstream to false".to_string(),
        )
    } else if code == ErrorCode::STREAM_STORE_FAILED
        || code == ErrorCode::INSUFFICIENT_RESOURCES
        || code == ErrorCode::ACCOUNT_RESOURCES_EXCEEDED
        || code == ErrorCode::CLUSTER_NOT_AVAILABLE
        || api.code() >= 500
    {
        (
            ErrorKind::Unavailable,
            "the record is retried; check the stream's limits and the server's storage".to_string(),
        )
    } else {
        (
            ErrorKind::Rejected,
            format!("check the stream that captures {subject}"),
        )
    };
    ConnectorError::new(
        kind,
        format!("the stream refused the message to {subject}: {api}"),
        hint,
    )
}

/// A publish the server refused for lack of permission.
pub fn publish_denied(subject: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Forbidden,
        format!("the NATS user may not publish to {subject} (Permissions Violation)"),
        format!("allow publish on {subject} for this user on the server"),
    )
}

/// Acknowledgements that cannot arrive: the user may not subscribe to its inbox.
pub fn inbox_denied() -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Forbidden,
        "the NATS user may not subscribe to its reply inbox, where JetStream acknowledgements arrive (Permissions Violation)",
        "allow subscribe on _INBOX.> for this user, or set config.jetstream to false",
    )
}

/// The connection is down and being re-established; `last` is the latest reconnect failure.
pub fn disconnected(last: Option<&str>) -> ConnectorError {
    let refused = last.is_some_and(|l| l.contains("authorization violation"));
    let detail = last.map(|l| format!(" ({l})")).unwrap_or_default();
    if refused {
        return ConnectorError::new(
            ErrorKind::Unauthenticated,
            format!("the NATS server no longer accepts the credentials{detail}"),
            "check auth_config against the server's users",
        );
    }
    ConnectorError::new(
        ErrorKind::Unavailable,
        format!("the connection to NATS is down and being re-established{detail}"),
        "the records are retried once the connection is back",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_certificate_points_at_ca_pem() {
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let error = ConnectError::with_source(
            ConnectErrorKind::Io,
            std::io::Error::new(std::io::ErrorKind::InvalidData, refused),
        );
        let e = connect_error(&error);
        assert!(e.message.contains("certificate was not accepted"), "{e:?}");
        assert!(e.hint.contains("ca_pem"), "{e:?}");

        let lost = ConnectError::with_source(
            ConnectErrorKind::Io,
            std::io::Error::from(std::io::ErrorKind::ConnectionReset),
        );
        assert!(!connect_error(&lost).hint.contains("ca_pem"));
    }
}

//! RabbitMQ failures as classified connector errors: the broker's reply codes (AMQP 0-9-1
//! section 1.9 and RabbitMQ's texts), connection losses and TLS failures, each with what to
//! change.

use courier_core::{ConnectorError, ErrorKind};
use lapin::ErrorKind as Lapin;

/// What Courier was doing when a call failed, for the message and the hint.
#[derive(Debug, Clone, Copy)]
pub enum During<'a> {
    /// Opening the connection and logging in (`broker` is `host:port`).
    Login {
        /// `host:port`.
        broker: &'a str,
        /// The user logging in.
        user: &'a str,
        /// The virtual host.
        vhost: &'a str,
    },
    /// A channel operation (`what`: "publish to exchange `x`") on an open connection.
    Channel {
        /// What was done, for the message.
        what: &'a str,
        /// The exchange involved (`""`: the default exchange), for the permission hint.
        exchange: &'a str,
    },
}

/// The reply code and text of a broker's refusal, if that is what `e` is.
pub fn reply(e: &lapin::Error) -> Option<(u16, String)> {
    match e.kind() {
        Lapin::ProtocolError(amqp) => Some((amqp.get_id(), amqp.get_message().to_string())),
        _ => None,
    }
}

/// The sizes in RabbitMQ's refusal of an oversized message ("PRECONDITION_FAILED - message size
/// 2097152 is larger than configured max size 1048576"): the message's and the limit.
pub fn size_refusal(e: &lapin::Error) -> Option<(u64, u64)> {
    let (code, text) = reply(e)?;
    if code != 406 || !text.contains("message size") {
        return None;
    }
    let numbers: Vec<u64> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    match numbers[..] {
        [size, max] => Some((size, max)),
        _ => None,
    }
}

pub(crate) fn exchange_label(exchange: &str) -> String {
    if exchange.is_empty() {
        "the default exchange".to_string()
    } else {
        format!("exchange `{exchange}`")
    }
}

/// A failed lapin call as a classified error.
pub fn classify(e: &lapin::Error, during: During<'_>) -> ConnectorError {
    let error = match (e.kind(), during) {
        (Lapin::ProtocolError(amqp), _) => {
            by_reply(amqp.get_id(), amqp.get_message().as_str(), during)
        }
        (Lapin::AuthProviderError(_), During::Login { user, .. }) => ConnectorError::new(
            ErrorKind::Unauthenticated,
            format!("RabbitMQ refused the login of user `{user}`"),
            "check username and password in auth_config",
        ),
        (Lapin::InvalidProtocolVersion(version), _) => ConnectorError::new(
            ErrorKind::InvalidConfig,
            format!("the server speaks AMQP {version}, not AMQP 0-9-1"),
            "point config.url at RabbitMQ's AMQP 0-9-1 listener (port 5672, or 5671 for TLS)",
        ),
        (Lapin::ParsingError(_), During::Login { broker, .. }) => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("{broker} did not answer as an AMQP 0-9-1 broker"),
            "check the port in config.url (5672 for amqp://, 5671 for amqps://)",
        ),
        (Lapin::IOError(io), During::Login { broker, .. }) => io_error(io, broker),
        (Lapin::IOError(io), During::Channel { what, .. }) => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("the connection broke during {what}: {io}"),
            "the records are retried on a new connection",
        ),
        (Lapin::MissingHeartbeatError, _) => ConnectorError::new(
            ErrorKind::Unavailable,
            "the broker stopped answering heartbeats",
            "the records are retried on a new connection",
        ),
        (_, During::Login { broker, .. }) => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("could not connect to {broker}: {e}"),
            "check that RabbitMQ runs and is reachable from here",
        ),
        (_, During::Channel { what, .. }) => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("the connection or channel closed during {what}: {e}"),
            "the records are retried on a new channel",
        ),
    };
    error.with_source(e.clone())
}

/// A connection that could not be made or broke during the handshake.
fn io_error(io: &std::io::Error, broker: &str) -> ConnectorError {
    let tls = std::error::Error::source(io)
        .is_some_and(|s| s.downcast_ref::<rustls::Error>().is_some())
        || io
            .get_ref()
            .is_some_and(|s| s.downcast_ref::<rustls::Error>().is_some());
    if tls {
        return ConnectorError::new(
            ErrorKind::Unavailable,
            format!("the TLS handshake with {broker} failed: {io}"),
            "check that the broker's certificate matches the host in config.url and is signed by a trusted CA (or set config.ca_pem)",
        );
    }
    ConnectorError::new(
        ErrorKind::Unavailable,
        format!("could not connect to {broker}: {io}"),
        "check the host and port in config.url, and that RabbitMQ runs and is reachable from here",
    )
}

/// A broker refusal by its reply code.
fn by_reply(code: u16, text: &str, during: During<'_>) -> ConnectorError {
    // The broker's text names the resource and never the password; cut it short all the same.
    let text: String = text.chars().take(300).collect();
    match (code, during) {
        (403, During::Login { user, .. }) => ConnectorError::new(
            ErrorKind::Unauthenticated,
            format!("RabbitMQ refused the login of user `{user}` ({text})"),
            "check username and password in auth_config",
        ),
        (530, During::Login { user, vhost, .. }) if text.contains("not found") => {
            ConnectorError::new(
                ErrorKind::NotFound,
                format!("virtual host `{vhost}` does not exist ({text})"),
                format!(
                    "create the virtual host, or correct the path of config.url (user `{user}`)"
                ),
            )
        }
        (530, During::Login { user, vhost, .. }) => ConnectorError::new(
            ErrorKind::Forbidden,
            format!("user `{user}` may not use virtual host `{vhost}` ({text})"),
            format!("grant user `{user}` permissions on virtual host `{vhost}`"),
        ),
        (403, During::Channel { what, exchange }) => ConnectorError::new(
            ErrorKind::Forbidden,
            format!("RabbitMQ refused {what}: {text}"),
            format!(
                "grant the user write permission on {} (rabbitmqctl set_permissions)",
                exchange_label(exchange)
            ),
        ),
        (404, During::Channel { what, .. }) => ConnectorError::new(
            ErrorKind::NotFound,
            format!("{what} failed: {text}"),
            "create it on the broker, or correct config.exchange (or the routing key)",
        ),
        (311, _) => ConnectorError::new(
            ErrorKind::PayloadTooLarge,
            format!("RabbitMQ refused a message as too large: {text}"),
            "send smaller records",
        ),
        (406, During::Channel { what, .. }) if text.contains("message size") => {
            ConnectorError::new(
                ErrorKind::PayloadTooLarge,
                format!("RabbitMQ refused {what}: {text}"),
                "send records under the broker's max_message_size (and set config.max_message_bytes to it)",
            )
        }
        (320, _) => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("RabbitMQ closed the connection ({text})"),
            "the broker is shutting down or restarting; the records are retried",
        ),
        (506, _) => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("RabbitMQ ran out of a resource ({text})"),
            "the records are retried; check the broker's memory, disk and channel limits",
        ),
        // Soft errors close only the channel and describe this request: another attempt
        // meets the same answer.
        (312..=406, During::Channel { what, .. }) => ConnectorError::new(
            ErrorKind::Rejected,
            format!("RabbitMQ refused {what} ({code}: {text})"),
            "check config.exchange, the routing key and the records",
        ),
        // Hard errors close the connection; a new one may fare better.
        (_, During::Channel { what, .. }) => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("RabbitMQ closed the connection during {what} ({code}: {text})"),
            "the records are retried on a new connection",
        ),
        (_, During::Login { broker, .. }) => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("RabbitMQ at {broker} refused the connection ({code}: {text})"),
            "check config.url and the broker's logs",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_codes_classify_by_phase() {
        let login = During::Login {
            broker: "h:5672",
            user: "u",
            vhost: "/",
        };
        let publish = During::Channel {
            what: "publish",
            exchange: "x",
        };
        assert_eq!(
            by_reply(403, "ACCESS_REFUSED", login).kind,
            ErrorKind::Unauthenticated
        );
        assert_eq!(
            by_reply(403, "ACCESS_REFUSED", publish).kind,
            ErrorKind::Forbidden
        );
        assert_eq!(
            by_reply(530, "NOT_ALLOWED - vhost prod not found", login).kind,
            ErrorKind::NotFound
        );
        assert_eq!(
            by_reply(530, "NOT_ALLOWED - access refused", login).kind,
            ErrorKind::Forbidden
        );
        assert_eq!(
            by_reply(404, "NOT_FOUND - no exchange", publish).kind,
            ErrorKind::NotFound
        );
        assert_eq!(
            by_reply(
                406,
                "PRECONDITION_FAILED - message size 9 is larger than configured max size 8",
                publish
            )
            .kind,
            ErrorKind::PayloadTooLarge
        );
        assert_eq!(
            by_reply(320, "CONNECTION_FORCED", publish).kind,
            ErrorKind::Unavailable
        );
        assert_eq!(
            by_reply(541, "INTERNAL_ERROR", publish).kind,
            ErrorKind::Unavailable
        );
    }
}

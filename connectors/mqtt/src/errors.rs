//! MQTT failures as classified connector errors: connections that fail or break (retried),
//! CONNACK refusals (credentials, permissions, client id, protocol), TLS problems, and the
//! MQTT 5 reason codes a broker answers one message with.

use std::io;

use courier_core::{ConnectorError, ErrorKind};
use rumqttc::v5::mqttbytes::v5::{
    ConnectReturnCode as V5Code, DisconnectReasonCode, PubAckReason, PubCompReason, PubRecReason,
};

const CREDENTIALS_HINT: &str = "check username and password (or the client certificate) in auth_config, and that the broker lets this user connect";
const RETRIED: &str = "the message is published again when the delivery is retried";

/// An error for a connection to `broker` that failed or broke: retried later.
pub fn unavailable(broker: &str, what: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Unavailable,
        format!("MQTT broker {broker}: {what}"),
        "check that the broker runs and is reachable at broker_url; deliveries are retried",
    )
}

/// A connection that stays up (the broker answers pings) and on which the broker stopped
/// acknowledging messages: reset, and its messages retried.
pub fn stalled(broker: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Timeout,
        format!(
            "MQTT broker {broker} stopped acknowledging messages; the connection is made again"
        ),
        "check the broker's log and load; deliveries are retried",
    )
}

/// A CONNACK refusal (MQTT 3.1.1 return codes are a subset of MQTT 5's reason codes).
pub fn connect_refused(broker: &str, code: V5Code) -> ConnectorError {
    let said = format!("MQTT broker {broker} refused the connection ({code:?})");
    let (kind, hint) = match code {
        V5Code::BadUserNamePassword | V5Code::NotAuthorized | V5Code::BadAuthenticationMethod => {
            (ErrorKind::Unauthenticated, CREDENTIALS_HINT)
        }
        V5Code::Banned => (
            ErrorKind::Forbidden,
            "the broker bans this client: ask its operator",
        ),
        V5Code::BadClientId | V5Code::ClientIdentifierNotValid => (
            ErrorKind::InvalidConfig,
            "set config.client_id to an identifier the broker accepts, or leave it out",
        ),
        V5Code::RefusedProtocolVersion | V5Code::UnsupportedProtocolVersion => (
            ErrorKind::InvalidConfig,
            "set config.protocol to the version the broker speaks (v3.1.1 for older brokers)",
        ),
        V5Code::ServiceUnavailable | V5Code::ServerUnavailable | V5Code::ServerBusy => (
            ErrorKind::Unavailable,
            "the broker is not taking connections now; deliveries are retried",
        ),
        V5Code::ConnectionRateExceeded | V5Code::QuotaExceeded => (
            ErrorKind::RateLimited,
            "the broker limits connections; deliveries are retried with backoff",
        ),
        V5Code::UseAnotherServer | V5Code::ServerMoved => (
            ErrorKind::InvalidConfig,
            "the broker sends clients elsewhere: set broker_url to the server it names",
        ),
        _ => (
            ErrorKind::Unavailable,
            "check the broker's log; deliveries are retried",
        ),
    };
    ConnectorError::new(kind, said, hint)
}

/// A DISCONNECT the broker sent (MQTT 5), with its reason string when it gave one.
pub fn disconnected(
    broker: &str,
    code: DisconnectReasonCode,
    reason: Option<&str>,
) -> ConnectorError {
    let reason = reason.map(|r| format!(": {}", clip(r))).unwrap_or_default();
    let message = format!("MQTT broker {broker} closed the connection ({code:?}){reason}");
    match code {
        DisconnectReasonCode::NotAuthorized => {
            ConnectorError::new(ErrorKind::Unauthenticated, message, CREDENTIALS_HINT)
        }
        DisconnectReasonCode::QoSNotSupported | DisconnectReasonCode::RetainNotSupported => {
            ConnectorError::new(
                ErrorKind::InvalidConfig,
                message,
                "lower config.qos or turn off config.retain to what the broker supports",
            )
        }
        // Oversized packets are refused before they are sent, so the other messages of the
        // connection were innocent: they are retried.
        _ => ConnectorError::new(ErrorKind::Unavailable, message, RETRIED),
    }
}

/// A failed TCP or TLS connection. Certificates the client does not trust are the config's to
/// fix; a refused client certificate is the credentials'; the rest is retried.
pub fn io(broker: &str, e: &io::Error) -> ConnectorError {
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return tls_error(broker, tls);
    }
    let kind = match e.kind() {
        io::ErrorKind::TimedOut => ErrorKind::Timeout,
        _ => ErrorKind::Unavailable,
    };
    ConnectorError::new(
        kind,
        format!("cannot reach MQTT broker {broker}: {e}"),
        "check broker_url and that the broker runs and accepts connections; deliveries are retried",
    )
}

/// Whether `e` is the broker closing or resetting the connection (not a TLS failure).
fn is_closed(e: &io::Error) -> bool {
    let tls = e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>());
    !tls && matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::BrokenPipe
    )
}

/// A connection that failed or broke while in use: a connection the broker closed or reset as
/// [`closed`], the rest (TLS failures among them) as [`io`].
pub fn broken(broker: &str, e: &io::Error, connecting_plain: bool) -> ConnectorError {
    if is_closed(e) {
        closed(broker, Some(e), connecting_plain)
    } else {
        io(broker, e)
    }
}

/// A TLS handshake that failed: a broker closing the connection then may speak plain MQTT on
/// that port; the rest as [`io`] says.
pub fn handshake(broker: &str, e: &io::Error) -> ConnectorError {
    if is_closed(e) {
        ConnectorError::new(
            ErrorKind::Unavailable,
            format!("MQTT broker {broker} closed the connection during the TLS handshake ({e})"),
            "if broker_url's port speaks plain MQTT, use mqtt://; otherwise check the broker's log (deliveries are retried)",
        )
    } else {
        io(broker, e)
    }
}

/// The broker closed (or reset) the connection. A port that speaks TLS does so with a plain
/// connection's CONNECT, so a plain connection closed before its CONNACK says so.
pub fn closed(broker: &str, cause: Option<&io::Error>, connecting_plain: bool) -> ConnectorError {
    let hint = if connecting_plain {
        "the broker closed the connection before accepting it: if broker_url's port speaks TLS, use mqtts://; otherwise check the broker's log (deliveries are retried)"
    } else {
        "check that the broker runs and is reachable at broker_url; deliveries are retried"
    };
    ConnectorError::new(
        ErrorKind::Unavailable,
        match cause {
            Some(e) => format!("MQTT broker {broker} closed the connection ({e})"),
            None => format!("MQTT broker {broker} closed the connection"),
        },
        hint,
    )
}

/// A TLS failure with the broker.
pub fn tls_error(broker: &str, e: &rustls::Error) -> ConnectorError {
    match e {
        rustls::Error::InvalidCertificate(why) => ConnectorError::new(
            ErrorKind::InvalidConfig,
            format!("the TLS certificate of MQTT broker {broker} is not trusted ({why:?})"),
            "set config.ca_pem to the CA that signed the broker's certificate, or check broker_url's host name",
        ),
        rustls::Error::AlertReceived(alert) => ConnectorError::new(
            ErrorKind::Unauthenticated,
            format!("MQTT broker {broker} ended the TLS handshake ({alert:?})"),
            "check client_cert_pem and client_key_pem in auth_config: the broker may require or refuse the client certificate",
        ),
        other => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("TLS with MQTT broker {broker} failed: {other}"),
            "check that broker_url's port speaks TLS (mqtts://); deliveries are retried",
        ),
    }
}

/// A broker host the SSRF guard refused (not retried: the answer will not change by itself),
/// or a name that did not resolve (retried).
pub fn resolve(broker: &str, e: &courier_core::net::ResolveError) -> ConnectorError {
    match e {
        courier_core::net::ResolveError::Refused { .. } => ConnectorError::new(
            ErrorKind::InvalidConfig,
            format!("MQTT broker {broker}: {e}"),
            "use a public broker: this server does not allow destinations on private networks",
        ),
        courier_core::net::ResolveError::Lookup { .. } => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("MQTT broker {broker}: {e}"),
            "check the host in broker_url; deliveries are retried",
        ),
    }
}

/// A connection that timed out.
pub fn timeout(broker: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Timeout,
        format!("MQTT broker {broker} did not answer in time"),
        "check broker_url and the network path to the broker; deliveries are retried",
    )
}

/// How the broker answered one message (PUBACK, PUBREC or PUBCOMP with a reason code of 0x80
/// or more), as that message's error.
pub fn refused_message(
    broker: &str,
    topic_hint: &str,
    reason: Refusal,
    reason_string: Option<&str>,
) -> ConnectorError {
    let told = reason_string
        .map(|r| format!(": {}", clip(r)))
        .unwrap_or_default();
    let message = format!(
        "MQTT broker {broker} refused the message ({}){told}",
        reason.name()
    );
    let (kind, hint) = match reason {
        Refusal::NotAuthorized => (
            ErrorKind::Forbidden,
            format!("allow this user to publish to {topic_hint} in the broker's access rules"),
        ),
        Refusal::TopicNameInvalid => (
            ErrorKind::Rejected,
            "send records whose topic the broker accepts, or change topic_template".to_string(),
        ),
        Refusal::PayloadFormatInvalid | Refusal::ImplementationSpecific => (
            ErrorKind::Rejected,
            "the broker (or one of its plugins) refuses this message; check its log".to_string(),
        ),
        Refusal::QuotaExceeded => (
            ErrorKind::RateLimited,
            "the broker's quota is exhausted; the message is retried with backoff".to_string(),
        ),
        Refusal::Unspecified | Refusal::PacketIdentifier => {
            (ErrorKind::Unavailable, RETRIED.to_string())
        }
    };
    ConnectorError::new(kind, message, hint)
}

/// Why a broker refused one message (its reason code, MQTT 5 only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 0x80
    Unspecified,
    /// 0x83
    ImplementationSpecific,
    /// 0x87
    NotAuthorized,
    /// 0x90
    TopicNameInvalid,
    /// 0x91 (PUBACK, PUBREC) or 0x92 (PUBCOMP)
    PacketIdentifier,
    /// 0x97
    QuotaExceeded,
    /// 0x99
    PayloadFormatInvalid,
}

impl Refusal {
    fn name(self) -> &'static str {
        match self {
            Refusal::Unspecified => "0x80 unspecified error",
            Refusal::ImplementationSpecific => "0x83 implementation specific error",
            Refusal::NotAuthorized => "0x87 not authorized",
            Refusal::TopicNameInvalid => "0x90 topic name invalid",
            Refusal::PacketIdentifier => "packet identifier in use or not found",
            Refusal::QuotaExceeded => "0x97 quota exceeded",
            Refusal::PayloadFormatInvalid => "0x99 payload format invalid",
        }
    }

    /// The refusal a PUBACK carries, `None` for success (and "no matching subscribers", which
    /// is a success: the broker took the message).
    pub fn of_puback(reason: &PubAckReason) -> Option<Refusal> {
        Some(match reason {
            PubAckReason::Success | PubAckReason::NoMatchingSubscribers => return None,
            PubAckReason::UnspecifiedError => Refusal::Unspecified,
            PubAckReason::ImplementationSpecificError => Refusal::ImplementationSpecific,
            PubAckReason::NotAuthorized => Refusal::NotAuthorized,
            PubAckReason::TopicNameInvalid => Refusal::TopicNameInvalid,
            PubAckReason::PacketIdentifierInUse => Refusal::PacketIdentifier,
            PubAckReason::QuotaExceeded => Refusal::QuotaExceeded,
            PubAckReason::PayloadFormatInvalid => Refusal::PayloadFormatInvalid,
        })
    }

    /// The refusal a PUBREC carries (as [`Refusal::of_puback`]).
    pub fn of_pubrec(reason: &PubRecReason) -> Option<Refusal> {
        Some(match reason {
            PubRecReason::Success | PubRecReason::NoMatchingSubscribers => return None,
            PubRecReason::UnspecifiedError => Refusal::Unspecified,
            PubRecReason::ImplementationSpecificError => Refusal::ImplementationSpecific,
            PubRecReason::NotAuthorized => Refusal::NotAuthorized,
            PubRecReason::TopicNameInvalid => Refusal::TopicNameInvalid,
            PubRecReason::PacketIdentifierInUse => Refusal::PacketIdentifier,
            PubRecReason::QuotaExceeded => Refusal::QuotaExceeded,
            PubRecReason::PayloadFormatInvalid => Refusal::PayloadFormatInvalid,
        })
    }

    /// The refusal a PUBCOMP carries.
    pub fn of_pubcomp(reason: &PubCompReason) -> Option<Refusal> {
        match reason {
            PubCompReason::Success => None,
            PubCompReason::PacketIdentifierNotFound => Some(Refusal::PacketIdentifier),
        }
    }
}

/// A broker's free text, cut to a length fit for a message.
fn clip(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_classified() {
        let e = connect_refused("b:1", V5Code::NotAuthorized);
        assert_eq!(e.kind, ErrorKind::Unauthenticated);
        assert_eq!(
            connect_refused("b:1", V5Code::ServerBusy).kind,
            ErrorKind::Unavailable
        );
        let e = refused_message("b:1", "orders/x", Refusal::NotAuthorized, Some("acl"));
        assert_eq!(e.kind, ErrorKind::Forbidden);
        assert!(e.hint.contains("orders/x") && e.message.ends_with(": acl"));
        assert!(
            refused_message("b:1", "t", Refusal::Unspecified, None)
                .kind
                .is_retryable()
        );
        assert_eq!(
            Refusal::of_puback(&PubAckReason::NoMatchingSubscribers),
            None
        );
        let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(io("b:1", &refused).kind, ErrorKind::Unavailable);
    }

    #[test]
    fn a_closed_connection_points_at_the_scheme_while_connecting() {
        let reset = io::Error::new(io::ErrorKind::ConnectionReset, "reset");
        let e = broken("b:1", &reset, true);
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert!(e.hint.contains("mqtts://"), "{e:?}");
        assert!(!broken("b:1", &reset, false).hint.contains("mqtts://"));
        assert!(handshake("b:1", &reset).hint.contains("mqtt://"));
        // A TLS alert read from the connection is the TLS failure it is.
        let alert = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired),
        );
        assert_eq!(
            broken("b:1", &alert, false).kind,
            ErrorKind::Unauthenticated
        );
    }
}

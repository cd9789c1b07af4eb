//! Kafka failures as connector errors: librdkafka's error codes mapped to kinds (what is
//! retried and what is the destination's to fix), with hints.

use courier_core::{ConnectorError, ErrorKind};
use rdkafka::types::RDKafkaErrorCode as Code;

/// The service, as messages name it.
pub const SERVICE: &str = "Kafka";

/// The error for librdkafka's `code` (when it gave one) with its `reason`.
pub fn classify(code: Option<Code>, reason: &str) -> ConnectorError {
    let reason: String = reason.chars().take(300).collect();
    let (kind, hint) = match code {
        Some(Code::MessageSizeTooLarge) => (
            ErrorKind::PayloadTooLarge,
            "the message is larger than the topic's max.message.bytes (or the config's max_message_bytes)",
        ),
        Some(Code::UnknownTopicOrPartition | Code::UnknownTopic) => (
            ErrorKind::NotFound,
            "create the topic, or correct config.topic (Courier does not create topics)",
        ),
        Some(Code::TopicAuthorizationFailed | Code::ClusterAuthorizationFailed) => (
            ErrorKind::Forbidden,
            "grant the principal WRITE (and DESCRIBE) on the topic, and IDEMPOTENT_WRITE on the cluster for the idempotent producer on brokers before 2.8",
        ),
        Some(
            Code::SaslAuthenticationFailed
            | Code::Authentication
            | Code::UnsupportedSASLMechanism
            | Code::IllegalSASLState,
        ) => (
            ErrorKind::Unauthenticated,
            "check auth_config.username, password and sasl_mechanism",
        ),
        Some(Code::SSL) => (
            ErrorKind::Unavailable,
            "check that the brokers speak TLS on this port and that their certificate is signed by a trusted CA (auth_config.ca_pem)",
        ),
        Some(Code::MessageTimedOut | Code::RequestTimedOut) => (
            ErrorKind::Timeout,
            "the cluster did not acknowledge in time; the record is retried",
        ),
        Some(Code::QueueFull) => (
            ErrorKind::RateLimited,
            "the producer's queue is full; the record is retried",
        ),
        Some(
            Code::InvalidMessage
            | Code::InvalidRecord
            | Code::InvalidMessageSize
            | Code::InvalidTimestamp,
        ) => (ErrorKind::Rejected, "the broker refused this message"),
        Some(Code::InvalidConfig | Code::InvalidArgument) => {
            (ErrorKind::InvalidConfig, "check the config")
        }
        _ => (
            ErrorKind::Unavailable,
            "the cluster could not be reached or refused for now; the record is retried",
        ),
    };
    let what = match code {
        Some(c) => format!("{SERVICE}: {c:?}: {reason}"),
        None => format!("{SERVICE}: {reason}"),
    };
    ConnectorError::new(kind, what, hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds_that_retry_only_what_may_pass() {
        let kind = |c| classify(Some(c), "x").kind;
        assert_eq!(kind(Code::MessageSizeTooLarge), ErrorKind::PayloadTooLarge);
        assert_eq!(kind(Code::UnknownTopicOrPartition), ErrorKind::NotFound);
        assert_eq!(kind(Code::TopicAuthorizationFailed), ErrorKind::Forbidden);
        assert_eq!(
            kind(Code::SaslAuthenticationFailed),
            ErrorKind::Unauthenticated
        );
        assert_eq!(kind(Code::MessageTimedOut), ErrorKind::Timeout);
        assert_eq!(kind(Code::BrokerTransportFailure), ErrorKind::Unavailable);
        assert!(kind(Code::NotLeaderForPartition).is_retryable());
        assert!(!kind(Code::MessageSizeTooLarge).is_retryable());
    }
}

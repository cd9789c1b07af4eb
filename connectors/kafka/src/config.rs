//! Kafka config and credentials: typed, documented (doc comments become the JSON Schema) and
//! validated without I/O; the config declares the key read from each record.

use std::collections::BTreeMap;

use courier_core::{AuthSpec, ConfigSpec, FieldError, Secret};
use courier_messages::{KeySpec, KeyTemplate, MessageConfig, check_named_templates};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where records go: a topic on a Kafka cluster.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// The brokers to bootstrap from, as `host:port` (e.g. `broker-1.example.com:9092`); the
    /// cluster's other brokers are learned from them.
    #[schemars(length(min = 1))]
    pub bootstrap_servers: Vec<String>,
    /// The topic every record is produced to. It must exist (Courier does not create topics).
    #[schemars(length(min = 1, max = 249))]
    pub topic: String,
    /// Each message's key, read from its record: a dot path into the payload (`customer.id`)
    /// or a template (`{customer.id}-{type}`). Messages with one key go to one partition, in
    /// order. Absent: no key (records are spread over partitions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_template: Option<String>,
    /// Headers added to every message: header name → template read from the record. The
    /// event's type and id are always added as `courier_event_type` and `courier_event_id`,
    /// and the record id as `courier_record_id`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// How message batches are compressed on the wire.
    #[serde(default)]
    pub compression: Compression,
    /// How many replicas must have a message before it counts as delivered: `all` (the
    /// in-sync replicas; needed by the idempotent producer), `1` (the leader only) or `0` (no
    /// acknowledgement: at most once).
    #[serde(default)]
    pub acks: Acks,
    /// The idempotent producer (on by default): the broker drops a message a retry within
    /// the producer's session sends twice, and keeps each partition's order. Needs `acks: all`.
    #[serde(default = "yes")]
    pub idempotent: bool,
    /// The largest message (payload, key and headers) Courier produces, in bytes; a record
    /// over it (or over the topic's own `max.message.bytes`, read from the cluster where it
    /// may be) fails alone. Default 1,000,000, Kafka's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1024, max = 100_000_000))]
    pub max_message_bytes: Option<u32>,
}

fn yes() -> bool {
    true
}

/// Compression codecs Kafka clients and brokers share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// No compression.
    #[default]
    None,
    /// gzip.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// The name librdkafka's `compression.codec` takes.
    pub fn codec(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// The acknowledgement a produce waits for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Acks {
    /// Every in-sync replica has the message.
    #[default]
    #[serde(rename = "all")]
    All,
    /// The partition leader has the message.
    #[serde(rename = "1")]
    Leader,
    /// No acknowledgement is awaited: a message may be lost unnoticed.
    #[serde(rename = "0")]
    None,
}

impl Acks {
    /// The value librdkafka's `acks` takes.
    pub fn value(self) -> &'static str {
        match self {
            Acks::All => "all",
            Acks::Leader => "1",
            Acks::None => "0",
        }
    }
}

/// Kafka's default `max.message.bytes`.
pub const DEFAULT_MAX_MESSAGE_BYTES: u32 = 1_000_000;

impl KafkaConfig {
    /// The largest message Courier produces.
    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes.unwrap_or(DEFAULT_MAX_MESSAGE_BYTES) as usize
    }
}

impl MessageConfig for KafkaConfig {
    fn keys(&self) -> Vec<KeySpec<'_>> {
        let mut keys = vec![KeySpec {
            field: "key_template",
            name: "message key",
            template: self.key_template.as_deref(),
            fallback_field: None,
            fallback: None,
            max_chars: 4096,
        }];
        keys.extend(self.headers.values().map(|t| KeySpec {
            field: "headers",
            name: "header",
            template: Some(t.as_str()),
            fallback_field: None,
            fallback: None,
            max_chars: 64 * 1024,
        }));
        keys
    }
}

/// Why `server` cannot be a bootstrap address (`host:port`), if it cannot. The host is a DNS
/// name (letters, digits, `-` and `.`) or an IP address (IPv6 in brackets): librdkafka reads a
/// comma as the start of another server, which would then be reached unchecked.
fn check_server(server: &str) -> Result<(), &'static str> {
    let Some((host, port)) = server.rsplit_once(':') else {
        return Err("must be host:port");
    };
    let name_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    let v6_ok = host.starts_with('[')
        && host.ends_with(']')
        && host[1..host.len() - 1]
            .parse::<std::net::Ipv6Addr>()
            .is_ok();
    if !(name_ok || v6_ok) {
        return Err(
            "must be host:port with a DNS name or IP address (IPv6 in brackets), without a scheme, credentials, path or commas",
        );
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err("must end with a port between 1 and 65535"),
    }
}

/// Why `topic` is not a legal Kafka topic name, if it is not.
fn check_topic(topic: &str) -> Result<(), &'static str> {
    if topic.is_empty() || topic.len() > 249 {
        return Err("must be 1 to 249 characters");
    }
    if topic == "." || topic == ".." {
        return Err("cannot be `.` or `..`");
    }
    if !topic
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err("may hold only ASCII letters, digits, `.`, `_` and `-`");
    }
    Ok(())
}

impl ConfigSpec for KafkaConfig {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.bootstrap_servers.is_empty() {
            errors.push(FieldError::new(
                "/bootstrap_servers",
                "needs at least one broker",
            ));
        }
        for (i, server) in self.bootstrap_servers.iter().enumerate() {
            if let Err(m) = check_server(server) {
                errors.push(FieldError::new(format!("/bootstrap_servers/{i}"), m));
            }
        }
        if let Err(m) = check_topic(&self.topic) {
            errors.push(FieldError::new("/topic", m));
        }
        if let Some(t) = &self.key_template
            && let Err(m) = KeyTemplate::parse(t)
        {
            errors.push(FieldError::new("/key_template", m));
        }
        errors.extend(check_named_templates(
            "headers",
            &self.headers,
            "header",
            |name| {
                if name.is_empty() || name.len() > 256 {
                    Err("must be 1 to 256 characters".into())
                } else if name.eq_ignore_ascii_case("courier_record_id") {
                    Err("is the header every message carries for the record id; choose another name".into())
                } else {
                    Ok(())
                }
            },
        ));
        if self.idempotent && self.acks != Acks::All {
            errors.push(FieldError::new(
                "/acks",
                "must be `all` while `idempotent` is on (set `idempotent: false` to use another)",
            ));
        }
        errors
    }
}

/// How Courier authenticates to the cluster.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaAuth {
    /// The protocol the brokers listen with: `ssl` (TLS, the default), `sasl_ssl` (SASL over
    /// TLS), `sasl_plaintext` or `plaintext` (no encryption: only on a trusted network).
    #[serde(default)]
    pub security_protocol: SecurityProtocol,
    /// The SASL mechanism, with `sasl_ssl` or `sasl_plaintext`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_mechanism: Option<SaslMechanism>,
    /// The SASL user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The SASL password. Write-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// A CA certificate (PEM) to trust for the brokers' TLS certificates, for clusters with a
    /// private CA; without it the system's roots are used. Certificates and host names are
    /// always verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
}

impl std::fmt::Debug for KafkaAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaAuth")
            .field("security_protocol", &self.security_protocol)
            .field("sasl_mechanism", &self.sasl_mechanism)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// The brokers' listener protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    /// No TLS, no SASL.
    Plaintext,
    /// TLS.
    #[default]
    Ssl,
    /// SASL without TLS.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// The value librdkafka's `security.protocol` takes.
    pub fn value(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }

    /// Whether the protocol authenticates with SASL.
    pub fn is_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    /// Whether the protocol runs over TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
}

/// SASL mechanisms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SaslMechanism {
    /// PLAIN: the password is sent as is (use it over TLS).
    #[serde(rename = "plain")]
    Plain,
    /// SCRAM-SHA-256.
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
    /// SCRAM-SHA-512.
    #[serde(rename = "scram-sha-512")]
    ScramSha512,
}

impl SaslMechanism {
    /// The value librdkafka's `sasl.mechanism` takes.
    pub fn value(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

impl AuthSpec for KafkaAuth {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.security_protocol.is_sasl() {
            if self.sasl_mechanism.is_none() {
                errors.push(FieldError::new(
                    "/sasl_mechanism",
                    "is required with a sasl_* security_protocol",
                ));
            }
            if self.username.as_deref().is_none_or(str::is_empty) {
                errors.push(FieldError::new("/username", "is required with SASL"));
            }
            if self.password.is_none() {
                errors.push(FieldError::new("/password", "is required with SASL"));
            }
        } else {
            for (set, path) in [
                (self.sasl_mechanism.is_some(), "/sasl_mechanism"),
                (self.username.is_some(), "/username"),
                (self.password.is_some(), "/password"),
            ] {
                if set {
                    errors.push(FieldError::new(
                        path,
                        "is used only with security_protocol sasl_ssl or sasl_plaintext",
                    ));
                }
            }
        }
        if let Some(pem) = &self.ca_pem {
            if !self.security_protocol.is_tls() {
                errors.push(FieldError::new(
                    "/ca_pem",
                    "is used only with security_protocol ssl or sasl_ssl",
                ));
            } else if !pem.contains("-----BEGIN CERTIFICATE-----") {
                errors.push(FieldError::new(
                    "/ca_pem",
                    "must be a PEM certificate (-----BEGIN CERTIFICATE-----)",
                ));
            }
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn config(v: serde_json::Value) -> Vec<FieldError> {
        serde_json::from_value::<KafkaConfig>(v).unwrap().validate()
    }

    #[test]
    fn a_minimal_config_is_valid_with_safe_defaults() {
        let c: KafkaConfig =
            serde_json::from_value(json!({"bootstrap_servers": ["k:9092"], "topic": "events"}))
                .unwrap();
        assert!(c.validate().is_empty());
        assert_eq!(c.acks, Acks::All);
        assert!(c.idempotent);
        assert_eq!(c.compression, Compression::None);
    }

    #[test]
    fn bad_fields_are_named_by_their_path() {
        let errors = config(json!({
            "bootstrap_servers": ["kafka://k:9092", "k", "evil.example.com:1,10.0.0.5:9092", "k:0"],
            "topic": "bad topic",
            "key_template": "{",
            "headers": {"courier_event_type": "type", "ok": "{"},
            "acks": "1"
        }));
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        for p in [
            "/bootstrap_servers/0",
            "/bootstrap_servers/1",
            "/bootstrap_servers/2",
            "/bootstrap_servers/3",
            "/topic",
            "/key_template",
            "/headers/courier_event_type",
            "/headers/ok",
            "/acks",
        ] {
            assert!(paths.contains(&p), "{p} missing from {errors:?}");
        }
    }

    #[test]
    fn bootstrap_servers_are_names_or_addresses_with_a_port() {
        for good in [
            "k:9092",
            "broker-1.example.com:9093",
            "10.0.0.1:9092",
            "[::1]:9092",
        ] {
            assert_eq!(check_server(good), Ok(()), "{good}");
        }
        for bad in [
            "k", ":9092", "k:x", "a b:1", "user@k:1", "k:1,k2:2", "[zz]:1", "k/x:1",
        ] {
            assert!(check_server(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_fields_and_wrong_enums_are_refused() {
        for bad in [
            json!({"bootstrap_servers": ["k:1"], "topic": "t", "partition": 1}),
            json!({"bootstrap_servers": ["k:1"], "topic": "t", "compression": "brotli"}),
            json!({"bootstrap_servers": ["k:1"], "topic": "t", "acks": "2"}),
        ] {
            assert!(serde_json::from_value::<KafkaConfig>(bad).is_err());
        }
    }

    #[test]
    fn sasl_needs_its_fields_and_plaintext_takes_none() {
        let auth: KafkaAuth =
            serde_json::from_value(json!({"security_protocol": "sasl_ssl"})).unwrap();
        let paths: Vec<String> = auth.validate().into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["/sasl_mechanism", "/username", "/password"]);
        let auth: KafkaAuth = serde_json::from_value(
            json!({"security_protocol": "plaintext", "username": "u", "ca_pem": "x"}),
        )
        .unwrap();
        let paths: Vec<String> = auth.validate().into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["/username", "/ca_pem"]);
    }

    #[test]
    fn debug_output_hides_the_password() {
        let auth: KafkaAuth = serde_json::from_value(json!({
            "security_protocol": "sasl_ssl", "sasl_mechanism": "scram-sha-512",
            "username": "u", "password": "hunter2-sentinel"
        }))
        .unwrap();
        assert!(auth.validate().is_empty());
        assert!(!format!("{auth:?}").contains("hunter2-sentinel"));
    }
}

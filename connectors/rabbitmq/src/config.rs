//! RabbitMQ config and auth_config: typed, documented (doc comments become the JSON Schema),
//! validated without I/O; the config declares the keys read from each record (the routing key
//! and the headers).

use std::collections::BTreeMap;

use courier_core::{AuthSpec, ConfigSpec, FieldError, Secret};
use courier_messages::{KeySpec, KeyTemplate, MessageConfig};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::broker_url::BrokerUrl;

/// RabbitMQ's own default `max_message_size` (3.8 to 3.13): 128 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 128 * 1024 * 1024;
/// The most RabbitMQ can be configured to take in one message: 512 MiB.
pub const MAX_MESSAGE_BYTES_CEILING: u64 = 512 * 1024 * 1024;
/// The longest AMQP short string (exchange names, routing keys, header names): 255 bytes.
pub const MAX_SHORT_STRING: usize = 255;
/// The most headers a user may configure (the event's two come on top).
pub const MAX_HEADERS: usize = 64;
/// The longest header value read from a record, in characters.
pub const MAX_HEADER_CHARS: usize = 64 * 1024;

/// Where messages go and what each carries.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RabbitmqConfig {
    /// The broker: `amqp://host:port/vhost`, or `amqps://` for TLS (ports 5672 and 5671 by
    /// default). The path is the virtual host, percent-encoded: `/%2f` (or no path) is the
    /// default vhost `/`. No credentials here: they go in auth_config.
    #[schemars(length(min = 1, max = 2048), extend("examples" = ["amqps://rabbit.example.com/%2f", "amqp://10.0.0.5:5672/prod"]))]
    pub url: String,
    /// The exchange messages are published to; empty or absent for the default exchange, where
    /// the routing key names the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255), extend("examples" = ["orders"]))]
    pub exchange: Option<String>,
    /// A fixed routing key for every message (with the default exchange: the queue's name).
    /// Set this or `routing_key_template`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255), extend("examples" = ["orders.created"]))]
    pub routing_key: Option<String>,
    /// Each message's routing key, read from its record: a dot path (`region`) or a template
    /// (`orders.{region}.{type}`); with the default exchange it names the queue. A record
    /// without the fields fails alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("examples" = ["orders.{customer.region}"]))]
    pub routing_key_template: Option<String>,
    /// Whether messages are persistent (delivery mode 2: written to disk by durable queues, so
    /// they survive a broker restart). On by default.
    #[serde(default = "default_persistent")]
    pub persistent: bool,
    /// Message headers: header name → a template read from the record, e.g.
    /// `{"customer": "customer.id"}`. Every message also carries `courier_event_type` and
    /// `courier_event_id`, names a user may not take.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The certificate authority (PEM) that signed the broker's certificate, for `amqps://`
    /// brokers with a private CA; only it is trusted then. Without it, the system's roots are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    /// The broker's `max_message_size` in bytes, if it is not RabbitMQ's default of 128 MiB:
    /// records above it fail alone (`payload_too_large`) before they are sent. A smaller limit
    /// the broker enforces is also learned from its first refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 536870912))]
    pub max_message_bytes: Option<u64>,
}

fn default_persistent() -> bool {
    true
}

impl RabbitmqConfig {
    /// The exchange, `""` for the default exchange.
    pub fn exchange_name(&self) -> &str {
        self.exchange.as_deref().unwrap_or("")
    }

    /// The largest message body the broker takes, as configured.
    pub fn max_message_bytes(&self) -> u64 {
        self.max_message_bytes.unwrap_or(DEFAULT_MAX_MESSAGE_BYTES)
    }
}

impl MessageConfig for RabbitmqConfig {
    fn keys(&self) -> Vec<KeySpec<'_>> {
        let routing_key = KeySpec {
            field: "routing_key_template",
            name: "routing key",
            template: self.routing_key_template.as_deref(),
            fallback_field: None,
            fallback: None,
            max_chars: MAX_SHORT_STRING,
        };
        let headers = self.headers.values().map(|t| KeySpec {
            field: "headers",
            name: "header",
            template: Some(t),
            fallback_field: None,
            fallback: None,
            max_chars: MAX_HEADER_CHARS,
        });
        std::iter::once(routing_key).chain(headers).collect()
    }
}

/// Why `name` cannot be an exchange, if it cannot: RabbitMQ takes up to 255 bytes of
/// printable UTF-8.
fn exchange_problem(name: &str) -> Option<&'static str> {
    if name.len() > MAX_SHORT_STRING {
        return Some("must be at most 255 bytes");
    }
    if name.chars().any(char::is_control) {
        return Some("must not contain control characters");
    }
    if name == "amq.default" {
        return Some("is the default exchange: leave exchange empty instead");
    }
    None
}

/// Why `name` cannot be a header name, if it cannot.
fn header_name_problem(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 128 {
        return Err("must be 1 to 128 bytes".to_string());
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain spaces or control characters".to_string());
    }
    Ok(())
}

/// Whether `pem` holds at least one certificate and nothing unreadable.
pub(crate) fn ca_problem(pem: &str) -> Option<&'static str> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    match certs {
        Ok(certs) if !certs.is_empty() => None,
        Ok(_) => Some("must hold at least one PEM certificate (-----BEGIN CERTIFICATE-----)"),
        Err(_) => Some("is not readable PEM"),
    }
}

impl ConfigSpec for RabbitmqConfig {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let url = BrokerUrl::parse(&self.url);
        if let Err(message) = &url {
            errors.push(FieldError::new("/url", message.clone()));
        }
        if let Some(problem) = self.exchange.as_deref().and_then(exchange_problem) {
            errors.push(FieldError::new("/exchange", problem));
        }
        match (&self.routing_key, &self.routing_key_template) {
            (Some(_), Some(_)) => errors.push(FieldError::new(
                "/routing_key_template",
                "cannot be set with routing_key; choose one",
            )),
            (None, None) if self.exchange_name().is_empty() => errors.push(FieldError::new(
                "/routing_key",
                "is required with the default exchange (it names the queue): set routing_key or routing_key_template",
            )),
            _ => {}
        }
        if let Some(key) = &self.routing_key
            && key.len() > MAX_SHORT_STRING
        {
            errors.push(FieldError::new("/routing_key", "must be at most 255 bytes"));
        }
        if let Some(t) = &self.routing_key_template
            && let Err(m) = KeyTemplate::parse(t)
        {
            errors.push(FieldError::new("/routing_key_template", m));
        }
        if self.headers.len() > MAX_HEADERS {
            errors.push(FieldError::new(
                "/headers",
                format!("has more than {MAX_HEADERS} headers"),
            ));
        }
        errors.extend(courier_messages::check_named_templates(
            "headers",
            &self.headers,
            "header",
            header_name_problem,
        ));
        if let Some(max) = self.max_message_bytes
            && !(1..=MAX_MESSAGE_BYTES_CEILING).contains(&max)
        {
            errors.push(FieldError::new(
                "/max_message_bytes",
                "must be 1 to 536870912 (512 MiB, the most RabbitMQ takes)",
            ));
        }
        if let Some(pem) = &self.ca_pem {
            if matches!(&url, Ok(u) if !u.tls) {
                errors.push(FieldError::new(
                    "/ca_pem",
                    "applies to amqps:// URLs only (this one is plain amqp://)",
                ));
            } else if let Some(problem) = ca_problem(pem) {
                errors.push(FieldError::new("/ca_pem", problem));
            }
        }
        errors
    }
}

/// How Courier logs in: a RabbitMQ user (AMQP `PLAIN`). The user needs `write` permission on
/// the exchange; nothing is declared, so `configure` and `read` are not needed.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RabbitmqAuth {
    /// The RabbitMQ user name.
    #[schemars(length(min = 1, max = 255), extend("examples" = ["courier"]))]
    pub username: String,
    /// The user's password.
    pub password: Secret,
}

impl AuthSpec for RabbitmqAuth {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.username.is_empty() || self.username.len() > 255 {
            errors.push(FieldError::new("/username", "must be 1 to 255 bytes"));
        }
        if self.password.expose().is_empty() {
            errors.push(FieldError::new("/password", "must not be empty"));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn paths(config: Value) -> Vec<String> {
        let config: RabbitmqConfig = serde_json::from_value(config).unwrap();
        config.validate().into_iter().map(|e| e.path).collect()
    }

    #[test]
    fn a_queue_on_the_default_exchange_validates() {
        assert!(
            paths(json!({"url": "amqp://rabbit.example.com", "routing_key": "orders"})).is_empty()
        );
        let config: RabbitmqConfig =
            serde_json::from_value(json!({"url": "amqp://h", "exchange": "x"})).unwrap();
        assert!(config.persistent, "messages are persistent by default");
        assert_eq!(config.max_message_bytes(), DEFAULT_MAX_MESSAGE_BYTES);
        assert!(
            config.validate().is_empty(),
            "a fanout exchange needs no key"
        );
    }

    #[test]
    fn bad_fields_are_named_by_path() {
        assert_eq!(
            paths(json!({"url": "amqp://u:p@h/", "exchange": "x"})),
            ["/url"]
        );
        assert_eq!(
            paths(json!({"url": "https://h/", "exchange": "x"})),
            ["/url"]
        );
        assert_eq!(paths(json!({"url": "amqp://h"})), ["/routing_key"]);
        assert_eq!(
            paths(json!({"url": "amqp://h", "routing_key": "q", "routing_key_template": "id"})),
            ["/routing_key_template"]
        );
        assert_eq!(
            paths(json!({"url": "amqp://h", "routing_key_template": "{unclosed"})),
            ["/routing_key_template"]
        );
        assert_eq!(
            paths(json!({"url": "amqp://h", "exchange": "x\u{7}"})),
            ["/exchange"]
        );
        assert_eq!(
            paths(json!({"url": "amqp://h", "routing_key": "q".repeat(256)})),
            ["/routing_key"]
        );
        assert_eq!(
            paths(json!({"url": "amqp://h", "exchange": "x",
                "headers": {"courier_event_id": "id", "bad name": "id", "ok": "{x"}})),
            [
                "/headers/bad name",
                "/headers/courier_event_id",
                "/headers/ok"
            ]
        );
        assert_eq!(
            paths(json!({"url": "amqp://h", "exchange": "x", "max_message_bytes": 0})),
            ["/max_message_bytes"]
        );
        assert_eq!(
            paths(json!({"url": "amqp://h", "exchange": "x", "ca_pem": "x"})),
            ["/ca_pem"]
        );
        assert_eq!(
            paths(json!({"url": "amqps://h", "exchange": "x", "ca_pem": "not pem"})),
            ["/ca_pem"]
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let parsed = serde_json::from_value::<RabbitmqConfig>(
            json!({"url": "amqp://h", "exchange": "x", "queue": "q"}),
        );
        assert!(parsed.is_err());
        let parsed = serde_json::from_value::<RabbitmqAuth>(
            json!({"username": "u", "password": "p", "token": "t"}),
        );
        assert!(parsed.is_err());
    }

    #[test]
    fn auth_needs_both_fields_and_never_shows_the_password() {
        let auth: RabbitmqAuth =
            serde_json::from_value(json!({"username": "", "password": ""})).unwrap();
        let paths: Vec<_> = auth.validate().into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["/username", "/password"]);
        let auth: RabbitmqAuth =
            serde_json::from_value(json!({"username": "u", "password": "sentinel-1"})).unwrap();
        assert!(!format!("{auth:?}").contains("sentinel-1"));
    }
}

//! MQTT config and auth_config: typed, documented (doc comments become the JSON Schema),
//! validated without I/O; the config declares the keys read from each record (the topic and
//! the user properties).

use std::collections::BTreeMap;

use courier_core::{AuthSpec, ConfigSpec, FieldError, Secret};
use courier_messages::{KeySpec, KeyTemplate, MessageConfig};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::topic;

/// The message size a destination takes unless it sets `max_message_bytes` (and the broker
/// says nothing smaller in its MQTT 5 CONNACK).
pub const DEFAULT_MAX_MESSAGE_BYTES: u32 = 1024 * 1024;
/// The largest MQTT packet there is (the remaining length's maximum plus its header).
pub const MAX_PACKET_BYTES: u32 = 268_435_455 + 5;
/// The longest string MQTT carries (topics, user property names and values), in bytes.
pub const MAX_STRING_BYTES: usize = 65_535;
/// The MQTT 5 user property naming the record on every message, so consumers can drop the
/// copies a retried record may leave.
pub const RECORD_ID_PROPERTY: &str = "courier_record_id";

/// The MQTT protocol version spoken to the broker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Protocol {
    /// MQTT 5: per-message reason codes (a refused message fails alone) and user properties.
    #[default]
    #[serde(rename = "v5")]
    V5,
    /// MQTT 3.1.1: no user properties, and a broker acknowledges messages it drops for lack of
    /// permission.
    #[serde(rename = "v3.1.1")]
    V311,
}

/// Where messages go and how they are published.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// The broker, `mqtt://host:port` (port 1883 by default) or `mqtts://host:port` for TLS (port
    /// 8883 by default). Credentials go in auth_config, never in the URL.
    #[schemars(length(min = 1, max = 2048), example = &"mqtts://broker.example.com:8883")]
    pub broker_url: String,
    /// Each message's topic, read from its record: text with `{path}` placeholders, e.g.
    /// `devices/{device.id}/events`; a topic without placeholders is used for every record. A
    /// rendered topic with `+`, `#` or a control character, empty, or over 65535 bytes fails its
    /// record alone.
    #[schemars(length(min = 1, max = 65535), example = &"devices/{device.id}/events")]
    pub topic_template: String,
    /// The quality of service: 1 (default, at least once: delivered when the broker's PUBACK
    /// arrives), 2 (exactly once per connection: delivered when PUBCOMP arrives) or 0 (at most
    /// once: delivered when written to the connection, with no acknowledgement at all).
    #[serde(default = "default_qos")]
    #[schemars(range(min = 0, max = 2))]
    pub qos: u8,
    /// Whether the broker keeps each message as its topic's retained message.
    #[serde(default)]
    pub retain: bool,
    /// `v5` (default) or `v3.1.1`. With MQTT 3.1.1 messages carry no user properties (so neither
    /// the event's type and id nor `headers`).
    #[serde(default)]
    pub protocol: Protocol,
    /// MQTT 5 user properties: name → a template read from the record (`type`, or
    /// `{customer.id}-{type}`). Every message also carries `courier_record_id`,
    /// `courier_event_type` and `courier_event_id`, names a user may not take. Not available
    /// with `v3.1.1`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The MQTT client identifier. By default each connection takes `courier-` with the start of
    /// the destination id and a random suffix, so two Courier processes (or a connection test
    /// beside a delivery) never take over each other's connection; set one when the broker
    /// binds permissions to client identifiers, and then no two processes may deliver for this
    /// destination at once. Sessions are always clean: nothing is kept for Courier between
    /// connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 65535))]
    pub client_id: Option<String>,
    /// The certificate authority (PEM) the broker's TLS certificate must chain to; the platform's
    /// trusted roots by default. `mqtts://` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    /// The largest message (the whole MQTT packet: topic, properties and payload) sent, in
    /// bytes; 1 MiB by default. A broker's own MQTT 5 maximum packet size applies when smaller.
    /// MQTT 3.1.1 brokers cannot say theirs and disconnect on a packet over it: set this to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 64, max = 268435460))]
    pub max_message_bytes: Option<u32>,
}

fn default_qos() -> u8 {
    1
}

impl MqttConfig {
    /// The largest message this config sends, in bytes.
    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes.unwrap_or(DEFAULT_MAX_MESSAGE_BYTES) as usize
    }

    /// Whether the topic is read from each record (it has placeholders).
    pub fn topic_is_templated(&self) -> bool {
        self.topic_template.contains(['{', '}'])
    }
}

impl MessageConfig for MqttConfig {
    fn keys(&self) -> Vec<KeySpec<'_>> {
        // A topic without placeholders is a topic, not a dot path into the record.
        let topic = KeySpec {
            field: "topic_template",
            name: "topic",
            template: self
                .topic_is_templated()
                .then_some(self.topic_template.as_str()),
            fallback_field: None,
            fallback: None,
            max_chars: MAX_STRING_BYTES,
        };
        let headers = self.headers.values().map(|t| KeySpec {
            field: "headers",
            name: "user property",
            template: Some(t),
            fallback_field: None,
            fallback: None,
            max_chars: MAX_STRING_BYTES,
        });
        std::iter::once(topic).chain(headers).collect()
    }
}

/// The broker's address as the config names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    /// The host: a name or an address (IPv6 without brackets).
    pub host: String,
    /// The port (1883 or 8883 unless the URL names one).
    pub port: u16,
    /// Whether the connection is TLS (`mqtts://`).
    pub tls: bool,
}

/// The broker address of `url`, or what is wrong with it (never quoting it: a mistaken URL may
/// hold a password).
pub fn parse_broker_url(url: &str) -> Result<BrokerAddress, &'static str> {
    let parsed = url::Url::parse(url.trim())
        .map_err(|_| "must be a URL such as mqtt://broker.example.com:1883")?;
    let tls = match parsed.scheme() {
        "mqtt" => false,
        "mqtts" => true,
        _ => return Err("must start with mqtt:// or mqtts://"),
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry credentials; set username and password in auth_config");
    }
    if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() || parsed.fragment().is_some()
    {
        return Err("must be only scheme, host and port, e.g. mqtts://broker.example.com:8883");
    }
    let host = match parsed.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => d.to_ascii_lowercase(),
        Some(url::Host::Ipv4(a)) => a.to_string(),
        Some(url::Host::Ipv6(a)) => a.to_string(),
        _ => return Err("must name the broker's host"),
    };
    let port = parsed.port().unwrap_or(if tls { 8883 } else { 1883 });
    Ok(BrokerAddress { host, port, tls })
}

/// Why `name` cannot be a user property name Courier sends, if it cannot.
fn property_name_rule(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_STRING_BYTES {
        return Err("must be 1 to 65535 bytes".into());
    }
    crate::text::check(name)?;
    if name.eq_ignore_ascii_case(RECORD_ID_PROPERTY) {
        return Err(
            "is the user property every message carries for the record id; choose another name"
                .into(),
        );
    }
    Ok(())
}

impl ConfigSpec for MqttConfig {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let address = parse_broker_url(&self.broker_url);
        if let Err(m) = &address {
            errors.push(FieldError::new("/broker_url", *m));
        }
        if self.topic_is_templated() {
            match KeyTemplate::parse(&self.topic_template) {
                Ok(_) => {
                    if let Err(m) = topic::check(&topic::probe_topic(&self.topic_template)) {
                        errors.push(FieldError::new("/topic_template", m));
                    }
                }
                Err(m) => errors.push(FieldError::new("/topic_template", m)),
            }
        } else if let Err(m) = topic::check(&self.topic_template) {
            errors.push(FieldError::new("/topic_template", m));
        }
        if self.qos > 2 {
            errors.push(FieldError::new("/qos", "must be 0, 1 or 2"));
        }
        if self.protocol == Protocol::V311 && !self.headers.is_empty() {
            errors.push(FieldError::new(
                "/headers",
                "needs protocol v5: MQTT 3.1.1 messages carry no user properties",
            ));
        }
        errors.extend(courier_messages::check_named_templates(
            "headers",
            &self.headers,
            "user property",
            property_name_rule,
        ));
        if let Some(id) = &self.client_id {
            if id.is_empty() || id.len() > MAX_STRING_BYTES {
                errors.push(FieldError::new("/client_id", "must be 1 to 65535 bytes"));
            } else if let Err(m) = crate::text::check(id) {
                errors.push(FieldError::new("/client_id", m));
            }
        }
        if let Some(pem) = &self.ca_pem {
            if matches!(&address, Ok(a) if !a.tls) {
                errors.push(FieldError::new(
                    "/ca_pem",
                    "applies to mqtts:// brokers only",
                ));
            }
            if let Err(m) = crate::tls::parse_certificates(pem) {
                errors.push(FieldError::new("/ca_pem", m));
            }
        }
        if let Some(n) = self.max_message_bytes
            && !(64..=MAX_PACKET_BYTES).contains(&n)
        {
            errors.push(FieldError::new(
                "/max_message_bytes",
                format!("must be 64 to {MAX_PACKET_BYTES} (MQTT's largest packet)"),
            ));
        }
        errors
    }
}

/// The credentials the broker checks: a username and password, a client certificate, or both
/// (or none, for a broker that lets anonymous clients publish).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MqttAuth {
    /// The MQTT username.
    #[serde(default)]
    #[schemars(length(min = 1, max = 65535))]
    pub username: Option<String>,
    /// The MQTT password (needs `username`).
    #[serde(default)]
    pub password: Option<Secret>,
    /// The client certificate (PEM, chain first to last) for mutual TLS; needs `client_key_pem`
    /// and an `mqtts://` broker.
    #[serde(default)]
    pub client_cert_pem: Option<String>,
    /// The client certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub client_key_pem: Option<Secret>,
}

impl AuthSpec for MqttAuth {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.password.is_some() && self.username.is_none() {
            errors.push(FieldError::new(
                "/username",
                "is required with a password (MQTT 3.1.1 sends no password without a username)",
            ));
        }
        if let Some(u) = &self.username
            && (u.is_empty() || u.len() > MAX_STRING_BYTES)
        {
            errors.push(FieldError::new("/username", "must be 1 to 65535 bytes"));
        }
        match (&self.client_cert_pem, &self.client_key_pem) {
            (Some(_), None) => errors.push(FieldError::new(
                "/client_key_pem",
                "is required with client_cert_pem",
            )),
            (None, Some(_)) => errors.push(FieldError::new(
                "/client_cert_pem",
                "is required with client_key_pem",
            )),
            (Some(cert), Some(key)) => {
                if let Err(m) = crate::tls::parse_certificates(cert) {
                    errors.push(FieldError::new("/client_cert_pem", m));
                }
                if let Err(m) = crate::tls::parse_key(key) {
                    errors.push(FieldError::new("/client_key_pem", m));
                }
            }
            (None, None) => {}
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn paths(config: Value) -> Vec<String> {
        let config: MqttConfig = serde_json::from_value(config).unwrap();
        config.validate().into_iter().map(|e| e.path).collect()
    }

    fn base() -> Value {
        json!({"broker_url": "mqtt://127.0.0.1:1883", "topic_template": "orders/{customer.id}"})
    }

    fn with(field: &str, value: Value) -> Value {
        let mut c = base();
        c[field] = value;
        c
    }

    #[test]
    fn a_plain_config_validates_with_its_defaults() {
        assert!(paths(base()).is_empty());
        let c: MqttConfig = serde_json::from_value(base()).unwrap();
        assert_eq!((c.qos, c.retain, c.protocol), (1, false, Protocol::V5));
        assert_eq!(c.max_message_bytes(), 1024 * 1024);
        assert!(paths(with("topic_template", json!("orders/created"))).is_empty());
    }

    #[test]
    fn broker_urls_need_an_mqtt_scheme_a_host_and_no_credentials() {
        for bad in [
            "http://broker:1883",
            "tcp://broker:1883",
            "mqtt://user:pass@broker:1883",
            "mqtt://user@broker",
            "mqtt://broker/path",
            "mqtt://broker?x=1",
            "not a url",
            "mqtt://",
        ] {
            assert_eq!(
                paths(with("broker_url", json!(bad))),
                ["/broker_url"],
                "{bad}"
            );
        }
        let c: MqttConfig =
            serde_json::from_value(with("broker_url", json!("mqtt://user:sekret@h"))).unwrap();
        let message = &c.validate()[0].message;
        assert!(!message.contains("sekret"), "{message}");
        assert_eq!(
            parse_broker_url("mqtts://Broker.Example.com").unwrap(),
            BrokerAddress {
                host: "broker.example.com".into(),
                port: 8883,
                tls: true
            }
        );
        assert_eq!(parse_broker_url("mqtt://[::1]").unwrap().port, 1883);
    }

    #[test]
    fn topics_are_checked_at_save_time() {
        for bad in [
            "a/+/b", "a/#", "", "$SYS/x", "a\0b", "a\u{1b}b", "{x", "a/{b..c}", "{x}/#",
        ] {
            assert_eq!(
                paths(with("topic_template", json!(bad))),
                ["/topic_template"],
                "{bad:?}"
            );
        }
        let long = "t".repeat(65_536);
        assert_eq!(
            paths(with("topic_template", json!(long))),
            ["/topic_template"]
        );
    }

    #[test]
    fn fields_are_refused_at_their_paths() {
        assert_eq!(paths(with("qos", json!(3))), ["/qos"]);
        assert_eq!(paths(with("client_id", json!(""))), ["/client_id"]);
        assert_eq!(paths(with("client_id", json!("id\n"))), ["/client_id"]);
        assert_eq!(
            paths(with("max_message_bytes", json!(10))),
            ["/max_message_bytes"]
        );
        assert_eq!(
            paths(with("ca_pem", json!("not pem"))),
            ["/ca_pem", "/ca_pem"]
        );
        let mut c = with("protocol", json!("v3.1.1"));
        c["headers"] = json!({"region": "region"});
        assert_eq!(paths(c), ["/headers"]);
        assert_eq!(
            paths(with(
                "headers",
                json!({"courier_event_id": "id", "ok": "{a", "": "x", "Courier_Record_Id": "n", "bell\u{7}": "x"})
            )),
            [
                "/headers/",
                "/headers/Courier_Record_Id",
                "/headers/bell\u{7}",
                "/headers/courier_event_id",
                "/headers/ok"
            ]
        );
        assert!(serde_json::from_value::<MqttConfig>(with("protocol", json!("v4"))).is_err());
        assert!(serde_json::from_value::<MqttConfig>(with("unknown", json!(1))).is_err());
    }

    #[test]
    fn auth_pairs_are_complete() {
        let auth = |v: Value| -> Vec<String> {
            serde_json::from_value::<MqttAuth>(v)
                .unwrap()
                .validate()
                .into_iter()
                .map(|e| e.path)
                .collect()
        };
        assert!(auth(json!({"username": "u", "password": "p"})).is_empty());
        assert!(auth(json!({})).is_empty());
        assert_eq!(auth(json!({"password": "p"})), ["/username"]);
        assert_eq!(auth(json!({"client_cert_pem": "x"})), ["/client_key_pem"]);
        let both = auth(json!({"client_cert_pem": "x", "client_key_pem": "sekret-key"}));
        assert_eq!(both, ["/client_cert_pem", "/client_key_pem"]);
        let errors = serde_json::from_value::<MqttAuth>(
            json!({"client_cert_pem": "x", "client_key_pem": "sekret-key"}),
        )
        .unwrap()
        .validate();
        assert!(errors.iter().all(|e| !e.message.contains("sekret")));
    }
}

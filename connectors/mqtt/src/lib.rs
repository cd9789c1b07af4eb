//! The `mqtt` destination: each record becomes one MQTT message on a topic read from it, at
//! QoS 0, 1 or 2, reported delivered only when the broker acknowledged it; MQTT 5 messages
//! carry the record's id, the event's type and id and configured user properties (crate
//! README below).
//!
//! # Example
//!
//! ```
//! use courier_connector_mqtt::Mqtt;
//! use courier_core::{DestinationSpec, DynConnector};
//! use serde_json::json;
//!
//! let mut spec = DestinationSpec {
//!     destination_id: "dest_1".into(),
//!     config: json!({
//!         "broker_url": "mqtts://broker.example.com:8883",
//!         "topic_template": "devices/{device.id}/events",
//!         "headers": {"region": "device.region"}
//!     }),
//!     auth_config: json!({"username": "courier", "password": "<secret>"}),
//!     ..DestinationSpec::default()
//! };
//! assert!(Mqtt.validate(&spec).is_empty());
//! // Publishers may not use wildcards.
//! spec.config["topic_template"] = json!("devices/+/events");
//! let errors = Mqtt.validate(&spec);
//! assert_eq!(errors[0].path, "/config/topic_template");
//! ```
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod client;
pub mod config;
mod errors;
mod publish;
mod session;
#[cfg(test)]
mod silent_broker;
mod steps;
mod text;
mod tls;
pub mod topic;
mod wire;

use courier_core::{
    Capabilities, Category, ConnectorError, ConnectorMeta, Delivered, Endpoint, Env, Example,
    Field, FieldType, Probe, Record,
};
use courier_messages::{BatchLimits, Keys, MessageConnector, Messages};

pub use client::{MqttClient, MqttRemote};
pub use config::{MqttAuth, MqttConfig, Protocol, RECORD_ID_PROPERTY};
pub use publish::{ACK_TIMEOUT, packet_size};
pub use wire::Outgoing;

/// The `mqtt` destination type: [`MqttMessages`] as a connector.
pub type Mqtt = Messages<MqttMessages>;
/// The `mqtt` destination, as hosts register it: `catalog.add(courier_connector_mqtt::Mqtt)`.
#[allow(non_upper_case_globals)] // the value shares the connector's name, as a unit struct's would
pub const Mqtt: Mqtt = Messages(MqttMessages);

/// What makes MQTT a message destination: one message per record, every message of a request
/// in flight at once, each record's outcome its own acknowledgement.
#[derive(Debug, Clone, Copy, Default)]
pub struct MqttMessages;

static META: ConnectorMeta = ConnectorMeta {
    type_id: "mqtt",
    label: "MQTT",
    description: "Publishes each record as an MQTT message (3.1.1 or 5) to a topic read from the record, at QoS 0, 1 or 2, delivered once the broker acknowledged it; MQTT 5 messages carry the record id, the event and configured user properties.",
    category: Category::Stream,
    capabilities: Capabilities {
        max_payload_bytes: config::MAX_PACKET_BYTES as u64,
        // MQTT has no deduplication across connections: a retried record may arrive twice
        // (MQTT 5 messages carry courier_record_id for receivers to deduplicate).
        idempotent_redelivery: false,
        ..Capabilities::DEFAULT
    },
    test_steps: steps::STEPS,
    examples: &[
        Example {
            name: "Device events over TLS, a topic per device, with a user property",
            config: r#"{"broker_url":"mqtts://broker.example.com:8883","topic_template":"devices/{device.id}/events","qos":1,"headers":{"region":"device.region"}}"#,
            auth_config: r#"{"username":"courier","password":"<password>"}"#,
        },
        Example {
            name: "One topic on an MQTT 3.1.1 broker, exactly once per connection",
            config: r#"{"broker_url":"mqtt://10.0.0.12:1883","topic_template":"orders/created","qos":2,"protocol":"v3.1.1","max_message_bytes":262144}"#,
            auth_config: r#"{"username":"courier","password":"<password>"}"#,
        },
    ],
    docs_url: Some("https://docs.oasis-open.org/mqtt/mqtt/v5.0/mqtt-v5.0.html"),
};

#[courier_core::async_trait]
impl MessageConnector for MqttMessages {
    type Config = MqttConfig;
    type Auth = MqttAuth;
    type Remote = MqttRemote;
    type Entry = wire::Outgoing;

    fn metadata(&self) -> &'static ConnectorMeta {
        &META
    }

    fn limits(&self, config: &MqttConfig) -> BatchLimits {
        publish::limits(config.max_message_bytes())
    }

    async fn limits_for(&self, client: &MqttClient) -> BatchLimits {
        let configured = client.config.max_message_bytes();
        if client.config.protocol == Protocol::V311 {
            return publish::limits(configured);
        }
        // An MQTT 5 broker says its maximum packet size in its CONNACK; a packet over it would
        // end the connection, so it is learnt (connecting if needed) before anything is sent.
        let broker = match client.link().await {
            session::Link::Up(grant) => grant.max_packet.map(|n| n as usize),
            _ => None,
        };
        publish::limits(broker.map_or(configured, |b| b.min(configured)))
    }

    fn endpoints(&self, config: &MqttConfig, _: &MqttAuth) -> Vec<Endpoint> {
        match config::parse_broker_url(&config.broker_url) {
            Ok(a) => Endpoint::host("/config/broker_url", &a.host, Some(a.port))
                .into_iter()
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    async fn connect(
        &self,
        config: &MqttConfig,
        auth: MqttAuth,
        env: &Env,
    ) -> Result<MqttRemote, ConnectorError> {
        MqttRemote::new(config, auth, env)
    }

    async fn test(&self, client: &MqttClient, probe: &mut Probe) -> Result<(), ConnectorError> {
        steps::run(client, probe).await
    }

    fn fields(&self, config: &MqttConfig) -> Vec<Field> {
        let mut fields = vec![
            Field::new(
                "payload",
                FieldType::Any,
                true,
                "The record's payload, published as the message's payload byte for byte",
            ),
            Field::new(
                "topic",
                FieldType::String,
                true,
                if config.topic_is_templated() {
                    format!(
                        "The message's topic, taken from the payload by `{}`",
                        config.topic_template
                    )
                } else {
                    format!("The message's topic: `{}`", config.topic_template)
                },
            ),
        ];
        for (name, t) in &config.headers {
            fields.push(Field::new(
                name.as_str(),
                FieldType::String,
                true,
                format!("An MQTT 5 user property taken from the payload by `{t}`"),
            ));
        }
        fields
    }

    fn entry(
        &self,
        client: &MqttClient,
        record: &Record,
        keys: &Keys,
    ) -> Result<(usize, wire::Outgoing), ConnectorError> {
        publish::message(client, record, keys)
    }

    async fn send(
        &self,
        client: &MqttClient,
        entries: Vec<wire::Outgoing>,
    ) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
        publish::send(client, entries).await
    }
}

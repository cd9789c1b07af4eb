//! The `kafka` destination: each record becomes one message produced to a Kafka topic through
//! librdkafka (idempotent producer, `acks=all` by default), keyed and with headers read from
//! the record; every record's outcome is its own acknowledgement (crate README below).
//!
//! # Example
//!
//! ```
//! use courier_connector_kafka::Kafka;
//! use courier_core::{DestinationSpec, DynConnector};
//! use serde_json::json;
//!
//! let mut spec = DestinationSpec {
//!     destination_id: "dest_1".into(),
//!     config: json!({
//!         "bootstrap_servers": ["broker-1.example.com:9093"],
//!         "topic": "orders",
//!         "key_template": "customer.id"
//!     }),
//!     auth_config: json!({
//!         "security_protocol": "sasl_ssl",
//!         "sasl_mechanism": "scram-sha-512",
//!         "username": "courier",
//!         "password": "<secret>"
//!     }),
//!     ..DestinationSpec::default()
//! };
//! assert!(Kafka.validate(&spec).is_empty());
//! // The idempotent producer needs every in-sync replica's acknowledgement.
//! spec.config["acks"] = json!("1");
//! let errors = Kafka.validate(&spec);
//! assert_eq!(errors[0].path, "/config/acks");
//! ```
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod client;
pub mod config;
mod errors;
mod guard;
mod limits;
mod send;
mod steps;

use courier_core::{
    Capabilities, Category, ConnectorError, ConnectorMeta, Delivered, Endpoint, Env, Example,
    Field, FieldType, Probe, Record,
};
use courier_messages::{BatchLimits, Keys, MessageClient, MessageConnector, Messages};

pub use client::{KafkaRemote, MESSAGE_TIMEOUT};
pub use config::{KafkaAuth, KafkaConfig};
pub use send::RECORD_ID_HEADER;

/// The `kafka` destination type: [`KafkaMessages`] as a connector.
pub type Kafka = Messages<KafkaMessages>;
/// The `kafka` destination, as hosts register it: `catalog.add(courier_connector_kafka::Kafka)`.
#[allow(non_upper_case_globals)] // the value shares the connector's name, as a unit struct's would
pub const Kafka: Kafka = Messages(KafkaMessages);

/// A built `kafka` destination's client.
pub type KafkaClient = MessageClient<KafkaMessages>;

/// What makes Kafka a message destination: one produced message per record.
#[derive(Debug, Clone, Copy, Default)]
pub struct KafkaMessages;

/// Messages a request hands to the producer at once (it batches them per partition).
const MESSAGES_PER_REQUEST: usize = 1000;
/// Bytes a request hands to the producer at once.
const BYTES_PER_REQUEST: usize = 32 * 1024 * 1024;

static META: ConnectorMeta = ConnectorMeta {
    type_id: "kafka",
    label: "Apache Kafka",
    description: "Produces each record as a message to a Kafka topic (idempotent producer, acks=all by default), with a key and headers read from the record and the event's type and id as headers.",
    category: Category::Stream,
    capabilities: Capabilities {
        max_payload_bytes: config::DEFAULT_MAX_MESSAGE_BYTES as u64,
        // The idempotent producer drops a retry within one producer session only; a record
        // Courier retries after its delivery failed may be written twice (with the same
        // courier_record_id header).
        idempotent_redelivery: false,
        ..Capabilities::DEFAULT
    },
    test_steps: steps::STEPS,
    examples: &[
        Example {
            name: "A TLS cluster with SCRAM, keyed by customer",
            config: r#"{"bootstrap_servers":["broker-1.example.com:9093","broker-2.example.com:9093"],"topic":"orders","key_template":"customer.id","compression":"zstd"}"#,
            auth_config: r#"{"security_protocol":"sasl_ssl","sasl_mechanism":"scram-sha-512","username":"courier","password":"<secret>"}"#,
        },
        Example {
            name: "A cluster with a private CA, and a header from the payload",
            config: r#"{"bootstrap_servers":["kafka.internal.example.com:9093"],"topic":"events","headers":{"tenant":"account.id"}}"#,
            auth_config: r#"{"security_protocol":"ssl","ca_pem":"-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n"}"#,
        },
    ],
    docs_url: Some("https://kafka.apache.org/documentation/#producerconfigs"),
};

#[courier_core::async_trait]
impl MessageConnector for KafkaMessages {
    type Config = KafkaConfig;
    type Auth = KafkaAuth;
    type Remote = KafkaRemote;
    type Entry = send::Message;

    fn metadata(&self) -> &'static ConnectorMeta {
        &META
    }

    fn limits(&self, config: &KafkaConfig) -> BatchLimits {
        BatchLimits {
            max_records: MESSAGES_PER_REQUEST,
            max_request_bytes: BYTES_PER_REQUEST.max(config.max_message_bytes()),
            max_record_bytes: config.max_message_bytes(),
        }
    }

    async fn limits_for(&self, client: &KafkaClient) -> BatchLimits {
        let max = limits::max_message_bytes(client).await;
        BatchLimits {
            max_record_bytes: max,
            ..self.limits(&client.config)
        }
    }

    fn endpoints(&self, config: &KafkaConfig, _: &KafkaAuth) -> Vec<Endpoint> {
        config
            .bootstrap_servers
            .iter()
            .enumerate()
            .filter_map(|(i, server)| {
                let (host, port) = client::host_port(server)?;
                Endpoint::host(format!("/config/bootstrap_servers/{i}"), host, Some(port))
            })
            .collect()
    }

    async fn connect(
        &self,
        config: &KafkaConfig,
        auth: KafkaAuth,
        env: &Env,
    ) -> Result<KafkaRemote, ConnectorError> {
        Ok(KafkaRemote::new(config, &auth, env))
    }

    async fn test(&self, client: &KafkaClient, probe: &mut Probe) -> Result<(), ConnectorError> {
        steps::run(client, probe).await
    }

    fn fields(&self, config: &KafkaConfig) -> Vec<Field> {
        let mut fields = vec![Field::new(
            "value",
            FieldType::Object,
            true,
            "The record's payload, produced as the message value exactly as given",
        )];
        if let Some(t) = &config.key_template {
            fields.push(Field::new(
                "key",
                FieldType::String,
                true,
                format!("The message key, taken from the payload by `{t}`"),
            ));
        }
        for (name, t) in &config.headers {
            fields.push(Field::new(
                name.as_str(),
                FieldType::String,
                false,
                format!("A header taken from the payload by `{t}`"),
            ));
        }
        fields
    }

    fn entry(
        &self,
        client: &KafkaClient,
        record: &Record,
        keys: &Keys,
    ) -> Result<(usize, send::Message), ConnectorError> {
        let max = client
            .max_message_bytes
            .get()
            .copied()
            .unwrap_or_else(|| client.config.max_message_bytes());
        send::message(client, record, keys, max)
    }

    fn order_key<'e>(&self, entry: &'e send::Message) -> Option<&'e str> {
        entry.key()
    }

    async fn send(
        &self,
        client: &KafkaClient,
        entries: Vec<send::Message>,
    ) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
        send::send(client, entries).await
    }
}

//! The `rabbitmq` destination: each record becomes one AMQP 0-9-1 message published to a
//! RabbitMQ exchange with publisher confirms, delivered only once the broker confirms it
//! (crate README below).
//!
//! # Example
//!
//! ```
//! use courier_connector_rabbitmq::Rabbitmq;
//! use courier_core::{DestinationSpec, DynConnector};
//! use serde_json::json;
//!
//! let mut spec = DestinationSpec {
//!     destination_id: "dest_1".into(),
//!     config: json!({
//!         "url": "amqps://rabbit.example.com/%2f",
//!         "exchange": "orders",
//!         "routing_key_template": "orders.{customer.region}",
//!     }),
//!     auth_config: json!({"username": "courier", "password": "<secret>"}),
//!     ..DestinationSpec::default()
//! };
//! assert!(Rabbitmq.validate(&spec).is_empty());
//! // Credentials never go in the URL: it is stored and shown, auth_config is secret.
//! spec.config["url"] = json!("amqps://courier:hunter2@rabbit.example.com/%2f");
//! assert_eq!(Rabbitmq.validate(&spec)[0].path, "/config/url");
//! ```
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod broker_url;
pub mod config;
mod deadlines;
mod errors;
mod message;
mod publish;
mod remote;
mod steps;
mod tls;

use courier_core::{
    Capabilities, Category, ConnectorError, ConnectorMeta, Delivered, Endpoint, Env, Example,
    Field, FieldType, Probe, Record,
};
use courier_messages::{BatchLimits, Keys, MessageClient, MessageConnector, Messages};

pub use config::{RabbitmqAuth, RabbitmqConfig};
pub use deadlines::Deadlines;
pub use message::Message;
pub use remote::RabbitmqRemote;

/// The `rabbitmq` destination type: [`RabbitmqMessages`] as a connector.
pub type Rabbitmq = Messages<RabbitmqMessages>;
/// The `rabbitmq` destination, as hosts register it: `catalog.add(courier_connector_rabbitmq::Rabbitmq)`.
#[allow(non_upper_case_globals)] // the value shares the connector's name, as a unit struct's would
pub const Rabbitmq: Rabbitmq = Messages(RabbitmqMessages);

/// What makes RabbitMQ a message destination: one confirmed publish per record.
#[derive(Debug, Clone, Copy, Default)]
pub struct RabbitmqMessages;

/// A built destination's client.
pub type RabbitmqClient = MessageClient<RabbitmqMessages>;

/// Messages one request publishes on its channel before awaiting their confirms.
const MAX_REQUEST_MESSAGES: usize = 5_000;
/// Bytes one request keeps in flight (a larger message goes alone).
const MAX_REQUEST_BYTES: usize = 32 * 1024 * 1024;

static META: ConnectorMeta = ConnectorMeta {
    type_id: "rabbitmq",
    label: "RabbitMQ",
    description: "Publishes each record as a message to a RabbitMQ exchange (AMQP 0-9-1) with publisher confirms; the routing key and headers can be read from the record.",
    category: Category::Stream,
    capabilities: Capabilities {
        // RabbitMQ's default max_message_size; the broker's own limit is checked per record.
        max_payload_bytes: config::DEFAULT_MAX_MESSAGE_BYTES,
        // A record retried after a lost confirm may be published twice: at-least-once, and
        // both copies carry the record id as message_id for consumers to drop the second.
        idempotent_redelivery: false,
        ..Capabilities::DEFAULT
    },
    test_steps: steps::STEPS,
    examples: &[
        Example {
            name: "A queue on the default exchange",
            config: r#"{"url":"amqps://rabbit.example.com/%2f","routing_key":"orders"}"#,
            auth_config: r#"{"username":"courier","password":"<secret>"}"#,
        },
        Example {
            name: "A topic exchange, routed by region, with a customer header",
            config: r#"{"url":"amqp://rabbit.internal.example.com:5672/prod","exchange":"events","routing_key_template":"orders.{customer.region}","headers":{"customer":"customer.id"}}"#,
            auth_config: r#"{"username":"courier","password":"<secret>"}"#,
        },
    ],
    docs_url: None,
};

#[courier_core::async_trait]
impl MessageConnector for RabbitmqMessages {
    type Config = RabbitmqConfig;
    type Auth = RabbitmqAuth;
    type Remote = RabbitmqRemote;
    type Entry = Message;

    fn metadata(&self) -> &'static ConnectorMeta {
        &META
    }

    fn limits(&self, config: &RabbitmqConfig) -> BatchLimits {
        BatchLimits {
            max_records: MAX_REQUEST_MESSAGES,
            max_request_bytes: MAX_REQUEST_BYTES,
            max_record_bytes: config.max_message_bytes() as usize,
        }
    }

    async fn limits_for(&self, client: &RabbitmqClient) -> BatchLimits {
        BatchLimits {
            max_record_bytes: message::max_body_bytes(client) as usize,
            ..self.limits(&client.config)
        }
    }

    fn endpoints(&self, config: &RabbitmqConfig, _: &RabbitmqAuth) -> Vec<Endpoint> {
        broker_url::BrokerUrl::parse(&config.url)
            .ok()
            .and_then(|u| Endpoint::host("/config/url", &u.host, Some(u.port)))
            .into_iter()
            .collect()
    }

    async fn connect(
        &self,
        config: &RabbitmqConfig,
        auth: RabbitmqAuth,
        env: &Env,
    ) -> Result<RabbitmqRemote, ConnectorError> {
        // No I/O: the connection is opened at the first test or delivery.
        RabbitmqRemote::new(config, auth, env)
    }

    async fn test(&self, client: &RabbitmqClient, probe: &mut Probe) -> Result<(), ConnectorError> {
        steps::run(client, probe).await
    }

    fn fields(&self, config: &RabbitmqConfig) -> Vec<Field> {
        let mut fields = vec![Field::new(
            "body",
            FieldType::Any,
            true,
            "The record's payload, published as the message body byte for byte (content type application/json when it is JSON)",
        )];
        if let Some(t) = &config.routing_key_template {
            fields.push(Field::new(
                "routing_key",
                FieldType::String,
                true,
                format!("Taken from the payload by `{t}`"),
            ));
        }
        for (name, t) in &config.headers {
            fields.push(Field::new(
                name.as_str(),
                FieldType::String,
                true,
                format!("A message header taken from the payload by `{t}`"),
            ));
        }
        fields
    }

    fn entry(
        &self,
        client: &RabbitmqClient,
        record: &Record,
        keys: &Keys,
    ) -> Result<(usize, Message), ConnectorError> {
        message::message(client, record, keys)
    }

    async fn send(
        &self,
        client: &RabbitmqClient,
        entries: Vec<Message>,
    ) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
        publish::send(client, entries).await
    }
}

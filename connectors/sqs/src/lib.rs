//! The `sqs` destination: each record becomes one Amazon SQS message, sent with
//! SendMessageBatch within the service limits; FIFO queues get a message group read from the
//! record and the record id as deduplication id (crate README below).
//!
//! # Example
//!
//! ```
//! use courier_connector_sqs::Sqs;
//! use courier_core::{DestinationSpec, DynConnector};
//! use serde_json::json;
//!
//! let mut spec = DestinationSpec {
//!     destination_id: "dest_1".into(),
//!     config: json!({
//!         "queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/orders.fifo",
//!         "region": "us-east-1",
//!         "message_group_id_template": "customer.id"
//!     }),
//!     auth_config: json!({"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "<secret>"}),
//!     ..DestinationSpec::default()
//! };
//! assert!(Sqs.validate(&spec).is_empty());
//! // A FIFO queue needs its message group.
//! spec.config["message_group_id_template"] = serde_json::Value::Null;
//! let errors = Sqs.validate(&spec);
//! assert_eq!(errors[0].path, "/config/message_group_id_template");
//! ```
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod client;
pub mod config;
mod errors;
mod send;
mod steps;

use courier_aws::AwsAuth;
use courier_core::{
    Capabilities, Category, ConnectorError, ConnectorMeta, Delivered, Endpoint, Env, Example,
    Field, FieldType, Probe, Record,
};
use courier_messages::{BatchLimits, Keys, MessageConnector, Messages};

pub use client::{SqsClient, SqsRemote, client_with_sdk_settings};
pub use config::SqsConfig;

/// The `sqs` destination type: [`SqsMessages`] as a connector.
pub type Sqs = Messages<SqsMessages>;
/// The `sqs` destination, as hosts register it: `catalog.add(courier_connector_sqs::Sqs)`.
#[allow(non_upper_case_globals)] // the value shares the connector's name, as a unit struct's would
pub const Sqs: Sqs = Messages(SqsMessages);

/// What makes SQS a message destination: one SendMessageBatch entry per record.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqsMessages;

static META: ConnectorMeta = ConnectorMeta {
    type_id: "sqs",
    label: "Amazon SQS",
    description: "Sends each record as a message to an SQS queue (standard or FIFO, with a message group read from the record); batches use SendMessageBatch within the service limits.",
    category: Category::Stream,
    capabilities: Capabilities {
        // A queue may take up to 1 MiB; what one takes is read from it, and a record over that
        // fails alone as payload_too_large.
        max_payload_bytes: send::MAX_MESSAGE_BYTES as u64,
        // A standard queue may deliver a retried message twice; FIFO queues drop a retried
        // copy within five minutes (the record id is the deduplication id).
        idempotent_redelivery: false,
        // Without access_key_id the AWS default chain is used: the host's own identity.
        ambient_credentials: Some("access_key_id"),
        ..Capabilities::DEFAULT
    },
    test_steps: steps::STEPS,
    examples: &[
        Example {
            name: "A standard queue with the event's type as an attribute",
            config: r#"{"queue_url":"https://sqs.us-east-1.amazonaws.com/123456789012/events","region":"us-east-1","message_attributes":{"event_type":"type"}}"#,
            auth_config: r#"{"access_key_id":"AKIAIOSFODNN7EXAMPLE","secret_access_key":"<secret>"}"#,
        },
        Example {
            name: "A FIFO queue grouped by customer, with an assumed role",
            config: r#"{"queue_url":"https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo","region":"eu-west-1","message_group_id_template":"customer.id"}"#,
            auth_config: r#"{"role_arn":"arn:aws:iam::123456789012:role/courier-writer"}"#,
        },
    ],
    docs_url: None,
};

#[courier_core::async_trait]
impl MessageConnector for SqsMessages {
    type Config = SqsConfig;
    type Auth = AwsAuth;
    type Remote = SqsRemote;
    type Entry = send::Message;

    fn metadata(&self) -> &'static ConnectorMeta {
        &META
    }

    fn limits(&self, _: &SqsConfig) -> BatchLimits {
        send::LIMITS
    }

    async fn limits_for(&self, client: &SqsClient) -> BatchLimits {
        send::queue_limits(send::queue_max_message_bytes(client).await)
    }

    fn endpoints(&self, config: &SqsConfig, auth: &AwsAuth) -> Vec<Endpoint> {
        let mut found = auth.endpoints(&config.region);
        match &config.endpoint_url {
            Some(url) => found.extend(Endpoint::url("/config/endpoint_url", url)),
            None => found.extend(Endpoint::url(
                "/config/region",
                &format!("https://sqs.{}.amazonaws.com", config.region),
            )),
        }
        // Without an endpoint the SDK sends to the region's endpoint; the queue URL's own host
        // is declared too, as the address the operator sees and must allow.
        found.extend(Endpoint::url("/config/queue_url", &config.queue_url));
        found
    }

    async fn connect(
        &self,
        config: &SqsConfig,
        auth: AwsAuth,
        env: &Env,
    ) -> Result<SqsRemote, ConnectorError> {
        SqsRemote::new(config, auth, env, |b| b).await
    }

    async fn test(&self, client: &SqsClient, probe: &mut Probe) -> Result<(), ConnectorError> {
        steps::run(client, probe).await
    }

    fn fields(&self, config: &SqsConfig) -> Vec<Field> {
        let mut fields = vec![Field::new(
            "body",
            FieldType::Object,
            true,
            "The record's payload, sent as the message body exactly as given",
        )];
        if let Some(t) = &config.message_group_id_template {
            fields.push(Field::new(
                "message_group_id",
                FieldType::String,
                true,
                format!("Taken from the payload by `{t}`"),
            ));
        }
        for (name, t) in &config.message_attributes {
            fields.push(Field::new(
                name.as_str(),
                FieldType::String,
                true,
                format!("A message attribute taken from the payload by `{t}`"),
            ));
        }
        fields
    }

    fn entry(
        &self,
        client: &SqsClient,
        record: &Record,
        keys: &Keys,
    ) -> Result<(usize, send::Message), ConnectorError> {
        send::message(client, record, keys)
    }

    fn order_key<'e>(&self, entry: &'e send::Message) -> Option<&'e str> {
        entry.group_id()
    }

    async fn send(
        &self,
        client: &SqsClient,
        entries: Vec<send::Message>,
    ) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
        send::send(client, entries).await
    }
}

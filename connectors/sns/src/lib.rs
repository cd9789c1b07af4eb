//! The `sns` destination: each record becomes one Amazon SNS message, published with
//! PublishBatch within the service limits; FIFO topics get a message group read from the
//! record and the record id as deduplication id (crate README below).
//!
//! # Example
//!
//! ```
//! use courier_connector_sns::Sns;
//! use courier_core::{DestinationSpec, DynConnector};
//! use serde_json::json;
//!
//! let mut spec = DestinationSpec {
//!     destination_id: "dest_1".into(),
//!     config: json!({
//!         "topic_arn": "arn:aws:sns:us-east-1:123456789012:orders.fifo",
//!         "region": "us-east-1",
//!         "message_group_id_template": "customer.id",
//!         "subject_template": "Order {id}"
//!     }),
//!     auth_config: json!({"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "<secret>"}),
//!     ..DestinationSpec::default()
//! };
//! assert!(Sns.validate(&spec).is_empty());
//! // A FIFO topic needs its message group.
//! spec.config["message_group_id_template"] = serde_json::Value::Null;
//! let errors = Sns.validate(&spec);
//! assert_eq!(errors[0].path, "/config/message_group_id_template");
//! ```
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod client;
pub mod config;
pub mod errors;
mod send;
mod steps;

use courier_aws::AwsAuth;
use courier_core::{
    Capabilities, Category, ConnectorError, ConnectorMeta, Delivered, Endpoint, Env, Example,
    Field, FieldType, Probe, Record,
};
use courier_messages::{BatchLimits, Keys, MessageConnector, Messages};

pub use client::{SnsClient, SnsRemote, client_with_sdk_settings};
pub use config::SnsConfig;
pub use send::LIMITS;

/// The `sns` destination type: [`SnsMessages`] as a connector.
pub type Sns = Messages<SnsMessages>;
/// The `sns` destination, as hosts register it: `catalog.add(courier_connector_sns::Sns)`.
#[allow(non_upper_case_globals)] // the value shares the connector's name, as a unit struct's would
pub const Sns: Sns = Messages(SnsMessages);

/// What makes SNS a message destination: one PublishBatch entry per record.
#[derive(Debug, Clone, Copy, Default)]
pub struct SnsMessages;

static META: ConnectorMeta = ConnectorMeta {
    type_id: "sns",
    label: "Amazon SNS",
    description: "Publishes each record as a message to an SNS topic (standard or FIFO, with a message group read from the record), with the event's type and id as message attributes; batches use PublishBatch within the service limits.",
    category: Category::Stream,
    capabilities: Capabilities {
        max_payload_bytes: send::LIMITS.max_record_bytes as u64,
        // A standard topic may deliver a retried message twice; FIFO topics drop a retried
        // copy within five minutes (the record id is the deduplication id).
        idempotent_redelivery: false,
        // Without access_key_id the AWS default chain is used: the host's own identity.
        ambient_credentials: Some("access_key_id"),
        ..Capabilities::DEFAULT
    },
    test_steps: steps::STEPS,
    examples: &[
        Example {
            name: "A standard topic with a subject and the order's status as an attribute",
            config: r#"{"topic_arn":"arn:aws:sns:us-east-1:123456789012:orders","region":"us-east-1","subject_template":"Order {order.id}","message_attributes":{"status":"order.status"}}"#,
            auth_config: r#"{"access_key_id":"AKIAIOSFODNN7EXAMPLE","secret_access_key":"<secret>"}"#,
        },
        Example {
            name: "A FIFO topic grouped by customer, with an assumed role",
            config: r#"{"topic_arn":"arn:aws:sns:eu-west-1:123456789012:orders.fifo","region":"eu-west-1","message_group_id_template":"customer.id"}"#,
            auth_config: r#"{"role_arn":"arn:aws:iam::123456789012:role/courier-publisher"}"#,
        },
    ],
    docs_url: None,
};

#[courier_core::async_trait]
impl MessageConnector for SnsMessages {
    type Config = SnsConfig;
    type Auth = AwsAuth;
    type Remote = SnsRemote;
    type Entry = send::Message;

    fn metadata(&self) -> &'static ConnectorMeta {
        &META
    }

    fn limits(&self, _: &SnsConfig) -> BatchLimits {
        send::LIMITS
    }

    fn endpoints(&self, config: &SnsConfig, auth: &AwsAuth) -> Vec<Endpoint> {
        let mut found = auth.endpoints(&config.region);
        match &config.endpoint_url {
            Some(url) => found.extend(Endpoint::url("/config/endpoint_url", url)),
            None => found.extend(Endpoint::url(
                "/config/region",
                &format!("https://sns.{}.amazonaws.com", config.region),
            )),
        }
        found
    }

    async fn connect(
        &self,
        config: &SnsConfig,
        auth: AwsAuth,
        env: &Env,
    ) -> Result<SnsRemote, ConnectorError> {
        SnsRemote::new(config, auth, env, |b| b).await
    }

    async fn test(&self, client: &SnsClient, probe: &mut Probe) -> Result<(), ConnectorError> {
        steps::run(client, probe).await
    }

    fn fields(&self, config: &SnsConfig) -> Vec<Field> {
        let mut fields = vec![Field::new(
            "message",
            FieldType::Object,
            true,
            "The record's payload, published as the message exactly as given",
        )];
        if let Some(t) = &config.message_group_id_template {
            fields.push(Field::new(
                "message_group_id",
                FieldType::String,
                true,
                format!("Taken from the payload by `{t}`"),
            ));
        }
        if let Some(t) = &config.subject_template {
            fields.push(Field::new(
                "subject",
                FieldType::String,
                true,
                format!("Taken from the payload by `{t}` (at most 100 printable ASCII characters)"),
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
        client: &SnsClient,
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
        client: &SnsClient,
        entries: Vec<send::Message>,
    ) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
        send::send(client, entries).await
    }
}

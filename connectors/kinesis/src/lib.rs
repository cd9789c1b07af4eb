//! The `kinesis` destination: each record's payload becomes one Kinesis record, keyed by a
//! partition key taken from the payload (crate README below).
//!
//! # Example
//!
//! A host checks a destination's JSON before it builds one; validation is pure, so this touches
//! no network:
//!
//! ```
//! use courier_connector_kinesis::Kinesis;
//! use courier_core::{DestinationSpec, DynConnector};
//! use serde_json::json;
//!
//! let mut spec = DestinationSpec {
//!     destination_id: "dest_1".into(),
//!     config: json!({
//!         "stream_name": "events",
//!         "region": "us-east-1",
//!         "partition_key_template": "user.id",
//!         "fallback_partition_key": "anonymous",
//!     }),
//!     auth_config: json!({
//!         "access_key_id": "AKIAIOSFODNN7EXAMPLE",
//!         "secret_access_key": "<secret>",
//!     }),
//!     ..DestinationSpec::default()
//! };
//! assert!(Kinesis.validate(&spec).is_empty());
//!
//! // Each problem is reported at the JSON path of its field, ready to show beside it.
//! spec.config["stream_name"] = json!("user events");
//! let errors = Kinesis.validate(&spec);
//! assert_eq!(errors.len(), 1);
//! assert_eq!(errors[0].path, "/config/stream_name");
//! ```
//!
//! A valid spec then goes to [`DynConnector::build`](courier_core::DynConnector::build), which
//! connects and returns a destination to test and deliver batches to.
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod client;
pub mod config;
mod errors;
mod put;
mod steps;

use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use courier_aws::AwsAuth;
use courier_core::{
    Capabilities, Category, ConnectorError, ConnectorMeta, Delivered, Endpoint, Env, Example,
    Field, FieldType, Probe, Record,
};
use courier_messages::{BatchLimits, Keys, MessageConnector, Messages};

pub use client::{KinesisClient, KinesisRemote, client_with_sdk_settings};
pub use config::KinesisConfig;

/// The `kinesis` destination type: [`KinesisMessages`] as a connector.
pub type Kinesis = Messages<KinesisMessages>;
/// The `kinesis` destination, as hosts register it: `catalog.add(courier_connector_kinesis::Kinesis)`.
#[allow(non_upper_case_globals)] // the value shares the connector's name, as a unit struct's would
pub const Kinesis: Kinesis = Messages(KinesisMessages);

/// What makes Kinesis a message destination: one PutRecords entry per record.
#[derive(Debug, Clone, Copy, Default)]
pub struct KinesisMessages;

static META: ConnectorMeta = ConnectorMeta {
    type_id: "kinesis",
    label: "Amazon Kinesis Data Streams",
    description: "Puts each record into a Kinesis stream with a partition key taken from the record; batches use PutRecords within the service limits.",
    category: Category::Stream,
    capabilities: Capabilities {
        // Kinesis takes at most 1 MiB per record (data plus partition key).
        max_payload_bytes: put::LIMITS.max_record_bytes as u64,
        // Kinesis has no idempotent put: a retried record may be read twice (at-least-once).
        idempotent_redelivery: false,
        // Without access_key_id the AWS default chain is used: the host's own identity.
        ambient_credentials: Some("access_key_id"),
        ..Capabilities::DEFAULT
    },
    test_steps: steps::STEPS,
    examples: &[
        Example {
            name: "Events keyed by user",
            config: r#"{"stream_name":"events","region":"us-east-1","partition_key_template":"user.id","fallback_partition_key":"anonymous"}"#,
            auth_config: r#"{"access_key_id":"AKIAIOSFODNN7EXAMPLE","secret_access_key":"<secret>"}"#,
        },
        Example {
            name: "Stream ARN with an assumed role",
            config: r#"{"stream_arn":"arn:aws:kinesis:eu-west-1:123456789012:stream/orders","region":"eu-west-1","partition_key_template":"{account.id}-{type}"}"#,
            auth_config: r#"{"role_arn":"arn:aws:iam::123456789012:role/courier-writer"}"#,
        },
    ],
    docs_url: None,
};

#[courier_core::async_trait]
impl MessageConnector for KinesisMessages {
    type Config = KinesisConfig;
    type Auth = AwsAuth;
    type Remote = KinesisRemote;
    type Entry = PutRecordsRequestEntry;

    fn metadata(&self) -> &'static ConnectorMeta {
        &META
    }

    fn limits(&self, _: &KinesisConfig) -> BatchLimits {
        put::LIMITS
    }

    fn endpoints(&self, config: &KinesisConfig, auth: &AwsAuth) -> Vec<Endpoint> {
        let mut found = auth.endpoints(&config.region);
        found.extend(match &config.endpoint_url {
            Some(url) => Endpoint::url("/config/endpoint_url", url),
            None => Endpoint::url(
                "/config/region",
                &format!("https://kinesis.{}.amazonaws.com", config.region),
            ),
        });
        found
    }

    async fn connect(
        &self,
        config: &KinesisConfig,
        auth: AwsAuth,
        env: &Env,
    ) -> Result<KinesisRemote, ConnectorError> {
        KinesisRemote::new(config, auth, env, |b| b).await
    }

    async fn test(&self, client: &KinesisClient, probe: &mut Probe) -> Result<(), ConnectorError> {
        steps::run(client, probe).await
    }

    fn fields(&self, config: &KinesisConfig) -> Vec<Field> {
        let explicit = match &config.explicit_hash_key_template {
            Some(t) => format!("Taken from the payload by `{t}`"),
            None => "Not used (set explicit_hash_key_template to route records to shards yourself)"
                .to_string(),
        };
        vec![
            Field::new(
                "data",
                FieldType::Object,
                true,
                "The record's payload, written as the Kinesis record's data exactly as given",
            ),
            Field::new(
                "partition_key",
                FieldType::String,
                true,
                format!(
                    "Taken from the payload by `{}`",
                    config.partition_key_template
                ),
            ),
            Field::new("explicit_hash_key", FieldType::String, false, explicit),
        ]
    }

    fn entry(
        &self,
        _: &KinesisClient,
        record: &Record,
        keys: &Keys,
    ) -> Result<(usize, PutRecordsRequestEntry), ConnectorError> {
        put::entry(record, keys)
    }

    async fn send(
        &self,
        client: &KinesisClient,
        entries: Vec<PutRecordsRequestEntry>,
    ) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
        put::send(client, entries).await
    }
}

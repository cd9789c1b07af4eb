//! The `kinesis` destination: each record's payload becomes one Kinesis record, keyed by a
//! partition key taken from the payload (crate README below).
#![doc = include_str!("../README.md")]

mod client;
pub mod config;
mod errors;
pub mod key;
mod put;
mod steps;

use courier_aws::AwsAuth;
use courier_core::{
    Batch, BatchOutcome, Capabilities, Category, Connector, ConnectorError, ConnectorMeta,
    Endpoint, Env, Example, Field, FieldType, Probe,
};

pub use client::KinesisClient;
pub use config::KinesisConfig;

/// The `kinesis` destination type.
#[derive(Debug, Clone, Copy, Default)]
pub struct Kinesis;

static META: ConnectorMeta = ConnectorMeta {
    type_id: "kinesis",
    label: "Amazon Kinesis Data Streams",
    description: "Puts each record into a Kinesis stream with a partition key taken from the record; batches use PutRecords within the service limits.",
    category: Category::Stream,
    capabilities: Capabilities {
        max_batch_records: None,
        // Kinesis takes at most 1 MiB per record (data plus partition key).
        max_payload_bytes: 1024 * 1024,
        signing: None,
        oauth: None,
        // Kinesis has no idempotent put: a retried record may be read twice (at-least-once).
        idempotent_redelivery: false,
        remote_fields: false,
        // Without access_key_id the AWS default chain is used: the host's own identity.
        ambient_credentials: Some("access_key_id"),
        write_only_config: &[],
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
impl Connector for Kinesis {
    type Config = KinesisConfig;
    type Auth = AwsAuth;
    type Client = KinesisClient;

    fn metadata(&self) -> &'static ConnectorMeta {
        &META
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
        config: KinesisConfig,
        auth: AwsAuth,
        env: &Env,
    ) -> Result<KinesisClient, ConnectorError> {
        KinesisClient::new(config, auth, &env.destination_id, env.allow_private_network).await
    }

    async fn test(&self, client: &KinesisClient, probe: &mut Probe) -> Result<(), ConnectorError> {
        steps::run(client, probe).await
    }

    async fn describe_fields(&self, client: &KinesisClient) -> Result<Vec<Field>, ConnectorError> {
        let mut fields = vec![
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
                    client.config.partition_key_template
                ),
            ),
        ];
        if let Some(t) = &client.config.explicit_hash_key_template {
            fields.push(Field::new(
                "explicit_hash_key",
                FieldType::String,
                false,
                format!("Taken from the payload by `{t}`"),
            ));
        } else {
            fields.push(Field::new(
                "explicit_hash_key",
                FieldType::String,
                false,
                "Not used (set explicit_hash_key_template to route records to shards yourself)",
            ));
        }
        Ok(fields)
    }

    async fn deliver(&self, client: &KinesisClient, batch: &Batch) -> BatchOutcome {
        put::deliver(client, batch).await
    }
}

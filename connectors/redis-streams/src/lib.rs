//! The `redis_streams` destination: each record becomes one entry appended to a Redis stream
//! (XADD), the entries of a request sent in one pipeline, each behind a guard key in the same
//! atomic script so a redelivered record appends nothing twice (crate README below).
//!
//! # Example
//!
//! ```
//! use courier_connector_redis_streams::RedisStreams;
//! use courier_core::{DestinationSpec, DynConnector};
//! use serde_json::json;
//!
//! let mut spec = DestinationSpec {
//!     destination_id: "dest_1".into(),
//!     config: json!({
//!         "url": "rediss://cache.example.com:6380/0",
//!         "stream_key_template": "orders:{customer.id}",
//!         "maxlen": 100000
//!     }),
//!     auth_config: json!({"username": "courier", "password": "<secret>"}),
//!     ..DestinationSpec::default()
//! };
//! assert!(RedisStreams.validate(&spec).is_empty());
//! // Credentials belong in auth_config, never in the URL.
//! spec.config["url"] = json!("redis://courier:pw@cache.example.com:6379");
//! assert_eq!(RedisStreams.validate(&spec)[0].path, "/config/url");
//! ```
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod client;
pub mod config;
mod entry;
mod errors;
pub mod script;
mod send;
mod steps;
mod target;

use courier_core::{
    Capabilities, Category, ConnectorError, ConnectorMeta, Delivered, Endpoint, Env, Example,
    Field, FieldType, Probe, Record,
};
use courier_messages::{BatchLimits, Keys, MessageConnector, Messages};

pub use client::{Lease, RedisRemote, RedisStreamsClient};
pub use config::{FieldsLayout, RedisStreamsAuth, RedisStreamsConfig};
pub use entry::StreamEntry;

/// The `redis_streams` destination type: [`RedisStreamsMessages`] as a connector.
pub type RedisStreams = Messages<RedisStreamsMessages>;
/// The `redis_streams` destination, as hosts register it:
/// `catalog.add(courier_connector_redis_streams::RedisStreams)`.
#[allow(non_upper_case_globals)] // the value shares the connector's name, as a unit struct's would
pub const RedisStreams: RedisStreams = Messages(RedisStreamsMessages);

/// What makes Redis Streams a message destination: one guarded XADD per record.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedisStreamsMessages;

/// Script calls in one pipeline: enough that a runtime batch (500 records by default) goes in
/// one round trip.
const MAX_PIPELINE_ENTRIES: usize = 1000;
/// Bytes in one pipeline, unless one entry may be larger.
const MAX_PIPELINE_BYTES: usize = 16 * 1024 * 1024;

static META: ConnectorMeta = ConnectorMeta {
    type_id: "redis_streams",
    label: "Redis Streams",
    description: "Appends each record as an entry to a Redis stream (XADD), the stream key read from the record or fixed; pipelined, with a guard per record so a retried delivery appends nothing twice.",
    category: Category::Stream,
    capabilities: Capabilities {
        // Redis takes arguments up to 512 MB; config.max_entry_bytes (1 MiB by default) is
        // each destination's own limit.
        max_payload_bytes: config::MAX_MAX_ENTRY_BYTES,
        // Within dedup_ttl_seconds a redelivered record answers its first entry instead of
        // appending again.
        idempotent_redelivery: true,
        ..Capabilities::DEFAULT
    },
    test_steps: steps::STEPS,
    examples: &[
        Example {
            name: "One stream, trimmed to about a million entries, as an ACL user",
            config: r#"{"url":"redis://redis.internal.example.com:6379/0","stream_key_template":"events","maxlen":1000000,"headers":{"event_type":"type"}}"#,
            auth_config: r#"{"username":"courier","password":"<secret>"}"#,
        },
        Example {
            name: "A stream per customer over TLS, the payload's fields as entry fields",
            config: r#"{"url":"rediss://cache.example.com:6380","stream_key_template":"orders:{customer.id}","fallback_stream_key":"orders:unknown","fields":"top_level"}"#,
            auth_config: r#"{"password":"<secret>"}"#,
        },
    ],
    docs_url: Some("https://redis.io/docs/latest/develop/data-types/streams/"),
};

#[courier_core::async_trait]
impl MessageConnector for RedisStreamsMessages {
    type Config = RedisStreamsConfig;
    type Auth = RedisStreamsAuth;
    type Remote = RedisRemote;
    type Entry = StreamEntry;

    fn metadata(&self) -> &'static ConnectorMeta {
        &META
    }

    fn limits(&self, config: &RedisStreamsConfig) -> BatchLimits {
        let max_record_bytes = config.max_entry_bytes as usize;
        BatchLimits {
            max_records: MAX_PIPELINE_ENTRIES,
            max_request_bytes: MAX_PIPELINE_BYTES.max(max_record_bytes),
            max_record_bytes,
        }
    }

    fn endpoints(&self, config: &RedisStreamsConfig, _: &RedisStreamsAuth) -> Vec<Endpoint> {
        // The host as a bare host, not through `Endpoint::url`: URL parsing leaves an address
        // in a redis:// URL as an opaque name.
        config
            .target()
            .and_then(|t| Endpoint::host("/config/url", &t.host, Some(t.port)))
            .into_iter()
            .collect()
    }

    async fn connect(
        &self,
        config: &RedisStreamsConfig,
        auth: RedisStreamsAuth,
        env: &Env,
    ) -> Result<RedisRemote, ConnectorError> {
        // No I/O: the connection opens at first use.
        RedisRemote::new(config, auth, env)
    }

    async fn test(
        &self,
        client: &RedisStreamsClient,
        probe: &mut Probe,
    ) -> Result<(), ConnectorError> {
        steps::run(client, probe).await
    }

    fn fields(&self, config: &RedisStreamsConfig) -> Vec<Field> {
        let mut fields = match config.fields {
            FieldsLayout::Payload => vec![Field::new(
                config::PAYLOAD_FIELD,
                FieldType::Any,
                true,
                "The record's payload, byte for byte, as the entry's `payload` field",
            )],
            FieldsLayout::TopLevel => vec![Field::new(
                "payload",
                FieldType::Object,
                true,
                "The record's payload, a JSON object: each top-level field becomes an entry field (strings as they are, other values as JSON text)",
            )],
        };
        for (name, template) in &config.headers {
            fields.push(Field::new(
                name.as_str(),
                FieldType::String,
                true,
                format!("An entry field taken from the payload by `{template}`"),
            ));
        }
        if config.fixed_stream_key().is_none() {
            fields.push(Field::new(
                "stream_key",
                FieldType::String,
                config.fallback_stream_key.is_none(),
                format!(
                    "The stream, taken from the payload by `{}`",
                    config.stream_key_template
                ),
            ));
        }
        fields
    }

    fn entry(
        &self,
        client: &RedisStreamsClient,
        record: &Record,
        keys: &Keys,
    ) -> Result<(usize, StreamEntry), ConnectorError> {
        let entry = entry::entry(&client.config, record, keys)?;
        Ok((entry.size(), entry))
    }

    fn order_key<'e>(&self, entry: &'e StreamEntry) -> Option<&'e str> {
        // A stream keeps its entries in the order they were appended: a record retried after
        // a failure must not be overtaken by later records of its stream.
        Some(&entry.stream)
    }

    async fn send(
        &self,
        client: &RedisStreamsClient,
        entries: Vec<StreamEntry>,
    ) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
        send::send(client, entries).await
    }
}

//! The `gcp_pubsub` destination: each record becomes one Google Cloud Pub/Sub message,
//! published over the REST API within the publish limits, with an ordering key and attributes
//! read from the record and the event's type and id as attributes (crate README below).
//!
//! # Example
//!
//! ```
//! use courier_connector_gcp_pubsub::GcpPubsub;
//! use courier_core::{DestinationSpec, DynConnector};
//! use serde_json::json;
//!
//! let mut spec = DestinationSpec {
//!     destination_id: "dest_1".into(),
//!     config: json!({
//!         "project_id": "my-project",
//!         "topic": "orders",
//!         "endpoint": "http://127.0.0.1:8085",
//!         "ordering_key_template": "customer.id",
//!         "attributes": {"event_type": "type"}
//!     }),
//!     // The emulator needs no credentials; Google's endpoints need `service_account_json`.
//!     auth_config: json!({}),
//!     ..DestinationSpec::default()
//! };
//! assert!(GcpPubsub.validate(&spec).is_empty());
//! // Pub/Sub reserves attribute names that start with `goog`.
//! spec.config["attributes"]["goog_region"] = json!("region");
//! let errors = GcpPubsub.validate(&spec);
//! assert_eq!(errors[0].path, "/config/attributes/goog_region");
//! ```
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod client;
pub mod config;
pub mod errors;
mod publish;
mod steps;

use courier_core::{
    Capabilities, Category, ConnectorError, ConnectorMeta, Delivered, Endpoint, Env, Example,
    Field, FieldType, Probe, Record,
};
use courier_messages::{BatchLimits, Keys, MessageConnector, Messages};

pub use client::{GOOGLE_ENDPOINT, GcpPubsubClient, PUBSUB_SCOPE, PubsubRemote};
pub use config::{GcpPubsubAuth, GcpPubsubConfig};
pub use publish::{LIMITS, MAX_PAYLOAD_BYTES};

/// The `gcp_pubsub` destination type: [`GcpPubsubMessages`] as a connector.
pub type GcpPubsub = Messages<GcpPubsubMessages>;
/// The `gcp_pubsub` destination, as hosts register it:
/// `catalog.add(courier_connector_gcp_pubsub::GcpPubsub)`.
#[allow(non_upper_case_globals)] // the value shares the connector's name, as a unit struct's would
pub const GcpPubsub: GcpPubsub = Messages(GcpPubsubMessages);

/// What makes Pub/Sub a message destination: one message per record, published per ordering
/// key within the publish limits.
#[derive(Debug, Clone, Copy, Default)]
pub struct GcpPubsubMessages;

static META: ConnectorMeta = ConnectorMeta {
    type_id: "gcp_pubsub",
    label: "Google Cloud Pub/Sub",
    description: "Publishes each record as a message to a Pub/Sub topic, with an ordering key and attributes read from the record, over the REST API within the publish limits.",
    category: Category::Stream,
    capabilities: Capabilities {
        max_payload_bytes: MAX_PAYLOAD_BYTES,
        // Pub/Sub has no deduplication on publish: a retried record may be received twice.
        idempotent_redelivery: false,
        ..Capabilities::DEFAULT
    },
    test_steps: steps::STEPS,
    examples: &[
        Example {
            name: "Orders in order per customer, with the event's type as an attribute",
            config: r#"{"project_id":"acme-prod","topic":"orders","endpoint":"https://us-east1-pubsub.googleapis.com","ordering_key_template":"customer.id","attributes":{"event_type":"type"}}"#,
            auth_config: r#"{"service_account_json":"{\"type\":\"service_account\",\"project_id\":\"acme-prod\",\"private_key_id\":\"<key id>\",\"private_key\":\"-----BEGIN PRIVATE KEY-----\\n<key>\\n-----END PRIVATE KEY-----\\n\",\"client_email\":\"courier@acme-prod.iam.gserviceaccount.com\"}"}"#,
        },
        Example {
            name: "A topic on the local Pub/Sub emulator",
            config: r#"{"project_id":"local-project","topic":"events","endpoint":"http://127.0.0.1:8085"}"#,
            auth_config: r#"{}"#,
        },
    ],
    docs_url: Some("https://cloud.google.com/pubsub/docs/publisher"),
};

#[courier_core::async_trait]
impl MessageConnector for GcpPubsubMessages {
    type Config = GcpPubsubConfig;
    type Auth = GcpPubsubAuth;
    type Remote = PubsubRemote;
    type Entry = publish::Message;

    fn metadata(&self) -> &'static ConnectorMeta {
        &META
    }

    fn limits(&self, _: &GcpPubsubConfig) -> BatchLimits {
        LIMITS
    }

    fn endpoints(&self, config: &GcpPubsubConfig, auth: &GcpPubsubAuth) -> Vec<Endpoint> {
        let api = match &config.endpoint {
            Some(url) => Endpoint::url("/config/endpoint", url),
            None => Endpoint::url("/config/project_id", GOOGLE_ENDPOINT),
        };
        // The key file names its token endpoint. The key signs its own tokens here, so it is
        // not called, but it is declared so hosts bind the stored key to where it would go.
        let token = auth
            .service_account_json
            .as_ref()
            .and_then(|key| config::check_key(key.expose()).ok())
            .and_then(|key| {
                let uri = key["token_uri"]
                    .as_str()
                    .unwrap_or("https://oauth2.googleapis.com/token")
                    .to_string();
                Endpoint::url("/auth_config/service_account_json", &uri)
            });
        api.into_iter().chain(token).collect()
    }

    async fn connect(
        &self,
        config: &GcpPubsubConfig,
        auth: GcpPubsubAuth,
        env: &Env,
    ) -> Result<PubsubRemote, ConnectorError> {
        PubsubRemote::new(config, auth, env)
    }

    async fn test(
        &self,
        client: &GcpPubsubClient,
        probe: &mut Probe,
    ) -> Result<(), ConnectorError> {
        steps::run(client, probe).await
    }

    fn fields(&self, config: &GcpPubsubConfig) -> Vec<Field> {
        let mut fields = vec![Field::new(
            "data",
            FieldType::Object,
            true,
            "The record's payload, published as the message's data byte for byte",
        )];
        if let Some(t) = &config.ordering_key_template {
            fields.push(Field::new(
                "ordering_key",
                FieldType::String,
                true,
                format!("The message's ordering key, taken from the payload by `{t}`"),
            ));
        }
        for (name, t) in &config.attributes {
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
        client: &GcpPubsubClient,
        record: &Record,
        keys: &Keys,
    ) -> Result<(usize, publish::Message), ConnectorError> {
        publish::message(client, record, keys)
    }

    fn order_key<'e>(&self, entry: &'e publish::Message) -> Option<&'e str> {
        entry.ordering_key()
    }

    async fn send(
        &self,
        client: &GcpPubsubClient,
        entries: Vec<publish::Message>,
    ) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
        publish::send(client, entries).await
    }
}

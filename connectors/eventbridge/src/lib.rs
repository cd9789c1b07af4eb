//! The `eventbridge` destination: each record becomes one Amazon EventBridge event (its payload
//! the event's `detail`), put with PutEvents within the service limits; the event's type is its
//! `detail-type` (crate README below).
//!
//! # Example
//!
//! ```
//! use courier_connector_eventbridge::Eventbridge;
//! use courier_core::{DestinationSpec, DynConnector};
//! use serde_json::json;
//!
//! let mut spec = DestinationSpec {
//!     destination_id: "dest_1".into(),
//!     config: json!({
//!         "event_bus_name": "orders",
//!         "region": "us-east-1",
//!         "source": "com.acme.orders"
//!     }),
//!     auth_config: json!({"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "<secret>"}),
//!     ..DestinationSpec::default()
//! };
//! assert!(Eventbridge.validate(&spec).is_empty());
//! // `aws.` sources are AWS's own.
//! spec.config["source"] = json!("aws.orders");
//! let errors = Eventbridge.validate(&spec);
//! assert_eq!(errors[0].path, "/config/source");
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

pub use client::{EventbridgeClient, EventbridgeRemote, client_with_sdk_settings};
pub use config::{DEFAULT_DETAIL_TYPE, EventbridgeConfig};
pub use send::{LIMITS, entry_size};

/// The `eventbridge` destination type: [`EventbridgeMessages`] as a connector.
pub type Eventbridge = Messages<EventbridgeMessages>;
/// The `eventbridge` destination, as hosts register it:
/// `catalog.add(courier_connector_eventbridge::Eventbridge)`.
#[allow(non_upper_case_globals)] // the value shares the connector's name, as a unit struct's would
pub const Eventbridge: Eventbridge = Messages(EventbridgeMessages);

/// What makes EventBridge a message destination: one PutEvents entry per record.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventbridgeMessages;

static META: ConnectorMeta = ConnectorMeta {
    type_id: "eventbridge",
    label: "Amazon EventBridge",
    description: "Puts each record (a JSON object) on an EventBridge event bus as an event's detail, with the configured source and the event's type as detail-type; batches use PutEvents within the service limits.",
    category: Category::Stream,
    capabilities: Capabilities {
        max_payload_bytes: send::LIMITS.max_record_bytes as u64,
        // EventBridge has no deduplication: a retried event may be delivered twice.
        idempotent_redelivery: false,
        // Without access_key_id the AWS default chain is used: the host's own identity.
        ambient_credentials: Some("access_key_id"),
        ..Capabilities::DEFAULT
    },
    test_steps: steps::STEPS,
    examples: &[
        Example {
            name: "The default bus, the event's type as detail-type",
            config: r#"{"event_bus_name":"default","region":"us-east-1","source":"com.acme.orders"}"#,
            auth_config: r#"{"access_key_id":"AKIAIOSFODNN7EXAMPLE","secret_access_key":"<secret>"}"#,
        },
        Example {
            name: "Another account's bus by ARN, the detail type read from the record, with an assumed role",
            config: r#"{"event_bus_name":"arn:aws:events:eu-west-1:123456789012:event-bus/orders","region":"eu-west-1","source":"com.acme.billing","detail_type_template":"invoice.{status}"}"#,
            auth_config: r#"{"role_arn":"arn:aws:iam::123456789012:role/courier-events"}"#,
        },
    ],
    docs_url: None,
};

#[courier_core::async_trait]
impl MessageConnector for EventbridgeMessages {
    type Config = EventbridgeConfig;
    type Auth = AwsAuth;
    type Remote = EventbridgeRemote;
    type Entry = send::Event;

    fn metadata(&self) -> &'static ConnectorMeta {
        &META
    }

    fn limits(&self, _: &EventbridgeConfig) -> BatchLimits {
        send::LIMITS
    }

    fn endpoints(&self, config: &EventbridgeConfig, auth: &AwsAuth) -> Vec<Endpoint> {
        let mut found = auth.endpoints(&config.region);
        match &config.endpoint_url {
            Some(url) => found.extend(Endpoint::url("/config/endpoint_url", url)),
            None => found.extend(Endpoint::url(
                "/config/region",
                &format!("https://events.{}.amazonaws.com", config.region),
            )),
        }
        found
    }

    async fn connect(
        &self,
        config: &EventbridgeConfig,
        auth: AwsAuth,
        env: &Env,
    ) -> Result<EventbridgeRemote, ConnectorError> {
        EventbridgeRemote::new(config, auth, env, |b| b).await
    }

    async fn test(
        &self,
        client: &EventbridgeClient,
        probe: &mut Probe,
    ) -> Result<(), ConnectorError> {
        steps::run(client, probe).await
    }

    fn fields(&self, config: &EventbridgeConfig) -> Vec<Field> {
        let detail_type = match &config.detail_type_template {
            Some(t) => format!(
                "Taken from the payload by `{t}`; else the record's event type, else `{DEFAULT_DETAIL_TYPE}`"
            ),
            None => format!("The record's event type, else `{DEFAULT_DETAIL_TYPE}`"),
        };
        vec![
            Field::new(
                "detail",
                FieldType::Object,
                true,
                "The record's payload, a JSON object, sent as the event's detail exactly as given",
            ),
            Field::new("detail-type", FieldType::String, true, detail_type),
        ]
    }

    fn entry(
        &self,
        client: &EventbridgeClient,
        record: &Record,
        keys: &Keys,
    ) -> Result<(usize, send::Event), ConnectorError> {
        send::event(client, record, keys)
    }

    async fn send(
        &self,
        client: &EventbridgeClient,
        entries: Vec<send::Event>,
    ) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
        send::send(client, entries).await
    }
}

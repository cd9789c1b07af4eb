//! The `azure_service_bus` destination: each record becomes one message on an Azure Service Bus
//! queue or topic, sent with the REST API's Send Message Batch within 256 KiB a request; the
//! record id is the `MessageId` (duplicate detection drops a retried copy), sessions and
//! application properties come from the record (crate README below).
//!
//! # Example
//!
//! ```
//! use courier_connector_azure_service_bus::AzureServiceBus;
//! use courier_core::{DestinationSpec, DynConnector};
//! use serde_json::json;
//!
//! let mut spec = DestinationSpec {
//!     destination_id: "dest_1".into(),
//!     config: json!({
//!         "namespace": "acme-prod",
//!         "entity_path": "orders",
//!         "session_id_template": "customer.id",
//!         "application_properties": {"event_type": "type"}
//!     }),
//!     auth_config: json!({"sas_key_name": "courier-send", "sas_key": "<secret>"}),
//!     ..DestinationSpec::default()
//! };
//! assert!(AzureServiceBus.validate(&spec).is_empty());
//! // The event's own properties are reserved, and reported at their JSON path.
//! spec.config["application_properties"] = json!({"courier_event_id": "id"});
//! let errors = AzureServiceBus.validate(&spec);
//! assert_eq!(errors[0].path, "/config/application_properties/courier_event_id");
//! ```
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod auth;
mod client;
pub mod config;
pub mod connection_string;
mod errors;
mod send;
mod steps;

use courier_core::{
    Capabilities, Category, ConnectorError, ConnectorMeta, Delivered, Endpoint, Env, Example,
    Field, FieldType, Probe, Record,
};
use courier_messages::{BatchLimits, Keys, MessageConnector, Messages};

pub use auth::{SCOPE, sas_token};
pub use client::{AzureServiceBusClient, ServiceBusRemote};
pub use config::{AzureServiceBusAuth, AzureServiceBusConfig};
pub use send::{BATCH_CONTENT_TYPE, LIMITS, MAX_REQUEST_BYTES, message_id};

/// The `azure_service_bus` destination type: [`AzureServiceBusMessages`] as a connector.
pub type AzureServiceBus = Messages<AzureServiceBusMessages>;
/// The `azure_service_bus` destination, as hosts register it:
/// `catalog.add(courier_connector_azure_service_bus::AzureServiceBus)`.
#[allow(non_upper_case_globals)] // the value shares the connector's name, as a unit struct's would
pub const AzureServiceBus: AzureServiceBus = Messages(AzureServiceBusMessages);

/// What makes Service Bus a message destination: one batch element per record.
#[derive(Debug, Clone, Copy, Default)]
pub struct AzureServiceBusMessages;

static META: ConnectorMeta = ConnectorMeta {
    type_id: "azure_service_bus",
    label: "Azure Service Bus",
    description: "Sends each record as a message to a Service Bus queue or topic (Send Message Batch within 256 KiB a request), with the record id as MessageId for duplicate detection, a session read from the record, and application properties.",
    category: Category::Stream,
    capabilities: Capabilities {
        max_payload_bytes: send::LIMITS.max_record_bytes as u64,
        // Only an entity with duplicate detection drops a retried copy (the record id is the
        // MessageId); without it a retried message may arrive twice.
        idempotent_redelivery: false,
        ..Capabilities::DEFAULT
    },
    test_steps: steps::STEPS,
    examples: &[
        Example {
            name: "A queue with a send-only shared access policy",
            config: r#"{"namespace":"acme-prod","entity_path":"orders","application_properties":{"event_type":"type"}}"#,
            auth_config: r#"{"sas_key_name":"courier-send","sas_key":"<secret>"}"#,
        },
        Example {
            name: "A session queue, from a connection string",
            config: r#"{"namespace":"acme-prod","entity_path":"orders-by-customer","session_id_template":"customer.id"}"#,
            auth_config: r#"{"connection_string":"Endpoint=sb://acme-prod.servicebus.windows.net/;SharedAccessKeyName=courier-send;SharedAccessKey=<secret>"}"#,
        },
        Example {
            name: "A topic in Azure Government, as a service principal",
            config: r#"{"endpoint":"https://acme-prod.servicebus.usgovcloudapi.net","entity_path":"events"}"#,
            auth_config: r#"{"tenant_id":"contoso.onmicrosoft.com","client_id":"00000000-0000-0000-0000-000000000000","client_secret":"<secret>","authority_host":"https://login.microsoftonline.us"}"#,
        },
    ],
    docs_url: Some("https://learn.microsoft.com/rest/api/servicebus/send-message-batch"),
};

#[courier_core::async_trait]
impl MessageConnector for AzureServiceBusMessages {
    type Config = AzureServiceBusConfig;
    type Auth = AzureServiceBusAuth;
    type Remote = ServiceBusRemote;
    type Entry = send::Message;

    fn metadata(&self) -> &'static ConnectorMeta {
        &META
    }

    fn limits(&self, _: &AzureServiceBusConfig) -> BatchLimits {
        send::LIMITS
    }

    fn endpoints(
        &self,
        config: &AzureServiceBusConfig,
        auth: &AzureServiceBusAuth,
    ) -> Vec<Endpoint> {
        let mut found = Vec::new();
        match (&config.endpoint, &config.namespace) {
            (Some(url), _) => found.extend(Endpoint::url("/config/endpoint", url)),
            (None, Some(_)) => found.extend(Endpoint::url("/config/namespace", &config.base_url())),
            (None, None) => {}
        }
        // The namespace a connection string names is declared too: it must not name a host the
        // operator forbids either (connect refuses one that differs from the config's).
        if let Some(cs) = auth
            .connection_string
            .as_ref()
            .and_then(|cs| connection_string::ConnectionString::parse(cs.expose()).ok())
        {
            found.extend(Endpoint::host(
                "/auth_config/connection_string",
                &cs.host,
                Some(cs.port.unwrap_or(443)),
            ));
        }
        // A service principal also signs in at its authority.
        if auth.is_principal() {
            found.extend(match &auth.authority_host {
                Some(url) => Endpoint::url("/auth_config/authority_host", url),
                None => Endpoint::url(
                    "/auth_config/tenant_id",
                    "https://login.microsoftonline.com",
                ),
            });
        }
        found
    }

    async fn connect(
        &self,
        config: &AzureServiceBusConfig,
        auth: AzureServiceBusAuth,
        env: &Env,
    ) -> Result<ServiceBusRemote, ConnectorError> {
        ServiceBusRemote::new(config, auth, env)
    }

    async fn test(
        &self,
        client: &AzureServiceBusClient,
        probe: &mut Probe,
    ) -> Result<(), ConnectorError> {
        steps::run(client, probe).await
    }

    fn fields(&self, config: &AzureServiceBusConfig) -> Vec<Field> {
        let mut fields = vec![Field::new(
            "body",
            FieldType::Object,
            true,
            "The record's payload, sent as the message body exactly as given",
        )];
        if let Some(t) = &config.session_id_template {
            fields.push(Field::new(
                "session_id",
                FieldType::String,
                true,
                format!("The message's SessionId, taken from the payload by `{t}`"),
            ));
        }
        for (name, t) in &config.application_properties {
            fields.push(Field::new(
                name.as_str(),
                FieldType::String,
                true,
                format!("An application property taken from the payload by `{t}`"),
            ));
        }
        fields
    }

    fn entry(
        &self,
        client: &AzureServiceBusClient,
        record: &Record,
        keys: &Keys,
    ) -> Result<(usize, send::Message), ConnectorError> {
        send::message(client, record, keys)
    }

    fn order_key<'e>(&self, entry: &'e send::Message) -> Option<&'e str> {
        entry.session_id()
    }

    async fn send(
        &self,
        client: &AzureServiceBusClient,
        entries: Vec<send::Message>,
    ) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
        send::send(client, entries).await
    }
}

//! The `nats` destination: each record becomes one NATS message on a subject rendered from it,
//! acknowledged by the JetStream stream that stores it (the record id as `Nats-Msg-Id`, so a
//! retried copy is dropped) or published to core NATS (crate README below).
//!
//! # Example
//!
//! ```
//! use courier_connector_nats::Nats;
//! use courier_core::{DestinationSpec, DynConnector};
//! use serde_json::json;
//!
//! let mut spec = DestinationSpec {
//!     destination_id: "dest_1".into(),
//!     config: json!({
//!         "servers": ["tls://nats.example.com:4222"],
//!         "subject_template": "orders.{customer.region}",
//!         "headers": {"Customer": "customer.id"}
//!     }),
//!     auth_config: json!({"username": "courier", "password": "<secret>"}),
//!     ..DestinationSpec::default()
//! };
//! assert!(Nats.validate(&spec).is_empty());
//! // Messages are published to one subject: wildcards are refused at their JSON path.
//! spec.config["subject_template"] = json!("orders.*");
//! let errors = Nats.validate(&spec);
//! assert_eq!(errors[0].path, "/config/subject_template");
//! ```
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod client;
pub mod config;
mod errors;
mod send;
mod steps;
pub mod subject;
mod tls;

use courier_core::{
    Capabilities, Category, ConnectorError, ConnectorMeta, Delivered, Endpoint, Env, Example,
    Field, FieldType, Probe, Record,
};
use courier_messages::{BatchLimits, Keys, MessageConnector, Messages};

pub use client::{NatsClient, NatsRemote, Session};
pub use config::{NatsAuth, NatsConfig};
pub use send::{DEFAULT_MAX_PAYLOAD, LIMITS, Message};

/// The `nats` destination type: [`NatsMessages`] as a connector.
pub type Nats = Messages<NatsMessages>;
/// The `nats` destination, as hosts register it: `catalog.add(courier_connector_nats::Nats)`.
#[allow(non_upper_case_globals)] // the value shares the connector's name, as a unit struct's would
pub const Nats: Nats = Messages(NatsMessages);

/// What makes NATS a message destination: one published message per record.
#[derive(Debug, Clone, Copy, Default)]
pub struct NatsMessages;

static META: ConnectorMeta = ConnectorMeta {
    type_id: "nats",
    label: "NATS",
    description: "Publishes each record as a NATS message to a subject rendered from the record. With JetStream (the default) a record is delivered once its stream acknowledges it, and the record id is the Nats-Msg-Id, so the stream drops a retried copy; with JetStream off, messages go to core NATS at most once.",
    category: Category::Stream,
    capabilities: Capabilities {
        // The most a server's max_payload may be; each server says its own when connected, and
        // a record over it (or over its stream's max_msg_size) fails alone.
        max_payload_bytes: send::MAX_PAYLOAD_LIMIT as u64,
        // Every message carries its record id as Nats-Msg-Id: JetStream drops a retried copy
        // within the stream's duplicate window (2 minutes unless set), and core NATS
        // subscribers can de-duplicate by it.
        idempotent_redelivery: true,
        ..Capabilities::DEFAULT
    },
    test_steps: steps::STEPS,
    examples: &[
        Example {
            name: "JetStream, a subject per region, user and password",
            config: r#"{"servers":["tls://nats-1.example.com:4222","tls://nats-2.example.com:4222"],"subject_template":"orders.{customer.region}","headers":{"Customer":"customer.id"}}"#,
            auth_config: r#"{"username":"courier","password":"<secret>"}"#,
        },
        Example {
            name: "Synadia Cloud with a .creds file",
            config: r#"{"servers":["tls://connect.ngs.global"],"subject_template":"events.created"}"#,
            auth_config: r#"{"credentials":"-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2lnbmF0dXJl\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\nSUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY\n------END USER NKEY SEED------\n"}"#,
        },
        Example {
            name: "Core NATS (at most once) with an nkey",
            config: r#"{"servers":["nats://nats.internal.example.com:4222"],"subject_template":"audit.{type}","jetstream":false}"#,
            auth_config: r#"{"nkey_seed":"SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY"}"#,
        },
    ],
    docs_url: Some("https://docs.nats.io/nats-concepts/jetstream"),
};

#[courier_core::async_trait]
impl MessageConnector for NatsMessages {
    type Config = NatsConfig;
    type Auth = NatsAuth;
    type Remote = NatsRemote;
    type Entry = send::Message;

    fn metadata(&self) -> &'static ConnectorMeta {
        &META
    }

    fn limits(&self, _: &NatsConfig) -> BatchLimits {
        send::LIMITS
    }

    async fn limits_for(&self, client: &NatsClient) -> BatchLimits {
        // Connecting here is what a delivery does next anyway; a failure is remembered for
        // the send to report.
        let Ok(session) = client.session().await else {
            return send::LIMITS;
        };
        let max_payload = session.client.server_info().max_payload;
        let stream_max = if client.config.jetstream {
            client.stream_max_message(&session).await
        } else {
            None
        };
        send::limits(max_payload, stream_max)
    }

    fn endpoints(&self, config: &NatsConfig, _: &NatsAuth) -> Vec<Endpoint> {
        // One per server, at its own index: a refused server is named exactly.
        config
            .servers
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let server = config::parse_server(s).ok()?;
                Endpoint::host(
                    format!("/config/servers/{i}"),
                    server.host(),
                    Some(server.port()),
                )
            })
            .collect()
    }

    async fn connect(
        &self,
        config: &NatsConfig,
        auth: NatsAuth,
        env: &Env,
    ) -> Result<NatsRemote, ConnectorError> {
        // No I/O: the connection is made at first use.
        NatsRemote::new(config, auth, env)
    }

    async fn test(&self, client: &NatsClient, probe: &mut Probe) -> Result<(), ConnectorError> {
        steps::run(client, probe).await
    }

    fn fields(&self, config: &NatsConfig) -> Vec<Field> {
        let mut fields = vec![Field::new(
            "payload",
            FieldType::Any,
            true,
            "The record's payload, published as the message body exactly as given",
        )];
        if let Some(t) = config.subject().placeholders() {
            fields.push(Field::new(
                "subject",
                FieldType::String,
                true,
                format!("The subject, rendered from the payload by `{t}`"),
            ));
        }
        for (name, t) in &config.headers {
            fields.push(Field::new(
                name.as_str(),
                FieldType::String,
                true,
                format!("A header taken from the payload by `{t}`"),
            ));
        }
        fields
    }

    fn entry(
        &self,
        client: &NatsClient,
        record: &Record,
        keys: &Keys,
    ) -> Result<(usize, send::Message), ConnectorError> {
        send::message(client, record, keys)
    }

    async fn send(
        &self,
        client: &NatsClient,
        entries: Vec<send::Message>,
    ) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
        send::send(client, entries).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_server_is_an_endpoint_at_its_own_index() {
        let config: NatsConfig = serde_json::from_value(json!({
            "servers": ["tls://nats-1.example.com", "nats://10.0.0.7:4333"],
            "subject_template": "orders.created",
        }))
        .unwrap();
        let endpoints = NatsMessages.endpoints(&config, &NatsAuth::default());
        let declared: Vec<(&str, String, Option<u16>)> = endpoints
            .iter()
            .map(|e| (e.path.as_str(), e.host.to_string(), e.port))
            .collect();
        assert_eq!(
            declared,
            [
                ("/config/servers/0", "nats-1.example.com".into(), Some(4222)),
                ("/config/servers/1", "10.0.0.7".into(), Some(4333)),
            ]
        );
    }
}

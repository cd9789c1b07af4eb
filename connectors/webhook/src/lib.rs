//! The `webhook` destination: signed HTTP deliveries behind an SSRF guard (crate README below).
//!
//! # Example
//!
//! A host checks a destination's JSON before it builds one; validation and the endpoint list are
//! pure, so this touches no network:
//!
//! ```
//! use courier_connector_webhook::Webhook;
//! use courier_core::{DestinationSpec, DynConnector};
//! use serde_json::json;
//!
//! let mut spec = DestinationSpec {
//!     destination_id: "dest_1".into(),
//!     config: json!({
//!         "url": "https://api.example.com/webhook",
//!         "method": "POST",
//!         "headers": {"X-Source": "courier"},
//!     }),
//!     auth_config: json!({"signing_secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"}),
//!     ..DestinationSpec::default()
//! };
//! assert!(Webhook.validate(&spec).is_empty());
//!
//! // The hosts a destination would contact, to check against the host's network rules.
//! let endpoints = Webhook.endpoints(&spec).unwrap();
//! assert_eq!(endpoints[0].path, "/config/url");
//! assert_eq!(endpoints[0].host.to_string(), "api.example.com");
//! assert_eq!(endpoints[0].port, Some(443));
//!
//! // Each problem is reported at the JSON path of its field, ready to show beside it.
//! spec.config["url"] = json!("ftp://api.example.com/webhook");
//! let errors = Webhook.validate(&spec);
//! assert_eq!(errors.len(), 1);
//! assert_eq!(errors[0].path, "/config/url");
//! ```
//!
//! A valid spec then goes to [`DynConnector::build`](courier_core::DynConnector::build), which
//! returns a destination to test and deliver batches to.
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod body;
mod client;
pub mod config;
mod fields;
pub mod guard;
pub mod signing;
mod steps;

use courier_core::{
    Batch, BatchOutcome, Capabilities, Category, Connector, ConnectorError, ConnectorMeta,
    Endpoint, Env, Example, Field, Probe, Record, RecordOutcome,
};
use futures::StreamExt;

pub use client::WebhookClient;
pub use config::{WebhookAuth, WebhookConfig};

/// Requests in flight at once for one batch in `json` mode.
const PER_BATCH_CONCURRENCY: usize = 8;

/// The `webhook` destination type.
#[derive(Debug, Clone, Copy, Default)]
pub struct Webhook;

static META: ConnectorMeta = ConnectorMeta {
    type_id: "webhook",
    label: "Webhook",
    description: "Sends each record (or each batch) as an HTTP request to your endpoint, signed per the Standard Webhooks spec.",
    category: Category::Http,
    capabilities: Capabilities {
        max_batch_records: None,
        max_payload_bytes: 64 * 1024 * 1024,
        signing: Some("standard_webhooks"),
        oauth: None,
        idempotent_redelivery: true,
        remote_fields: false,
        ambient_credentials: None,
        write_only_config: &["headers"],
    },
    test_steps: steps::STEPS,
    examples: &[
        Example {
            name: "Signed JSON webhook",
            config: r#"{"url":"https://api.example.com/webhook","method":"POST","headers":{"X-Source":"courier"}}"#,
            auth_config: r#"{"signing_secret":"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"}"#,
        },
        Example {
            name: "Batched NDJSON with a bearer token",
            config: r#"{"url":"https://ingest.example.com/bulk","body":"ndjson","timeout_ms":10000}"#,
            auth_config: r#"{"credentials":{"type":"bearer","token":"<token>"}}"#,
        },
    ],
    docs_url: None,
};

#[courier_core::async_trait]
impl Connector for Webhook {
    type Config = WebhookConfig;
    type Auth = WebhookAuth;
    type Client = WebhookClient;

    fn metadata(&self) -> &'static ConnectorMeta {
        &META
    }

    fn endpoints(&self, config: &WebhookConfig, _: &WebhookAuth) -> Vec<Endpoint> {
        Endpoint::url("/config/url", &config.url)
            .into_iter()
            .collect()
    }

    async fn connect(
        &self,
        mut config: WebhookConfig,
        auth: WebhookAuth,
        env: &Env,
    ) -> Result<WebhookClient, ConnectorError> {
        // A host that allows private networks (`courier serve --allow-private-destinations`)
        // needs no second switch on each destination.
        config.allow_private_network |= env.allow_private_network;
        WebhookClient::new(config, auth, env.destination_id.clone(), env.payload_cap)
    }

    async fn test(&self, client: &WebhookClient, probe: &mut Probe) -> Result<(), ConnectorError> {
        steps::run(client, probe).await
    }

    async fn describe_fields(&self, client: &WebhookClient) -> Result<Vec<Field>, ConnectorError> {
        Ok(fields::describe(client.config.schema.as_ref()))
    }

    async fn deliver(&self, client: &WebhookClient, batch: &Batch) -> BatchOutcome {
        match client.config.body {
            config::BodyMode::Json => deliver_each(client, batch).await,
            mode => deliver_batch(client, batch, mode).await,
        }
    }
}

/// `json` mode: one request per record, `webhook-id` = the record id.
async fn deliver_each(client: &WebhookClient, batch: &Batch) -> BatchOutcome {
    if let [record] = batch.records.as_slice() {
        return BatchOutcome {
            records: vec![deliver_one(client, record).await],
        };
    }
    let records = futures::stream::iter(batch.records.iter().cloned())
        .map(|record: Record| async move { deliver_one(client, &record).await })
        .buffered(PER_BATCH_CONCURRENCY)
        .collect()
        .await;
    BatchOutcome { records }
}

/// The payload goes out untouched (hosts check JSON when they accept records); re-parsing it
/// here would cost more than the request itself for large bodies.
async fn deliver_one(client: &WebhookClient, record: &Record) -> RecordOutcome {
    let b = body::single(record, client.config.envelope.as_ref());
    let prepared = client
        .cap
        .check(b.len(), || format!("the body of record {}", record.id))
        .map(|()| b);
    match prepared {
        Err(e) => RecordOutcome::failed(&record.id, e),
        Ok(b) => match client
            .deliver(&record.id, record.event.as_ref(), b, body::JSON)
            .await
        {
            Ok(d) => RecordOutcome::delivered(&record.id, d),
            Err((e, response)) => RecordOutcome::failed_with(&record.id, e, response),
        },
    }
}

/// `json_array` / `ndjson`: one request per batch, `webhook-id` = the batch id. Records that
/// cannot be encoded fail alone; the rest share the request's outcome.
async fn deliver_batch(
    client: &WebhookClient,
    batch: &Batch,
    mode: config::BodyMode,
) -> BatchOutcome {
    let check = match mode {
        config::BodyMode::Ndjson => body::check_ndjson,
        _ => body::check_json,
    };
    let mut bad: Vec<(usize, ConnectorError)> = Vec::new();
    let mut good: Vec<&Record> = Vec::new();
    for (i, r) in batch.records.iter().enumerate() {
        match check(r) {
            Ok(()) => good.push(r),
            Err(e) => bad.push((i, e)),
        }
    }
    let envelope = client.config.envelope.as_ref();
    let (payload, content_type) = match mode {
        config::BodyMode::Ndjson => (body::ndjson(&good, envelope), body::NDJSON),
        _ => (body::array(&good, envelope), body::JSON),
    };
    let shared: Result<_, (ConnectorError, _)> = if good.is_empty() {
        Err((ConnectorError::internal("no record to send"), None))
    } else if let Err(e) = client
        .cap
        .check(payload.len(), || format!("the body of batch {}", batch.id))
    {
        Err((e, None))
    } else {
        client.deliver(&batch.id, None, payload, content_type).await
    };
    let mut bad = bad.into_iter().peekable();
    let records = batch
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if bad.peek().is_some_and(|(j, _)| *j == i) {
                let (_, e) = bad.next().expect("peeked");
                return RecordOutcome::failed(&r.id, e);
            }
            match &shared {
                Ok(d) => RecordOutcome::delivered(&r.id, d.clone()),
                Err((e, response)) => {
                    RecordOutcome::failed_with(&r.id, e.clone(), response.clone())
                }
            }
        })
        .collect();
    BatchOutcome { records }
}

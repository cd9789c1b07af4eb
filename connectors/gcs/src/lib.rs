//! The `gcs` destination: each batch becomes one Google Cloud Storage object (or several, split
//! within the cap) in the chosen format and compression, under a name derived from the batch
//! id (crate README below).
//!
//! # Example
//!
//! A host checks a destination's JSON before it builds one; validation is pure, so this touches
//! no network:
//!
//! ```
//! use courier_connector_gcs::Gcs;
//! use courier_core::{DestinationSpec, DynConnector};
//! use serde_json::json;
//!
//! // The service account key file's contents, as one string.
//! let key = json!({
//!     "type": "service_account",
//!     "project_id": "acme",
//!     "private_key_id": "<key id>",
//!     "private_key": "-----BEGIN PRIVATE KEY-----\n<key>\n-----END PRIVATE KEY-----\n",
//!     "client_email": "courier@acme.iam.gserviceaccount.com",
//! });
//! let mut spec = DestinationSpec {
//!     destination_id: "dest_1".into(),
//!     config: json!({
//!         "bucket": "acme-exports",
//!         "prefix": "courier/",
//!         "format": "ndjson",
//!         "compression": "gzip",
//!     }),
//!     auth_config: json!({"service_account_json": key.to_string()}),
//!     ..DestinationSpec::default()
//! };
//! assert!(Gcs.validate(&spec).is_empty());
//!
//! // Each problem is reported at the JSON path of its field, ready to show beside it.
//! spec.config["chunk_size_bytes"] = json!(1_000_000); // not a multiple of 256 KiB
//! let errors = Gcs.validate(&spec);
//! assert_eq!(errors.len(), 1);
//! assert_eq!(errors[0].path, "/config/chunk_size_bytes");
//! ```
//!
//! A valid spec then goes to [`DynConnector::build`](courier_core::DynConnector::build), which
//! returns a destination to test and deliver batches to.
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod client;
pub mod config;
mod errors;
mod steps;
mod upload;

use courier_core::{
    Batch, Capabilities, Category, ConnectorError, ConnectorMeta, Delivered, Endpoint, Env,
    Example, Probe,
};
use courier_files::{FileConnector, Files, PlannedFile};

pub use client::{GcsClient, GcsRemote};
pub use config::{GcsAuth, GcsConfig};

/// The `gcs` destination type: [`GcsFiles`] as a connector.
pub type Gcs = Files<GcsFiles>;
/// The `gcs` destination, as hosts register it: `catalog.add(courier_connector_gcs::Gcs)`.
#[allow(non_upper_case_globals)] // the value shares the connector's name, as a unit struct's would
pub const Gcs: Gcs = Files(GcsFiles);

/// What makes GCS a file destination: its client, connection test and upload.
#[derive(Debug, Clone, Copy, Default)]
pub struct GcsFiles;

static META: ConnectorMeta = ConnectorMeta {
    type_id: "gcs",
    label: "Google Cloud Storage",
    description: "Writes each batch as an object (JSON, NDJSON or CSV; optionally gzip or zstd) to a Google Cloud Storage bucket.",
    category: Category::ObjectStorage,
    capabilities: Capabilities {
        // GCS's object limit is 5 TiB; the cap bounds what one delivery may write.
        max_payload_bytes: 5 * 1024 * 1024 * 1024 * 1024,
        ..Capabilities::DEFAULT
    },
    test_steps: steps::STEPS,
    examples: &[
        Example {
            name: "Gzipped NDJSON with a service account",
            config: r#"{"bucket":"acme-exports","prefix":"courier/","format":"ndjson","compression":"gzip"}"#,
            auth_config: r#"{"service_account_json":"{\"type\":\"service_account\",\"project_id\":\"acme\",\"private_key_id\":\"<key id>\",\"private_key\":\"-----BEGIN PRIVATE KEY-----\\n<key>\\n-----END PRIVATE KEY-----\\n\",\"client_email\":\"courier@acme.iam.gserviceaccount.com\"}"}"#,
        },
        Example {
            name: "CSV in Nearline on a local emulator",
            config: r#"{"bucket":"acme-exports","endpoint":"http://127.0.0.1:4443","format":"csv","columns":["id","email"],"storage_class":"NEARLINE"}"#,
            auth_config: r#"{}"#,
        },
    ],
    docs_url: None,
};

#[async_trait::async_trait]
impl FileConnector for GcsFiles {
    type Config = GcsConfig;
    type Auth = GcsAuth;
    type Remote = GcsRemote;

    fn metadata(&self) -> &'static ConnectorMeta {
        &META
    }

    fn endpoints(&self, config: &GcsConfig, auth: &GcsAuth) -> Vec<Endpoint> {
        let api = match &config.endpoint {
            Some(url) => Endpoint::url("/config/endpoint", url),
            None => Endpoint::url("/config/bucket", client::GOOGLE_ENDPOINT),
        };
        // A service account signs in at its key's token_uri.
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
        config: &GcsConfig,
        auth: GcsAuth,
        env: &Env,
    ) -> Result<GcsRemote, ConnectorError> {
        GcsRemote::new(config, auth, env)
    }

    async fn test(&self, client: &GcsClient, probe: &mut Probe) -> Result<(), ConnectorError> {
        steps::run(client, probe).await
    }

    async fn upload(
        &self,
        client: &GcsClient,
        batch: &Batch,
        file: &PlannedFile,
    ) -> Result<Delivered, ConnectorError> {
        upload::upload(client, batch, file).await
    }
}

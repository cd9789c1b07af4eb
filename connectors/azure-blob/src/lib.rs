//! The `azure_blob` destination: each batch becomes one block blob (or several, split within
//! the cap) in the chosen format and compression, under a name derived from the batch id
//! (crate README below).
//!
//! # Example
//!
//! A host checks a destination's JSON before it builds one; validation is pure, so this touches
//! no network:
//!
//! ```
//! use courier_connector_azure_blob::AzureBlob;
//! use courier_core::{DestinationSpec, DynConnector};
//! use serde_json::json;
//!
//! let mut spec = DestinationSpec {
//!     destination_id: "dest_1".into(),
//!     config: json!({
//!         "account": "acmeexports",
//!         "container": "courier",
//!         "prefix": "events/",
//!         "format": "ndjson",
//!         "compression": "gzip",
//!     }),
//!     auth_config: json!({"account_key": "ZXhhbXBsZS1hY2NvdW50LWtleQ=="}),
//!     ..DestinationSpec::default()
//! };
//! assert!(AzureBlob.validate(&spec).is_empty());
//!
//! // Each problem is reported at the JSON path of its field, ready to show beside it.
//! spec.config["container"] = json!("Courier_Exports");
//! let errors = AzureBlob.validate(&spec);
//! assert_eq!(errors.len(), 1);
//! assert_eq!(errors[0].path, "/config/container");
//! ```
//!
//! A valid spec then goes to [`DynConnector::build`](courier_core::DynConnector::build), which
//! returns a destination to test and deliver batches to.
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod client;
pub mod config;
pub mod connection_string;
mod errors;
pub mod shared_key;
mod steps;
mod transport;
mod upload;

use courier_core::{
    Batch, Capabilities, Category, ConnectorError, ConnectorMeta, Delivered, Endpoint, Env,
    Example, Probe,
};
use courier_files::{FileConnector, Files, PlannedFile};

use crate::connection_string::ConnectionString;

pub use client::{AzureBlobClient, AzureBlobRemote};
pub use config::{AzureBlobAuth, AzureBlobConfig};

/// The `azure_blob` destination type: [`AzureBlobFiles`] as a connector.
pub type AzureBlob = Files<AzureBlobFiles>;
/// The `azure_blob` destination, as hosts register it:
/// `catalog.add(courier_connector_azure_blob::AzureBlob)`.
#[allow(non_upper_case_globals)] // the value shares the connector's name, as a unit struct's would
pub const AzureBlob: AzureBlob = Files(AzureBlobFiles);

/// What makes Azure Blob Storage a file destination: its client, connection test and upload.
#[derive(Debug, Clone, Copy, Default)]
pub struct AzureBlobFiles;

static META: ConnectorMeta = ConnectorMeta {
    type_id: "azure_blob",
    label: "Azure Blob Storage",
    description: "Writes each batch as a block blob (JSON, NDJSON or CSV; optionally gzip or zstd) to an Azure Storage container.",
    category: Category::ObjectStorage,
    capabilities: Capabilities {
        // A block blob holds up to 50,000 blocks of 100 MiB at the largest block size offered.
        max_payload_bytes: 50_000 * 100 * 1024 * 1024,
        ..Capabilities::DEFAULT
    },
    test_steps: steps::STEPS,
    examples: &[
        Example {
            name: "Gzipped NDJSON with the account key",
            config: r#"{"account":"acmeexports","container":"courier","prefix":"events/","format":"ndjson","compression":"gzip"}"#,
            auth_config: r#"{"account_key":"ZXhhbXBsZS1hY2NvdW50LWtleQ=="}"#,
        },
        Example {
            name: "CSV in the Cool tier with a service principal",
            config: r#"{"account":"acmeexports","container":"courier","format":"csv","columns":["id","email"],"access_tier":"Cool","key_template":"{yyyy}/{mm}/{dd}/{batch_id}.{ext}"}"#,
            auth_config: r#"{"tenant_id":"contoso.onmicrosoft.com","client_id":"00000000-0000-0000-0000-000000000000","client_secret":"<secret>"}"#,
        },
        Example {
            name: "Container SAS",
            config: r#"{"account":"acmeexports","container":"courier"}"#,
            auth_config: r#"{"sas_token":"sv=2024-11-04&sr=c&sp=cw&se=2027-01-01T00:00:00Z&sig=<signature>"}"#,
        },
    ],
    docs_url: None,
};

#[async_trait::async_trait]
impl FileConnector for AzureBlobFiles {
    type Config = AzureBlobConfig;
    type Auth = AzureBlobAuth;
    type Remote = AzureBlobRemote;

    fn metadata(&self) -> &'static ConnectorMeta {
        &META
    }

    fn endpoints(&self, config: &AzureBlobConfig, auth: &AzureBlobAuth) -> Vec<Endpoint> {
        // The blob service: the config's endpoint, else the connection string's (its
        // BlobEndpoint, or built from its suffix, or the emulator's), else the public cloud's.
        // A connection string's endpoint is declared even when the config's overrides it: it
        // is what the string says, and it must not name a host the operator forbids either.
        let from_string = auth
            .connection_string
            .as_ref()
            .and_then(|cs| ConnectionString::parse(cs.expose()).ok())
            .and_then(|cs| cs.blob_endpoint)
            .and_then(|url| Endpoint::url("/auth_config/connection_string", &url));
        let blob = match (&config.endpoint, &from_string) {
            (Some(url), _) => Endpoint::url("/config/endpoint", url),
            (None, Some(_)) => None,
            (None, None) => Endpoint::url(
                "/config/account",
                &format!("https://{}.blob.core.windows.net", config.account),
            ),
        };
        // A service principal also signs in at its authority.
        let authority = auth
            .tenant_id
            .as_ref()
            .and_then(|_| match &auth.authority_host {
                Some(url) => Endpoint::url("/auth_config/authority_host", url),
                None => Endpoint::url(
                    "/auth_config/tenant_id",
                    "https://login.microsoftonline.com",
                ),
            });
        blob.into_iter()
            .chain(from_string)
            .chain(authority)
            .collect()
    }

    async fn connect(
        &self,
        config: &AzureBlobConfig,
        auth: AzureBlobAuth,
        env: &Env,
    ) -> Result<AzureBlobRemote, ConnectorError> {
        AzureBlobRemote::new(config, auth, env)
    }

    async fn test(
        &self,
        client: &AzureBlobClient,
        probe: &mut Probe,
    ) -> Result<(), ConnectorError> {
        steps::run(client, probe).await
    }

    async fn upload(
        &self,
        client: &AzureBlobClient,
        batch: &Batch,
        file: &PlannedFile,
    ) -> Result<Delivered, ConnectorError> {
        upload::upload(client, batch, file).await
    }
}

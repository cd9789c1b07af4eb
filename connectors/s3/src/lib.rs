//! The `s3` destination: each batch becomes one object (or several, split within the cap) in
//! the chosen format and compression, under a key derived from the batch id (crate README below).
//!
//! # Example
//!
//! A host checks a destination's JSON before it builds one; validation is pure, so this touches
//! no network:
//!
//! ```
//! use courier_connector_s3::S3;
//! use courier_core::{DestinationSpec, DynConnector};
//! use serde_json::json;
//!
//! let mut spec = DestinationSpec {
//!     destination_id: "dest_1".into(),
//!     config: json!({
//!         "bucket": "acme-exports",
//!         "region": "us-east-1",
//!         "prefix": "courier/",
//!         "format": "ndjson",
//!         "compression": "gzip",
//!     }),
//!     auth_config: json!({
//!         "access_key_id": "AKIAIOSFODNN7EXAMPLE",
//!         "secret_access_key": "<secret>",
//!     }),
//!     ..DestinationSpec::default()
//! };
//! assert!(S3.validate(&spec).is_empty());
//!
//! // Each problem is reported at the JSON path of its field, ready to show beside it.
//! spec.config["region"] = json!("US East");
//! let errors = S3.validate(&spec);
//! assert_eq!(errors.len(), 1);
//! assert_eq!(errors[0].path, "/config/region");
//! ```
//!
//! A valid spec then goes to [`DynConnector::build`](courier_core::DynConnector::build), which
//! connects and returns a destination to test and deliver batches to.
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

pub use client::{S3Client, S3Remote};
pub use config::{S3Auth, S3Config};

/// The `s3` destination type: [`S3Files`] as a connector.
pub type S3 = Files<S3Files>;
/// The `s3` destination, as hosts register it: `catalog.add(courier_connector_s3::S3)`.
pub const S3: S3 = Files(S3Files);

/// What makes S3 a file destination: its client, connection test and upload.
#[derive(Debug, Clone, Copy, Default)]
pub struct S3Files;

static META: ConnectorMeta = ConnectorMeta {
    type_id: "s3",
    label: "Amazon S3",
    description: "Writes each batch as a file (JSON, NDJSON or CSV; optionally gzip or zstd) to an S3 bucket or an S3-compatible store.",
    category: Category::ObjectStorage,
    capabilities: Capabilities {
        // S3's object limit is 5 TiB; the cap bounds what one delivery may write.
        max_payload_bytes: 5 * 1024 * 1024 * 1024 * 1024,
        // Without access_key_id the AWS default chain is used: the host's own identity.
        ambient_credentials: Some("access_key_id"),
        ..Capabilities::DEFAULT
    },
    test_steps: steps::STEPS,
    examples: &[
        Example {
            name: "Gzipped NDJSON with access keys",
            config: r#"{"bucket":"acme-exports","region":"us-east-1","prefix":"courier/","format":"ndjson","compression":"gzip"}"#,
            auth_config: r#"{"access_key_id":"AKIAIOSFODNN7EXAMPLE","secret_access_key":"<secret>"}"#,
        },
        Example {
            name: "CSV with an assumed role and SSE-KMS",
            config: r#"{"bucket":"acme-exports","region":"eu-west-1","format":"csv","columns":["id","email","user.name"],"server_side_encryption":"aws:kms","kms_key_id":"alias/exports","key_template":"{yyyy}/{mm}/{dd}/{batch_id}.{ext}"}"#,
            auth_config: r#"{"role_arn":"arn:aws:iam::123456789012:role/courier-writer","external_id":"acme-7f3a"}"#,
        },
    ],
    docs_url: None,
};

#[courier_core::async_trait]
impl FileConnector for S3Files {
    type Config = S3Config;
    type Auth = S3Auth;
    type Remote = S3Remote;

    fn metadata(&self) -> &'static ConnectorMeta {
        &META
    }

    fn endpoints(&self, config: &S3Config, auth: &S3Auth) -> Vec<Endpoint> {
        let mut found = auth.endpoints(&config.region);
        let (path, base) = match &config.endpoint_url {
            Some(url) => ("/config/endpoint_url", url.clone()),
            None => (
                "/config/region",
                format!("https://s3.{}.amazonaws.com", config.region),
            ),
        };
        found.extend(Endpoint::url(path, &base));
        // Virtual-hosted addressing sends requests to `{bucket}.{endpoint host}`.
        if !config.force_path_style {
            found.extend(Endpoint::subdomain(path, &config.bucket, &base));
        }
        found
    }

    async fn connect(
        &self,
        config: &S3Config,
        auth: S3Auth,
        env: &Env,
    ) -> Result<S3Remote, ConnectorError> {
        S3Remote::new(config, auth, env).await
    }

    async fn test(&self, client: &S3Client, probe: &mut Probe) -> Result<(), ConnectorError> {
        steps::run(client, probe).await
    }

    async fn upload(
        &self,
        client: &S3Client,
        batch: &Batch,
        file: &PlannedFile,
    ) -> Result<Delivered, ConnectorError> {
        upload::upload(client, batch, file).await
    }
}

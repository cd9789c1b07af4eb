//! The `sftp` destination: each batch becomes one file (or several, split within the cap) in a
//! directory on an SSH server, written under a temporary name and renamed into place (crate
//! README below).
//!
//! # Example
//!
//! A host checks a destination's JSON before it builds one; validation is pure, so this touches
//! no network:
//!
//! ```
//! use courier_connector_sftp::Sftp;
//! use courier_core::{DestinationSpec, DynConnector};
//! use serde_json::json;
//!
//! let private_key =
//!     "-----BEGIN OPENSSH PRIVATE KEY-----\n<key>\n-----END OPENSSH PRIVATE KEY-----\n";
//! let mut spec = DestinationSpec {
//!     destination_id: "dest_1".into(),
//!     config: json!({
//!         "host": "sftp.example.com",
//!         "username": "courier",
//!         "directory": "/upload/courier",
//!         "file_name_template": "{yyyy}/{mm}/{dd}/{batch_id}.{ext}",
//!         "create_directories": true,
//!         "format": "ndjson",
//!         "compression": "gzip",
//!         "host_key_fingerprint": "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
//!     }),
//!     auth_config: json!({"private_key": private_key, "passphrase": "<passphrase>"}),
//!     ..DestinationSpec::default()
//! };
//! assert!(Sftp.validate(&spec).is_empty());
//!
//! // Each problem is reported at the JSON path of its field, ready to show beside it.
//! let md5 = "MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48"; // only SHA-256 is accepted
//! spec.config["host_key_fingerprint"] = json!(md5);
//! let errors = Sftp.validate(&spec);
//! assert_eq!(errors.len(), 1);
//! assert_eq!(errors[0].path, "/config/host_key_fingerprint");
//! ```
//!
//! A valid spec then goes to [`DynConnector::build`](courier_core::DynConnector::build), which
//! returns a destination to test and deliver batches to (connections open on first use).
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod client;
pub mod config;
mod errors;
mod pool;
mod session;
mod steps;
mod upload;

use courier_core::{
    Batch, Capabilities, Category, ConnectorError, ConnectorMeta, Delivered, Endpoint, Env,
    Example, Probe,
};
use courier_files::{FileConnector, Files, PlannedFile};

pub use client::{SftpClient, SftpRemote};
pub use config::{HostKeyCheck, SftpAuth, SftpConfig};
pub use upload::temporary_path;

/// The `sftp` destination type: [`SftpFiles`] as a connector.
pub type Sftp = Files<SftpFiles>;
/// The `sftp` destination, as hosts register it: `catalog.add(courier_connector_sftp::Sftp)`.
#[allow(non_upper_case_globals)] // the value shares the connector's name, as a unit struct's would
pub const Sftp: Sftp = Files(SftpFiles);

/// What makes SFTP a file destination: its connections, connection test and upload.
#[derive(Debug, Clone, Copy, Default)]
pub struct SftpFiles;

static META: ConnectorMeta = ConnectorMeta {
    type_id: "sftp",
    label: "SFTP",
    description: "Writes each batch as a file (JSON, NDJSON or CSV; optionally gzip or zstd) into a directory on an SFTP server, atomically.",
    category: Category::FileTransfer,
    capabilities: Capabilities {
        // SFTP has no file size limit; this bounds what one delivery may write.
        max_payload_bytes: 64 * 1024 * 1024 * 1024,
        ..Capabilities::DEFAULT
    },
    test_steps: steps::STEPS,
    examples: &[
        Example {
            name: "Gzipped NDJSON with a key, into dated folders",
            config: r#"{"host":"sftp.example.com","username":"courier","directory":"/upload/courier","file_name_template":"{yyyy}/{mm}/{dd}/{batch_id}.{ext}","create_directories":true,"format":"ndjson","compression":"gzip","host_key_fingerprint":"SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"}"#,
            auth_config: r#"{"private_key":"-----BEGIN OPENSSH PRIVATE KEY-----\n<key>\n-----END OPENSSH PRIVATE KEY-----\n","passphrase":"<passphrase>"}"#,
        },
        Example {
            name: "CSV with a password, host key pinned on first use",
            config: r#"{"host":"files.partner.example","port":2222,"username":"acme","directory":"inbound","format":"csv","columns":["id","email"],"host_key_check":"accept_new"}"#,
            auth_config: r#"{"password":"<password>"}"#,
        },
    ],
    docs_url: None,
};

#[async_trait::async_trait]
impl FileConnector for SftpFiles {
    type Config = SftpConfig;
    type Auth = SftpAuth;
    type Remote = SftpRemote;

    fn metadata(&self) -> &'static ConnectorMeta {
        &META
    }

    fn endpoints(&self, config: &SftpConfig, _: &SftpAuth) -> Vec<Endpoint> {
        Endpoint::host("/config/host", &config.host, Some(config.port))
            .into_iter()
            .collect()
    }

    async fn connect(
        &self,
        config: &SftpConfig,
        auth: SftpAuth,
        env: &Env,
    ) -> Result<SftpRemote, ConnectorError> {
        Ok(SftpRemote::new(config, auth, env))
    }

    async fn test(&self, client: &SftpClient, probe: &mut Probe) -> Result<(), ConnectorError> {
        steps::run(client, probe).await
    }

    async fn upload(
        &self,
        client: &SftpClient,
        batch: &Batch,
        file: &PlannedFile,
    ) -> Result<Delivered, ConnectorError> {
        upload::upload(client, batch, file).await
    }
}

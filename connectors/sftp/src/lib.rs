//! The `sftp` destination: each batch becomes one file (or several, split within the cap) in a
//! directory on an SSH server, written under a temporary name and renamed into place (crate
//! README below).
#![doc = include_str!("../README.md")]

mod client;
pub mod config;
mod errors;
mod pool;
mod session;
mod steps;
mod upload;

use courier_core::{
    Batch, BatchOutcome, Capabilities, Category, Connector, ConnectorError, ConnectorMeta,
    Endpoint, Env, Example, Field, Probe,
};
use courier_files::deliver_files;

pub use client::SftpClient;
pub use config::{HostKeyCheck, SftpAuth, SftpConfig};
pub use upload::temporary_path;

/// The `sftp` destination type.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sftp;

static META: ConnectorMeta = ConnectorMeta {
    type_id: "sftp",
    label: "SFTP",
    description: "Writes each batch as a file (JSON, NDJSON or CSV; optionally gzip or zstd) into a directory on an SFTP server, atomically.",
    category: Category::FileTransfer,
    capabilities: Capabilities {
        max_batch_records: None,
        // SFTP has no file size limit; this bounds what one delivery may write.
        max_payload_bytes: 64 * 1024 * 1024 * 1024,
        signing: None,
        oauth: None,
        idempotent_redelivery: true,
        remote_fields: false,
        ambient_credentials: None,
        write_only_config: &[],
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
impl Connector for Sftp {
    type Config = SftpConfig;
    type Auth = SftpAuth;
    type Client = SftpClient;

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
        config: SftpConfig,
        auth: SftpAuth,
        env: &Env,
    ) -> Result<SftpClient, ConnectorError> {
        // No I/O here: the first delivery or the connection test logs in.
        SftpClient::new(
            config,
            auth,
            env.destination_id.clone(),
            env.payload_cap,
            env.allow_private_network,
        )
    }

    async fn test(&self, client: &SftpClient, probe: &mut Probe) -> Result<(), ConnectorError> {
        steps::run(client, probe).await
    }

    async fn describe_fields(&self, client: &SftpClient) -> Result<Vec<Field>, ConnectorError> {
        Ok(client.config().layout.fields())
    }

    async fn deliver(&self, client: &SftpClient, batch: &Batch) -> BatchOutcome {
        let shared = &client.shared;
        deliver_files(
            batch,
            &shared.config.layout,
            &shared.template,
            shared.cap,
            &shared.destination_id,
            |file| async move { upload::upload(client, batch, &file).await },
        )
        .await
    }
}

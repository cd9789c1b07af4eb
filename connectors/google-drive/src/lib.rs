//! The `google_drive` destination: each batch becomes one file (or several, split within the
//! cap) in a Google Drive folder, through Drive API v3 with OAuth (crate README below).
//!
//! # Example
//!
//! A host checks a destination's JSON before it builds one, and reads how to run the OAuth flow
//! for it; neither touches the network:
//!
//! ```
//! use courier_connector_google_drive::GoogleDrive;
//! use courier_core::{DestinationSpec, DynConnector};
//! use serde_json::json;
//!
//! let mut spec = DestinationSpec {
//!     destination_id: "dest_1".into(),
//!     config: json!({
//!         "folder_id": "1AbCdEfGhIjKlMnOpQrStUvWxYz012345",
//!         "file_name_template": "events-{yyyy}-{mm}-{dd}-{batch_id}.{ext}",
//!         "format": "ndjson",
//!     }),
//!     auth_config: json!({
//!         "client_id": "1234567890-abc.apps.googleusercontent.com",
//!         "client_secret": "<client secret>",
//!         "refresh_token": "<refresh token>",
//!     }),
//!     ..DestinationSpec::default()
//! };
//! assert!(GoogleDrive.validate(&spec).is_empty());
//!
//! // Where to send a person for consent, and where tokens are exchanged.
//! let oauth = GoogleDrive.oauth_client(&spec).unwrap().expect("Drive uses OAuth");
//! assert_eq!(oauth.provider, "google");
//! assert_eq!(oauth.token_url, "https://oauth2.googleapis.com/token");
//!
//! // Each problem is reported at the JSON path of its field, ready to show beside it.
//! spec.config["file_name_template"] = json!("{yyyy}/{batch_id}.{ext}"); // Drive names are flat
//! let errors = GoogleDrive.validate(&spec);
//! assert_eq!(errors.len(), 1);
//! assert_eq!(errors[0].path, "/config/file_name_template");
//! ```
//!
//! A valid spec then goes to [`DynConnector::build`](courier_core::DynConnector::build), which
//! returns a destination to test and deliver batches to; with the host's token store in
//! `DestinationSpec::token_store`, refreshed tokens are saved there.
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod client;
pub mod config;
mod errors;
mod resumable;
mod steps;
mod upload;

use courier_core::{
    Batch, Capabilities, Category, ConnectorError, ConnectorMeta, Delivered, Endpoint, Env,
    Example, OAuthClient, OAuthNeeds, Probe,
};
use courier_files::{FileConnector, Files, PlannedFile};

pub use client::{DriveClient, DriveRemote};
pub use config::{ConflictPolicy, GoogleDriveAuth, GoogleDriveConfig};
pub use upload::MULTIPART_LIMIT;

/// The `google_drive` destination type: [`GoogleDriveFiles`] as a connector.
pub type GoogleDrive = Files<GoogleDriveFiles>;
/// The `google_drive` destination, as hosts register it:
/// `catalog.add(courier_connector_google_drive::GoogleDrive)`.
#[allow(non_upper_case_globals)] // the value shares the connector's name, as a unit struct's would
pub const GoogleDrive: GoogleDrive = Files(GoogleDriveFiles);

/// What makes Google Drive a file destination: its client, OAuth, connection test and upload.
#[derive(Debug, Clone, Copy, Default)]
pub struct GoogleDriveFiles;

static META: ConnectorMeta = ConnectorMeta {
    type_id: "google_drive",
    label: "Google Drive",
    description: "Writes each batch as a file (JSON, NDJSON or CSV, optionally as a Google Sheet; gzip or zstd) into a Google Drive folder, with OAuth.",
    category: Category::FileSharing,
    capabilities: Capabilities {
        // Drive's own limit for one file is 5 TB; this bounds what one delivery may write.
        max_payload_bytes: 5 * 1024 * 1024 * 1024,
        oauth: Some(OAuthNeeds {
            provider: "google",
            scopes: &["https://www.googleapis.com/auth/drive.file"],
        }),
        ..Capabilities::DEFAULT
    },
    test_steps: steps::STEPS,
    examples: &[
        Example {
            name: "Daily NDJSON files in a folder, replaced on retry",
            config: r#"{"folder_id":"1AbCdEfGhIjKlMnOpQrStUvWxYz012345","file_name_template":"events-{yyyy}-{mm}-{dd}-{batch_id}.{ext}","format":"ndjson"}"#,
            auth_config: r#"{"client_id":"1234567890-abc.apps.googleusercontent.com","client_secret":"<client secret>","refresh_token":"<refresh token>"}"#,
        },
        Example {
            name: "CSV converted to Google Sheets",
            config: r#"{"folder_path":"Exports/Courier","format":"csv","columns":["id","email","plan"],"convert_to_google_sheets":true,"conflict_policy":"keep_both"}"#,
            auth_config: r#"{"client_id":"1234567890-abc.apps.googleusercontent.com","client_secret":"<client secret>"}"#,
        },
    ],
    docs_url: Some("https://developers.google.com/drive/api/guides/manage-uploads"),
};

#[async_trait::async_trait]
impl FileConnector for GoogleDriveFiles {
    type Config = GoogleDriveConfig;
    type Auth = GoogleDriveAuth;
    type Remote = DriveRemote;

    fn metadata(&self) -> &'static ConnectorMeta {
        &META
    }

    fn endpoints(&self, config: &GoogleDriveConfig, auth: &GoogleDriveAuth) -> Vec<Endpoint> {
        let oauth = auth.provider().endpoints(
            auth.token_url.is_some(),
            auth.authorization_url.is_some(),
            "/auth_config/client_id",
        );
        Endpoint::url("/config/api_base_url", &config.api_base_url)
            .into_iter()
            .chain(oauth)
            .collect()
    }

    fn oauth_client(&self, auth: &GoogleDriveAuth) -> Option<OAuthClient> {
        Some(
            auth.provider()
                .client(&auth.client_id, Some(&auth.client_secret)),
        )
    }

    async fn connect(
        &self,
        config: &GoogleDriveConfig,
        auth: GoogleDriveAuth,
        env: &Env,
    ) -> Result<DriveRemote, ConnectorError> {
        // No I/O: the token is loaded or refreshed on first use.
        DriveRemote::new(config, auth, env)
    }

    async fn test(&self, client: &DriveClient, probe: &mut Probe) -> Result<(), ConnectorError> {
        steps::run(client, probe).await
    }

    async fn upload(
        &self,
        client: &DriveClient,
        batch: &Batch,
        file: &PlannedFile,
    ) -> Result<Delivered, ConnectorError> {
        upload::upload(client, batch, file).await
    }
}

//! The `onedrive` destination: each batch becomes one file (or several, split within the cap)
//! in a OneDrive or SharePoint folder, through Microsoft Graph with OAuth (crate README below).
//!
//! # Example
//!
//! A host checks a destination's JSON before it builds one, and reads how to run the OAuth flow
//! for it; neither touches the network:
//!
//! ```
//! use courier_connector_onedrive::OneDrive;
//! use courier_core::{DestinationSpec, DynConnector};
//! use serde_json::json;
//!
//! let mut spec = DestinationSpec {
//!     destination_id: "dest_1".into(),
//!     config: json!({
//!         "folder_path": "Exports/Courier",
//!         "file_name_template": "events-{yyyy}{mm}{dd}-{batch_id}.{ext}",
//!         "format": "ndjson",
//!         "compression": "gzip",
//!     }),
//!     auth_config: json!({
//!         "client_id": "00000000-0000-0000-0000-000000000000",
//!         "client_secret": "<client secret>",
//!         "refresh_token": "<refresh token>",
//!         "tenant": "contoso.onmicrosoft.com",
//!     }),
//!     ..DestinationSpec::default()
//! };
//! assert!(OneDrive.validate(&spec).is_empty());
//!
//! // Where to send a person for consent, and where tokens are exchanged.
//! let oauth = OneDrive.oauth_client(&spec).unwrap().expect("OneDrive uses OAuth");
//! assert_eq!(oauth.provider, "microsoft");
//! assert_eq!(
//!     oauth.token_url,
//!     "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
//! );
//!
//! // Each problem is reported at the JSON path of its field, ready to show beside it.
//! spec.auth_config["tenant"] = json!("Contoso Ltd");
//! let errors = OneDrive.validate(&spec);
//! assert_eq!(errors.len(), 1);
//! assert_eq!(errors[0].path, "/auth_config/tenant");
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
mod session;
mod steps;
mod upload;

use courier_core::{
    Batch, Capabilities, Category, ConnectorError, ConnectorMeta, Delivered, Endpoint, Env,
    Example, OAuthClient, OAuthNeeds, Probe,
};
use courier_files::{FileConnector, Files, PlannedFile};

pub use client::{GraphClient, GraphRemote};
pub use config::{ConflictBehavior, OneDriveAuth, OneDriveConfig};
pub use upload::SIMPLE_LIMIT;

/// The `onedrive` destination type: [`OneDriveFiles`] as a connector.
pub type OneDrive = Files<OneDriveFiles>;
/// The `onedrive` destination, as hosts register it:
/// `catalog.add(courier_connector_onedrive::OneDrive)`.
#[allow(non_upper_case_globals)] // the value shares the connector's name, as a unit struct's would
pub const OneDrive: OneDrive = Files(OneDriveFiles);

/// What makes OneDrive a file destination: its client, OAuth, connection test and upload.
#[derive(Debug, Clone, Copy, Default)]
pub struct OneDriveFiles;

static META: ConnectorMeta = ConnectorMeta {
    type_id: "onedrive",
    label: "OneDrive",
    description: "Writes each batch as a file (JSON, NDJSON or CSV; optionally gzip or zstd) into a OneDrive or SharePoint folder through Microsoft Graph, with OAuth.",
    category: Category::FileSharing,
    capabilities: Capabilities {
        // OneDrive's own limit for one file is 250 GB; this bounds what one delivery may write.
        max_payload_bytes: 5 * 1024 * 1024 * 1024,
        oauth: Some(OAuthNeeds {
            provider: "microsoft",
            scopes: &["Files.ReadWrite", "offline_access"],
        }),
        ..Capabilities::DEFAULT
    },
    test_steps: steps::STEPS,
    examples: &[
        Example {
            name: "NDJSON into a folder of the user's OneDrive",
            config: r#"{"folder_path":"Exports/Courier","file_name_template":"events-{yyyy}{mm}{dd}-{batch_id}.{ext}","format":"ndjson","compression":"gzip"}"#,
            auth_config: r#"{"client_id":"00000000-0000-0000-0000-000000000000","client_secret":"<client secret>","refresh_token":"<refresh token>","tenant":"contoso.onmicrosoft.com"}"#,
        },
        Example {
            name: "CSV into a SharePoint site's library, never overwriting",
            config: r#"{"drive_id":"sites/contoso.sharepoint.com,2C712604-1370-44E7-A1F5-426573FDA80A,2D2244C3-251A-49EA-93A8-39E1C3A060FE","folder_path":"Shared Documents/Imports","format":"csv","columns":["id","email"],"conflict_behavior":"rename"}"#,
            auth_config: r#"{"client_id":"00000000-0000-0000-0000-000000000000","client_secret":"<client secret>","tenant":"organizations"}"#,
        },
    ],
    docs_url: Some("https://learn.microsoft.com/graph/api/driveitem-createuploadsession"),
};

#[async_trait::async_trait]
impl FileConnector for OneDriveFiles {
    type Config = OneDriveConfig;
    type Auth = OneDriveAuth;
    type Remote = GraphRemote;

    fn metadata(&self) -> &'static ConnectorMeta {
        &META
    }

    fn endpoints(&self, config: &OneDriveConfig, auth: &OneDriveAuth) -> Vec<Endpoint> {
        let oauth = auth.provider().endpoints(
            auth.token_url.is_some(),
            auth.authorization_url.is_some(),
            "/auth_config/tenant",
        );
        Endpoint::url("/config/graph_base_url", &config.graph_base_url)
            .into_iter()
            .chain(oauth)
            .collect()
    }

    fn oauth_client(&self, auth: &OneDriveAuth) -> Option<OAuthClient> {
        Some(
            auth.provider()
                .client(&auth.client_id, auth.client_secret.as_ref()),
        )
    }

    async fn connect(
        &self,
        config: &OneDriveConfig,
        auth: OneDriveAuth,
        env: &Env,
    ) -> Result<GraphRemote, ConnectorError> {
        // No I/O: the token is loaded or refreshed on first use.
        GraphRemote::new(config, auth, env)
    }

    async fn test(&self, client: &GraphClient, probe: &mut Probe) -> Result<(), ConnectorError> {
        steps::run(client, probe).await
    }

    async fn upload(
        &self,
        client: &GraphClient,
        batch: &Batch,
        file: &PlannedFile,
    ) -> Result<Delivered, ConnectorError> {
        upload::upload(client, batch, file).await
    }
}

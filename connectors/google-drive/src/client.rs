//! `DriveClient`: the destination's config and name template around a [`DriveRemote`], its
//! OAuth-signed HTTP client and the Drive API calls the test steps and uploads share
//! (account, folder, lookup by name).

use std::sync::Arc;
use std::time::Duration;

use courier_core::{ConnectorError, Env, ErrorKind};
use courier_files::{FileClient, Op};
use courier_oauth::{BearerClient, OAuthApp, seed_tokens};
use serde_json::Value;

use crate::config::{GoogleDriveAuth, GoogleDriveConfig};
use crate::errors::{SERVICE, from_response};

pub const FOLDER_MIME: &str = "application/vnd.google-apps.folder";

/// A configured Drive destination: config, name template and the Drive side.
pub type DriveClient = FileClient<crate::GoogleDriveFiles>;

/// The Drive side of a [`DriveClient`]. Debug shows no token or secret.
#[derive(Debug)]
pub struct DriveRemote {
    pub(crate) api: BearerClient,
    pub(crate) base: String,
    /// The folder for messages: `folder_id`, or `folder_id/folder_path`.
    pub(crate) folder_label: String,
    /// `folder_id` and `folder_path` as configured, for [`DriveRemote::folder_id`].
    folder_id: String,
    folder_path: Option<String>,
    /// The folder's id once `folder_path` is resolved (once per client).
    resolved: tokio::sync::OnceCell<String>,
}

/// What the folder check found.
#[derive(Debug)]
pub struct Folder {
    pub name: String,
    pub writable: bool,
}

impl DriveRemote {
    /// Builds the OAuth-signed client without I/O. Tokens come from the host's token store
    /// once it holds any, else from auth_config; refreshed ones are saved to the host's store
    /// (an in-memory one when the host has none). One request may take up to 5 minutes;
    /// `folder_path` is resolved on first use.
    pub fn new(
        config: &GoogleDriveConfig,
        auth: GoogleDriveAuth,
        env: &Env,
    ) -> Result<Self, ConnectorError> {
        let app = OAuthApp::for_refresh(
            auth.provider(),
            &auth.client_id,
            Some(&auth.client_secret),
            env.allow_private_network,
        )?;
        let seed = seed_tokens(auth.access_token.as_ref(), auth.refresh_token.as_ref());
        let api = BearerClient::new(
            SERVICE,
            Arc::new(app),
            env.token_store.clone(),
            seed,
            &env.destination_id,
            // Bounds one request (a chunk, at most 64 MiB); the runtime bounds the delivery.
            Duration::from_secs(300),
            env.allow_private_network,
        )?;
        let folder_label = match &config.folder_path {
            Some(path) => format!("{}/{}", config.folder_id, path.trim_matches('/')),
            None => config.folder_id.clone(),
        };
        Ok(DriveRemote {
            api,
            base: config.api_base_url.trim_end_matches('/').to_string(),
            folder_label,
            folder_id: config.folder_id.clone(),
            folder_path: config.folder_path.clone(),
            resolved: tokio::sync::OnceCell::new(),
        })
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// What `action` was done to, for messages: the folder.
    pub(crate) fn op(&self, action: &'static str) -> Op<'static> {
        Op::new(SERVICE, action, format!("folder {}", self.folder_label))
    }

    /// GETs a Drive API path, answering its JSON or the classified error.
    pub(crate) async fn get_json(
        &self,
        action: &'static str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Value, ConnectorError> {
        let url = url::Url::parse_with_params(&self.url(path), query).map_err(|_| {
            ConnectorError::new(
                ErrorKind::InvalidConfig,
                "api_base_url does not make a valid URL",
                "correct api_base_url",
            )
        })?;
        let response = self
            .api
            .send(|http, token| http.get(url.clone()).bearer_auth(token))
            .await?;
        if !response.status().is_success() {
            return Err(from_response(&self.op(action), response).await);
        }
        let text = courier_oauth::body::json_text(SERVICE, action, response).await?;
        serde_json::from_str(&text).map_err(|_| {
            ConnectorError::new(
                ErrorKind::Unavailable,
                format!("Google Drive answered {action} with something that is not JSON"),
                "check api_base_url",
            )
        })
    }

    /// The signed-in account: `Name <email>`.
    pub async fn account(&self) -> Result<String, ConnectorError> {
        let v = self
            .get_json(
                "identify the account",
                "/drive/v3/about",
                &[("fields", "user(displayName,emailAddress)")],
            )
            .await?;
        let user = &v["user"];
        Ok(format!(
            "{} <{}>",
            user["displayName"].as_str().unwrap_or("?"),
            user["emailAddress"].as_str().unwrap_or("?")
        ))
    }

    /// The id of the folder files go to: `folder_id`, or the folder `folder_path` names under
    /// it, looked up one name at a time the first time it is needed.
    pub async fn folder_id(&self) -> Result<&str, ConnectorError> {
        let Some(path) = &self.folder_path else {
            return Ok(&self.folder_id);
        };
        self.resolved
            .get_or_try_init(|| async {
                let mut parent = self.folder_id.clone();
                for name in path.trim_matches('/').split('/') {
                    let q = format!(
                        "name = '{}' and '{}' in parents and mimeType = '{FOLDER_MIME}' and trashed = false",
                        escape(name),
                        escape(&parent)
                    );
                    let v = self
                        .get_json(
                            "look up a folder of folder_path",
                            "/drive/v3/files",
                            &[
                                ("q", q.as_str()),
                                ("fields", "files(id)"),
                                ("pageSize", "10"),
                                ("supportsAllDrives", "true"),
                                ("includeItemsFromAllDrives", "true"),
                            ],
                        )
                        .await?;
                    let found = v["files"].as_array().cloned().unwrap_or_default();
                    if found.len() > 1 {
                        return Err(ConnectorError::new(
                            ErrorKind::InvalidConfig,
                            format!(
                                "folder_path {path} is ambiguous: {} folders are named \"{name}\" there",
                                found.len()
                            ),
                            "rename one of them, or set folder_id to the folder's id instead",
                        ));
                    }
                    parent = found
                        .first()
                        .and_then(|f| f["id"].as_str())
                        .ok_or_else(|| {
                            ConnectorError::new(
                                ErrorKind::NotFound,
                                format!("there is no folder \"{name}\" on folder_path {path}"),
                                "create the folders of folder_path in Drive, or correct it",
                            )
                        })?
                        .to_string();
                }
                Ok(parent)
            })
            .await
            .map(String::as_str)
    }

    /// The configured folder: it must exist, be a folder, not be trashed.
    pub async fn folder(&self) -> Result<Folder, ConnectorError> {
        let id = self.folder_id().await?;
        let v = self
            .get_json(
                "look up the folder",
                &format!("/drive/v3/files/{id}"),
                &[
                    (
                        "fields",
                        "id,name,mimeType,trashed,capabilities(canAddChildren)",
                    ),
                    ("supportsAllDrives", "true"),
                ],
            )
            .await?;
        if v["mimeType"].as_str() != Some(FOLDER_MIME) || v["trashed"].as_bool() == Some(true) {
            return Err(ConnectorError::new(
                ErrorKind::NotFound,
                format!("Drive item {id} is not a folder (or is in the trash)"),
                "set folder_id to a folder's id (the last part of the folder's URL)",
            ));
        }
        Ok(Folder {
            name: v["name"].as_str().unwrap_or_default().to_string(),
            writable: v["capabilities"]["canAddChildren"].as_bool() == Some(true),
        })
    }

    /// The id of a file named `name` in the folder, if there is one.
    pub async fn find(&self, name: &str) -> Result<Option<String>, ConnectorError> {
        let q = format!(
            "name = '{}' and '{}' in parents and trashed = false",
            escape(name),
            escape(self.folder_id().await?)
        );
        let v = self
            .get_json(
                "look for an existing file",
                "/drive/v3/files",
                &[
                    ("q", q.as_str()),
                    ("fields", "files(id)"),
                    ("pageSize", "10"),
                    ("supportsAllDrives", "true"),
                    ("includeItemsFromAllDrives", "true"),
                ],
            )
            .await?;
        Ok(v["files"][0]["id"].as_str().map(str::to_string))
    }
}

/// Escapes a Drive query string literal.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

//! `GraphClient`: the destination's config and name template around a [`GraphRemote`], its
//! OAuth-signed HTTP client, the drive's URLs and the Graph calls the test steps and uploads
//! share.

use std::sync::Arc;
use std::time::Duration;

use courier_core::{ConnectorError, Env, ErrorKind};
use courier_files::{FileClient, Op};
use courier_oauth::{BearerClient, OAuthApp, seed_tokens};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::Value;

use crate::config::{OneDriveAuth, OneDriveConfig};
use crate::errors::{SERVICE, from_response};

/// What is escaped in one path segment (non-ASCII is always escaped).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'?')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// A configured OneDrive destination: config, name template and the Graph side.
pub type GraphClient = FileClient<crate::OneDriveFiles>;

/// The Graph side of a [`GraphClient`]. Debug shows no token or secret.
#[derive(Debug)]
pub struct GraphRemote {
    pub(crate) api: BearerClient,
    /// `{graph}/me/drive`, `{graph}/drives/{id}` or `{graph}/sites/{id}/drive`.
    pub(crate) drive_url: String,
    /// The folder path without leading or trailing `/`.
    pub(crate) folder: String,
}

fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

impl GraphRemote {
    /// Builds the OAuth-signed client without I/O. Tokens come from the host's token store
    /// once it holds any, else from auth_config; refreshed (and rotated) ones are saved to the
    /// host's store (an in-memory one when the host has none). One request may take up to 5
    /// minutes.
    pub fn new(
        config: &OneDriveConfig,
        auth: OneDriveAuth,
        env: &Env,
    ) -> Result<Self, ConnectorError> {
        let app = OAuthApp::for_refresh(
            auth.provider(),
            &auth.client_id,
            auth.client_secret.as_ref(),
            env.allow_private_network,
        )?;
        let seed = seed_tokens(auth.access_token.as_ref(), auth.refresh_token.as_ref());
        let api = BearerClient::new(
            SERVICE,
            Arc::new(app),
            env.token_store.clone(),
            seed,
            &env.destination_id,
            // Bounds one request (a fragment, at most 60 MiB); the runtime bounds the delivery.
            Duration::from_secs(300),
            env.allow_private_network,
        )?;
        let graph = config.graph_base_url.trim_end_matches('/');
        let drive_url = match config.drive_id.as_str() {
            "me" => format!("{graph}/me/drive"),
            id => match id.strip_prefix("sites/") {
                Some(site) => format!("{graph}/sites/{site}/drive"),
                None => format!("{graph}/drives/{id}"),
            },
        };
        Ok(GraphRemote {
            api,
            drive_url,
            folder: config.folder_path.trim_matches('/').to_string(),
        })
    }

    /// What `action` was done to, for messages: the folder.
    pub(crate) fn op(&self, action: &'static str) -> Op<'static> {
        let folder = if self.folder.is_empty() {
            "the drive's root"
        } else {
            &self.folder
        };
        Op::new(SERVICE, action, folder)
    }

    /// The folder's item URL.
    pub(crate) fn folder_url(&self) -> String {
        if self.folder.is_empty() {
            format!("{}/root", self.drive_url)
        } else {
            format!("{}/root:/{}", self.drive_url, encode_path(&self.folder))
        }
    }

    /// The path-addressed URL of file `name` in the folder, followed by `action`
    /// (`content`, `createUploadSession`).
    pub(crate) fn file_url(&self, name: &str, action: &str) -> String {
        let path = if self.folder.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.folder)
        };
        format!("{}/root:/{}:/{action}", self.drive_url, encode_path(&path))
    }

    /// The item at file `name` in the folder, if there is one.
    pub(crate) async fn file_item(&self, name: &str) -> Result<Option<Value>, ConnectorError> {
        let path = if self.folder.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.folder)
        };
        let url = format!("{}/root:/{}", self.drive_url, encode_path(&path));
        let response = self
            .api
            .send(|http, token| http.get(&url).bearer_auth(token))
            .await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(from_response(&self.op("look up a file"), response).await);
        }
        read_json(response).await.map(Some)
    }

    pub(crate) async fn get_json(
        &self,
        action: &'static str,
        url: &str,
    ) -> Result<Value, ConnectorError> {
        let response = self
            .api
            .send(|http, token| http.get(url).bearer_auth(token))
            .await?;
        if !response.status().is_success() {
            return Err(from_response(&self.op(action), response).await);
        }
        read_json(response).await
    }

    /// Who owns the drive, and what kind of drive it is.
    pub async fn account(&self) -> Result<String, ConnectorError> {
        let v = self.get_json("read the drive", &self.drive_url).await?;
        Ok(format!(
            "{} ({} drive)",
            v["owner"]["user"]["displayName"].as_str().unwrap_or("?"),
            v["driveType"].as_str().unwrap_or("?")
        ))
    }

    /// The folder: it must exist and be a folder.
    pub async fn folder(&self) -> Result<(), ConnectorError> {
        let v = self
            .get_json("look up the folder", &self.folder_url())
            .await?;
        if v.get("folder").is_none() {
            return Err(ConnectorError::new(
                ErrorKind::NotFound,
                format!("{} is a file, not a folder", self.folder),
                "set folder_path to a folder",
            ));
        }
        Ok(())
    }
}

pub(crate) fn bad_base_url() -> ConnectorError {
    ConnectorError::new(
        ErrorKind::InvalidConfig,
        "graph_base_url does not make a valid URL",
        "correct graph_base_url",
    )
}

pub(crate) async fn read_json(response: reqwest::Response) -> Result<Value, ConnectorError> {
    let text = courier_oauth::body::json_text(SERVICE, "a request", response).await?;
    serde_json::from_str(&text).map_err(|_| {
        ConnectorError::new(
            ErrorKind::Unavailable,
            "Microsoft Graph answered with something that is not JSON",
            "check graph_base_url; the delivery is retried",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_escaped_but_slashes_kept() {
        assert_eq!(
            encode_path("Exports 2026/a#b?.csv"),
            "Exports%202026/a%23b%3F.csv"
        );
        assert_eq!(encode_path("Über/ü.json"), "%C3%9Cber/%C3%BC.json");
    }
}

//! OneDrive config and auth_config: typed, documented (doc comments become the JSON Schema),
//! and validated without I/O.

use courier_core::{AuthSpec, ConfigSpec, FieldError, Secret};
use courier_files::{FileConfig, FileLayout, check_template};
use courier_oauth::check_endpoint;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The file name template used when none is set: dated, named after the batch.
pub const DEFAULT_FILE_NAME_TEMPLATE: &str = "{yyyy}{mm}{dd}-{batch_id}.{ext}";
/// The Graph endpoint (global cloud, v1.0) used when `graph_base_url` is not set.
pub const DEFAULT_GRAPH_BASE_URL: &str = "https://graph.microsoft.com/v1.0";
/// Graph's unit for upload-session fragments.
pub const FRAGMENT_UNIT: u64 = 320 * 1024;
const DEFAULT_CHUNK_BYTES: u64 = 32 * FRAGMENT_UNIT;
/// Graph refuses fragments above 60 MiB.
const MAX_CHUNK_BYTES: u64 = 192 * FRAGMENT_UNIT;
/// Characters OneDrive and SharePoint refuse in names.
const INVALID_NAME_CHARS: &[char] = &['"', '*', ':', '<', '>', '?', '\\', '|'];

/// Where and how batches are written as files into OneDrive or a SharePoint library.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
// `flatten` cannot be combined with serde's deny_unknown_fields; the schema (validated before
// deserializing) refuses unknown fields instead.
#[schemars(extend("additionalProperties" = false))]
pub struct OneDriveConfig {
    /// `me` (the signed-in user's OneDrive, default), a drive id (`b!…`, e.g. a SharePoint
    /// document library), or `sites/{site-id}` for a SharePoint site's default library.
    #[serde(default = "default_drive_id")]
    pub drive_id: String,
    /// The folder files are written to, from the drive's root (`Exports/Courier`); empty for
    /// the root. It must exist.
    #[serde(default)]
    pub folder_path: String,
    /// Each file's name. Variables: {destination_id}, {batch_id}, {yyyy}, {mm}, {dd}, {hh},
    /// {record_count}, {ext}. Must contain {batch_id}; no `/` (pick the folder with
    /// folder_path).
    #[serde(default = "default_file_name_template")]
    pub file_name_template: String,
    /// When a file with the same name exists: `replace` it (default; a retried batch leaves
    /// one file), `rename` the new one (`name 1.ext`), or `fail`.
    #[serde(default)]
    pub conflict_behavior: ConflictBehavior,
    /// The Graph endpoint, including its version; change it for a national cloud
    /// (`https://graph.microsoft.us/v1.0`) or a test fake.
    #[serde(default = "default_graph_base_url")]
    pub graph_base_url: String,
    /// Files above 4 MiB go up through an upload session in fragments of this size (a
    /// multiple of 327680, i.e. 320 KiB; at most 60 MiB); memory use is about four fragments.
    #[serde(default = "default_chunk_size")]
    #[schemars(range(min = 327680, max = 62914560))]
    pub chunk_size_bytes: u64,
    /// The file layout: format, compression, CSV columns and the size limit.
    #[serde(flatten)]
    pub layout: FileLayout,
}

impl FileConfig for OneDriveConfig {
    fn layout(&self) -> &FileLayout {
        &self.layout
    }

    fn name_template(&self) -> (&'static str, &str) {
        ("file_name_template", &self.file_name_template)
    }
}

/// What Graph does when the name is taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConflictBehavior {
    /// Replace the existing file's content; a retried batch leaves one file (the default).
    #[default]
    Replace,
    /// Keep the existing file and give the new one a free name (`name 1.ext`).
    Rename,
    /// Refuse the upload: the delivery fails with a conflict error.
    Fail,
}

impl ConflictBehavior {
    /// The value Graph takes in `@microsoft.graph.conflictBehavior`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictBehavior::Replace => "replace",
            ConflictBehavior::Rename => "rename",
            ConflictBehavior::Fail => "fail",
        }
    }
}

fn default_drive_id() -> String {
    "me".into()
}
fn default_file_name_template() -> String {
    DEFAULT_FILE_NAME_TEMPLATE.into()
}
fn default_graph_base_url() -> String {
    DEFAULT_GRAPH_BASE_URL.into()
}
fn default_chunk_size() -> u64 {
    DEFAULT_CHUNK_BYTES
}

/// The OAuth client (Microsoft Entra app registration) and the tokens of the account files
/// are written as. Tokens a host stores after the OAuth flow take precedence.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OneDriveAuth {
    /// The app registration's application (client) id.
    pub client_id: String,
    /// The app's client secret; leave it out for a public client (PKCE only).
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// A refresh token (from `courier oauth --type onedrive`); optional when the host
    /// completes the OAuth flow itself. Microsoft rotates it on every refresh; the new one is
    /// stored before it is used.
    #[serde(default)]
    pub refresh_token: Option<Secret>,
    /// A current access token, used until it is refused or expires.
    #[serde(default)]
    pub access_token: Option<Secret>,
    /// `common` (default), `organizations`, `consumers`, or a tenant id or domain.
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// The token endpoint; by default Microsoft's for `tenant`.
    #[serde(default)]
    pub token_url: Option<String>,
    /// The authorization endpoint a host sends people to; by default Microsoft's for `tenant`.
    #[serde(default)]
    pub authorization_url: Option<String>,
}

impl OneDriveAuth {
    /// Microsoft identity for this auth_config's tenant and endpoints.
    pub fn provider(&self) -> courier_oauth::Provider {
        let mut provider = courier_oauth::Provider::onedrive_tenant(&self.tenant);
        if let Some(url) = &self.token_url {
            provider.token_url = url.clone();
        }
        if let Some(url) = &self.authorization_url {
            provider.authorization_url = url.clone();
        }
        provider
    }
}

fn default_tenant() -> String {
    "common".into()
}

impl AuthSpec for OneDriveAuth {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.client_id.trim().is_empty() {
            errors.push(FieldError::new("/client_id", "must not be empty"));
        }
        let tenant_ok = !self.tenant.is_empty()
            && self
                .tenant
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
        if !tenant_ok {
            errors.push(FieldError::new(
                "/tenant",
                "must be common, organizations, consumers, or a tenant id or domain",
            ));
        }
        if let Some(url) = &self.token_url {
            errors.extend(check_endpoint("/token_url", url));
        }
        if let Some(url) = &self.authorization_url {
            errors.extend(check_endpoint("/authorization_url", url));
        }
        errors
    }
}

/// Whether `name` is acceptable as a OneDrive file or folder name.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name == "." || name == ".." {
        return Some("has an empty, `.` or `..` segment");
    }
    if name
        .chars()
        .any(|c| c.is_control() || INVALID_NAME_CHARS.contains(&c))
    {
        return Some("has a character OneDrive refuses (\" * : < > ? \\ | or a control character)");
    }
    if name.ends_with(' ') || name.ends_with('.') || name.starts_with(' ') {
        return Some("has a segment starting with a space or ending with a space or `.`");
    }
    None
}

impl ConfigSpec for OneDriveConfig {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = self.layout.validate();
        errors.extend(check_template(
            "/file_name_template",
            &self.file_name_template,
        ));
        if self.file_name_template.contains('/') {
            errors.push(FieldError::new(
                "/file_name_template",
                "must not contain `/` (choose the folder with folder_path)",
            ));
        } else if let Some(problem) = name_problem(&self.file_name_template) {
            errors.push(FieldError::new("/file_name_template", problem));
        }
        let drive_ok = match self.drive_id.strip_prefix("sites/") {
            Some(site) => {
                !site.is_empty()
                    && site
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._,".contains(&b))
            }
            None => {
                !self.drive_id.is_empty()
                    && self
                        .drive_id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!-_".contains(&b))
            }
        };
        if !drive_ok {
            errors.push(FieldError::new(
                "/drive_id",
                "must be `me`, a drive id (letters, digits, `!`, `-`, `_`), or `sites/{site-id}`",
            ));
        }
        let folder = self.folder_path.trim_matches('/');
        if let Some(problem) = folder
            .split('/')
            .filter(|_| !folder.is_empty())
            .find_map(name_problem)
        {
            errors.push(FieldError::new("/folder_path", problem));
        }
        errors.extend(check_endpoint("/graph_base_url", &self.graph_base_url));
        if !self.chunk_size_bytes.is_multiple_of(FRAGMENT_UNIT)
            || !(FRAGMENT_UNIT..=MAX_CHUNK_BYTES).contains(&self.chunk_size_bytes)
        {
            errors.push(FieldError::new(
                "/chunk_size_bytes",
                "must be a multiple of 327680 (320 KiB), at most 60 MiB",
            ));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(value: serde_json::Value) -> Vec<String> {
        let config: OneDriveConfig = serde_json::from_value(value).unwrap();
        config
            .validate()
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn defaults_and_real_drive_ids_are_valid() {
        assert_eq!(errors(json!({})), Vec::<String>::new());
        assert_eq!(
            errors(json!({"drive_id": "b!x-Yz_09", "folder_path": "/Exports/Courier/"})),
            Vec::<String>::new()
        );
        assert_eq!(
            errors(
                json!({"drive_id": "sites/contoso.sharepoint.com,2C712604-1370-44E7-A1F5-426573FDA80A,2D2244C3-251A-49EA-93A8-39E1C3A060FE"})
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    fn hostile_values_are_refused_by_path() {
        let found = errors(json!({
            "drive_id": "../me",
            "folder_path": "a/../b",
            "file_name_template": "{batch_id}?.{ext}",
            "graph_base_url": "file:///etc",
            "chunk_size_bytes": 1048576,
        }));
        let paths: Vec<&str> = found.iter().map(|e| e.split(':').next().unwrap()).collect();
        assert_eq!(
            paths,
            [
                "/file_name_template",
                "/drive_id",
                "/folder_path",
                "/graph_base_url",
                "/chunk_size_bytes"
            ],
            "{found:?}"
        );
    }

    #[test]
    fn auth_debug_hides_secrets() {
        let auth: OneDriveAuth = serde_json::from_value(json!({
            "client_id": "id", "client_secret": "SECRET-SENTINEL", "refresh_token": "RT-SENTINEL"
        }))
        .unwrap();
        assert!(auth.validate().is_empty());
        assert!(!format!("{auth:?}").contains("SENTINEL"));
        let bad: OneDriveAuth =
            serde_json::from_value(json!({"client_id": "id", "tenant": "a/b"})).unwrap();
        assert!(bad.validate()[0].to_string().starts_with("/tenant"));
    }
}

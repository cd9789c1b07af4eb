//! Google Drive config and auth_config: typed, documented (doc comments become the JSON
//! Schema), and validated without I/O.

use courier_core::{AuthSpec, ConfigSpec, FieldError, Secret};
use courier_files::{Compression, FileConfig, FileLayout, Format, check_template};
use courier_oauth::check_endpoint;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The file name template used when none is set: dated, named after the batch.
pub const DEFAULT_FILE_NAME_TEMPLATE: &str = "{yyyy}{mm}{dd}-{batch_id}.{ext}";
/// The Drive API host used when `api_base_url` is not set.
pub const DEFAULT_API_BASE_URL: &str = "https://www.googleapis.com";
/// Google's OAuth token endpoint, used when `token_url` is not set.
pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// Drive's unit for resumable chunks.
pub const CHUNK_UNIT: u64 = 256 * 1024;
const DEFAULT_CHUNK_BYTES: u64 = 8 * 1024 * 1024;

/// Where and how batches are written as files into Google Drive.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
// `flatten` cannot be combined with serde's deny_unknown_fields; the schema (validated before
// deserializing) refuses unknown fields instead.
#[schemars(extend("additionalProperties" = false))]
pub struct GoogleDriveConfig {
    /// The id of the folder files are written to (the last part of the folder's URL), in
    /// My Drive or a shared drive; `root` is My Drive's top level.
    #[serde(default = "default_folder_id")]
    pub folder_id: String,
    /// A folder path under `folder_id` (`Exports/Courier`), resolved by name when the
    /// destination is first used; every folder on it must exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder_path: Option<String>,
    /// Each file's name. Variables: {destination_id}, {batch_id}, {yyyy}, {mm}, {dd}, {hh},
    /// {record_count}, {ext}. Must contain {batch_id}; no `/` (Drive names are flat: pick the
    /// folder with folder_id).
    #[serde(default = "default_file_name_template")]
    pub file_name_template: String,
    /// Upload CSV files as Google Sheets (format `csv`, compression `none`).
    #[serde(default)]
    pub convert_to_google_sheets: bool,
    /// What happens when the folder already holds a file with the same name: `replace` its
    /// content (default; a retried batch updates the same file) or `keep_both`.
    #[serde(default)]
    pub conflict_policy: ConflictPolicy,
    /// The Drive API host; change it only for a proxy or a test fake.
    #[serde(default = "default_api_base_url")]
    pub api_base_url: String,
    /// Files above 5 MiB are uploaded in resumable chunks of this size (a multiple of
    /// 256 KiB, at most 64 MiB); memory use is about four chunks.
    #[serde(default = "default_chunk_size")]
    #[schemars(range(min = 262144, max = 67108864))]
    pub chunk_size_bytes: u64,
    /// The file layout: format, compression, CSV columns and the size limit.
    #[serde(flatten)]
    pub layout: FileLayout,
}

impl FileConfig for GoogleDriveConfig {
    fn layout(&self) -> &FileLayout {
        &self.layout
    }

    fn name_template(&self) -> (&'static str, &str) {
        ("file_name_template", &self.file_name_template)
    }
}

/// What to do when a file with the same name exists in the folder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    /// Upload the batch as the existing file's new content (same file id); a new file when
    /// there is none (the default).
    #[default]
    Replace,
    /// Always create a new file; the folder then holds several files with that name.
    KeepBoth,
}

fn default_folder_id() -> String {
    "root".into()
}
fn default_file_name_template() -> String {
    DEFAULT_FILE_NAME_TEMPLATE.into()
}
fn default_api_base_url() -> String {
    DEFAULT_API_BASE_URL.into()
}
fn default_chunk_size() -> u64 {
    DEFAULT_CHUNK_BYTES
}

/// The OAuth client and the tokens of the Google account files are written as. Tokens a host
/// stores after the OAuth flow take precedence over the ones given here.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoogleDriveAuth {
    /// The OAuth client id from the Google Cloud console.
    pub client_id: String,
    /// The OAuth client's secret.
    pub client_secret: Secret,
    /// A refresh token for the account (from `courier oauth --type google_drive`); optional
    /// when the host completes the OAuth flow and stores the tokens itself.
    #[serde(default)]
    pub refresh_token: Option<Secret>,
    /// A current access token, used until it is refused or expires.
    #[serde(default)]
    pub access_token: Option<Secret>,
    /// The token endpoint; change it only for a proxy or a test fake.
    #[serde(default)]
    pub token_url: Option<String>,
    /// The authorization endpoint a host sends people to; change it only for a test fake.
    #[serde(default)]
    pub authorization_url: Option<String>,
}

impl GoogleDriveAuth {
    /// Google with this auth_config's endpoints.
    pub fn provider(&self) -> courier_oauth::Provider {
        let mut provider = courier_oauth::Provider::google_drive()
            .with_token_url(self.token_url.as_deref().unwrap_or(DEFAULT_TOKEN_URL));
        if let Some(url) = &self.authorization_url {
            provider.authorization_url = url.clone();
        }
        provider
    }
}

impl AuthSpec for GoogleDriveAuth {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.client_id.trim().is_empty() {
            errors.push(FieldError::new("/client_id", "must not be empty"));
        }
        if self.client_secret.expose().is_empty() {
            errors.push(FieldError::new("/client_secret", "must not be empty"));
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

impl ConfigSpec for GoogleDriveConfig {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = self.layout.validate();
        errors.extend(check_template(
            "/file_name_template",
            &self.file_name_template,
        ));
        if self.file_name_template.contains('/') {
            errors.push(FieldError::new(
                "/file_name_template",
                "must not contain `/`: Drive file names are flat (choose the folder with folder_id)",
            ));
        }
        let id_ok = !self.folder_id.is_empty()
            && self
                .folder_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok {
            errors.push(FieldError::new(
                "/folder_id",
                "must be a Drive folder id (letters, digits, `-` and `_`, as in the folder's URL) or `root`",
            ));
        }
        if let Some(path) = &self.folder_path {
            let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
            if path.trim_matches('/').is_empty()
                || segments.len() > 20
                || segments
                    .iter()
                    .any(|s| s.trim().is_empty() || s.chars().any(char::is_control))
            {
                errors.push(FieldError::new(
                    "/folder_path",
                    "must be folder names separated by `/` (at most 20), none empty or with control characters",
                ));
            }
        }
        if self.convert_to_google_sheets
            && (self.layout.format != Format::Csv || self.layout.compression != Compression::None)
        {
            errors.push(FieldError::new(
                "/convert_to_google_sheets",
                "needs format \"csv\" and compression \"none\"",
            ));
        }
        errors.extend(check_endpoint("/api_base_url", &self.api_base_url));
        if !self.chunk_size_bytes.is_multiple_of(CHUNK_UNIT)
            || !(CHUNK_UNIT..=64 * 1024 * 1024).contains(&self.chunk_size_bytes)
        {
            errors.push(FieldError::new(
                "/chunk_size_bytes",
                "must be a multiple of 262144 (256 KiB), at most 64 MiB",
            ));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(extra: serde_json::Value) -> Vec<String> {
        let mut value = json!({});
        for (k, v) in extra.as_object().unwrap() {
            value[k] = v.clone();
        }
        let config: GoogleDriveConfig = serde_json::from_value(value).unwrap();
        config
            .validate()
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(errors(json!({})), Vec::<String>::new());
    }

    #[test]
    fn bad_values_are_named_by_path() {
        let found = errors(json!({
            "folder_id": "../x",
            "file_name_template": "a/{batch_id}",
            "convert_to_google_sheets": true,
            "api_base_url": "ftp://x",
            "chunk_size_bytes": 1000,
        }));
        let paths: Vec<&str> = found.iter().map(|e| e.split(':').next().unwrap()).collect();
        assert_eq!(
            paths,
            [
                "/file_name_template",
                "/folder_id",
                "/convert_to_google_sheets",
                "/api_base_url",
                "/chunk_size_bytes"
            ],
            "{found:?}"
        );
    }

    #[test]
    fn auth_debug_hides_secrets() {
        let auth: GoogleDriveAuth = serde_json::from_value(json!({
            "client_id": "id", "client_secret": "SECRET-SENTINEL",
            "refresh_token": "REFRESH-SENTINEL", "access_token": "ACCESS-SENTINEL"
        }))
        .unwrap();
        assert!(auth.validate().is_empty());
        let shown = format!("{auth:?}");
        assert!(!shown.contains("SENTINEL"), "{shown}");
    }
}

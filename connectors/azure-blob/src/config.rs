//! Azure Blob config and auth_config: typed, documented (doc comments become the JSON Schema),
//! and validated without I/O.

use courier_core::{AuthSpec, ConfigSpec, FieldError, Secret};
use courier_files::{FileConfig, FileLayout, FileOptions};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::connection_string::ConnectionString;

/// Where and how batches are written as block blobs.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
// `flatten` cannot be combined with serde's deny_unknown_fields; the schema (validated before
// deserializing) refuses unknown fields instead.
#[schemars(extend("additionalProperties" = false))]
pub struct AzureBlobConfig {
    /// The storage account name (3-24 lowercase letters and digits).
    pub account: String,
    /// The container blobs are written to.
    pub container: String,
    /// A name prefix every blob goes under, e.g. `exports/` (no leading `/`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    /// The account's blob service URL, for sovereign clouds and emulators, e.g.
    /// `https://acme.blob.core.chinacloudapi.cn` or `http://127.0.0.1:10000/devstoreaccount1`;
    /// `https://<account>.blob.core.windows.net` (or the connection string's) by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The access tier of written blobs; the account's default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_tier: Option<AccessTier>,
    /// Write with `If-None-Match: *`, so an existing blob is never replaced. A retried batch
    /// whose blob already exists counts as delivered.
    #[serde(default)]
    pub create_only: bool,
    /// Files larger than this are staged as blocks of this size and committed (1 MiB to
    /// 100 MiB).
    #[serde(default = "default_block_size")]
    #[schemars(range(min = 1048576, max = 104857600))]
    pub block_size_bytes: u64,
    /// The blob name template and the file layout (format, compression, columns, cap).
    #[serde(flatten)]
    pub files: FileOptions,
}

impl FileConfig for AzureBlobConfig {
    fn layout(&self) -> &FileLayout {
        &self.files.layout
    }

    fn name_template(&self) -> (&'static str, &str) {
        self.files.name_template()
    }
}

fn default_block_size() -> u64 {
    8 * 1024 * 1024
}

/// Blob access tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AccessTier {
    /// Frequently accessed data.
    Hot,
    /// Infrequently accessed data; billed for at least 30 days.
    Cool,
    /// Rarely accessed data; billed for at least 90 days.
    Cold,
    /// Offline storage, billed for at least 180 days; a blob must be rehydrated to be read.
    Archive,
}

impl AccessTier {
    /// The tier as Azure spells it, e.g. `Cool`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessTier::Hot => "Hot",
            AccessTier::Cool => "Cool",
            AccessTier::Cold => "Cold",
            AccessTier::Archive => "Archive",
        }
    }
}

/// How Courier signs in: exactly one of an account key, a SAS token, a connection string, or
/// an Entra ID service principal (`tenant_id`, `client_id`, `client_secret`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AzureBlobAuth {
    /// The storage account's access key (base64), for Shared Key signing.
    #[serde(default)]
    pub account_key: Option<Secret>,
    /// A shared access signature (account or container SAS) with create and write permission,
    /// e.g. `sv=2024-11-04&ss=b&srt=co&sp=rwdc&se=...&sig=...` (a leading `?` is fine).
    #[serde(default)]
    pub sas_token: Option<Secret>,
    /// A storage connection string (`AccountName=...;AccountKey=...` or with
    /// `SharedAccessSignature=...`; `BlobEndpoint` and `EndpointSuffix` are honoured).
    #[serde(default)]
    pub connection_string: Option<Secret>,
    /// The Entra ID (Azure AD) tenant of the service principal.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// The service principal's application (client) id.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The service principal's client secret.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// The Entra ID authority for sovereign clouds, e.g. `https://login.chinacloudapi.cn`;
    /// `https://login.microsoftonline.com` by default.
    #[serde(default)]
    pub authority_host: Option<String>,
}

impl AuthSpec for AzureBlobAuth {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let principal = [
            self.tenant_id.is_some(),
            self.client_id.is_some(),
            self.client_secret.is_some(),
        ];
        let methods = [
            self.account_key.is_some(),
            self.sas_token.is_some(),
            self.connection_string.is_some(),
            principal.iter().any(|&p| p),
        ];
        match methods.iter().filter(|&&m| m).count() {
            0 => errors.push(FieldError::new(
                "",
                "needs one of account_key, sas_token, connection_string, or tenant_id + client_id + client_secret",
            )),
            1 => {}
            _ => errors.push(FieldError::new(
                "",
                "sets more than one of account_key, sas_token, connection_string and the service principal; choose one",
            )),
        }
        if principal.iter().any(|&p| p) {
            for (present, field) in
                principal
                    .iter()
                    .zip(["/tenant_id", "/client_id", "/client_secret"])
            {
                if !present {
                    errors.push(FieldError::new(
                        field,
                        "is required for a service principal",
                    ));
                }
            }
        }
        if let Some(tenant) = &self.tenant_id
            && (tenant.is_empty()
                || !tenant
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        {
            errors.push(FieldError::new(
                "/tenant_id",
                "must be a tenant id (a GUID) or domain such as contoso.onmicrosoft.com",
            ));
        }
        if self.authority_host.is_some() && self.tenant_id.is_none() {
            errors.push(FieldError::new(
                "/authority_host",
                "only applies with a service principal",
            ));
        }
        if let Some(host) = &self.authority_host
            && !host.starts_with("https://")
        {
            errors.push(FieldError::new("/authority_host", "must be an https URL"));
        }
        if let Some(key) = &self.account_key
            && !is_base64(key.expose())
        {
            errors.push(FieldError::new(
                "/account_key",
                "must be the base64 account key",
            ));
        }
        if let Some(sas) = &self.sas_token
            && !sas
                .expose()
                .trim_start_matches('?')
                .split('&')
                .any(|p| p.starts_with("sig="))
        {
            errors.push(FieldError::new(
                "/sas_token",
                "must be a SAS query string with a sig= signature",
            ));
        }
        if let Some(cs) = &self.connection_string
            && let Err(message) = ConnectionString::parse(cs.expose())
        {
            errors.push(FieldError::new("/connection_string", message));
        }
        errors
    }
}

fn is_base64(s: &str) -> bool {
    use base64::Engine;
    !s.is_empty() && base64::engine::general_purpose::STANDARD.decode(s).is_ok()
}

impl ConfigSpec for AzureBlobConfig {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = self.files.validate();
        let account_ok = (3..=24).contains(&self.account.len())
            && self
                .account
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !account_ok {
            errors.push(FieldError::new(
                "/account",
                "must be a storage account name (3-24 lowercase letters and digits)",
            ));
        }
        if !is_container_name(&self.container) {
            errors.push(FieldError::new(
                "/container",
                "must be a container name (3-63 lowercase letters, digits and single hyphens, starting with a letter or digit)",
            ));
        }
        errors.extend(courier_files::check_prefix(&self.prefix));
        if let Some(endpoint) = &self.endpoint {
            match url::Url::parse(endpoint) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.query().is_none() => {}
                _ => errors.push(FieldError::new(
                    "/endpoint",
                    "must be an absolute http(s) URL without a query (put a SAS in auth_config.sas_token)",
                )),
            }
        }
        errors
    }
}

/// Container naming rules: 3-63 characters, lowercase letters, digits and hyphens; starts and
/// ends with a letter or digit; no two hyphens in a row.
fn is_container_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_auth_method() {
        let none = AzureBlobAuth::default();
        assert_eq!(none.validate().len(), 1);
        let two = AzureBlobAuth {
            account_key: Some(Secret::new("a2V5")),
            sas_token: Some(Secret::new("sv=1&sig=x")),
            ..AzureBlobAuth::default()
        };
        assert!(two.validate()[0].to_string().contains("more than one"));
        let partial = AzureBlobAuth {
            tenant_id: Some("contoso.onmicrosoft.com".into()),
            ..AzureBlobAuth::default()
        };
        let paths: Vec<String> = partial.validate().iter().map(|e| e.path.clone()).collect();
        assert_eq!(paths, ["/client_id", "/client_secret"]);
    }

    #[test]
    fn container_names() {
        for ok in ["abc", "a-b-c", "exports2026"] {
            assert!(is_container_name(ok), "{ok}");
        }
        for bad in ["ab", "-abc", "abc-", "a--b", "ABC", "a_b", "../x"] {
            assert!(!is_container_name(bad), "{bad}");
        }
    }
}

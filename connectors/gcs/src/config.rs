//! GCS config and auth_config: typed, documented (doc comments become the JSON Schema), and
//! validated without I/O.

use courier_core::{AuthSpec, ConfigSpec, FieldError, Secret};
use courier_files::{FileConfig, FileLayout, FileOptions};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where and how batches are written as GCS objects.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
// `flatten` cannot be combined with serde's deny_unknown_fields; the schema (validated before
// deserializing) refuses unknown fields instead.
#[schemars(extend("additionalProperties" = false))]
pub struct GcsConfig {
    /// The bucket objects are written to.
    pub bucket: String,
    /// A name prefix every object goes under, e.g. `exports/` (no leading `/`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    /// The JSON API endpoint, for emulators and private endpoints, e.g. `http://127.0.0.1:4443`;
    /// `https://storage.googleapis.com` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The storage class of written objects; the bucket's default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<StorageClass>,
    /// Write with `ifGenerationMatch=0`, so an existing object is never replaced. A retried
    /// batch whose object already exists counts as delivered.
    #[serde(default)]
    pub create_only: bool,
    /// Files larger than this go up as a resumable upload in chunks of this size (a multiple of
    /// 256 KiB, from 256 KiB to 256 MiB); memory per upload is about one chunk.
    #[serde(default = "default_chunk_size")]
    #[schemars(range(min = 262144, max = 268435456))]
    pub chunk_size_bytes: u64,
    /// The object name template and the file layout (format, compression, columns, cap).
    #[serde(flatten)]
    pub files: FileOptions,
}

impl FileConfig for GcsConfig {
    fn layout(&self) -> &FileLayout {
        &self.files.layout
    }

    fn name_template(&self) -> (&'static str, &str) {
        self.files.name_template()
    }
}

fn default_chunk_size() -> u64 {
    8 * 1024 * 1024
}

/// A GCS storage class for written objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StorageClass {
    /// Frequently accessed data.
    Standard,
    /// Data read about once a month or less; billed for at least 30 days.
    Nearline,
    /// Data read about once a quarter or less; billed for at least 90 days.
    Coldline,
    /// Data read less than once a year; billed for at least 365 days.
    Archive,
}

impl StorageClass {
    /// The storage class as the JSON API spells it, e.g. `NEARLINE`.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageClass::Standard => "STANDARD",
            StorageClass::Nearline => "NEARLINE",
            StorageClass::Coldline => "COLDLINE",
            StorageClass::Archive => "ARCHIVE",
        }
    }
}

/// A service account's JSON key. It may be omitted only when `endpoint` is set (emulators
/// accept anonymous requests).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GcsAuth {
    /// The service account key file's contents (JSON with `type: service_account`,
    /// `client_email`, `private_key`, ...).
    #[serde(default)]
    pub service_account_json: Option<Secret>,
}

/// The fields of a key file Courier and the Google client need, with the problems found.
pub fn check_key(text: &str) -> Result<serde_json::Value, String> {
    let key: serde_json::Value =
        serde_json::from_str(text).map_err(|_| "is not valid JSON".to_string())?;
    let Some(object) = key.as_object() else {
        return Err("must be a JSON object (the key file's contents)".into());
    };
    if object.get("type").and_then(|t| t.as_str()) != Some("service_account") {
        return Err("must have \"type\": \"service_account\"".into());
    }
    let missing: Vec<&str> = [
        "client_email",
        "private_key",
        "private_key_id",
        "project_id",
    ]
    .into_iter()
    .filter(|f| {
        object
            .get(*f)
            .and_then(|v| v.as_str())
            .is_none_or(str::is_empty)
    })
    .collect();
    if !missing.is_empty() {
        return Err(format!("is missing {}", missing.join(", ")));
    }
    let pem = object["private_key"].as_str().unwrap_or_default();
    if !pem.contains("-----BEGIN PRIVATE KEY-----") {
        return Err("has a private_key that is not a PKCS#8 PEM key".into());
    }
    Ok(key)
}

impl AuthSpec for GcsAuth {
    fn validate(&self) -> Vec<FieldError> {
        match &self.service_account_json {
            Some(key) => match check_key(key.expose()) {
                Ok(_) => Vec::new(),
                Err(message) => vec![FieldError::new("/service_account_json", message)],
            },
            None => Vec::new(),
        }
    }
}

impl ConfigSpec for GcsConfig {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = self.files.validate();
        if !is_bucket_name(&self.bucket) {
            errors.push(FieldError::new(
                "/bucket",
                "must be a GCS bucket name (3-63 lowercase letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit)",
            ));
        }
        errors.extend(courier_files::check_prefix(&self.prefix));
        if let Some(endpoint) = &self.endpoint {
            let ok = (endpoint.starts_with("http://") || endpoint.starts_with("https://"))
                && endpoint.splitn(4, '/').nth(3).is_none_or(str::is_empty)
                && !endpoint.contains('?');
            if !ok {
                errors.push(FieldError::new(
                    "/endpoint",
                    "must be an http(s) URL without a path, e.g. http://127.0.0.1:4443",
                ));
            }
        }
        if !self.chunk_size_bytes.is_multiple_of(256 * 1024) {
            errors.push(FieldError::new(
                "/chunk_size_bytes",
                "must be a multiple of 262144 (256 KiB)",
            ));
        }
        errors
    }
}

fn is_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && !name.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_are_checked_without_quoting_them() {
        let good = r#"{"type":"service_account","client_email":"a@p.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n","private_key_id":"k1","project_id":"p"}"#;
        assert!(check_key(good).is_ok());
        assert_eq!(check_key("nope").unwrap_err(), "is not valid JSON");
        assert_eq!(
            check_key(r#"{"type":"authorized_user"}"#).unwrap_err(),
            "must have \"type\": \"service_account\""
        );
        assert_eq!(
            check_key(r#"{"type":"service_account","private_key":"s3cr3t"}"#).unwrap_err(),
            "is missing client_email, private_key_id, project_id"
        );
    }

    #[test]
    fn bucket_names() {
        for ok in ["abc", "my_bucket.v2", "a-1"] {
            assert!(is_bucket_name(ok), "{ok}");
        }
        for bad in ["ab", "-abc", "ABC", "a..b", "a/b"] {
            assert!(!is_bucket_name(bad), "{bad}");
        }
    }
}

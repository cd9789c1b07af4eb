//! S3 config and auth_config: typed, documented (doc comments become the JSON Schema), and
//! validated without I/O.

use courier_core::{ConfigSpec, FieldError};
use courier_files::{FileConfig, FileLayout, FileOptions};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where and how batches are written as S3 objects.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
// `flatten` cannot be combined with serde's deny_unknown_fields; the schema (validated before
// deserializing) refuses unknown fields instead.
#[schemars(extend("additionalProperties" = false))]
pub struct S3Config {
    /// The bucket objects are written to.
    pub bucket: String,
    /// The bucket's AWS region, e.g. `us-east-1`.
    pub region: String,
    /// A key prefix every object goes under, e.g. `exports/` (no leading `/`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    /// The S3 endpoint, for S3-compatible stores and local emulators; AWS by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Address buckets as `endpoint/bucket` instead of `bucket.endpoint` (most S3-compatible
    /// stores need this).
    #[serde(default)]
    pub force_path_style: bool,
    /// The storage class of written objects; the bucket's default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<StorageClass>,
    /// Server-side encryption of written objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_side_encryption: Option<ServerSideEncryption>,
    /// The KMS key (id or ARN) for `server_side_encryption: aws:kms`; the AWS-managed key when
    /// unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// Write with `If-None-Match: *`, so an existing object is never replaced. A retried batch
    /// whose object already exists counts as delivered.
    #[serde(default)]
    pub create_only: bool,
    /// Files larger than this are uploaded in parts of this size (5 MiB to 5 GiB).
    #[serde(default = "default_part_size")]
    #[schemars(range(min = 5242880, max = 5368709120u64))]
    pub part_size_bytes: u64,
    /// The object key template and the file layout (format, compression, columns, cap).
    #[serde(flatten)]
    pub files: FileOptions,
}

impl FileConfig for S3Config {
    fn layout(&self) -> &FileLayout {
        &self.files.layout
    }

    fn name_template(&self) -> (&'static str, &str) {
        self.files.name_template()
    }
}

fn default_part_size() -> u64 {
    8 * 1024 * 1024
}

/// An S3 storage class for written objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum StorageClass {
    /// Frequently accessed data (S3 Standard).
    #[serde(rename = "STANDARD")]
    Standard,
    /// Infrequently accessed data, stored across several zones (S3 Standard-IA).
    #[serde(rename = "STANDARD_IA")]
    StandardIa,
    /// Infrequently accessed data, stored in a single zone (S3 One Zone-IA).
    #[serde(rename = "ONEZONE_IA")]
    OnezoneIa,
    /// Moved between access tiers automatically by usage (S3 Intelligent-Tiering).
    #[serde(rename = "INTELLIGENT_TIERING")]
    IntelligentTiering,
    /// Archive with millisecond retrieval (S3 Glacier Instant Retrieval).
    #[serde(rename = "GLACIER_IR")]
    GlacierIr,
    /// Archive that must be restored before reading (S3 Glacier Flexible Retrieval).
    #[serde(rename = "GLACIER")]
    Glacier,
    /// Long-term archive with the slowest restores (S3 Glacier Deep Archive).
    #[serde(rename = "DEEP_ARCHIVE")]
    DeepArchive,
}

impl StorageClass {
    /// The storage class as S3 spells it, e.g. `STANDARD_IA`.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageClass::Standard => "STANDARD",
            StorageClass::StandardIa => "STANDARD_IA",
            StorageClass::OnezoneIa => "ONEZONE_IA",
            StorageClass::IntelligentTiering => "INTELLIGENT_TIERING",
            StorageClass::GlacierIr => "GLACIER_IR",
            StorageClass::Glacier => "GLACIER",
            StorageClass::DeepArchive => "DEEP_ARCHIVE",
        }
    }
}

/// How S3 encrypts written objects at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ServerSideEncryption {
    /// S3-managed keys (SSE-S3).
    #[serde(rename = "AES256")]
    Aes256,
    /// AWS KMS keys (SSE-KMS), with `kms_key_id` or the AWS-managed key.
    #[serde(rename = "aws:kms")]
    AwsKms,
}

impl ServerSideEncryption {
    /// The algorithm as S3 spells it: `AES256` or `aws:kms`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerSideEncryption::Aes256 => "AES256",
            ServerSideEncryption::AwsKms => "aws:kms",
        }
    }
}

/// S3 credentials are the shared AWS ones.
pub use courier_aws::AwsAuth as S3Auth;

impl ConfigSpec for S3Config {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = self.files.validate();
        if let Err(m) = check_bucket(&self.bucket) {
            errors.push(FieldError::new("/bucket", m));
        }
        let region_ok = !self.region.is_empty()
            && self.region.len() <= 32
            && self
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            errors.push(FieldError::new(
                "/region",
                "must be an AWS region name such as us-east-1",
            ));
        }
        errors.extend(courier_files::check_prefix(&self.prefix));
        if let Some(url) = &self.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            errors.push(FieldError::new(
                "/endpoint_url",
                "must be an absolute http(s) URL",
            ));
        }
        if self.kms_key_id.is_some()
            && self.server_side_encryption != Some(ServerSideEncryption::AwsKms)
        {
            errors.push(FieldError::new(
                "/kms_key_id",
                "only applies with server_side_encryption: aws:kms",
            ));
        }
        errors
    }
}

/// S3 bucket naming rules (3–63 characters: lowercase letters, digits, `.` and `-`, starting and
/// ending with a letter or digit).
fn check_bucket(name: &str) -> Result<(), &'static str> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let ends_ok = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if (3..=63).contains(&name.len()) && ok_chars && ends_ok && !name.contains("..") {
        Ok(())
    } else {
        Err("must be a valid S3 bucket name (3-63 lowercase letters, digits, `.` or `-`)")
    }
}

//! Kinesis config: typed, documented (doc comments become the JSON Schema), validated without I/O.

use courier_core::{ConfigSpec, FieldError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use courier_messages::{KeySpec, KeyTemplate, MessageConfig};

use crate::put::MAX_KEY_CHARS;

/// Where records go and how each gets its partition key.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KinesisConfig {
    /// The stream's name (or give `stream_arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// The stream's ARN (or give `stream_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// The stream's AWS region, e.g. `us-east-1`.
    pub region: String,
    /// The Kinesis endpoint, for local emulators; AWS by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Each record's partition key: a dot path into its payload (`user.id`) or a template
    /// (`{user.id}-{type}`).
    pub partition_key_template: String,
    /// An explicit hash key (a decimal 128-bit number) per record, as a dot path or template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explicit_hash_key_template: Option<String>,
    /// The partition key for records that lack the template's fields; without it such records
    /// fail alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_partition_key: Option<String>,
}

impl KinesisConfig {
    /// What messages call the stream.
    pub fn stream_label(&self) -> String {
        self.stream_name
            .clone()
            .or_else(|| self.stream_arn.clone())
            .unwrap_or_default()
    }
}

impl MessageConfig for KinesisConfig {
    fn keys(&self) -> Vec<KeySpec<'_>> {
        vec![
            KeySpec {
                field: "partition_key_template",
                name: "partition key",
                template: Some(&self.partition_key_template),
                fallback_field: Some("fallback_partition_key"),
                fallback: self.fallback_partition_key.as_deref(),
                max_chars: MAX_KEY_CHARS,
            },
            KeySpec {
                field: "explicit_hash_key_template",
                name: "explicit hash key",
                template: self.explicit_hash_key_template.as_deref(),
                fallback_field: None,
                fallback: None,
                // 2^128 - 1 has 39 digits; longer is refused as not a number.
                max_chars: MAX_KEY_CHARS,
            },
        ]
    }
}

impl ConfigSpec for KinesisConfig {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        match (&self.stream_name, &self.stream_arn) {
            (None, None) => errors.push(FieldError::new(
                "/stream_name",
                "is required (or give stream_arn)",
            )),
            (Some(_), Some(_)) => errors.push(FieldError::new(
                "/stream_arn",
                "give stream_name or stream_arn, not both",
            )),
            (Some(name), None) => {
                let ok = (1..=128).contains(&name.len())
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
                if !ok {
                    errors.push(FieldError::new(
                        "/stream_name",
                        "must be 1-128 letters, digits, `_`, `.` or `-`",
                    ));
                }
            }
            (None, Some(arn)) => {
                let parts: Vec<&str> = arn.splitn(6, ':').collect();
                let ok = parts.len() == 6
                    && parts[0] == "arn"
                    && parts[2] == "kinesis"
                    && parts[5].starts_with("stream/");
                if !ok {
                    errors.push(FieldError::new("/stream_arn", "must be a Kinesis stream ARN such as arn:aws:kinesis:us-east-1:123456789012:stream/events"));
                }
            }
        }
        if !courier_aws::is_region(&self.region) {
            errors.push(FieldError::new(
                "/region",
                "must be an AWS region name such as us-east-1",
            ));
        }
        if let Some(url) = &self.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            errors.push(FieldError::new(
                "/endpoint_url",
                "must be an absolute http(s) URL",
            ));
        }
        if let Err(m) = KeyTemplate::parse(&self.partition_key_template) {
            errors.push(FieldError::new("/partition_key_template", m));
        }
        if let Some(t) = &self.explicit_hash_key_template
            && let Err(m) = KeyTemplate::parse(t)
        {
            errors.push(FieldError::new("/explicit_hash_key_template", m));
        }
        if let Some(f) = &self.fallback_partition_key
            && !(1..=256).contains(&f.chars().count())
        {
            errors.push(FieldError::new(
                "/fallback_partition_key",
                "must be 1 to 256 characters",
            ));
        }
        errors
    }
}

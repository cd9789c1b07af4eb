//! Redis Streams config and auth_config: typed, documented (doc comments become the JSON
//! Schema), validated without I/O; the config declares the keys read from each record (the
//! stream key, when it varies, and the extra fields).

use std::collections::BTreeMap;

use courier_core::{AuthSpec, ConfigSpec, FieldError, Secret};
use courier_messages::{KeySpec, KeyTemplate, MessageConfig};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::target::Target;

/// The field every entry carries with its record's id (what the guard and readers key on).
pub const RECORD_ID_FIELD: &str = "courier_record_id";
/// The field holding the payload in the `payload` layout.
pub const PAYLOAD_FIELD: &str = "payload";
/// Where the guard keys live: `courier:dedup:<stream>:<record id>`.
pub const DEDUP_PREFIX: &str = "courier:dedup:";
/// The longest stream key, in characters.
pub const MAX_STREAM_KEY_CHARS: usize = 1024;
/// The longest name of an extra field, in bytes.
const MAX_HEADER_NAME_BYTES: usize = 256;
/// The most extra fields.
const MAX_HEADERS: usize = 64;

const DEFAULT_DEDUP_TTL_SECONDS: u64 = 86_400;
const MIN_DEDUP_TTL_SECONDS: u64 = 60;
const MAX_DEDUP_TTL_SECONDS: u64 = 30 * 86_400;
/// 1 MiB: see `max_entry_bytes`.
pub const DEFAULT_MAX_ENTRY_BYTES: u64 = 1024 * 1024;
const MIN_MAX_ENTRY_BYTES: u64 = 1024;
/// Redis' own ceiling on one argument (`proto-max-bulk-len`, 512 MB by default).
pub const MAX_MAX_ENTRY_BYTES: u64 = 512 * 1024 * 1024;

/// Where records are appended and what each entry holds.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisStreamsConfig {
    /// The Redis server: `redis://host:port/db`, or `rediss://` for TLS (the certificate is
    /// verified). The port defaults to 6379 and the database to 0. Credentials go in
    /// auth_config, never in the URL.
    #[schemars(length(min = 1, max = 2048))]
    pub url: String,
    /// The stream each record is appended to (XADD creates it). Plain text is one fixed key
    /// (`orders`); `{path}` placeholders read it from the payload (`orders:{customer.id}`).
    #[schemars(length(min = 1, max = 1024))]
    pub stream_key_template: String,
    /// The stream of records that lack the template's fields; without it such records fail
    /// alone. Only with placeholders in `stream_key_template`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub fallback_stream_key: Option<String>,
    /// What the entry holds of the payload: `payload` (one field `payload`, the payload's
    /// bytes exactly) or `top_level` (one field per top-level JSON field: strings as they are,
    /// other values as their JSON text; a record whose payload is not a JSON object fails
    /// alone).
    #[serde(default)]
    pub fields: FieldsLayout,
    /// Extra fields: field name → a template read from the payload (`type`,
    /// `{customer.id}-{type}`). Every entry also carries `courier_record_id`, and
    /// `courier_event_type` and `courier_event_id` when the record names its event.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Trims each stream to about this many entries as it grows (`XADD MAXLEN ~ n`: Redis cuts
    /// whole nodes, so a stream may hold a little more). Unset: streams are not trimmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub maxlen: Option<u64>,
    /// How long, in seconds, a record's guard key (`courier:dedup:<stream>:<record id>`)
    /// remembers its entry, so a redelivery of the record within that time appends nothing and
    /// answers the first entry's id. Each guard costs about 150 bytes of Redis memory while it
    /// lives. Default 86400 (a day).
    #[serde(default = "default_dedup_ttl_seconds")]
    #[schemars(range(min = 60, max = 2592000))]
    pub dedup_ttl_seconds: u64,
    /// The largest entry, in bytes (field names and values), a record may become; a larger
    /// record fails alone as too large. Default 1 MiB; Redis itself takes up to 512 MB.
    #[serde(default = "default_max_entry_bytes")]
    #[schemars(range(min = 1024, max = 536870912))]
    pub max_entry_bytes: u64,
    /// CA certificates (PEM) that sign the server's certificate, for `rediss://` servers with a
    /// private CA; they replace the system's roots. Unset: the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
}

fn default_dedup_ttl_seconds() -> u64 {
    DEFAULT_DEDUP_TTL_SECONDS
}

fn default_max_entry_bytes() -> u64 {
    DEFAULT_MAX_ENTRY_BYTES
}

/// How a payload becomes an entry's fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldsLayout {
    /// One field, `payload`, holding the payload's bytes exactly.
    #[default]
    Payload,
    /// The payload's top-level JSON fields, one entry field each.
    TopLevel,
}

impl RedisStreamsConfig {
    /// The one stream every record goes to, when the template has no placeholders.
    pub fn fixed_stream_key(&self) -> Option<&str> {
        (!self.stream_key_template.contains(['{', '}'])).then_some(&self.stream_key_template)
    }

    /// The server the URL names (`None` when it does not validate).
    pub fn target(&self) -> Option<Target> {
        Target::parse(&self.url).ok()
    }

    /// Why an extra field may not be called `name` (the event fields are refused by
    /// `check_named_templates` itself).
    fn header_name_problem(&self, name: &str) -> Option<String> {
        if name.is_empty() || name.len() > MAX_HEADER_NAME_BYTES {
            Some(format!(
                "must be a field name of 1 to {MAX_HEADER_NAME_BYTES} bytes"
            ))
        } else if name.eq_ignore_ascii_case(RECORD_ID_FIELD) {
            Some("is a field every entry carries; choose another name".into())
        } else if self.fields == FieldsLayout::Payload && name == PAYLOAD_FIELD {
            Some("is the field holding the payload; choose another name".into())
        } else {
            None
        }
    }
}

/// Whether the connector writes a field called `name` itself on every entry (the record id and
/// the event fields), so a payload's own field may not take it.
pub fn is_reserved_field(name: &str) -> bool {
    courier_messages::is_event_attribute(name) || name.eq_ignore_ascii_case(RECORD_ID_FIELD)
}

impl MessageConfig for RedisStreamsConfig {
    fn keys(&self) -> Vec<KeySpec<'_>> {
        let stream = KeySpec {
            field: "stream_key_template",
            name: "stream key",
            template: match self.fixed_stream_key() {
                Some(_) => None,
                None => Some(&self.stream_key_template),
            },
            fallback_field: Some("fallback_stream_key"),
            fallback: self.fallback_stream_key.as_deref(),
            max_chars: MAX_STREAM_KEY_CHARS,
        };
        let headers = self.headers.values().map(|template| KeySpec {
            field: "headers",
            name: "field",
            template: Some(template),
            fallback_field: None,
            fallback: None,
            max_chars: 64 * 1024,
        });
        std::iter::once(stream).chain(headers).collect()
    }
}

impl ConfigSpec for RedisStreamsConfig {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let target = Target::parse(&self.url);
        if let Err(message) = &target {
            errors.push(FieldError::new("/url", *message));
        }
        if let Err(message) = check_stream_key(self) {
            errors.push(FieldError::new("/stream_key_template", message));
        }
        if let Some(fallback) = &self.fallback_stream_key {
            if self.fixed_stream_key().is_some() {
                errors.push(FieldError::new(
                    "/fallback_stream_key",
                    "applies only when stream_key_template reads the key from the payload ({placeholders})",
                ));
            } else if let Err(message) = check_key_text(fallback) {
                errors.push(FieldError::new("/fallback_stream_key", message));
            }
        }
        if self.headers.len() > MAX_HEADERS {
            errors.push(FieldError::new(
                "/headers",
                format!("has more than {MAX_HEADERS} fields"),
            ));
        }
        errors.extend(courier_messages::check_named_templates(
            "headers",
            &self.headers,
            "field",
            |name| self.header_name_problem(name).map_or(Ok(()), Err),
        ));
        if self.maxlen == Some(0) {
            errors.push(FieldError::new("/maxlen", "must be at least 1"));
        }
        if !(MIN_DEDUP_TTL_SECONDS..=MAX_DEDUP_TTL_SECONDS).contains(&self.dedup_ttl_seconds) {
            errors.push(FieldError::new(
                "/dedup_ttl_seconds",
                format!("must be {MIN_DEDUP_TTL_SECONDS} to {MAX_DEDUP_TTL_SECONDS} seconds"),
            ));
        }
        if !(MIN_MAX_ENTRY_BYTES..=MAX_MAX_ENTRY_BYTES).contains(&self.max_entry_bytes) {
            errors.push(FieldError::new(
                "/max_entry_bytes",
                format!("must be {MIN_MAX_ENTRY_BYTES} to {MAX_MAX_ENTRY_BYTES} bytes"),
            ));
        }
        if let Some(pem) = &self.ca_pem {
            if matches!(&target, Ok(t) if !t.tls) {
                errors.push(FieldError::new(
                    "/ca_pem",
                    "applies to TLS servers only: use a rediss:// URL",
                ));
            } else if let Err(message) = parse_ca_pem(pem) {
                errors.push(FieldError::new("/ca_pem", message));
            }
        }
        errors
    }
}

/// Why the stream key template cannot be used, if it cannot.
fn check_stream_key(config: &RedisStreamsConfig) -> Result<(), String> {
    match config.fixed_stream_key() {
        Some(key) => check_key_text(key).map_err(str::to_string),
        None => {
            KeyTemplate::parse(&config.stream_key_template)?;
            // The text around the placeholders must not aim at the guard's own keys either.
            if config.stream_key_template.starts_with(DEDUP_PREFIX) {
                return Err(format!(
                    "must not start with {DEDUP_PREFIX}, where the delivery guard keeps its keys"
                ));
            }
            Ok(())
        }
    }
}

/// Why `key` cannot be a stream key, if it cannot: the fixed key at save time, and each key
/// rendered from a record at delivery.
pub(crate) fn check_key_text(key: &str) -> Result<(), &'static str> {
    if key.trim().is_empty() {
        return Err("must not be empty");
    }
    if key.chars().count() > MAX_STREAM_KEY_CHARS {
        return Err("must be at most 1024 characters");
    }
    if key.starts_with(DEDUP_PREFIX) {
        return Err("must not start with courier:dedup:, where the delivery guard keeps its keys");
    }
    Ok(())
}

/// The certificates of a `ca_pem`, or why there are none.
pub fn parse_ca_pem(pem: &str) -> Result<usize, &'static str> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "is not valid PEM")?;
    if certs.is_empty() {
        return Err("holds no certificate (-----BEGIN CERTIFICATE-----)");
    }
    Ok(certs.len())
}

/// Who the connector is to Redis.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisStreamsAuth {
    /// The ACL user (Redis 6+). Unset: the `default` user, with `password` if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub username: Option<String>,
    /// The user's password (`AUTH`). Unset: no AUTH is sent, for a server without
    /// authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
}

impl AuthSpec for RedisStreamsAuth {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.username.as_deref().is_some_and(str::is_empty) {
            errors.push(FieldError::new("/username", "must not be empty"));
        }
        if self.username.is_some() && self.password.is_none() {
            errors.push(FieldError::new(
                "/password",
                "is required when username is set (AUTH takes both)",
            ));
        }
        if self
            .password
            .as_ref()
            .is_some_and(|p| p.expose().is_empty())
        {
            errors.push(FieldError::new("/password", "must not be empty"));
        }
        errors
    }
}

#[cfg(test)]
mod tests;

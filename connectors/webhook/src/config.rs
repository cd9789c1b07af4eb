//! Webhook config and auth_config: typed, documented (doc comments become the JSON Schema), and
//! validated without I/O.

use std::collections::BTreeMap;

use courier_core::spec::pointer_segment;
use courier_core::{AuthSpec, ConfigSpec, FieldError, Secret};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::signing::SigningKey;

/// Where and how records are sent.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The endpoint that receives deliveries: an absolute http(s) URL without credentials.
    pub url: String,
    /// The HTTP method.
    #[serde(default)]
    pub method: HttpMethod,
    /// Extra request headers. Their values are write-only: the API shows header names only
    /// (credentials still belong in auth_config).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Deadline of one HTTP request, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    #[schemars(range(min = 1, max = 300000))]
    pub timeout_ms: u64,
    /// How records become request bodies.
    #[serde(default)]
    pub body: BodyMode,
    /// Wraps each payload in an envelope (`format`): `{"type", "id", "data"}`, or the Standard
    /// Webhooks `{"type", "timestamp", "data"}`; by default the body is the payload exactly as
    /// given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<Envelope>,
    /// Allows loopback, private, link-local and other non-public addresses. Off by default, so a
    /// destination cannot be pointed at internal services.
    #[serde(default)]
    pub allow_private_network: bool,
    /// JSON Schema of the request body the receiver expects; `describe_fields` reads its
    /// top-level properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
}

fn default_timeout_ms() -> u64 {
    30_000
}

/// The HTTP method of each delivery request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// POST (the default).
    #[default]
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
}

impl HttpMethod {
    /// The method as an [`http::Method`].
    pub fn as_http(self) -> http::Method {
        match self {
            HttpMethod::Post => http::Method::POST,
            HttpMethod::Put => http::Method::PUT,
            HttpMethod::Patch => http::Method::PATCH,
        }
    }
}

/// How records become request bodies: one request per record, or one per batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BodyMode {
    /// One request per record; the body is the record's JSON payload.
    #[default]
    Json,
    /// One request per batch; the body is a JSON array of the payloads.
    JsonArray,
    /// One request per batch; the body is the payloads, one per line.
    Ndjson,
}

/// The envelope each payload is wrapped in.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The event type written into each envelope, e.g. `contact.updated`. Absent: the type of
    /// the event each record carries (as `courier serve` names it).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub event_type: Option<String>,
    /// The envelope's shape.
    #[serde(default)]
    pub format: EnvelopeFormat,
}

/// The shape of an envelope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EnvelopeFormat {
    /// `{"type": ..., "id": <record id>, "data": <payload>}`.
    #[default]
    Courier,
    /// The Standard Webhooks payload: `{"type": ..., "timestamp": <when the event was accepted,
    /// RFC 3339>, "data": <payload>}`.
    StandardWebhooks,
}

/// Credentials: Standard Webhooks signing secrets and one optional request credential.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookAuth {
    /// Standard Webhooks secret (`whsec_` + base64 of 24 to 64 bytes), or a list of them while
    /// rotating: every request carries one signature per secret.
    #[serde(default)]
    pub signing_secret: Option<SigningSecrets>,
    /// A credential sent with every request.
    #[serde(default)]
    pub credentials: Option<Credentials>,
}

/// One signing secret, or several while rotating.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SigningSecrets {
    /// A single secret.
    One(Secret),
    /// 1 to 10 secrets; each request carries one signature per secret.
    Many(#[schemars(length(min = 1, max = 10))] Vec<Secret>),
}

impl SigningSecrets {
    /// The secrets, in the configured order.
    pub fn as_slice(&self) -> &[Secret] {
        match self {
            SigningSecrets::One(s) => std::slice::from_ref(s),
            SigningSecrets::Many(v) => v,
        }
    }
}

/// The credential sent with every request, chosen by `type`: `basic`, `bearer` or `api_key`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Credentials {
    /// HTTP Basic authentication.
    Basic {
        /// The user name (without `:`).
        username: String,
        /// The password.
        password: Secret,
    },
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The bearer token.
        token: Secret,
    },
    /// A key sent in a header of your choice, e.g. `X-API-Key`.
    ApiKey {
        /// The header that carries the key, e.g. `X-API-Key`.
        header: String,
        /// The key.
        value: Secret,
    },
}

/// Headers Courier sets itself; configuring them would break signing or the HTTP exchange.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "authorization",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    crate::client::EVENT_TYPE_HEADER,
    crate::client::EVENT_ID_HEADER,
];

impl ConfigSpec for WebhookConfig {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        // Whether the URL may point at a private network is the host's policy joined with
        // `allow_private_network`; it is checked where both are known: when the client is
        // built and before each connection (a host service also checks declared endpoints
        // when a destination is saved).
        if let Err(message) = parse_url(&self.url) {
            errors.push(FieldError::new("/url", message));
        }
        for (name, value) in &self.headers {
            let path = format!("/headers/{}", pointer_segment(name));
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                errors.push(FieldError::new(path, "is not a valid HTTP header name"));
            } else if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                errors.push(FieldError::new(
                    path,
                    "is set by Courier and cannot be configured (credentials go in auth_config)",
                ));
            } else if http::HeaderValue::from_str(value).is_err() {
                errors.push(FieldError::new(path, "is not a valid HTTP header value"));
            }
        }
        if let Some(schema) = &self.schema
            && !schema.is_object()
        {
            errors.push(FieldError::new("/schema", "must be a JSON Schema object"));
        }
        errors
    }
}

impl AuthSpec for WebhookAuth {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Some(secrets) = &self.signing_secret {
            let many = matches!(secrets, SigningSecrets::Many(_));
            for (i, s) in secrets.as_slice().iter().enumerate() {
                if let Err(message) = SigningKey::parse(s) {
                    let path = if many {
                        format!("/signing_secret/{i}")
                    } else {
                        "/signing_secret".to_string()
                    };
                    errors.push(FieldError::new(path, message));
                }
            }
        }
        match &self.credentials {
            Some(Credentials::ApiKey { header, .. })
                if http::HeaderName::from_bytes(header.as_bytes()).is_err()
                    || RESERVED_HEADERS.contains(&header.to_ascii_lowercase().as_str()) =>
            {
                errors.push(FieldError::new(
                    "/credentials/header",
                    "must be a valid HTTP header name that Courier does not set itself",
                ));
            }
            Some(Credentials::Basic { username, .. }) if username.contains(':') => {
                errors.push(FieldError::new(
                    "/credentials/username",
                    "must not contain ':'",
                ));
            }
            _ => {}
        }
        errors
    }
}

/// Parses and checks the endpoint URL. Messages never echo the URL (it could carry a token).
pub fn parse_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|_| "must be an absolute http(s) URL".to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an absolute http(s) URL".into());
    }
    if url.host().is_none() {
        return Err("must name a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials; use auth_config.credentials".into());
    }
    if url.fragment().is_some() {
        return Err("must not contain a #fragment".into());
    }
    Ok(url)
}

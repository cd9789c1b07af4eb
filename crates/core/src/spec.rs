//! Config and auth_config traits, and `FieldError`: one validation problem at one JSON path.

use std::fmt;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A destination's non-secret configuration: stored, shown back, and described by a JSON Schema
/// generated from the type (doc comments become descriptions). Types deny unknown fields.
pub trait ConfigSpec:
    DeserializeOwned + Serialize + JsonSchema + fmt::Debug + Send + Sync + 'static
{
    /// Checks the schema cannot express. Pure: no I/O. Paths are JSON pointers relative to the
    /// config object (`/url`); the caller prefixes `/config`.
    fn validate(&self) -> Vec<FieldError> {
        Vec::new()
    }
}

/// A destination's credentials. Deserialize only: never serialized back out. Secret fields are
/// `Secret`, so Debug output is redacted.
pub trait AuthSpec: DeserializeOwned + JsonSchema + fmt::Debug + Send + Sync + 'static {
    /// As [`ConfigSpec::validate`]; messages must never quote a secret value.
    fn validate(&self) -> Vec<FieldError> {
        Vec::new()
    }
}

/// Connectors without credentials use `NoAuth`: it accepts only an empty object (or null).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoAuth {}

impl AuthSpec for NoAuth {}

/// One problem with one field, located by a JSON pointer such as `/config/url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// JSON pointer to the offending field; empty for the document itself.
    pub path: String,
    /// What is wrong, for a person; never quotes the value (it may be a secret).
    pub message: String,
}

impl FieldError {
    /// A problem at `path` (a JSON pointer), described by `message`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The same error under a parent path (`/url` under `/config` is `/config/url`).
    pub fn under(mut self, parent: &str) -> Self {
        self.path = format!("{parent}{}", self.path);
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.message)
    }
}

/// Escapes one JSON-pointer segment (RFC 6901).
pub fn pointer_segment(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

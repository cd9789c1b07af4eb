//! Onedrive config: typed, documented (doc comments become the JSON Schema), and validated
//! without I/O. The connector needs no credentials, so its auth_config is `NoAuth`.

use std::path::{Component, Path};

use courier_core::{ConfigSpec, FieldError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where records are written.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OnedriveConfig {
    /// The local directory that receives one file per record: an absolute path without `..`
    /// segments. It must exist and be writable by the Courier process.
    #[schemars(length(min = 1))]
    pub directory: String,
}

impl ConfigSpec for OnedriveConfig {
    fn validate(&self) -> Vec<FieldError> {
        match check_directory(&self.directory) {
            Ok(()) => Vec::new(),
            Err(message) => vec![FieldError::new("/directory", message)],
        }
    }
}

/// Why `raw` cannot be the target directory, if it cannot.
fn check_directory(raw: &str) -> Result<(), &'static str> {
    let path = Path::new(raw);
    if !path.is_absolute() {
        return Err("must be an absolute path");
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err("must not contain `..` segments");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(directory: &str) -> Vec<FieldError> {
        let config: OnedriveConfig =
            serde_json::from_value(serde_json::json!({ "directory": directory })).unwrap();
        config.validate()
    }

    #[test]
    fn accepts_absolute_paths() {
        let dir = std::env::temp_dir();
        assert_eq!(errors(dir.to_str().unwrap()), Vec::new());
    }

    #[test]
    fn refuses_relative_paths_and_parent_segments() {
        assert_eq!(errors("relative/dir")[0].path, "/directory");
        let up = std::env::temp_dir().join("..").join("elsewhere");
        assert_eq!(
            errors(up.to_str().unwrap())[0].message,
            "must not contain `..` segments"
        );
    }

    #[test]
    fn refuses_unknown_fields() {
        let parsed = serde_json::from_value::<OnedriveConfig>(
            serde_json::json!({ "directory": "/tmp", "bucket": "x" }),
        );
        assert!(parsed.is_err());
    }
}

//! `FileOptions`: the config fields every file-style connector shares, and their validation.

use courier_core::{Field, FieldError, FieldType};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::format::{Compression, Format};
use crate::template::{DEFAULT_TEMPLATE, KeyTemplate};

/// The file options of object stores: the layout plus a `key_template`. Connectors whose
/// files have names rather than keys (SFTP, Drive, OneDrive) flatten [`FileLayout`] beside their
/// own `file_name_template` instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FileOptions {
    /// Where each file goes, relative to the prefix. Variables: {destination_id}, {batch_id},
    /// {yyyy}, {mm}, {dd}, {hh}, {record_count}, {ext}. Must contain {batch_id}.
    #[serde(default = "default_template")]
    pub key_template: String,
    /// Format, compression, CSV columns and size limit (flattened into the same config object).
    #[serde(flatten)]
    pub layout: FileLayout,
}

/// How a batch is laid out in a file: format, compression, CSV columns, and the size limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FileLayout {
    /// How records are laid out in the file.
    #[serde(default)]
    pub format: Format,
    /// How the file is compressed.
    #[serde(default)]
    pub compression: Compression,
    /// The CSV columns, in order: top-level fields of each record, or dot paths such as
    /// `user.email`. Required for `format: csv`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// Split a batch whose file would exceed the payload cap into several files (each within the
    /// cap) instead of refusing it.
    #[serde(default)]
    pub split_oversized: bool,
    /// The most one file may hold before compression, in bytes (5 MiB by default, at most the
    /// connector's limit). The same as `payload_cap_bytes` beside `config`; set one of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub payload_cap_bytes: Option<u64>,
    /// Write each record as `{"type", "id", "event_id", "timestamp", "data"}`: the event it
    /// carries (type, id, when it was accepted; null where the host names none), the record id
    /// and the payload. CSV columns then address the envelope (`type`, `data.user.email`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub record_envelope: bool,
}

fn default_template() -> String {
    DEFAULT_TEMPLATE.to_string()
}

impl Default for FileOptions {
    fn default() -> Self {
        FileOptions {
            key_template: default_template(),
            layout: FileLayout::default(),
        }
    }
}

impl std::ops::Deref for FileOptions {
    type Target = FileLayout;

    fn deref(&self) -> &FileLayout {
        &self.layout
    }
}

impl FileOptions {
    /// Every problem, at paths relative to the config (`/key_template`, `/columns/2`).
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors: Vec<FieldError> = check_template("/key_template", &self.key_template)
            .into_iter()
            .collect();
        errors.extend(self.layout.validate());
        errors
    }

    /// The template's field and text, for [`crate::FileConfig::name_template`].
    pub fn name_template(&self) -> (&'static str, &str) {
        ("key_template", &self.key_template)
    }

    /// The parsed template (call after `validate` passed).
    pub fn template(&self) -> Result<KeyTemplate, String> {
        KeyTemplate::parse(&self.key_template)
    }
}

/// Checks a key or file name template, reporting at `path`.
pub fn check_template(path: &str, source: &str) -> Option<FieldError> {
    KeyTemplate::parse(source)
        .err()
        .map(|message| FieldError::new(path, message))
}

impl FileLayout {
    /// Every problem, at paths relative to the config (`/columns/2`).
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        match self.format {
            Format::Csv if self.columns.is_empty() => {
                errors.push(FieldError::new("/columns", "is required for format: csv"));
            }
            Format::Csv => {
                for (i, c) in self.columns.iter().enumerate() {
                    if c.trim().is_empty() {
                        errors.push(FieldError::new(
                            format!("/columns/{i}"),
                            "must not be empty",
                        ));
                    } else if self.columns[..i].contains(c) {
                        errors.push(FieldError::new(
                            format!("/columns/{i}"),
                            "repeats an earlier column",
                        ));
                    }
                }
            }
            _ if !self.columns.is_empty() => {
                errors.push(FieldError::new("/columns", "only applies to format: csv"));
            }
            _ => {}
        }
        errors
    }

    /// The extension files get: `ndjson`, `csv.gz`, ...
    pub fn extension(&self) -> String {
        crate::format::extension(self.format, self.compression)
    }

    /// What a file destination accepts: the CSV columns, or the record's payload as a whole.
    pub fn fields(&self) -> Vec<Field> {
        match self.format {
            Format::Csv => self
                .columns
                .iter()
                .map(|c| Field::new(c, FieldType::String, false, format!("CSV column `{c}`")))
                .collect(),
            _ => vec![Field::new(
                "payload",
                FieldType::Object,
                true,
                "The record's payload, written to the file exactly as given",
            )],
        }
    }
}

/// Checks a key or path prefix: relative, no `.`/`..` segments, `//`, `\\` or control
/// characters, so a rendered key can never leave it.
pub fn check_prefix(prefix: &str) -> Option<FieldError> {
    let bad = prefix.starts_with('/')
        || prefix.split('/').any(|s| s == ".." || s == ".")
        || prefix.contains("//")
        || prefix.chars().any(|c| c.is_control() || c == '\\');
    bad.then(|| {
        FieldError::new(
            "/prefix",
            "must be a relative prefix without `.`/`..` segments, `//`, `\\` or control characters",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_fields() {
        let o = FileOptions {
            key_template: "{nope}".into(),
            layout: FileLayout {
                format: Format::Csv,
                columns: vec!["a".into(), "".into(), "a".into()],
                ..FileLayout::default()
            },
        };
        let paths: Vec<String> = o.validate().into_iter().map(|e| e.to_string()).collect();
        assert!(
            paths[0].starts_with("/key_template: uses unknown variable {nope}"),
            "{paths:?}"
        );
        assert_eq!(paths[1], "/columns/1: must not be empty");
        assert_eq!(paths[2], "/columns/2: repeats an earlier column");
        let o = FileOptions {
            layout: FileLayout {
                format: Format::Csv,
                ..FileLayout::default()
            },
            ..FileOptions::default()
        };
        assert_eq!(
            o.validate()[0].to_string(),
            "/columns: is required for format: csv"
        );
        assert!(FileOptions::default().validate().is_empty());
    }
}

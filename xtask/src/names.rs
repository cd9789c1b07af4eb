//! Connector names: validation of the kebab-case name and its other spellings (type id, crate,
//! Rust identifiers, label), by the one fixed rule the architecture document states.

use anyhow::{Result, bail};

/// Names the generated code imports, defines or takes from the prelude; a connector struct with
/// one of these names would not compile, so such connector names are refused up front.
const TAKEN_IDENTS: &[&str] = &[
    // src/lib.rs
    "Batch",
    "BatchOutcome",
    "Capabilities",
    "Category",
    "Connector",
    "ConnectorError",
    "ConnectorMeta",
    "Delivered",
    "Env",
    "Example",
    "Field",
    "FieldType",
    "Instant",
    "NoAuth",
    "PathBuf",
    "Probe",
    "RecordOutcome",
    // tests/conformance.rs
    "Arc",
    "Bytes",
    "Fixture",
    "FutureExt",
    "Path",
    "Record",
    // the prelude, and the one capitalised keyword
    "Box",
    "Clone",
    "Copy",
    "Default",
    "Err",
    "None",
    "Ok",
    "Option",
    "Result",
    "Self",
    "Send",
    "Some",
    "String",
    "Sync",
    "Vec",
];

/// Feature names the catalog already uses for other things.
const TAKEN_FEATURES: &[&str] = &["all", "default"];

/// One connector name in every spelling the repository uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorName {
    /// Directory, feature and crate suffix: `azure-blob`.
    pub kebab: String,
    /// Type id in APIs and the catalog: `azure_blob`.
    pub type_id: String,
    /// Rust struct name: `AzureBlob`.
    pub camel: String,
    /// Human label: `Azure Blob`.
    pub label: String,
}

impl ConnectorName {
    /// Parses a kebab-case name (`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`), refusing reserved ones.
    pub fn parse(raw: &str) -> Result<Self> {
        if !is_kebab(raw) {
            bail!(
                "invalid connector name `{raw}`: use kebab-case, lower-case letters and digits in \
                 words joined by single hyphens, starting with a letter (e.g. `azure-blob`)"
            );
        }
        if TAKEN_FEATURES.contains(&raw) {
            bail!("invalid connector name `{raw}`: it is already a feature name of the catalog");
        }
        let words: Vec<&str> = raw.split('-').collect();
        let camel: String = words.iter().map(|w| capitalize(w)).collect();
        if TAKEN_IDENTS.contains(&camel.as_str()) {
            bail!(
                "invalid connector name `{raw}`: its struct name `{camel}` collides with a name the \
                 generated code imports; choose a more specific name"
            );
        }
        Ok(ConnectorName {
            kebab: raw.to_string(),
            type_id: words.join("_"),
            label: words
                .iter()
                .map(|w| capitalize(w))
                .collect::<Vec<_>>()
                .join(" "),
            camel,
        })
    }

    /// The package name: `courier-connector-azure-blob`.
    pub fn crate_name(&self) -> String {
        format!("courier-connector-{}", self.kebab)
    }

    /// The crate as a Rust path segment: `courier_connector_azure_blob`.
    pub fn crate_ident(&self) -> String {
        format!("courier_connector_{}", self.type_id)
    }
}

/// `^[a-z][a-z0-9]*(-[a-z0-9]+)*$`, without a regex engine.
pub fn is_kebab(s: &str) -> bool {
    let mut words = s.split('-');
    let Some(first) = words.next() else {
        return false;
    };
    if !first.starts_with(|c: char| c.is_ascii_lowercase()) {
        return false;
    }
    let word_ok = |w: &str| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    word_ok(first) && words.all(word_ok)
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_follow_the_rule() {
        let n = ConnectorName::parse("azure-blob").unwrap();
        assert_eq!(n.kebab, "azure-blob");
        assert_eq!(n.type_id, "azure_blob");
        assert_eq!(n.camel, "AzureBlob");
        assert_eq!(n.label, "Azure Blob");
        assert_eq!(n.crate_name(), "courier-connector-azure-blob");
        assert_eq!(n.crate_ident(), "courier_connector_azure_blob");

        let s3 = ConnectorName::parse("s3").unwrap();
        assert_eq!((s3.type_id.as_str(), s3.camel.as_str()), ("s3", "S3"));
        let drive = ConnectorName::parse("google-drive-v2").unwrap();
        assert_eq!(drive.camel, "GoogleDriveV2");
        assert_eq!(drive.type_id, "google_drive_v2");
    }

    #[test]
    fn kebab_pattern() {
        for ok in ["a", "s3", "azure-blob", "one-2-three", "x9-y"] {
            assert!(is_kebab(ok), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a--b",
            "A",
            "azureBlob",
            "azure_blob",
            "1abc",
            "a b",
            "a-B",
            "é",
            "a.b",
        ] {
            assert!(!is_kebab(bad), "{bad}");
        }
    }

    #[test]
    fn refuses_invalid_and_reserved_names() {
        assert!(ConnectorName::parse("Azure").is_err());
        assert!(ConnectorName::parse("all").is_err());
        assert!(ConnectorName::parse("default").is_err());
        for taken in ["field", "result", "self", "record"] {
            let err = ConnectorName::parse(taken).unwrap_err().to_string();
            assert!(err.contains("collides"), "{err}");
        }
    }
}

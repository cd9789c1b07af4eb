//! The catalog of compiled-in connectors: lookup by type id, building destinations from JSON, and
//! the catalog document front ends build their forms from.
//!
//! ```
//! use courier_catalog::{Catalog, LookupError};
//! use courier_core::DestinationSpec;
//!
//! // Every connector the enabled cargo features compiled in (all of them by default).
//! let catalog = Catalog::builtin();
//! assert!(catalog.types().any(|t| t == "webhook"));
//!
//! let webhook = catalog.get("webhook").unwrap();
//! assert_eq!(webhook.metadata().type_id, "webhook");
//!
//! // Validation reports every problem at its JSON path, without connecting.
//! let spec = DestinationSpec {
//!     config: serde_json::json!({"url": "https://api.example.com/webhook"}),
//!     ..Default::default()
//! };
//! assert!(catalog.validate("webhook", &spec).is_empty());
//!
//! assert!(matches!(catalog.get("nope"), Err(LookupError::Unknown { .. })));
//! ```

#![warn(missing_docs)]

mod document;
mod known;
mod registry;

use std::collections::BTreeMap;
use std::sync::Arc;

use courier_core::{BuildError, Destination, DestinationSpec, DynConnector, FieldError};

pub use document::{CatalogDocument, ConnectorEntry, ExampleEntry};
pub use known::KNOWN_TYPES;

/// Why a type id did not resolve to a connector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// The type exists in Courier but its connector's cargo feature is off in this build.
    #[error(
        "`{type_id}` is not compiled into this build (enable cargo feature `{feature}` of courier-catalog)"
    )]
    NotCompiled {
        /// The type id that was asked for.
        type_id: String,
        /// The cargo feature of courier-catalog that compiles the connector in.
        feature: &'static str,
    },
    /// No connector of this type exists at all.
    #[error("unknown destination type `{type_id}`; known types: {known}")]
    Unknown {
        /// The type id that was asked for.
        type_id: String,
        /// The type ids in this catalog, comma-separated (`(none)` when it is empty).
        known: String,
    },
}

/// The connectors compiled into this build, by type id.
#[derive(Clone, Default)]
pub struct Catalog {
    connectors: BTreeMap<&'static str, Arc<dyn DynConnector>>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.connectors.keys()).finish()
    }
}

impl Catalog {
    /// Every connector this build's features selected.
    pub fn builtin() -> Self {
        registry::builtin()
    }

    /// An empty catalog, for hosts that register their own connectors.
    pub fn empty() -> Self {
        Catalog::default()
    }

    /// Registers a connector; a later one with the same type id replaces the earlier.
    pub fn add(&mut self, connector: impl DynConnector) -> &mut Self {
        let type_id = connector.metadata().type_id;
        self.connectors.insert(type_id, Arc::new(connector));
        self
    }

    /// The type ids of the registered connectors, in sorted order.
    pub fn types(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.connectors.keys().copied()
    }

    /// The connector registered under `type_id`; the error tells a type whose feature is off
    /// apart from one that does not exist.
    pub fn get(&self, type_id: &str) -> Result<Arc<dyn DynConnector>, LookupError> {
        if let Some(c) = self.connectors.get(type_id) {
            return Ok(c.clone());
        }
        if let Some((_, feature)) = KNOWN_TYPES.iter().find(|(t, _)| *t == type_id) {
            return Err(LookupError::NotCompiled {
                type_id: type_id.to_string(),
                feature,
            });
        }
        let known: Vec<&str> = self.types().collect();
        Err(LookupError::Unknown {
            type_id: type_id.to_string(),
            known: if known.is_empty() {
                "(none)".into()
            } else {
                known.join(", ")
            },
        })
    }

    /// Every problem with a destination of `type_id`, at its JSON path (`/destination_type` for
    /// an unknown type).
    pub fn validate(&self, type_id: &str, spec: &DestinationSpec) -> Vec<FieldError> {
        match self.get(type_id) {
            Ok(c) => c.validate(spec),
            Err(e) => vec![FieldError::new("/destination_type", e.to_string())],
        }
    }

    /// Validates and builds a destination.
    pub async fn build(
        &self,
        type_id: &str,
        spec: &DestinationSpec,
    ) -> Result<Arc<dyn Destination>, BuildError> {
        let connector = self.get(type_id).map_err(|e| {
            BuildError::Invalid(vec![FieldError::new("/destination_type", e.to_string())])
        })?;
        connector.build(spec).await
    }

    /// The catalog document of every connector in this build.
    pub fn document(&self) -> CatalogDocument {
        CatalogDocument {
            connectors: self
                .connectors
                .values()
                .map(|c| ConnectorEntry::of(c.as_ref()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_not_compiled_are_told_apart() {
        let empty = Catalog::empty();
        let Err(e) = empty.get("webhook") else {
            panic!()
        };
        assert!(
            matches!(
                e,
                LookupError::NotCompiled {
                    feature: "webhook",
                    ..
                }
            ),
            "{e}"
        );
        let Err(e) = empty.get("webhookz") else {
            panic!()
        };
        assert!(
            e.to_string()
                .starts_with("unknown destination type `webhookz`"),
            "{e}"
        );
    }

    #[cfg(feature = "webhook")]
    #[tokio::test]
    async fn builds_with_every_error_at_its_path() {
        let catalog = Catalog::builtin();
        let spec = DestinationSpec {
            config: serde_json::json!({"url": "ftp://x", "method": "GET", "extra": 1}),
            auth_config: serde_json::json!({"signing_secret": "nope"}),
            ..Default::default()
        };
        let Err(BuildError::Invalid(errors)) = catalog.build("webhook", &spec).await else {
            panic!("must be invalid")
        };
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert!(
            text.iter()
                .any(|t| t.starts_with("/config/method: must be one of")),
            "{text:?}"
        );
        assert!(
            text.contains(&"/config/extra: unknown field".to_string()),
            "{text:?}"
        );

        // Schema-valid but semantically wrong values are reported together too.
        let spec = DestinationSpec {
            config: serde_json::json!({"url": "ftp://x"}),
            auth_config: serde_json::json!({"signing_secret": "nope"}),
            ..Default::default()
        };
        let text: Vec<String> = catalog
            .validate("webhook", &spec)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert!(
            text.contains(&"/config/url: must be an absolute http(s) URL".to_string()),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("/auth_config/signing_secret: must start with whsec_")),
            "{text:?}"
        );
    }

    #[cfg(feature = "webhook")]
    #[test]
    fn document_lists_compiled_connectors_with_schemas() {
        let doc = Catalog::builtin().document();
        let webhook = doc
            .connectors
            .iter()
            .find(|c| c.meta.type_id == "webhook")
            .unwrap();
        assert_eq!(
            webhook.config_schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert!(
            webhook
                .auth_config_schema
                .to_string()
                .contains("\"writeOnly\":true")
        );
        assert!(!webhook.examples.is_empty());
    }

    #[test]
    fn every_known_type_is_snake_case_and_feature_kebab_case() {
        for (t, feature) in KNOWN_TYPES {
            assert_eq!(t.replace('_', "-"), *feature);
        }
    }
}

//! The catalog document: each connector's metadata, capabilities, test steps, JSON Schemas of its
//! config and auth_config, and examples.

use courier_core::{ConnectorMeta, DynConnector};
use serde::Serialize;
use serde_json::Value;

/// The catalog document front ends build their forms from (see
/// [`Catalog::document`](crate::Catalog::document)).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CatalogDocument {
    /// One entry per compiled-in connector, sorted by type id.
    pub connectors: Vec<ConnectorEntry>,
}

/// One connector in the catalog document.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ConnectorEntry {
    /// The connector's metadata, serialized flat into the entry (its examples are not: see
    /// `examples`).
    #[serde(flatten)]
    pub meta: ConnectorMeta,
    /// The JSON Schema (draft 2020-12) of the connector's `config`.
    #[schemars(with = "serde_json::Map<String, Value>")]
    pub config_schema: Value,
    /// The JSON Schema (draft 2020-12) of the connector's `auth_config`.
    #[schemars(with = "serde_json::Map<String, Value>")]
    pub auth_config_schema: Value,
    /// The connector's example destinations, parsed from their JSON text.
    pub examples: Vec<ExampleEntry>,
}

/// An example destination, with its config and auth_config as JSON.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ExampleEntry {
    /// A short title.
    pub name: &'static str,
    /// The example's config (`null` if its text was not valid JSON).
    #[schemars(with = "serde_json::Map<String, Value>")]
    pub config: Value,
    /// The example's auth_config, with placeholders for secrets (`null` if its text was not
    /// valid JSON).
    #[schemars(with = "serde_json::Map<String, Value>")]
    pub auth_config: Value,
}

impl ConnectorEntry {
    /// The entry of `connector`: its metadata, both schemas and its examples.
    pub fn of(connector: &dyn DynConnector) -> Self {
        let meta = connector.metadata();
        ConnectorEntry {
            meta: meta.clone(),
            config_schema: connector.config_schema(),
            auth_config_schema: connector.auth_schema(),
            examples: meta
                .examples
                .iter()
                .map(|e| ExampleEntry {
                    name: e.name,
                    // Examples are checked to be valid JSON by the conformance suite.
                    config: serde_json::from_str(e.config).unwrap_or(Value::Null),
                    auth_config: serde_json::from_str(e.auth_config).unwrap_or(Value::Null),
                })
                .collect(),
        }
    }
}

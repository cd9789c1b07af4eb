//! The catalog document: each connector's metadata, capabilities, test steps, JSON Schemas of its
//! config and auth_config, and examples.

use courier_core::{ConnectorMeta, DynConnector};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CatalogDocument {
    pub connectors: Vec<ConnectorEntry>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ConnectorEntry {
    #[serde(flatten)]
    pub meta: ConnectorMeta,
    /// The JSON Schema (draft 2020-12) of the connector's `config`.
    #[schemars(with = "serde_json::Map<String, Value>")]
    pub config_schema: Value,
    /// The JSON Schema (draft 2020-12) of the connector's `auth_config`.
    #[schemars(with = "serde_json::Map<String, Value>")]
    pub auth_config_schema: Value,
    pub examples: Vec<ExampleEntry>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ExampleEntry {
    pub name: &'static str,
    #[schemars(with = "serde_json::Map<String, Value>")]
    pub config: Value,
    #[schemars(with = "serde_json::Map<String, Value>")]
    pub auth_config: Value,
}

impl ConnectorEntry {
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

//! Destination request bodies, typed: the fields a create or an update may carry, checked
//! against their JSON Schema (the one the OpenAPI document publishes) with every problem at
//! its JSON path; read-only fields refused by name, unknown ones as unknown.

use std::borrow::Cow;

use courier_core::FieldError;
use courier_runtime::DeliveryPolicy;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::model::{Name, nullable};
use super::valid::Input;

/// The delivery policy's fields a body gives, by name (each optional: an absent one keeps its
/// stored or default value).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(transparent)]
pub struct PolicyFields(pub Map<String, Value>);

impl JsonSchema for PolicyFields {
    fn schema_name() -> Cow<'static, str> {
        "PolicyFields".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = DeliveryPolicy::json_schema(generator);
        if let Some(obj) = schema.as_object_mut() {
            obj.remove("required");
            obj.remove("additionalProperties");
            obj.remove("description");
            if let Some(Value::Object(properties)) = obj.get_mut("properties") {
                for property in properties.values_mut() {
                    if let Value::Object(p) = property {
                        p.remove("default");
                    }
                }
            }
        }
        schema
    }
}

/// A connector type from the catalog, such as `webhook` or `s3`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, JsonSchema)]
#[serde(transparent)]
pub struct ConnectorType(
    #[schemars(length(min = 1, max = 100), regex(pattern = r"^[a-z0-9_]+$"))] pub String,
);

/// A URL-safe name: lowercase letters and digits joined by single dashes.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Slug(
    #[schemars(
        length(min = 1, max = 64),
        regex(pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$")
    )]
    pub String,
);

/// A destination's fields as a body gives them.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(extend("additionalProperties" = false))]
pub struct DestinationFields {
    /// Display name, unique in the workspace.
    #[serde(default)]
    #[schemars(with = "Name")]
    pub name: Option<Name>,
    /// URL-safe name, unique in the workspace; derived from the name when omitted.
    #[serde(default)]
    #[schemars(with = "Slug")]
    pub slug: Option<Slug>,
    #[serde(default)]
    #[schemars(with = "ConnectorType")]
    pub destination_type: Option<ConnectorType>,
    /// Checked against the connector's `config_schema` in the catalog.
    #[serde(default)]
    #[schemars(with = "Map<String, Value>")]
    pub config: Option<Map<String, Value>>,
    /// Checked against the connector's `auth_config_schema`; stored encrypted, never returned.
    #[serde(default)]
    #[schemars(with = "Map<String, Value>", extend("writeOnly" = true))]
    pub auth_config: Option<Map<String, Value>>,
    /// A webhook's signing secret (`whsec_` and base64); generated when omitted.
    #[serde(default)]
    #[schemars(
        with = "String",
        length(min = 1, max = 200),
        extend("writeOnly" = true)
    )]
    pub signing_secret: Option<String>,
    /// Inactive destinations get no deliveries.
    #[serde(default)]
    #[schemars(with = "bool")]
    pub is_active: Option<bool>,
    /// The largest payload sent in one record, in bytes (`null`: the connector's default).
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(range(min = 1))]
    pub payload_cap_bytes: Option<Option<u64>>,
    #[serde(flatten)]
    pub policy: PolicyFields,
}

/// A new destination: name, type and config are required.
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct DestinationCreate(pub DestinationFields);

impl JsonSchema for DestinationCreate {
    fn schema_name() -> Cow<'static, str> {
        "DestinationCreate".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = DestinationFields::json_schema(generator);
        schema.insert(
            "required".into(),
            serde_json::json!(["name", "destination_type", "config"]),
        );
        schema
    }
}

/// Changes to a destination: each field given replaces the stored one (`PATCH` merges
/// `config` and `auth_config` instead).
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct DestinationUpdate(pub DestinationFields);

impl JsonSchema for DestinationUpdate {
    fn schema_name() -> Cow<'static, str> {
        "DestinationUpdate".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        DestinationFields::json_schema(generator)
    }
}

pub const READ_ONLY: &[&str] = &[
    "id",
    "workspace_id",
    "status",
    "status_error",
    "has_auth_config",
    "has_signing_secret",
    "has_oauth_tokens",
    "event_count",
    "failed_count",
    "failing_since",
    "last_delivery_at",
    "last_delivery_status",
    "created_by",
    "created_at",
    "updated_at",
    "route_usages",
];

impl Input for DestinationCreate {
    fn read_only() -> &'static [&'static str] {
        READ_ONLY
    }
}

impl Input for DestinationUpdate {
    fn read_only() -> &'static [&'static str] {
        READ_ONLY
    }
}

/// The fields a create or update may carry (all optional here; create's schema requires
/// what it needs).
#[derive(Debug, Default)]
pub struct DestinationInput {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub destination_type: Option<String>,
    pub config: Option<Map<String, Value>>,
    pub auth_config: Option<Map<String, Value>>,
    pub signing_secret: Option<String>,
    pub is_active: Option<bool>,
    /// `Some(None)`: cleared with `null`.
    pub payload_cap_bytes: Option<Option<u64>>,
    /// Delivery policy fields given, by name.
    pub policy: Map<String, Value>,
}

impl From<DestinationFields> for DestinationInput {
    fn from(f: DestinationFields) -> Self {
        DestinationInput {
            name: f.name.map(|n| n.0),
            slug: f.slug.map(|s| s.0),
            destination_type: f.destination_type.map(|t| t.0),
            config: f.config,
            auth_config: f.auth_config,
            signing_secret: f.signing_secret,
            is_active: f.is_active,
            payload_cap_bytes: f.payload_cap_bytes,
            policy: f.policy.0,
        }
    }
}

/// Parses a destination body as `T` (create or update): the fields that are sound, and every
/// problem at its path (so callers can add the connector's findings and answer with all of
/// them at once).
pub fn parse<T>(body: &Value) -> (DestinationInput, Vec<FieldError>)
where
    T: Input + Into<DestinationFields>,
{
    let mut errors = Vec::new();
    let mut body = body.clone();
    if let Some(fields) = body.as_object_mut() {
        for name in T::read_only() {
            if fields.remove(*name).is_some() {
                errors.push(FieldError::new(format!("/{name}"), "is read-only"));
            }
        }
    }
    let schema = courier_core::schema::schema_of::<T>();
    let (parsed, more) = courier_core::schema::parse_lenient::<T>(&schema, &body, "", false);
    errors.extend(more);
    let input = match parsed {
        Some(t) => t.into().into(),
        // A required field is missing: the fields given are still read, so the connector's
        // findings come back in the same answer.
        None => {
            let any = courier_core::schema::schema_of::<DestinationUpdate>();
            courier_core::schema::parse_lenient::<DestinationUpdate>(&any, &body, "", false)
                .0
                .map(|u| u.0.into())
                .unwrap_or_default()
        }
    };
    (input, errors)
}

impl From<DestinationCreate> for DestinationFields {
    fn from(c: DestinationCreate) -> Self {
        c.0
    }
}

impl From<DestinationUpdate> for DestinationFields {
    fn from(u: DestinationUpdate) -> Self {
        u.0
    }
}

/// Applies an RFC 7396 JSON merge patch to `target`.
pub fn merge_patch(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(inner) => {
                let slot = target
                    .entry(key.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Value::Object(existing) = slot {
                    merge_patch(existing, inner);
                }
            }
            other => {
                target.insert(key.clone(), other.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let (_, errors) = parse::<DestinationUpdate>(&json!({
            "name": "", "config": [], "id": "x", "colour": "red", "timeout_ms": 5,
            "payload_cap_bytes": -1, "is_active": "yes", "retry_backoff_type": "sideways"
        }));
        let mut paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        paths.sort();
        assert_eq!(
            paths,
            [
                "/colour",
                "/config",
                "/id",
                "/is_active",
                "/name",
                "/payload_cap_bytes",
                "/retry_backoff_type"
            ]
        );
        let (ok, errors) = parse::<DestinationUpdate>(
            &json!({"name": "A", "timeout_ms": 5, "payload_cap_bytes": null}),
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(ok.policy["timeout_ms"], 5);
        assert_eq!(ok.payload_cap_bytes, Some(None));
        let (_, errors) = parse::<DestinationCreate>(&json!({"name": "A"}));
        let mut paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        paths.sort();
        assert_eq!(paths, ["/config", "/destination_type"]);
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut target = json!({"a": 1, "b": {"c": 2, "d": 3}})
            .as_object()
            .unwrap()
            .clone();
        let patch = json!({"a": null, "b": {"c": 5}, "e": [1]})
            .as_object()
            .unwrap()
            .clone();
        merge_patch(&mut target, &patch);
        assert_eq!(
            Value::Object(target),
            json!({"b": {"c": 5, "d": 3}, "e": [1]})
        );
    }
}

//! Destination request bodies: every field checked at once, each problem at its JSON path,
//! unknown and read-only fields refused by name.

use courier_core::FieldError;
use courier_runtime::DeliveryPolicy;
use serde_json::{Map, Value};

/// The fields a create or update may carry (all optional here; create checks what it needs).
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

const READ_ONLY: &[&str] = &[
    "id",
    "workspace_id",
    "status",
    "status_error",
    "has_auth_config",
    "has_signing_secret",
    "event_count",
    "last_delivery_at",
    "last_delivery_status",
    "created_by",
    "created_at",
    "updated_at",
];

/// The delivery policy's field names (`timeout_ms`, `retry_enabled`, ...).
pub fn policy_fields() -> Vec<String> {
    match serde_json::to_value(DeliveryPolicy::default()) {
        Ok(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

pub(super) fn string(
    value: &Value,
    path: &str,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match value.as_str() {
        Some(s) if s.trim().is_empty() => {
            errors.push(FieldError::new(path, "must not be empty"));
            None
        }
        Some(s) if s.chars().count() > max => {
            errors.push(FieldError::new(
                path,
                format!("must be at most {max} characters"),
            ));
            None
        }
        Some(s) if s.chars().any(char::is_control) => {
            errors.push(FieldError::new(path, "must not contain control characters"));
            None
        }
        Some(s) => Some(s.to_string()),
        None => {
            errors.push(FieldError::new(path, "must be a string"));
            None
        }
    }
}

fn object(value: &Value, path: &str, errors: &mut Vec<FieldError>) -> Option<Map<String, Value>> {
    match value {
        Value::Object(map) => Some(map.clone()),
        _ => {
            errors.push(FieldError::new(path, "must be an object"));
            None
        }
    }
}

/// Parses a destination body: the fields that are sound, and every problem at its path (so
/// callers can add the connector's findings and answer with all of them at once).
pub fn parse(body: &Value) -> (DestinationInput, Vec<FieldError>) {
    let Value::Object(fields) = body else {
        return (
            DestinationInput::default(),
            vec![FieldError::new("", "the body must be a JSON object")],
        );
    };
    let policy_names = policy_fields();
    let mut input = DestinationInput::default();
    let mut errors = Vec::new();
    for (key, value) in fields {
        let path = format!("/{}", courier_core::spec::pointer_segment(key));
        match key.as_str() {
            "name" => input.name = string(value, &path, 200, &mut errors),
            "slug" => {
                input.slug = string(value, &path, 64, &mut errors);
                if let Some(slug) = &input.slug
                    && crate::ids::slugify(slug) != *slug
                {
                    errors.push(FieldError::new(
                        &path,
                        "must be lowercase letters, digits and single dashes",
                    ));
                }
            }
            "destination_type" => input.destination_type = string(value, &path, 100, &mut errors),
            "config" => input.config = object(value, &path, &mut errors),
            "auth_config" => input.auth_config = object(value, &path, &mut errors),
            "signing_secret" => input.signing_secret = string(value, &path, 200, &mut errors),
            "is_active" => match value.as_bool() {
                Some(b) => input.is_active = Some(b),
                None => errors.push(FieldError::new(&path, "must be true or false")),
            },
            "payload_cap_bytes" => match value {
                Value::Null => input.payload_cap_bytes = Some(None),
                v => match v.as_u64().filter(|n| *n > 0) {
                    Some(n) => input.payload_cap_bytes = Some(Some(n)),
                    None => {
                        errors.push(FieldError::new(&path, "must be a positive integer or null"))
                    }
                },
            },
            k if policy_names.iter().any(|p| p == k) => {
                input.policy.insert(key.clone(), value.clone());
            }
            k if READ_ONLY.contains(&k) => {
                errors.push(FieldError::new(&path, "is read-only"));
            }
            _ => errors.push(FieldError::new(&path, "is not a destination field")),
        }
    }
    (input, errors)
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
        let (_, errors) = parse(&json!({
            "name": "", "config": [], "id": "x", "colour": "red", "timeout_ms": 5,
            "payload_cap_bytes": -1, "is_active": "yes"
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
                "/payload_cap_bytes"
            ]
        );
        let (ok, errors) = parse(&json!({"name": "A", "timeout_ms": 5, "payload_cap_bytes": null}));
        assert!(errors.is_empty());
        assert_eq!(ok.policy["timeout_ms"], 5);
        assert_eq!(ok.payload_cap_bytes, Some(None));
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

//! A destination as the API shows it: never a secret, only `has_auth_config` and
//! `has_signing_secret` (and `has_oauth_tokens`), write-only config fields by their keys only;
//! the delivery policy's fields at the top level.

use serde_json::{Map, Value, json};

use crate::store::DestinationRow;

/// The config fields of `destination_type` whose values are never shown again.
pub fn write_only_fields(
    catalog: &courier_catalog::Catalog,
    destination_type: &str,
) -> &'static [&'static str] {
    catalog
        .get(destination_type)
        .map(|c| c.metadata().capabilities.write_only_config)
        .unwrap_or_default()
}

/// `config` with each write-only field's value replaced by its keys (an object's) or
/// removed (anything else).
fn shown_config(config: &Value, write_only: &[&str]) -> Value {
    let mut shown = config.clone();
    if let Value::Object(map) = &mut shown {
        for field in write_only {
            match map.get(*field) {
                Some(Value::Object(inner)) => {
                    let keys = inner.keys().map(|k| Value::String(k.clone())).collect();
                    map.insert(field.to_string(), Value::Array(keys));
                }
                Some(_) => {
                    map.remove(*field);
                }
                None => {}
            }
        }
    }
    shown
}

pub fn destination(catalog: &courier_catalog::Catalog, d: &DestinationRow) -> Value {
    let config = shown_config(&d.config, write_only_fields(catalog, &d.destination_type));
    let mut out = json!({
        "id": d.id,
        "workspace_id": d.workspace_id,
        "name": d.name,
        "slug": d.slug,
        "destination_type": d.destination_type,
        "config": config,
        "status": d.status,
        "status_error": d.status_error,
        "is_active": d.is_active,
        "has_auth_config": d.auth_config_sealed.is_some(),
        "has_signing_secret": d.signing_secret_sealed.is_some(),
        "has_oauth_tokens": d.has_oauth_tokens,
        "payload_cap_bytes": d.payload_cap_bytes,
    });
    let map = out.as_object_mut().expect("a JSON object");
    if let Value::Object(policy) = &d.policy {
        for (k, v) in policy {
            map.insert(k.clone(), v.clone());
        }
    }
    let tail: Map<String, Value> = json!({
        "event_count": d.event_count,
        "last_delivery_at": d.last_delivery_at,
        "last_delivery_status": d.last_delivery_status,
        "created_by": d.created_by,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
    })
    .as_object()
    .cloned()
    .unwrap_or_default();
    map.extend(tail);
    out
}

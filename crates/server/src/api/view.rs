//! A destination as the API shows it: never a secret, only `has_auth_config` and
//! `has_signing_secret` (and `has_oauth_tokens`); the delivery policy's fields at the top level.

use serde_json::{Map, Value, json};

use crate::store::DestinationRow;

pub fn destination(d: &DestinationRow) -> Value {
    let mut out = json!({
        "id": d.id,
        "workspace_id": d.workspace_id,
        "name": d.name,
        "slug": d.slug,
        "destination_type": d.destination_type,
        "config": d.config,
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

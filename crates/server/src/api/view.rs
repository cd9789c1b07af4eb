//! A destination as the API shows it: never a secret, only `has_auth_config` and
//! `has_signing_secret` (and `has_oauth_tokens`), write-only config fields by their keys only;
//! the delivery policy's fields at the top level.

use courier_runtime::DeliveryPolicy;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use super::model::Timestamp;
use crate::store::DestinationRow;

/// Where a destination stands.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DestinationStatus {
    /// Not tested since it was made or its connection changed.
    Pending,
    /// The last test or delivery succeeded.
    Connected,
    /// The last test failed (see `status_error`).
    Error,
    /// An OAuth destination whose grant was revoked or expired: connect it again.
    ReauthRequired,
    /// Turned off after failing too long, or by a 410 Gone (see `status_error`).
    Disabled,
}

impl DestinationStatus {
    fn of(stored: &str) -> DestinationStatus {
        match stored {
            "connected" => DestinationStatus::Connected,
            "error" => DestinationStatus::Error,
            "reauth_required" => DestinationStatus::ReauthRequired,
            "disabled" => DestinationStatus::Disabled,
            _ => DestinationStatus::Pending,
        }
    }
}

/// A route that sends to a destination (`?include=route_usages`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RouteUsage {
    pub id: String,
    pub name: String,
    pub is_active: bool,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RouteUsages {
    pub count: usize,
    pub routes: Vec<RouteUsage>,
}

/// A destination as the API shows it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(rename = "Destination")]
pub struct DestinationView {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub slug: String,
    pub destination_type: String,
    /// Its config; write-only fields (a webhook's `headers`) by their keys only.
    pub config: Map<String, Value>,
    pub status: DestinationStatus,
    /// Why the last test or delivery failed, or why it was disabled; empty otherwise.
    pub status_error: String,
    pub is_active: bool,
    pub has_auth_config: bool,
    pub has_signing_secret: bool,
    /// An OAuth flow stored tokens for it (google_drive, onedrive).
    pub has_oauth_tokens: bool,
    pub payload_cap_bytes: Option<i64>,
    /// Its delivery policy.
    #[serde(flatten)]
    #[schemars(with = "DeliveryPolicy")]
    pub policy: Map<String, Value>,
    /// Events routed to it.
    pub event_count: i64,
    /// Deliveries to it that ended failed (every attempt used, or refused for good); a
    /// replayed delivery that fails again counts again.
    pub failed_count: i64,
    /// Its attempts have failed since then, with no success after (null: the latest
    /// attempt succeeded, or none failed since it was last changed).
    #[schemars(with = "Option<Timestamp>")]
    pub failing_since: Option<String>,
    #[schemars(with = "Option<Timestamp>")]
    pub last_delivery_at: Option<String>,
    pub last_delivery_status: Option<String>,
    /// The key that made it.
    pub created_by: Option<String>,
    #[schemars(with = "Timestamp")]
    pub created_at: String,
    #[schemars(with = "Timestamp")]
    pub updated_at: String,
    /// Only in the answer that created a webhook without a secret: the secret made for it,
    /// shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
    /// With `?include=route_usages`: the routes that send to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route_usages: Option<RouteUsages>,
}

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

/// The stored policy with every field (a stored one that no longer reads as a policy is shown
/// as stored: the worker holds such a destination's deliveries until it is fixed).
fn shown_policy(stored: &Value) -> Map<String, Value> {
    let complete = serde_json::from_value::<DeliveryPolicy>(stored.clone())
        .ok()
        .and_then(|p| serde_json::to_value(p).ok());
    match complete.as_ref().unwrap_or(stored) {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    }
}

pub fn destination(catalog: &courier_catalog::Catalog, d: &DestinationRow) -> DestinationView {
    let config = match shown_config(&d.config, write_only_fields(catalog, &d.destination_type)) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    DestinationView {
        id: d.id.clone(),
        workspace_id: d.workspace_id.clone(),
        name: d.name.clone(),
        slug: d.slug.clone(),
        destination_type: d.destination_type.clone(),
        config,
        status: DestinationStatus::of(&d.status),
        status_error: d.status_error.clone(),
        is_active: d.is_active,
        has_auth_config: d.auth_config_sealed.is_some(),
        has_signing_secret: d.signing_secret_sealed.is_some(),
        has_oauth_tokens: d.has_oauth_tokens,
        payload_cap_bytes: d.payload_cap_bytes,
        policy: shown_policy(&d.policy),
        event_count: d.event_count,
        failed_count: d.failed_count,
        failing_since: d.failing_since.clone(),
        last_delivery_at: d.last_delivery_at.clone(),
        last_delivery_status: d.last_delivery_status.clone(),
        created_by: d.created_by.clone(),
        created_at: d.created_at.clone(),
        updated_at: d.updated_at.clone(),
        signing_secret: None,
        route_usages: None,
    }
}

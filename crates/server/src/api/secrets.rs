//! A destination's secrets in use: its auth_config opened from storage, and for webhooks the
//! Standard Webhooks signing secrets (the current one, plus the previous one for 24 hours after
//! a rotation, so receivers can switch over). `rotate-secret` makes a new one.

use std::sync::Arc;

use axum::Json;
use axum::extract::Path;
use courier_core::DestinationSpec;
use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime};

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::permissions::require;
use super::{AppState, State};
use crate::crypto::Sealer;
use crate::ids;
use crate::store::{DestinationRow, Store};
use crate::tokens::DbTokenStore;

/// How long a rotated-out signing secret keeps signing.
pub const ROTATION_GRACE: Duration = Duration::hours(24);

pub fn auth_context(id: &str) -> String {
    format!("destination:{id}:auth_config")
}

pub fn signing_context(id: &str) -> String {
    format!("destination:{id}:signing_secret")
}

/// Whether Courier signs deliveries of this type: the connector declares a signing scheme.
pub fn signs(catalog: &courier_catalog::Catalog, destination_type: &str) -> bool {
    catalog
        .get(destination_type)
        .is_ok_and(|c| c.metadata().capabilities.signing.is_some())
}

/// The stored auth_config, opened.
pub fn open_auth(sealer: &Sealer, d: &DestinationRow) -> Result<Map<String, Value>, ApiError> {
    let Some(sealed) = &d.auth_config_sealed else {
        return Ok(Map::new());
    };
    let plain = sealer.open(&auth_context(&d.id), sealed)?;
    match serde_json::from_slice(&plain) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ApiError::internal(
            "a stored auth_config is not a JSON object",
        )),
    }
}

/// The signing secrets in force now: the current one, then the previous one while its grace
/// period lasts.
pub fn signing_secrets(sealer: &Sealer, d: &DestinationRow) -> Result<Vec<String>, ApiError> {
    let open = |sealed: &str| -> Result<String, ApiError> {
        let plain = sealer.open(&signing_context(&d.id), sealed)?;
        String::from_utf8(plain)
            .map_err(|_| ApiError::internal("a stored signing secret is not text"))
    };
    let mut secrets = Vec::new();
    if let Some(current) = &d.signing_secret_sealed {
        secrets.push(open(current)?);
    }
    let still_valid = d
        .previous_secret_expires_at
        .as_deref()
        .and_then(ids::parse_timestamp)
        .is_some_and(|until| until > OffsetDateTime::now_utc());
    if let (Some(previous), true) = (&d.previous_secret_sealed, still_valid) {
        secrets.push(open(previous)?);
    }
    Ok(secrets)
}

/// The auth_config the connector gets: the stored one plus the signing secrets in force (only
/// signing destinations have any).
pub fn effective_auth(auth: Map<String, Value>, secrets: &[String]) -> Value {
    let mut auth = auth;
    if !secrets.is_empty() {
        auth.insert("signing_secret".into(), json!(secrets));
    }
    Value::Object(auth)
}

/// The spec a stored destination is built from, with the database as its OAuth token store.
/// `allow_private`: the operator's `allow_private_destinations` (every connection of the
/// destination is checked against it).
pub fn spec_of(
    sealer: &Sealer,
    store: &Store,
    d: &DestinationRow,
    allow_private: bool,
) -> Result<DestinationSpec, ApiError> {
    let auth = open_auth(sealer, d)?;
    let secrets = signing_secrets(sealer, d)?;
    Ok(DestinationSpec {
        destination_id: d.id.clone(),
        config: d.config.clone(),
        auth_config: effective_auth(auth, &secrets),
        payload_cap_bytes: d.payload_cap_bytes.map(|n| n as u64),
        token_store: Some(Arc::new(DbTokenStore::new(store.clone(), sealer.clone()))),
        allow_private_network: allow_private,
    })
}

/// `POST .../rotate-secret`: a new signing secret, returned once; the old one keeps signing
/// alongside it for 24 hours.
pub async fn rotate(
    state: State,
    who: Principal,
    Path((ws, dest)): Path<(String, String)>,
) -> ApiResult<Json<Rotated>> {
    let state: Arc<AppState> = state.0;
    let ws = who.workspace(&ws)?;
    let mut d = state
        .store
        .destination(ws, &dest)
        .await?
        .ok_or_else(|| ApiError::not_found("destination"))?;
    require(&who, &d, "manage_destination")?;
    if !signs(&state.catalog, &d.destination_type) {
        return Err(ApiError::conflict(format!(
            "{} destinations have no signing secret",
            d.destination_type
        )));
    }
    let secret = ids::new_signing_secret();
    let expires = OffsetDateTime::now_utc() + ROTATION_GRACE;
    d.previous_secret_sealed = d.signing_secret_sealed.take();
    d.previous_secret_expires_at = d
        .previous_secret_sealed
        .as_ref()
        .map(|_| ids::timestamp(expires));
    d.signing_secret_sealed = Some(
        state
            .sealer
            .seal(&signing_context(&d.id), secret.as_bytes()),
    );
    let read_at = std::mem::replace(&mut d.updated_at, ids::now());
    if !state
        .store
        .update_destination(&d, &read_at)
        .await
        .map_err(ApiError::internal)?
    {
        return Err(ApiError::changed_meanwhile());
    }
    tracing::info!(destination = %d.id, "signing secret rotated");
    Ok(Json(Rotated {
        signing_secret: secret,
        previous_secret_expires_at: d.previous_secret_expires_at,
    }))
}

/// A rotated signing secret.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Rotated {
    /// The new secret: shown in this answer only.
    pub signing_secret: String,
    /// Until when the old secret signs too (`null`: there was none).
    #[schemars(with = "Option<super::model::Timestamp>")]
    pub previous_secret_expires_at: Option<String>,
}

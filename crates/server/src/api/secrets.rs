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

/// The operator's rules every destination obeys, checked when it is saved and again whenever
/// it is built (the operator may have tightened them since).
#[derive(Debug, Clone)]
pub struct ServerRules {
    pub allow_private_destinations: bool,
    pub allow_ambient_credentials: bool,
    /// Connector type → the auth_config field without which it uses the server's own
    /// credentials, as each connector declares it.
    pub ambient_fields: Vec<(&'static str, &'static str)>,
}

impl ServerRules {
    pub fn of(config: &crate::config::ServerConfig, catalog: &courier_catalog::Catalog) -> Self {
        let ambient_fields = catalog
            .types()
            .filter_map(|t| {
                let field = catalog
                    .get(t)
                    .ok()?
                    .metadata()
                    .capabilities
                    .ambient_credentials?;
                Some((t, field))
            })
            .collect();
        ServerRules {
            allow_private_destinations: config.allow_private_destinations,
            allow_ambient_credentials: config.allow_ambient_credentials,
            ambient_fields,
        }
    }

    /// Every rule `destination_type` with `config` and `auth` breaks, at its path.
    pub fn check(
        &self,
        destination_type: &str,
        config: &Value,
        auth: &Value,
    ) -> Vec<courier_core::FieldError> {
        let mut errors = Vec::new();
        if config.get("allow_private_network") == Some(&Value::Bool(true))
            && !self.allow_private_destinations
        {
            errors.push(courier_core::FieldError::new(
                "/config/allow_private_network",
                "this server does not allow destinations on private networks (start it with --allow-private-destinations)",
            ));
        }
        if !self.allow_private_destinations {
            for (section, values) in [("config", config), ("auth_config", auth)] {
                for (key, value) in values.as_object().into_iter().flatten() {
                    let endpoint = key.ends_with("_url") || key == "endpoint";
                    if let (true, Some(url)) = (endpoint, value.as_str())
                        && private_host(url)
                    {
                        errors.push(courier_core::FieldError::new(
                            format!("/{section}/{}", courier_core::spec::pointer_segment(key)),
                            "points at a loopback or private address, which this server does not allow (start it with --allow-private-destinations)",
                        ));
                    }
                }
            }
        }
        let ambient_field = self
            .ambient_fields
            .iter()
            .find(|(t, _)| *t == destination_type)
            .map(|(_, field)| *field);
        if let (Some(field), false) = (ambient_field, self.allow_ambient_credentials)
            && auth
                .get(field)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            errors.push(courier_core::FieldError::new(
                format!("/auth_config/{}", courier_core::spec::pointer_segment(field)),
                "is required: this server does not let destinations use its own credentials (allow_ambient_credentials)",
            ));
        }
        errors
    }
}

/// Whether `url` names a loopback, private, link-local or unspecified address (by IP literal or
/// `localhost`); names that resolve there are the connectors' to refuse at connect time.
fn private_host(url: &str) -> bool {
    use std::net::IpAddr;
    let Ok(url) = url::Url::parse(url) else {
        return false;
    };
    let ip = match url.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            return d == "localhost" || d.ends_with(".localhost");
        }
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        None => return false,
    };
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
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
pub fn spec_of(
    sealer: &Sealer,
    store: &Store,
    d: &DestinationRow,
) -> Result<DestinationSpec, ApiError> {
    let auth = open_auth(sealer, d)?;
    let secrets = signing_secrets(sealer, d)?;
    Ok(DestinationSpec {
        destination_id: d.id.clone(),
        config: d.config.clone(),
        auth_config: effective_auth(auth, &secrets),
        payload_cap_bytes: d.payload_cap_bytes.map(|n| n as u64),
        token_store: Some(Arc::new(DbTokenStore::new(store.clone(), sealer.clone()))),
    })
}

/// `POST .../rotate-secret`: a new signing secret, returned once; the old one keeps signing
/// alongside it for 24 hours.
pub async fn rotate(
    state: State,
    who: Principal,
    Path((ws, dest)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
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
    Ok(Json(json!({
        "signing_secret": secret,
        "previous_secret_expires_at": d.previous_secret_expires_at,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_on_private_networks_need_the_operators_consent() {
        for url in [
            "http://127.0.0.1:9/token",
            "http://localhost/x",
            "https://api.localhost/",
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://169.254.169.254/latest",
            "http://100.64.0.1/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0/",
        ] {
            assert!(private_host(url), "{url}");
        }
        for url in [
            "https://graph.microsoft.com/v1.0",
            "https://8.8.8.8/",
            "not a url",
        ] {
            assert!(!private_host(url), "{url}");
        }
        let strict = ServerRules {
            allow_private_destinations: false,
            allow_ambient_credentials: true,
            ambient_fields: vec![("s3", "access_key_id")],
        };
        let config = json!({"graph_base_url": "http://127.0.0.1:1/v1.0", "folder_path": "x"});
        let auth = json!({"token_url": "http://10.0.0.1/token", "client_id": "c"});
        let paths: Vec<String> = strict
            .check("onedrive", &config, &auth)
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(paths, ["/config/graph_base_url", "/auth_config/token_url"]);
        let open = ServerRules {
            allow_private_destinations: true,
            ..strict.clone()
        };
        assert!(open.check("onedrive", &config, &auth).is_empty());
        let no_ambient = ServerRules {
            allow_ambient_credentials: false,
            ..open
        };
        let paths: Vec<String> = no_ambient
            .check("s3", &json!({}), &json!({}))
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(paths, ["/auth_config/access_key_id"]);
        assert!(no_ambient.check("onedrive", &config, &auth).is_empty());
    }
}

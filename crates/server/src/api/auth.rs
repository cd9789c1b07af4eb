//! Who is calling: the API key from `Authorization: Bearer`, its workspace and role. A missing,
//! unknown, expired or revoked key is 401, and a client address with too many unknown keys is
//! 429 before its next key is looked up. The route's guard ([`super::access::guard`]) checks
//! the key before any handler runs and hands handlers the [`Principal`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use super::AppState;
use super::capabilities::PortalScope;
use super::error::ApiError;
use crate::store::{ApiKey, DestinationRow, Role};

/// Keys recently seen, by hash, so a busy client does not cost a database read per request.
/// An entry lives a short while, and no longer than the change counter stays the same: a key
/// changed or revoked here drops out at once, one changed on another replica as soon as this
/// one reads the counter (every 500 ms on Postgres).
#[derive(Debug, Default)]
pub struct KeyCache(Mutex<HashMap<String, (ApiKey, Instant, u64)>>);

const KEY_CACHE_TTL: Duration = Duration::from_secs(30);

impl KeyCache {
    fn get(&self, token: &str, epoch: u64) -> Option<ApiKey> {
        let cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(&crate::ids::hash_api_key(token))
            .filter(|(_, at, seen)| at.elapsed() < KEY_CACHE_TTL && *seen == epoch)
            .map(|(key, _, _)| key.clone())
    }

    fn put(&self, token: &str, key: ApiKey, epoch: u64) {
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.retain(|_, (_, at, seen)| at.elapsed() < KEY_CACHE_TTL && *seen == epoch);
        }
        cache.insert(
            crate::ids::hash_api_key(token),
            (key, Instant::now(), epoch),
        );
    }
}

/// When each key was last recorded as used here, so `last_used_at` costs a write per key per
/// minute, not one per request.
#[derive(Debug, Default)]
pub struct KeyUse(Mutex<HashMap<String, Instant>>);

const KEY_USE_EVERY: Duration = Duration::from_secs(60);

impl KeyUse {
    /// Whether this use of key `id` should be written (the first here in a minute).
    pub fn due(&self, id: &str) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if seen
            .get(id)
            .is_some_and(|at| now.duration_since(*at) < KEY_USE_EVERY)
        {
            return false;
        }
        if seen.len() > 10_000 {
            seen.retain(|_, at| now.duration_since(*at) < KEY_USE_EVERY);
        }
        seen.insert(id.to_string(), now);
        true
    }
}

/// An authenticated caller: an API key, or a portal session standing in for one (scoped to
/// its workspace, admin or, read only, viewer, and limited further by its capabilities).
#[derive(Debug, Clone)]
pub struct Principal {
    pub key: ApiKey,
    /// Set for a portal session.
    pub portal: Option<Arc<PortalAccess>>,
}

/// A portal session's part of a caller.
pub struct PortalAccess {
    pub session_id: String,
    pub scope: PortalScope,
    /// The theme, as stored (JSON).
    pub theme: String,
    pub return_url: Option<String>,
    /// SHA-256 of the cookie's secret: the session's key in the store.
    pub session_hash: String,
    /// The token the session's writes must send in `X-Courier-CSRF`.
    pub csrf: String,
}

impl std::fmt::Debug for PortalAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The hash and the CSRF token stay out of logs.
        f.debug_struct("PortalAccess")
            .field("session_id", &self.session_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl Principal {
    /// Checks that the caller may act in `workspace_id` (its own; any, for the operator).
    pub fn workspace<'a>(&self, workspace_id: &'a str) -> Result<&'a str, ApiError> {
        if self.key.role == Role::Operator || self.key.workspace_id == workspace_id {
            Ok(workspace_id)
        } else {
            Err(ApiError::not_found("workspace"))
        }
    }

    /// Admins and the operator: every permission on every destination (a portal session
    /// limited to some destination types is not: it does not see every destination).
    pub fn is_admin(&self) -> bool {
        matches!(self.key.role, Role::Admin | Role::Operator)
            && self
                .portal
                .as_ref()
                .is_none_or(|p| p.scope.destination_types.is_none())
    }

    /// The destination types the caller sees, when a portal session limits them.
    pub fn destination_types(&self) -> Option<Vec<String>> {
        self.portal
            .as_ref()
            .and_then(|p| p.scope.destination_types.clone())
    }

    /// Hides (404) a destination of a type the caller's portal session does not see.
    pub fn sees(&self, d: &DestinationRow) -> Result<(), ApiError> {
        match &self.portal {
            Some(p) if !p.scope.sees_type(&d.destination_type) => {
                Err(ApiError::not_found("destination"))
            }
            _ => Ok(()),
        }
    }

    /// Refuses (422 at `path`) a destination type the caller's portal session may not use.
    pub fn may_use_type(&self, destination_type: &str, path: &str) -> Result<(), ApiError> {
        match &self.portal {
            Some(p) if !p.scope.sees_type(destination_type) => {
                Err(ApiError::validation(vec![courier_core::FieldError::new(
                    path,
                    format!("this portal session may not use {destination_type:?} destinations"),
                )]))
            }
            _ => Ok(()),
        }
    }
}

/// The caller: a Bearer key when the request has an `Authorization` header, else a portal
/// session's cookie when it has one (else 401).
pub(super) async fn caller(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    if !parts.headers.contains_key(header::AUTHORIZATION)
        && let Some(secret) = crate::portal::cookie::secret(parts, &state.config)
    {
        return portal_session(parts, state, &secret).await;
    }
    let key = authenticate(parts, state).await?;
    Ok(Principal { key, portal: None })
}

/// The portal session a cookie's secret names, as a caller.
async fn portal_session(
    parts: &Parts,
    state: &AppState,
    secret: &str,
) -> Result<Principal, ApiError> {
    let client = client_address(parts);
    state
        .auth_failures
        .peek(&client)
        .map_err(ApiError::auth_throttled)?;
    let session_hash = crate::ids::hash_api_key(secret);
    let now = crate::ids::now_ms();
    let Some(session) = state.store.portal_session(&session_hash, now).await? else {
        let _ = state.auth_failures.check(&client);
        return Err(ApiError::unauthorized());
    };
    let row = session.row;
    // Capabilities this build cannot read grant nothing.
    let scope: PortalScope = serde_json::from_str(&row.capabilities)
        .map_err(|_| ApiError::forbidden("this portal session's capabilities cannot be read"))?;
    let role = if scope.read_only {
        Role::Viewer
    } else {
        Role::Admin
    };
    let key = ApiKey {
        id: format!("portal:{}", row.id),
        workspace_id: row.workspace_id,
        name: format!("portal session (made by {})", row.created_by_name),
        role,
        prefix: "portal".to_string(),
        created_at: row.created_at,
        expires_at: Some(crate::ids::timestamp_ms(row.expires_ms)),
        last_used_at: None,
        expires_ms: Some(row.expires_ms),
    };
    let access = PortalAccess {
        session_id: row.id,
        scope,
        theme: row.theme,
        return_url: row.return_url,
        csrf: crate::portal::csrf::token(secret),
        session_hash,
    };
    Ok(Principal {
        key,
        portal: Some(Arc::new(access)),
    })
}

/// A caller sending events (the guard applied the intake rate limit).
#[derive(Debug, Clone)]
pub struct Publisher(pub Principal);

/// The key a request carries, from the cache or the database; an expired key is refused.
pub(super) async fn authenticate(parts: &Parts, state: &AppState) -> Result<ApiKey, ApiError> {
    let token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme is case-insensitive (RFC 9110 §11.1).
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(ApiError::unauthorized)?;
    let epoch = state.store.config_epoch();
    if let Some(key) = state.keys.get(token, epoch) {
        return live(key);
    }
    // A client that keeps guessing is stopped before its guesses cost a query.
    let client = client_address(parts);
    state
        .auth_failures
        .peek(&client)
        .map_err(ApiError::auth_throttled)?;
    metrics::counter!("courier_auth_key_lookups_total").increment(1);
    match state.store.api_key(token).await? {
        Some(key) => {
            state.keys.put(token, key.clone(), epoch);
            live(key)
        }
        None => {
            let _ = state.auth_failures.check(&client);
            Err(ApiError::unauthorized())
        }
    }
}

/// The client a request came from: its IPv4 address, or its IPv6 /64 (one host usually has a
/// whole /64 to pick addresses from); `unknown` when the server was not told, as when the
/// router is called in-process.
fn client_address(parts: &Parts) -> String {
    match parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(addr)) => match addr.ip().to_canonical() {
            IpAddr::V6(v6) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
            v4 => v4.to_string(),
        },
        None => "unknown".to_string(),
    }
}

/// The key, unless it has expired.
fn live(key: ApiKey) -> Result<ApiKey, ApiError> {
    match key.expires_ms {
        Some(at) if at <= crate::clock::local_now_ms() => Err(ApiError::unauthorized()),
        _ => Ok(key),
    }
}

/// The guard put the checked caller in the request; a route without a guard has none, which
/// is a defect (the router refuses to start with such a route).
fn checked(parts: &Parts) -> Result<Principal, ApiError> {
    parts
        .extensions
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| ApiError::internal("route without an access guard"))
}

impl FromRequestParts<Arc<AppState>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        checked(parts)
    }
}

impl FromRequestParts<Arc<AppState>> for Publisher {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        checked(parts).map(Publisher)
    }
}

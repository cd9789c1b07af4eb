//! Who is calling: the API key from `Authorization: Bearer`, its workspace and role. A missing
//! or unknown key is 401, and a client address with too many unknown keys is 429 before its
//! next key is looked up; a key is rate limited (429 with Retry-After), event intake
//! ([`Publisher`]) apart from the management API ([`Principal`]); another workspace's resources
//! are 404, never a hint that they exist.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use crate::store::{ApiKey, Role};

/// Keys recently seen, by hash, so a busy client does not cost a database read per request.
/// Entries live a short while, so a key removed from the database stops working soon.
#[derive(Debug, Default)]
pub struct KeyCache(Mutex<HashMap<String, (ApiKey, Instant)>>);

const KEY_CACHE_TTL: Duration = Duration::from_secs(30);

impl KeyCache {
    fn get(&self, token: &str) -> Option<ApiKey> {
        let cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(&crate::ids::hash_api_key(token))
            .filter(|(_, at)| at.elapsed() < KEY_CACHE_TTL)
            .map(|(key, _)| key.clone())
    }

    fn put(&self, token: &str, key: ApiKey) {
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.retain(|_, (_, at)| at.elapsed() < KEY_CACHE_TTL);
        }
        cache.insert(crate::ids::hash_api_key(token), (key, Instant::now()));
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key: ApiKey,
}

impl Principal {
    /// Checks that the caller's key belongs to `workspace_id`.
    pub fn workspace<'a>(&self, workspace_id: &'a str) -> Result<&'a str, ApiError> {
        if self.key.workspace_id == workspace_id {
            Ok(workspace_id)
        } else {
            Err(ApiError::not_found("workspace"))
        }
    }

    pub fn is_admin(&self) -> bool {
        self.key.role == Role::Admin
    }
}

/// A caller sending events: authenticated like [`Principal`], rate limited by the intake limit
/// (`intake_rate_limit_per_second`) instead of the management API's.
#[derive(Debug, Clone)]
pub struct Publisher(pub Principal);

/// The key a request carries, from the cache or the database.
async fn authenticate(parts: &Parts, state: &AppState) -> Result<ApiKey, ApiError> {
    let token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(ApiError::unauthorized)?;
    if let Some(key) = state.keys.get(token) {
        return Ok(key);
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
            state.keys.put(token, key.clone());
            Ok(key)
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

impl FromRequestParts<Arc<AppState>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let key = authenticate(parts, state).await?;
        state
            .limiter
            .check(&key.id)
            .map_err(ApiError::rate_limited)?;
        Ok(Principal { key })
    }
}

impl FromRequestParts<Arc<AppState>> for Publisher {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let key = authenticate(parts, state).await?;
        state
            .intake_limiter
            .check(&key.id)
            .map_err(ApiError::rate_limited)?;
        Ok(Publisher(Principal { key }))
    }
}

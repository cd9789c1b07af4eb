//! Who is calling: the API key from `Authorization: Bearer`, its workspace and role. A missing
//! or unknown key is 401; a key is rate limited (429 with Retry-After), event intake
//! ([`Publisher`]) apart from the management API ([`Principal`]); another workspace's resources
//! are 404, never a hint that they exist.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
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
    let key = match state.keys.get(token) {
        Some(key) => key,
        None => {
            let key = state
                .store
                .api_key(token)
                .await?
                .ok_or_else(ApiError::unauthorized)?;
            state.keys.put(token, key.clone());
            key
        }
    };
    Ok(key)
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

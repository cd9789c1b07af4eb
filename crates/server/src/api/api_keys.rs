//! A workspace's API keys, managed by its admins (and the operator): create (the key is
//! returned once, with its visible prefix; only its hash is kept), list, get, update (name,
//! role, expiry), revoke. Keys never grant more than the caller holds.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use courier_core::FieldError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::State;
use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::model::{Cursor, Limit, Name, Page, Timestamp, nullable, page_size};
use super::query::Params;
use super::valid::{Input, Valid};
use crate::ids;
use crate::store::{ApiKey, KeyChange, Role, api_keys::rfc3339_ms};

/// Roles a key made through the API may hold: the operator's key is made only at bootstrap.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantableRole {
    Admin,
    Member,
    Publisher,
    Viewer,
}

impl From<GrantableRole> for Role {
    fn from(r: GrantableRole) -> Role {
        match r {
            GrantableRole::Admin => Role::Admin,
            GrantableRole::Member => Role::Member,
            GrantableRole::Publisher => Role::Publisher,
            GrantableRole::Viewer => Role::Viewer,
        }
    }
}

/// A new key.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyCreate {
    pub name: Name,
    pub role: GrantableRole,
    /// When it stops working: RFC 3339, in the future; absent or null: never.
    #[schemars(with = "Option<Timestamp>")]
    pub expires_at: Option<String>,
}

/// Changes to a key (`expires_at: null`: never expires).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyPatch {
    #[serde(default)]
    #[schemars(with = "Name")]
    pub name: Option<Name>,
    #[serde(default)]
    #[schemars(with = "GrantableRole")]
    pub role: Option<GrantableRole>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(with = "Option<Timestamp>")]
    pub expires_at: Option<Option<String>>,
}

const READ_ONLY: &[&str] = &[
    "id",
    "key",
    "prefix",
    "created_at",
    "last_used_at",
    "workspace_id",
];

impl Input for ApiKeyCreate {
    fn read_only() -> &'static [&'static str] {
        READ_ONLY
    }
}

impl Input for ApiKeyPatch {
    fn read_only() -> &'static [&'static str] {
        READ_ONLY
    }
}

/// A key just made: the stored key and, this once, the key itself.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub stored: ApiKey,
    /// The key: shown in this answer only.
    pub key: String,
}

/// An expiry must be in the future.
fn future(expires_at: Option<&str>) -> ApiResult<()> {
    match expires_at.map(rfc3339_ms) {
        None => Ok(()),
        Some(Some(ms)) if ms > crate::clock::local_now_ms() => Ok(()),
        Some(Some(_)) => Err(ApiError::validation(vec![FieldError::new(
            "/expires_at",
            "must be in the future",
        )])),
        Some(None) => Err(ApiError::validation(vec![FieldError::new(
            "/expires_at",
            "must be an RFC 3339 time such as 2030-01-31T00:00:00Z",
        )])),
    }
}

pub async fn create(
    state: State,
    who: Principal,
    Path(ws): Path<String>,
    Valid(body): Valid<ApiKeyCreate>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    let ws = who.workspace(&ws)?;
    future(body.expires_at.as_deref())?;
    let key = ids::new_api_key();
    let stored = state
        .store
        .add_api_key(
            ws,
            &body.name.0,
            body.role.into(),
            &key,
            body.expires_at.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedApiKey { stored, key })))
}

/// A key of the workspace (404 if there is none).
async fn load(state: &State, ws: &str, id: &str) -> ApiResult<ApiKey> {
    state
        .store
        .api_key_by_id(ws, id)
        .await?
        .ok_or_else(|| ApiError::not_found("API key"))
}

/// The operator's key is made at bootstrap and managed only there.
fn not_the_operators(key: &ApiKey) -> ApiResult<()> {
    if key.role == Role::Operator {
        Err(ApiError::forbidden(
            "the operator's key is not changed or revoked through the API",
        ))
    } else {
        Ok(())
    }
}

/// `?role=&limit=&cursor=`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only keys of this role.
    role: Option<Role>,
    limit: Option<Limit>,
    cursor: Option<Cursor>,
}

/// The workspace's keys, oldest first (never the keys themselves).
pub async fn list(
    state: State,
    who: Principal,
    Path(ws): Path<String>,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<Page<ApiKey>>> {
    let ws = who.workspace(&ws)?;
    let limit = page_size(q.limit);
    let after = q.cursor.map(|c| c.0);
    let data = state
        .store
        .api_keys(ws, q.role, after.as_deref(), i64::from(limit))
        .await?;
    Ok(Json(Page::of(data, limit, |k| &k.id)))
}

pub async fn get(
    state: State,
    who: Principal,
    Path((ws, id)): Path<(String, String)>,
) -> ApiResult<Json<ApiKey>> {
    let ws = who.workspace(&ws)?;
    Ok(Json(load(&state, ws, &id).await?))
}

pub async fn patch(
    state: State,
    who: Principal,
    Path((ws, id)): Path<(String, String)>,
    Valid(body): Valid<ApiKeyPatch>,
) -> ApiResult<Json<ApiKey>> {
    let ws = who.workspace(&ws)?;
    if let Some(expiry) = &body.expires_at {
        future(expiry.as_deref())?;
    }
    let change = KeyChange {
        name: body.name.map(|n| n.0),
        role: body.role.map(Role::from),
        expires_at: body.expires_at,
    };
    not_the_operators(&load(&state, ws, &id).await?)?;
    let key = state
        .store
        .update_api_key(ws, &id, &change)
        .await?
        .ok_or_else(|| ApiError::not_found("API key"))?;
    Ok(Json(key))
}

/// Revokes a key: 401 for it at once, here and (told by the database) on other replicas.
pub async fn delete(
    state: State,
    who: Principal,
    Path((ws, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let ws = who.workspace(&ws)?;
    not_the_operators(&load(&state, ws, &id).await?)?;
    state.store.delete_api_key(ws, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

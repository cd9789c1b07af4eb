//! A workspace's API keys, managed by its admins (and the operator): create (the key is
//! returned once, with its visible prefix; only its hash is kept), list, get, update (name,
//! role, expiry), revoke. Keys never grant more than the caller holds.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use courier_core::FieldError;
use serde_json::{Value, json};

use super::State;
use super::auth::Principal;
use super::body::JsonBody;
use super::error::{ApiError, ApiResult};
use super::input::string;
use crate::ids;
use crate::store::{ApiKey, KeyChange, NewKey, Role, api_keys::rfc3339_ms};

/// Roles a key made through the API may hold: the operator's key is made only at bootstrap.
const GRANTABLE: &[Role] = &[Role::Admin, Role::Member, Role::Publisher, Role::Viewer];

fn role_at(value: &Value, path: &str, errors: &mut Vec<FieldError>) -> Option<Role> {
    match value.as_str().and_then(Role::parse) {
        Some(role) if GRANTABLE.contains(&role) => Some(role),
        _ => {
            errors.push(FieldError::new(
                path,
                "must be one of admin, member, publisher, viewer",
            ));
            None
        }
    }
}

/// An expiry: RFC 3339, in the future.
fn expiry_at(value: &Value, path: &str, errors: &mut Vec<FieldError>) -> Option<Option<String>> {
    match value {
        Value::Null => Some(None),
        Value::String(text) => match rfc3339_ms(text) {
            Some(ms) if ms > crate::clock::local_now_ms() => Some(Some(text.clone())),
            Some(_) => {
                errors.push(FieldError::new(path, "must be in the future"));
                None
            }
            None => {
                errors.push(FieldError::new(
                    path,
                    "must be an RFC 3339 time such as 2030-01-31T00:00:00Z",
                ));
                None
            }
        },
        _ => {
            errors.push(FieldError::new(path, "must be an RFC 3339 time or null"));
            None
        }
    }
}

fn change_of(body: &Value) -> Result<KeyChange, ApiError> {
    let Some(fields) = body.as_object() else {
        return Err(ApiError::validation(vec![FieldError::new(
            "",
            "must be an object with name, role, expires_at",
        )]));
    };
    let mut errors = Vec::new();
    let mut change = KeyChange::default();
    for (key, value) in fields {
        let path = format!("/{}", courier_core::spec::pointer_segment(key));
        match key.as_str() {
            "name" => change.name = string(value, &path, 200, &mut errors),
            "role" => change.role = role_at(value, &path, &mut errors),
            "expires_at" => change.expires_at = expiry_at(value, &path, &mut errors),
            "id" | "key" | "prefix" | "created_at" | "last_used_at" | "workspace_id" => {
                errors.push(FieldError::new(path, "is read-only"))
            }
            _ => errors.push(FieldError::new(path, "is not an API key field")),
        }
    }
    if errors.is_empty() {
        Ok(change)
    } else {
        Err(ApiError::validation(errors))
    }
}

pub async fn create(
    state: State,
    who: Principal,
    Path(ws): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ws = who.workspace(&ws)?;
    let change = change_of(&body)?;
    let mut missing = Vec::new();
    if change.name.is_none() && body.get("name").is_none() {
        missing.push(FieldError::new("/name", "is required"));
    }
    if change.role.is_none() && body.get("role").is_none() {
        missing.push(FieldError::new("/role", "is required"));
    }
    if !missing.is_empty() {
        return Err(ApiError::validation(missing));
    }
    let new = NewKey {
        name: change.name.unwrap_or_default(),
        role: change.role.unwrap_or(Role::Viewer),
        expires_at: change.expires_at.flatten(),
    };
    let key = ids::new_api_key();
    let stored = state
        .store
        .add_api_key(ws, &new.name, new.role, &key, new.expires_at.as_deref())
        .await?;
    let mut shown = json!(stored);
    // The only time the key is shown.
    shown["key"] = json!(key);
    Ok((StatusCode::CREATED, Json(shown)))
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

pub async fn list(state: State, who: Principal, Path(ws): Path<String>) -> ApiResult<Json<Value>> {
    let ws = who.workspace(&ws)?;
    let keys = state.store.api_keys(ws).await?;
    Ok(Json(json!({"data": keys})))
}

pub async fn get(
    state: State,
    who: Principal,
    Path((ws, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let ws = who.workspace(&ws)?;
    Ok(Json(json!(load(&state, ws, &id).await?)))
}

pub async fn patch(
    state: State,
    who: Principal,
    Path((ws, id)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let ws = who.workspace(&ws)?;
    let change = change_of(&body)?;
    not_the_operators(&load(&state, ws, &id).await?)?;
    let key = state
        .store
        .update_api_key(ws, &id, &change)
        .await?
        .ok_or_else(|| ApiError::not_found("API key"))?;
    Ok(Json(json!(key)))
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

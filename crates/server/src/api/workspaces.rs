//! Workspaces, managed by the operator: create (`name`, `external_id`, `metadata`, `limits`),
//! list (by `external_id`, cursor paging), get, update, delete. Any other key sees only its
//! own.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use courier_core::FieldError;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::State;
use super::auth::Principal;
use super::body::JsonBody;
use super::error::{ApiError, ApiResult};
use super::input::string;
use super::limits::effective;
use crate::store::{Limits, Role, Workspace, WorkspaceChange};

/// A workspace as the API shows it: with the limits in force beside its own.
fn view(state: &AppState, w: &Workspace) -> Value {
    let mut shown = json!(w);
    shown["effective_limits"] = json!(effective(&w.limits, &state.config));
    shown
}

const EXTERNAL_ID_TAKEN: &str = "another workspace has that external_id";

/// The most metadata kept per workspace, as JSON text.
const METADATA_BYTES: usize = 16 * 1024;

/// A create or update body: every problem at its JSON path, unknown fields refused.
fn change_of(body: &Value, creating: bool) -> Result<WorkspaceChange, ApiError> {
    let Some(fields) = body.as_object() else {
        return Err(ApiError::validation(vec![FieldError::new(
            "",
            "must be an object with name, external_id, metadata, limits",
        )]));
    };
    let mut errors = Vec::new();
    let mut change = WorkspaceChange::default();
    for (key, value) in fields {
        let path = format!("/{}", courier_core::spec::pointer_segment(key));
        match key.as_str() {
            "name" => change.name = string(value, &path, 200, &mut errors),
            "external_id" => {
                change.external_id = match value {
                    Value::Null => Some(None),
                    v => string(v, &path, 200, &mut errors).map(Some),
                }
            }
            "metadata" => match value {
                Value::Object(_) if value.to_string().len() <= METADATA_BYTES => {
                    change.metadata = Some(value.clone())
                }
                Value::Object(_) => errors.push(FieldError::new(
                    path,
                    format!("must be at most {} KiB as JSON", METADATA_BYTES / 1024),
                )),
                _ => errors.push(FieldError::new(path, "must be an object")),
            },
            "limits" => match serde_json::from_value::<Limits>(value.clone()) {
                Ok(limits)
                    if limits
                        .events_per_second
                        .is_none_or(|r| r.is_finite() && r >= 0.0) =>
                {
                    change.limits = Some(limits)
                }
                Ok(_) => errors.push(FieldError::new(
                    format!("{path}/events_per_second"),
                    "must be a number of events per second, 0 or more",
                )),
                Err(e) => errors.push(FieldError::new(
                    path,
                    format!(
                        "must be an object of max_destinations, max_routes, events_per_second, max_request_bytes ({e})"
                    ),
                )),
            },
            "id" | "created_at" | "updated_at" | "effective_limits" => {
                errors.push(FieldError::new(path, "is read-only"))
            }
            _ => errors.push(FieldError::new(path, "is not a workspace field")),
        }
    }
    if creating && change.name.is_none() && !fields.contains_key("name") {
        errors.push(FieldError::new("/name", "is required"));
    }
    if errors.is_empty() {
        Ok(change)
    } else {
        Err(ApiError::validation(errors))
    }
}

/// An `external_id` another workspace holds is a conflict, not a server error.
async fn external_id_free(
    state: &State,
    change: &WorkspaceChange,
    except: Option<&str>,
) -> ApiResult<()> {
    if let Some(Some(external_id)) = &change.external_id {
        let holders = state.store.workspaces(Some(external_id), None, 2).await?;
        if holders.iter().any(|w| Some(w.id.as_str()) != except) {
            return Err(ApiError::conflict(EXTERNAL_ID_TAKEN));
        }
    }
    Ok(())
}

/// Another request took the `external_id` between the check and the write: the unique index
/// refuses it, and that is the same conflict.
fn external_id_taken(e: anyhow::Error) -> ApiError {
    match e.downcast_ref::<sqlx::Error>() {
        Some(db) if crate::store::is_unique_violation(db) => ApiError::conflict(EXTERNAL_ID_TAKEN),
        _ => ApiError::from(e),
    }
}

pub async fn create(
    state: State,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let change = change_of(&body, true)?;
    external_id_free(&state, &change, None).await?;
    let workspace = state
        .store
        .create_workspace(&change)
        .await
        .map_err(external_id_taken)?;
    Ok((StatusCode::CREATED, Json(view(&state, &workspace))))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    external_id: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

/// The operator: every workspace (`?external_id=` finds one); any other key: its own.
pub async fn list(
    state: State,
    who: Principal,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    if who.key.role != Role::Operator {
        let own = state
            .store
            .workspace(&who.key.workspace_id)
            .await?
            .ok_or_else(|| ApiError::not_found("workspace"))?;
        return Ok(Json(
            json!({"data": [view(&state, &own)], "next_cursor": null}),
        ));
    }
    let limit = super::paging::limit(q.limit.as_deref())?;
    let data = state
        .store
        .workspaces(q.external_id.as_deref(), q.cursor.as_deref(), limit)
        .await?;
    let next_cursor =
        super::paging::next_cursor(data.len(), limit, data.last().map(|w| w.id.as_str()));
    let data: Vec<Value> = data.iter().map(|w| view(&state, w)).collect();
    Ok(Json(json!({"data": data, "next_cursor": next_cursor})))
}

pub async fn get(state: State, Path(ws): Path<String>) -> ApiResult<Json<Value>> {
    let workspace = state
        .store
        .workspace(&ws)
        .await?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    Ok(Json(view(&state, &workspace)))
}

pub async fn patch(
    state: State,
    Path(ws): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let change = change_of(&body, false)?;
    external_id_free(&state, &change, Some(&ws)).await?;
    let workspace = state
        .store
        .update_workspace(&ws, &change)
        .await
        .map_err(external_id_taken)?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    Ok(Json(view(&state, &workspace)))
}

/// Deletes the workspace and everything in it. The operator's own workspace (where its key
/// lives) cannot be deleted.
pub async fn delete(state: State, who: Principal, Path(ws): Path<String>) -> ApiResult<StatusCode> {
    if who.key.workspace_id == ws {
        return Err(ApiError::conflict(
            "this is the operator key's own workspace; it cannot be deleted",
        ));
    }
    if !state.store.delete_workspace(&ws).await? {
        return Err(ApiError::not_found("workspace"));
    }
    Ok(StatusCode::NO_CONTENT)
}

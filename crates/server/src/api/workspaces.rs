//! Workspaces, managed by the operator: create (`name`, `external_id`, `metadata`, `limits`),
//! list (by `external_id`, cursor paging), get, update, delete. Any other key sees only its
//! own.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use courier_core::FieldError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::AppState;
use super::State;
use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::limits::{Effective, effective};
use super::model::{Cursor, Limit, Name, Page, nullable, page_size};
use super::query::Params;
use super::valid::{Input, Valid};
use crate::store::{Limits, Role, Workspace, WorkspaceChange};

/// A workspace as the API shows it: with the limits in force beside its own.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WorkspaceView {
    #[serde(flatten)]
    pub workspace: Workspace,
    /// The limits in force: its own, else the operator's defaults.
    pub effective_limits: Effective,
}

fn view(state: &AppState, w: Workspace) -> WorkspaceView {
    WorkspaceView {
        effective_limits: effective(&w.limits, &state.config),
        workspace: w,
    }
}

const EXTERNAL_ID_TAKEN: &str = "another workspace has that external_id";

/// The most metadata kept per workspace, as JSON text.
const METADATA_BYTES: usize = 16 * 1024;

/// The host's own id for a tenant: 1 to 200 characters, unique.
type ExternalId = Name;

/// A new workspace.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceCreate {
    pub name: Name,
    /// The host's own id for this tenant; unique.
    #[serde(default)]
    #[schemars(with = "ExternalId")]
    pub external_id: Option<ExternalId>,
    /// Free-form JSON kept with it, up to 16 KiB.
    #[serde(default)]
    #[schemars(with = "Map<String, Value>", extend("maxProperties" = 64))]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default)]
    #[schemars(with = "Limits")]
    pub limits: Option<Limits>,
}

/// Changes to a workspace: each field given replaces the stored one (`external_id: null`
/// clears it).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspacePatch {
    #[serde(default)]
    #[schemars(with = "Name")]
    pub name: Option<Name>,
    #[serde(default, deserialize_with = "nullable")]
    pub external_id: Option<Option<ExternalId>>,
    #[serde(default)]
    #[schemars(with = "Map<String, Value>", extend("maxProperties" = 64))]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default)]
    #[schemars(with = "Limits")]
    pub limits: Option<Limits>,
}

const READ_ONLY: &[&str] = &["id", "created_at", "updated_at", "effective_limits"];

impl Input for WorkspaceCreate {
    fn as_written(path: &str) -> bool {
        path == "/metadata"
    }
    fn read_only() -> &'static [&'static str] {
        READ_ONLY
    }
}

impl Input for WorkspacePatch {
    fn as_written(path: &str) -> bool {
        path == "/metadata"
    }
    fn read_only() -> &'static [&'static str] {
        READ_ONLY
    }
}

fn checked(change: WorkspaceChange) -> ApiResult<WorkspaceChange> {
    if let Some(metadata) = &change.metadata
        && metadata.to_string().len() > METADATA_BYTES
    {
        return Err(ApiError::validation(vec![FieldError::new(
            "/metadata",
            format!("must be at most {} KiB as JSON", METADATA_BYTES / 1024),
        )]));
    }
    Ok(change)
}

impl From<WorkspaceCreate> for WorkspaceChange {
    fn from(w: WorkspaceCreate) -> Self {
        WorkspaceChange {
            name: Some(w.name.0),
            external_id: w.external_id.map(|e| Some(e.0)),
            metadata: w.metadata.map(Value::Object),
            limits: w.limits,
        }
    }
}

impl From<WorkspacePatch> for WorkspaceChange {
    fn from(w: WorkspacePatch) -> Self {
        WorkspaceChange {
            name: w.name.map(|n| n.0),
            external_id: w.external_id.map(|e| e.map(|e| e.0)),
            metadata: w.metadata.map(Value::Object),
            limits: w.limits,
        }
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

pub async fn create(
    state: State,
    Valid(body): Valid<WorkspaceCreate>,
) -> ApiResult<(StatusCode, Json<WorkspaceView>)> {
    let change = checked(body.into())?;
    external_id_free(&state, &change, None).await?;
    let workspace = state
        .store
        .create_workspace(&change)
        .await
        .map_err(ApiError::or_taken(EXTERNAL_ID_TAKEN))?;
    Ok((StatusCode::CREATED, Json(view(&state, workspace))))
}

/// `?external_id=&limit=&cursor=`.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only the workspace with this external_id.
    #[schemars(length(min = 1, max = 200))]
    external_id: Option<String>,
    limit: Option<Limit>,
    cursor: Option<Cursor>,
}

/// The operator: every workspace (`?external_id=` finds one); any other key: its own.
pub async fn list(
    state: State,
    who: Principal,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<Page<WorkspaceView>>> {
    if who.key.role != Role::Operator {
        let own = state
            .store
            .workspace(&who.key.workspace_id)
            .await?
            .ok_or_else(|| ApiError::not_found("workspace"))?;
        let own = (q.external_id.is_none() || q.external_id == own.external_id)
            .then(|| view(&state, own));
        return Ok(Json(Page {
            data: own.into_iter().collect(),
            next_cursor: None,
        }));
    }
    let limit = page_size(q.limit);
    let data = state
        .store
        .workspaces(
            q.external_id.as_deref(),
            q.cursor.as_ref().map(|c| c.0.as_str()),
            i64::from(limit),
        )
        .await?;
    let page = Page::of(data, limit, |w| &w.id);
    Ok(Json(Page {
        data: page.data.into_iter().map(|w| view(&state, w)).collect(),
        next_cursor: page.next_cursor,
    }))
}

pub async fn get(state: State, Path(ws): Path<String>) -> ApiResult<Json<WorkspaceView>> {
    let workspace = state
        .store
        .workspace(&ws)
        .await?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    Ok(Json(view(&state, workspace)))
}

pub async fn patch(
    state: State,
    Path(ws): Path<String>,
    Valid(body): Valid<WorkspacePatch>,
) -> ApiResult<Json<WorkspaceView>> {
    let change = checked(body.into())?;
    external_id_free(&state, &change, Some(&ws)).await?;
    let workspace = state
        .store
        .update_workspace(&ws, &change)
        .await
        .map_err(ApiError::or_taken(EXTERNAL_ID_TAKEN))?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    Ok(Json(view(&state, workspace)))
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

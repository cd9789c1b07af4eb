//! Routes CRUD (`/workspaces/{id}/routes`): an event-type filter (exact, `prefix.*` or `*`), a
//! destination of the workspace, an optional action, and a field mapping checked against the
//! destination's fields; every problem at its JSON path.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::{Extension, Json};
use courier_core::FieldError;
use serde_json::{Value, json};

use super::auth::Principal;
use super::body::JsonBody;
use super::error::{ApiError, ApiResult};
use super::limits::Effective;
use super::permissions::require;
use super::secrets::spec_of;
use super::{AppState, State};
use crate::delivery::mapping;
use crate::ids;
use crate::store::{self, Held, RouteRow};

pub fn view(r: &RouteRow) -> Value {
    json!({
        "id": r.id, "workspace_id": r.workspace_id, "name": r.name, "destination_id": r.destination_id,
        "event_types": r.event_types, "action": r.action, "field_mapping": r.field_mapping,
        "is_active": r.is_active, "created_at": r.created_at, "updated_at": r.updated_at,
    })
}

fn valid_filter(f: &str) -> bool {
    let body = f.strip_suffix(".*").unwrap_or(f);
    f == "*"
        || (!body.is_empty()
            && body.len() <= 200
            && body
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c)))
}

/// Applies the body's fields to `route`, collecting every problem.
async fn apply(
    state: &AppState,
    route: &mut RouteRow,
    body: &Value,
    errors: &mut Vec<FieldError>,
) -> ApiResult<()> {
    let Some(fields) = body.as_object() else {
        errors.push(FieldError::new("", "the body must be a JSON object"));
        return Ok(());
    };
    for (key, value) in fields {
        let at = format!("/{}", courier_core::spec::pointer_segment(key));
        match key.as_str() {
            "name" => match value.as_str() {
                Some(n) if !n.trim().is_empty() && n.len() <= 200 => route.name = n.to_string(),
                _ => errors.push(FieldError::new(
                    at,
                    "must be a non-empty string of at most 200 characters",
                )),
            },
            "destination_id" => match value.as_str() {
                Some(d) => route.destination_id = d.to_string(),
                None => errors.push(FieldError::new(at, "must be a destination id")),
            },
            "event_types" => match value.as_array() {
                Some(list) if !list.is_empty() => {
                    let mut types = Vec::new();
                    for (i, t) in list.iter().enumerate() {
                        match t.as_str() {
                            Some(t) if valid_filter(t) => types.push(t.to_string()),
                            _ => errors.push(FieldError::new(
                                format!("/event_types/{i}"),
                                "must be an event type, `prefix.*`, or `*`",
                            )),
                        }
                    }
                    route.event_types = types;
                }
                _ => errors.push(FieldError::new(
                    at,
                    "must be a non-empty array of event types",
                )),
            },
            "action" => match value {
                Value::Null => route.action = None,
                Value::String(a) if a.len() <= 100 => route.action = Some(a.clone()),
                _ => errors.push(FieldError::new(
                    at,
                    "must be a string of at most 100 characters",
                )),
            },
            "field_mapping" => route.field_mapping = value.clone(),
            "is_active" => match value.as_bool() {
                Some(b) => route.is_active = b,
                None => errors.push(FieldError::new(at, "must be true or false")),
            },
            k if ["id", "workspace_id", "created_at", "updated_at"].contains(&k) => {
                errors.push(FieldError::new(at, "is read-only"));
            }
            _ => errors.push(FieldError::new(at, "is not a route field")),
        }
    }
    if route.name.is_empty() && !fields.contains_key("name") {
        errors.push(FieldError::new("/name", "is required"));
    }
    if route.event_types.is_empty() && !fields.contains_key("event_types") {
        errors.push(FieldError::new("/event_types", "is required"));
    }
    let rules = match mapping::parse(&route.field_mapping) {
        Ok(rules) => rules,
        Err(e) => {
            errors.extend(e);
            Vec::new()
        }
    };
    if route.destination_id.is_empty() {
        if !fields.contains_key("destination_id") {
            errors.push(FieldError::new("/destination_id", "is required"));
        }
        return Ok(());
    }
    let Some(destination) = state
        .store
        .destination(&route.workspace_id, &route.destination_id)
        .await?
    else {
        errors.push(FieldError::new(
            "/destination_id",
            "is not a destination of this workspace",
        ));
        return Ok(());
    };
    // Mapping targets must be fields the destination accepts, when it names them (CSV columns,
    // for instance); a destination taking the whole payload accepts any field.
    let Ok(spec) = spec_of(
        &state.sealer,
        &state.store,
        &destination,
        state.config.allow_private_destinations,
    ) else {
        return Ok(());
    };
    if let Ok(built) = state
        .catalog
        .build(&destination.destination_type, &spec)
        .await
        && let Ok(accepted) = built.describe_fields().await
    {
        let open = accepted.len() == 1 && accepted[0].name == "payload";
        if !open {
            for (i, rule) in rules.iter().enumerate() {
                if let Some(target) = rule.target_field()
                    && !accepted.iter().any(|f| f.name == target)
                {
                    let names: Vec<&str> = accepted.iter().map(|f| f.name.as_str()).collect();
                    errors.push(FieldError::new(
                        format!("/field_mapping/{i}/target"),
                        format!("is not a field of the destination ({})", names.join(", ")),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The caller may configure syncs (routes) of `destination_id`.
async fn may_configure(
    state: &AppState,
    who: &Principal,
    workspace_id: &str,
    destination_id: &str,
) -> ApiResult<()> {
    if let Some(d) = state
        .store
        .destination(workspace_id, destination_id)
        .await?
    {
        require(who, &d, "configure_models_syncs")?;
    }
    Ok(())
}

fn name_conflict(e: sqlx::Error) -> ApiError {
    if store::is_unique_violation(&e) {
        ApiError::conflict("another route in this workspace has that name")
    } else {
        ApiError::internal(e)
    }
}

pub async fn list(state: State, who: Principal, Path(ws): Path<String>) -> ApiResult<Json<Value>> {
    let ws = who.workspace(&ws)?;
    let routes = state.store.list_routes(ws).await?;
    Ok(Json(Value::Array(routes.iter().map(view).collect())))
}

pub async fn create(
    state: State,
    who: Principal,
    Path(ws): Path<String>,
    Extension(limits): Extension<Effective>,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ws = who.workspace(&ws)?.to_string();
    let held = state.store.count_in_workspace(Held::Routes, &ws).await?;
    super::limits::room_for("routes", held, limits.max_routes)?;
    let now = ids::now();
    let mut route = RouteRow {
        id: ids::new_id(),
        workspace_id: ws,
        name: String::new(),
        destination_id: String::new(),
        event_types: Vec::new(),
        action: None,
        field_mapping: json!([]),
        is_active: true,
        created_at: now.clone(),
        updated_at: now,
    };
    let mut errors = Vec::new();
    apply(&state, &mut route, &body, &mut errors).await?;
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    may_configure(&state, &who, &route.workspace_id, &route.destination_id).await?;
    state
        .store
        .save_route(&route, true)
        .await
        .map_err(name_conflict)?;
    Ok((StatusCode::CREATED, Json(view(&route))))
}

async fn load(state: &AppState, who: &Principal, ws: &str, id: &str) -> ApiResult<RouteRow> {
    let ws = who.workspace(ws)?;
    state
        .store
        .route(ws, id)
        .await?
        .ok_or_else(|| ApiError::not_found("route"))
}

pub async fn get(
    state: State,
    who: Principal,
    Path((ws, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(view(&load(&state, &who, &ws, &id).await?)))
}

pub async fn put(
    state: State,
    who: Principal,
    Path((ws, id)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let mut route = load(&state, &who, &ws, &id).await?;
    may_configure(&state, &who, &route.workspace_id, &route.destination_id).await?;
    let mut errors = Vec::new();
    apply(&state, &mut route, &body, &mut errors).await?;
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    may_configure(&state, &who, &route.workspace_id, &route.destination_id).await?;
    route.updated_at = ids::now();
    state
        .store
        .save_route(&route, false)
        .await
        .map_err(name_conflict)?;
    Ok(Json(view(&route)))
}

pub async fn delete(
    state: State,
    who: Principal,
    Path((ws, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let route = load(&state, &who, &ws, &id).await?;
    may_configure(&state, &who, &route.workspace_id, &route.destination_id).await?;
    state
        .store
        .delete_route(&route.workspace_id, &route.id)
        .await?;
    Ok(Json(json!({"status": "deleted"})))
}

//! Event types CRUD (`/workspaces/{ws}/event-types`): the types a workspace's events carry,
//! each with a description, an optional JSON Schema (2020-12) of the payload that intake checks
//! when `validate` is on, and a `deprecated` flag. Once a workspace has any, routes may only
//! name types it knows.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use courier_core::FieldError;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::model::Page;
use super::valid::{Input, Valid};
use super::{AppState, State};
use crate::ids;
use crate::store::EventTypeRow;

/// The most event types a workspace may define.
pub const MAX_EVENT_TYPES: usize = 1_000;
/// The largest schema an event type may carry, in bytes of JSON.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;

/// An event type's name: letters, digits and `._:-`, as events carry it (`order.created`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct EventTypeName(#[schemars(regex(pattern = r"^[A-Za-z0-9._:-]{1,200}$"))] pub String);

/// A new event type.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventTypeInput {
    pub name: EventTypeName,
    #[serde(default)]
    #[schemars(length(max = 2000))]
    pub description: Option<String>,
    /// A JSON Schema (draft 2020-12) of the payload; `$ref`s resolve within it only.
    #[serde(default)]
    pub schema: Option<Map<String, Value>>,
    /// Refuse events of this type whose payload does not match `schema` (which it needs).
    #[serde(default)]
    pub validate: bool,
    #[serde(default)]
    pub deprecated: bool,
}

impl EventTypeInput {
    fn split(self) -> (String, EventTypeSpec) {
        let spec = EventTypeSpec {
            description: self.description,
            schema: self.schema,
            validate: self.validate,
            deprecated: self.deprecated,
        };
        (self.name.0, spec)
    }
}

/// What an event type says of its events. `PUT` takes it whole.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventTypeSpec {
    #[serde(default)]
    #[schemars(length(max = 2000))]
    pub description: Option<String>,
    /// A JSON Schema (draft 2020-12) of the payload; `$ref`s resolve within it only.
    #[serde(default)]
    pub schema: Option<Map<String, Value>>,
    /// Refuse events of this type whose payload does not match `schema` (which it needs).
    #[serde(default)]
    pub validate: bool,
    #[serde(default)]
    pub deprecated: bool,
}

/// A schema's own values (defaults, examples, consts) are the tenant's, kept as written.
fn is_schema_value(path: &str) -> bool {
    path.starts_with("/schema/")
}

impl Input for EventTypeInput {
    fn as_written(path: &str) -> bool {
        is_schema_value(path)
    }
    fn read_only() -> &'static [&'static str] {
        &["created_at", "updated_at"]
    }
}

impl Input for EventTypeSpec {
    fn as_written(path: &str) -> bool {
        is_schema_value(path)
    }
    fn read_only() -> &'static [&'static str] {
        &["name", "created_at", "updated_at"]
    }
}

/// A payload schema compiled for intake, or why it cannot be.
pub fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::draft202012::new(schema).map_err(|e| e.to_string())
}

/// Checks what the schema of the body cannot: the schema compiles, is not too large, and is
/// there when `validate` asks for it.
fn check(spec: &EventTypeSpec) -> ApiResult<()> {
    let mut errors = Vec::new();
    if let Some(schema) = &spec.schema {
        let schema = Value::Object(schema.clone());
        if schema.to_string().len() > MAX_SCHEMA_BYTES {
            errors.push(FieldError::new(
                "/schema",
                format!("is larger than {} KiB", MAX_SCHEMA_BYTES / 1024),
            ));
        } else if let Err(e) = compile(&schema) {
            errors.push(FieldError::new(
                "/schema",
                format!("is not a usable JSON Schema (2020-12): {e}"),
            ));
        }
    } else if spec.validate {
        errors.push(FieldError::new(
            "/validate",
            "needs a schema to validate payloads against",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors))
    }
}

fn apply(spec: EventTypeSpec, row: &mut EventTypeRow) {
    row.description = spec.description;
    row.schema = spec.schema.map(Value::Object);
    row.validate = spec.validate;
    row.deprecated = spec.deprecated;
}

pub async fn list(
    state: State,
    who: Principal,
    Path(ws): Path<String>,
) -> ApiResult<Json<Page<EventTypeRow>>> {
    let ws = who.workspace(&ws)?;
    let data = state.store.list_event_types(ws).await?;
    Ok(Json(Page {
        data,
        next_cursor: None,
    }))
}

pub async fn create(
    state: State,
    who: Principal,
    Path(ws): Path<String>,
    Valid(body): Valid<EventTypeInput>,
) -> ApiResult<(StatusCode, Json<EventTypeRow>)> {
    let ws = who.workspace(&ws)?.to_string();
    let (name, spec) = body.split();
    check(&spec)?;
    if state.store.event_type_names(&ws).await?.len() >= MAX_EVENT_TYPES {
        return Err(ApiError::conflict(format!(
            "a workspace may define at most {MAX_EVENT_TYPES} event types"
        )));
    }
    let now = ids::now();
    let mut row = EventTypeRow {
        workspace_id: ws,
        name,
        description: None,
        schema: None,
        validate: false,
        deprecated: false,
        created_at: now.clone(),
        updated_at: now,
    };
    apply(spec, &mut row);
    state
        .store
        .save_event_type(&row, true)
        .await
        .map_err(ApiError::or_taken(
            "this workspace already has an event type of that name",
        ))?;
    Ok((StatusCode::CREATED, Json(row)))
}

async fn load(state: &AppState, who: &Principal, ws: &str, name: &str) -> ApiResult<EventTypeRow> {
    let ws = who.workspace(ws)?;
    state
        .store
        .event_type(ws, name)
        .await?
        .ok_or_else(|| ApiError::not_found("event type"))
}

pub async fn get(
    state: State,
    who: Principal,
    Path((ws, name)): Path<(String, String)>,
) -> ApiResult<Json<EventTypeRow>> {
    Ok(Json(load(&state, &who, &ws, &name).await?))
}

/// `PUT`: the body replaces everything but the name.
pub async fn put(
    state: State,
    who: Principal,
    Path((ws, name)): Path<(String, String)>,
    Valid(body): Valid<EventTypeSpec>,
) -> ApiResult<Json<EventTypeRow>> {
    let mut row = load(&state, &who, &ws, &name).await?;
    check(&body)?;
    apply(body, &mut row);
    row.updated_at = ids::now();
    state
        .store
        .save_event_type(&row, false)
        .await
        .map_err(ApiError::or_taken(
            "this workspace already has an event type of that name",
        ))?;
    Ok(Json(row))
}

pub async fn delete(
    state: State,
    who: Principal,
    Path((ws, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let row = load(&state, &who, &ws, &name).await?;
    state
        .store
        .delete_event_type(&row.workspace_id, &row.name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Routes CRUD (`/workspaces/{id}/routes`): an event-type filter (exact, `prefix.*` or `*`), a
//! destination of the workspace, an optional action, and a field mapping checked against the
//! destination's fields; every problem at its JSON path.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::{Extension, Json};
use courier_core::FieldError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::limits::Effective;
use super::model::{Cursor, Id, Limit, Name, Page, nullable, page_size};
use super::permissions::require;
use super::query::Params;
use super::secrets::spec_of;
use super::valid::{Input, Valid};
use super::{AppState, State};
use crate::delivery::mapping;
use crate::ids;
use crate::store::{Held, RouteFilter, RouteRow, route_matches};

/// An event-type filter: an exact type (`order.created`), a prefix (`order.*`) or `*`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct EventFilter(
    #[schemars(regex(pattern = r"^(\*|[A-Za-z0-9._:-]{1,200}(\.\*)?)$"))] pub String,
);

/// A dot path into a payload, such as `customer.email`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct DotPath(
    #[schemars(
        length(max = 256),
        regex(pattern = r"^[^.\x00-\x1f\x7f-\x9f]+(\.[^.\x00-\x1f\x7f-\x9f]+)*$")
    )]
    pub String,
);

/// Moves `source` to `target` (`default` when the source is missing).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameRule {
    pub source: DotPath,
    pub target: DotPath,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub default: Option<Option<Value>>,
}

/// Sets `target` to `value`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConstantRule {
    pub target: DotPath,
    pub value: Value,
}

/// Removes `source`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DropRule {
    pub source: DotPath,
    #[schemars(extend("const" = true))]
    pub drop: bool,
}

/// One field mapping rule, applied in order to a copy of the payload.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum MappingRule {
    Rename(RenameRule),
    Constant(ConstantRule),
    Drop(DropRule),
}

/// A content filter over the event's payload: fields (dot paths or nested objects) with a value
/// to equal or operators (`$eq`, `$neq`, `$gt`, `$gte`, `$lt`, `$lte`, `$in`, `$nin`,
/// `$startsWith`, `$endsWith`, `$exists`, `$not`), combined with `$and`, `$or` and `$not`.
/// Every key must hold; an array field matches when any element does.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(transparent)]
#[schemars(example = example_filter())]
pub struct ContentFilter(pub serde_json::Map<String, Value>);

fn example_filter() -> Value {
    serde_json::json!({"customer.tier": "gold", "total": {"$gte": 100}})
}

/// An action name a destination understands (upsert, insert...).
type Action = Option<String>;

/// A route: the event types it takes, the destination they go to, and how their payloads are
/// reshaped. `PUT` takes the same body and replaces the route.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteInput {
    pub name: Name,
    pub destination_id: Id,
    #[schemars(length(min = 1, max = 100))]
    pub event_types: Vec<EventFilter>,
    /// What the destination does with the events, where it takes an action (null: none).
    #[serde(default)]
    #[schemars(length(min = 1, max = 100))]
    pub action: Action,
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub field_mapping: Vec<MappingRule>,
    /// Only events whose payload matches take the route (absent or null: all of its types).
    #[serde(default)]
    pub filter: Option<ContentFilter>,
    /// Inactive routes send nothing (true when omitted).
    #[serde(default = "yes")]
    pub is_active: bool,
}

fn yes() -> bool {
    true
}

/// Changes to a route: each field given replaces the stored one.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutePatch {
    #[serde(default)]
    #[schemars(with = "Name")]
    pub name: Option<Name>,
    #[serde(default)]
    #[schemars(with = "Id")]
    pub destination_id: Option<Id>,
    #[serde(default)]
    #[schemars(with = "Vec<EventFilter>", length(min = 1, max = 100))]
    pub event_types: Option<Vec<EventFilter>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(length(min = 1, max = 100))]
    pub action: Option<Action>,
    #[serde(default)]
    #[schemars(with = "Vec<MappingRule>", length(max = 100))]
    pub field_mapping: Option<Vec<MappingRule>>,
    /// A new content filter (null removes it).
    #[serde(default, deserialize_with = "nullable")]
    pub filter: Option<Option<ContentFilter>>,
    #[serde(default)]
    #[schemars(with = "bool")]
    pub is_active: Option<bool>,
}

const READ_ONLY: &[&str] = &["id", "workspace_id", "created_at", "updated_at"];

impl Input for RouteInput {
    fn as_written(path: &str) -> bool {
        is_mapping_value(path)
    }
    fn read_only() -> &'static [&'static str] {
        READ_ONLY
    }
}

impl Input for RoutePatch {
    fn as_written(path: &str) -> bool {
        is_mapping_value(path)
    }
    fn read_only() -> &'static [&'static str] {
        READ_ONLY
    }
}

/// A mapping's constants and defaults, and a filter's values, are the tenant's, kept as written.
fn is_mapping_value(path: &str) -> bool {
    if path.starts_with("/filter/") {
        return true;
    }
    path.strip_prefix("/field_mapping/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(_, key)| key == "value" || key == "default")
}

impl RoutePatch {
    fn apply(self, route: &mut RouteRow) {
        if let Some(name) = self.name {
            route.name = name.0;
        }
        if let Some(id) = self.destination_id {
            route.destination_id = id.0;
        }
        if let Some(types) = self.event_types {
            route.event_types = types.into_iter().map(|t| t.0).collect();
        }
        if let Some(action) = self.action {
            route.action = action;
        }
        if let Some(mapping) = self.field_mapping {
            route.field_mapping = serde_json::to_value(mapping).unwrap_or(Value::Null);
        }
        if let Some(filter) = self.filter {
            route.filter = filter.map(|f| Value::Object(f.0));
        }
        if let Some(active) = self.is_active {
            route.is_active = active;
        }
    }
}

impl From<RouteInput> for RoutePatch {
    fn from(r: RouteInput) -> Self {
        RoutePatch {
            name: Some(r.name),
            destination_id: Some(r.destination_id),
            event_types: Some(r.event_types),
            action: Some(r.action),
            field_mapping: Some(r.field_mapping),
            filter: Some(r.filter),
            is_active: Some(r.is_active),
        }
    }
}

/// Checks what the schema cannot: the destination is the workspace's, and each mapping
/// target is a field it accepts.
async fn check(state: &AppState, route: &RouteRow) -> ApiResult<()> {
    let mut errors = Vec::new();
    let rules = match mapping::parse(&route.field_mapping) {
        Ok(rules) => rules,
        Err(e) => return Err(ApiError::validation(e)),
    };
    if let Some(filter) = &route.filter
        && let Err(e) = crate::delivery::filter::Filter::parse(filter, "/filter")
    {
        return Err(ApiError::validation(e));
    }
    // Once a workspace defines event types, a route names only types it knows (a typo would
    // otherwise route nothing, silently).
    let known = state.store.event_type_names(&route.workspace_id).await?;
    if !known.is_empty() {
        let unknown: Vec<FieldError> = route
            .event_types
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                !known.iter().any(|t| route_matches(f, t))
                    && !crate::delivery::notices::TYPES
                        .iter()
                        .any(|t| route_matches(f, t))
            })
            .map(|(i, f)| {
                FieldError::new(
                    format!("/event_types/{i}"),
                    format!("{f:?} names no event type of this workspace (see GET /event-types)"),
                )
            })
            .collect();
        if !unknown.is_empty() {
            return Err(ApiError::validation(unknown));
        }
    }
    let Some(destination) = state
        .store
        .destination(&route.workspace_id, &route.destination_id)
        .await?
    else {
        return Err(ApiError::validation(vec![FieldError::new(
            "/destination_id",
            "is not a destination of this workspace",
        )]));
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
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors))
    }
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

const NAME_TAKEN: &str = "another route in this workspace has that name";

/// `?destination_id=&is_active=&q=&limit=&cursor=`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only routes to this destination.
    destination_id: Option<Id>,
    is_active: Option<bool>,
    /// Only routes whose name holds this text (any case).
    #[schemars(length(min = 1, max = 200))]
    q: Option<String>,
    limit: Option<Limit>,
    cursor: Option<Cursor>,
}

pub async fn list(
    state: State,
    who: Principal,
    Path(ws): Path<String>,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<Page<RouteRow>>> {
    let ws = who.workspace(&ws)?;
    let limit = page_size(q.limit);
    let filter = RouteFilter {
        destination_id: q.destination_id.map(|d| d.0),
        is_active: q.is_active,
        name_contains: q.q,
        after: q.cursor.map(|c| c.0),
        destination_types: who.destination_types(),
    };
    let routes = state
        .store
        .routes_page(ws, &filter, i64::from(limit))
        .await?;
    Ok(Json(Page::of(routes, limit, |r| &r.id)))
}

pub async fn create(
    state: State,
    who: Principal,
    Path(ws): Path<String>,
    Extension(limits): Extension<Effective>,
    Valid(body): Valid<RouteInput>,
) -> ApiResult<(StatusCode, Json<RouteRow>)> {
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
        field_mapping: Value::Array(Vec::new()),
        filter: None,
        is_active: true,
        created_at: now.clone(),
        updated_at: now,
    };
    RoutePatch::from(body).apply(&mut route);
    // Permission first: the check reads the destination's fields (a portal session must not
    // learn anything of a destination it does not see).
    may_configure(&state, &who, &route.workspace_id, &route.destination_id).await?;
    check(&state, &route).await?;
    state
        .store
        .save_route(&route, true)
        .await
        .map_err(ApiError::or_taken(NAME_TAKEN))?;
    Ok((StatusCode::CREATED, Json(route)))
}

async fn load(state: &AppState, who: &Principal, ws: &str, id: &str) -> ApiResult<RouteRow> {
    let ws = who.workspace(ws)?;
    let route = state
        .store
        .route(ws, id)
        .await?
        .ok_or_else(|| ApiError::not_found("route"))?;
    if who.destination_types().is_some() {
        // A route to a destination the portal session does not see is not found either.
        let destination = state.store.destination(ws, &route.destination_id).await?;
        if destination.is_none_or(|d| who.sees(&d).is_err()) {
            return Err(ApiError::not_found("route"));
        }
    }
    Ok(route)
}

pub async fn get(
    state: State,
    who: Principal,
    Path((ws, id)): Path<(String, String)>,
) -> ApiResult<Json<RouteRow>> {
    Ok(Json(load(&state, &who, &ws, &id).await?))
}

/// `PUT`: the body is the whole route.
pub async fn put(
    state: State,
    who: Principal,
    Path((ws, id)): Path<(String, String)>,
    Valid(body): Valid<RouteInput>,
) -> ApiResult<Json<RouteRow>> {
    update(state, who, ws, id, body.into()).await
}

/// `PATCH`: the fields given replace the stored ones.
pub async fn patch(
    state: State,
    who: Principal,
    Path((ws, id)): Path<(String, String)>,
    Valid(body): Valid<RoutePatch>,
) -> ApiResult<Json<RouteRow>> {
    update(state, who, ws, id, body).await
}

async fn update(
    state: State,
    who: Principal,
    ws: String,
    id: String,
    change: RoutePatch,
) -> ApiResult<Json<RouteRow>> {
    let mut route = load(&state, &who, &ws, &id).await?;
    may_configure(&state, &who, &route.workspace_id, &route.destination_id).await?;
    change.apply(&mut route);
    may_configure(&state, &who, &route.workspace_id, &route.destination_id).await?;
    check(&state, &route).await?;
    route.updated_at = ids::now();
    state
        .store
        .save_route(&route, false)
        .await
        .map_err(ApiError::or_taken(NAME_TAKEN))?;
    Ok(Json(route))
}

pub async fn delete(
    state: State,
    who: Principal,
    Path((ws, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let route = load(&state, &who, &ws, &id).await?;
    may_configure(&state, &who, &route.workspace_id, &route.destination_id).await?;
    state
        .store
        .delete_route(&route.workspace_id, &route.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

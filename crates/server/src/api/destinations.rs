//! Destinations CRUD: configs validated through the catalog (every problem at its JSON path),
//! secrets sealed at rest and never returned, a generated webhook signing secret shown once.

use std::sync::Arc;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::{Extension, Json};
use courier_core::{DestinationSpec, Endpoint, FieldError};
use courier_runtime::DeliveryPolicy;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::auth::Principal;
use super::body::JsonBody;
use super::error::{ApiError, ApiResult};
use super::input::{self, ConnectorType, DestinationCreate, DestinationInput, DestinationUpdate};
use super::limits::Effective;
use super::model::{Cursor, Limit, Page, page_size};
use super::permissions::{self, require};
use super::query::Params;
use super::rules::Unresolved;
use super::secrets::{self, auth_context, signing_context, signs};
use super::view::{DestinationView, RouteUsage, RouteUsages};
use super::{AppState, State, view};
use crate::ids;
use crate::store::{DestinationFilter, DestinationRow, Held};

/// `?destination_type=&status=&q=&include=route_usages&limit=&cursor=`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only destinations of this connector type.
    destination_type: Option<ConnectorType>,
    /// Only destinations with this status.
    status: Option<StatusFilter>,
    /// Only destinations whose name holds this text (any case).
    #[schemars(length(min = 1, max = 200))]
    q: Option<String>,
    /// `route_usages`: each destination also carries the routes that send to it.
    include: Option<Include>,
    limit: Option<Limit>,
    cursor: Option<Cursor>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Include {
    RouteUsages,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    Pending,
    Connected,
    Error,
    ReauthRequired,
    Disabled,
}

/// `GET .../destinations`: by id, filtered, in pages.
pub async fn list(
    state: State,
    who: Principal,
    Path(ws): Path<String>,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<Page<DestinationView>>> {
    let ws = who.workspace(&ws)?;
    let limit = page_size(q.limit);
    let filter = DestinationFilter {
        destination_type: q.destination_type.map(|t| t.0),
        status: q
            .status
            .and_then(|s| serde_json::to_value(s).ok())
            .and_then(|v| v.as_str().map(str::to_string)),
        name_contains: q.q,
        after: q.cursor.map(|c| c.0),
        types: who.destination_types(),
    };
    let rows = state
        .store
        .destinations_page(ws, &filter, i64::from(limit))
        .await?;
    let usages = q.include.is_some();
    let routes = if usages {
        state.store.list_routes(ws).await?
    } else {
        Vec::new()
    };
    let page = Page::of(rows, limit, |d| &d.id);
    let data = page
        .data
        .iter()
        .map(|d| {
            let mut shown = view::destination(&state.catalog, d);
            if usages {
                shown.route_usages = Some(usages_of(&routes, &d.id));
            }
            shown
        })
        .collect();
    Ok(Json(Page {
        data,
        next_cursor: page.next_cursor,
    }))
}

/// The routes of `routes` that send to `destination_id`.
fn usages_of(routes: &[crate::store::RouteRow], destination_id: &str) -> RouteUsages {
    let used: Vec<RouteUsage> = routes
        .iter()
        .filter(|r| r.destination_id == destination_id)
        .map(|r| RouteUsage {
            id: r.id.clone(),
            name: r.name.clone(),
            is_active: r.is_active,
        })
        .collect();
    RouteUsages {
        count: used.len(),
        routes: used,
    }
}

/// `?include=route_usages`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetQuery {
    /// `route_usages`: the destination also carries the routes that send to it (those that
    /// block its delete while active).
    include: Option<Include>,
}

pub async fn get(
    state: State,
    who: Principal,
    Path((ws, dest)): Path<(String, String)>,
    Params(q): Params<GetQuery>,
) -> ApiResult<Json<DestinationView>> {
    let d = load(&state, &who, &ws, &dest).await?;
    let mut shown = view::destination(&state.catalog, &d);
    if q.include.is_some() {
        let routes = state.store.list_routes(&d.workspace_id).await?;
        shown.route_usages = Some(usages_of(&routes, &d.id));
    }
    Ok(Json(shown))
}

async fn load(
    state: &AppState,
    who: &Principal,
    ws: &str,
    dest: &str,
) -> ApiResult<DestinationRow> {
    let ws = who.workspace(ws)?;
    state
        .store
        .destination(ws, dest)
        .await?
        .filter(|d| who.sees(d).is_ok())
        .ok_or_else(|| ApiError::not_found("destination"))
}

/// The policy from stored values overlaid with the request's; errors at `/field`.
/// The policy a new destination starts from: retries spanning about a day (so a receiver down
/// for an hour loses nothing), unless the body shapes its own backoff.
fn default_policy(given: &Map<String, Value>) -> Value {
    const SHAPING: [&str; 4] = [
        "retry_intervals",
        "retry_backoff_type",
        "retry_base_ms",
        "retry_max_delay_ms",
    ];
    if SHAPING.iter().any(|k| given.contains_key(*k)) {
        return Value::Null;
    }
    let schedule = DeliveryPolicy::DAY_LONG_RETRY_INTERVALS_MS;
    serde_json::json!({
        "retry_intervals": schedule,
        "retry_max_attempts": schedule.len() + 1,
    })
}

fn policy(base: &Value, given: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Value {
    let mut merged = base.as_object().cloned().unwrap_or_default();
    merged.extend(given.clone());
    match DeliveryPolicy::from_json(&Value::Object(merged), "") {
        Ok(p) => serde_json::to_value(p).unwrap_or(Value::Null),
        Err(e) => {
            errors.extend(e);
            Value::Null
        }
    }
}

/// Validates the destination that would result, through its connector.
async fn validate_spec(
    state: &AppState,
    d: &DestinationRow,
    auth: &Map<String, Value>,
    secrets: &[String],
    errors: &mut Vec<FieldError>,
) {
    let spec = DestinationSpec {
        destination_id: d.id.clone(),
        config: d.config.clone(),
        auth_config: secrets::effective_auth(auth.clone(), secrets),
        payload_cap_bytes: d.payload_cap_bytes.map(|n| n as u64),
        token_store: None,
        allow_private_network: state.config.allow_private_destinations,
    };
    errors.extend(state.catalog.validate(&d.destination_type, &spec));
    errors.extend(
        state
            .rules
            .check(
                &d.destination_type,
                &spec.config,
                &spec.auth_config,
                Unresolved::Refuse,
            )
            .await,
    );
}

/// The unique index on names and slugs refused a write another request raced in before.
const NAME_TAKEN: &str = "another destination in this workspace has that name or slug";

pub async fn create(
    state: State,
    who: Principal,
    Path(ws): Path<String>,
    Extension(limits): Extension<Effective>,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<DestinationView>)> {
    let state: Arc<AppState> = state.0;
    let ws = who.workspace(&ws)?.to_string();
    let held = state
        .store
        .count_in_workspace(Held::Destinations, &ws)
        .await?;
    super::limits::room_for("destinations", held, limits.max_destinations)?;
    let (mut input, mut errors) = input::parse::<DestinationCreate>(&body);
    if let Some(t) = &input.destination_type {
        let signed = signs(&state.catalog, t);
        lift_signing_secret(signed, &mut input, Mode::Replace, &mut errors);
    }
    let DestinationInput {
        name,
        slug,
        destination_type,
        config,
        auth_config,
        signing_secret,
        is_active,
        payload_cap_bytes,
        policy: given_policy,
    } = input;
    // Without a type and a config there is nothing to validate further; a missing name is
    // reported with the connector's findings.
    let (Some(destination_type), Some(config)) = (destination_type, config) else {
        return Err(ApiError::validation(errors));
    };
    who.may_use_type(&destination_type, "/destination_type")?;
    let name = name.unwrap_or_default();
    let policy = policy(&default_policy(&given_policy), &given_policy, &mut errors);
    let auth = auth_config.unwrap_or_default();
    let signed = signs(&state.catalog, &destination_type);
    if signing_secret.is_some() && !signed {
        errors.push(FieldError::new(
            "/signing_secret",
            format!("{destination_type} destinations are not signed"),
        ));
    }
    // A signing destination created without a secret gets one, returned once below.
    let generated = (signed && signing_secret.is_none()).then(ids::new_signing_secret);
    let secret = signed
        .then(|| signing_secret.or_else(|| generated.clone()))
        .flatten();
    let now = ids::now();
    let id = ids::new_id();
    let mut d = DestinationRow {
        slug: slug.unwrap_or_else(|| ids::slugify(&name)),
        name,
        id: id.clone(),
        workspace_id: ws.clone(),
        destination_type,
        config: Value::Object(config),
        auth_config_sealed: None,
        signing_secret_sealed: None,
        previous_secret_sealed: None,
        previous_secret_expires_at: None,
        status: "pending".into(),
        status_error: String::new(),
        is_active: is_active.unwrap_or(true),
        payload_cap_bytes: payload_cap_bytes.flatten().map(|n| n as i64),
        policy,
        permissions: permissions::defaults(),
        event_count: 0,
        last_delivery_at: None,
        last_delivery_status: None,
        created_by: Some(who.key.id.clone()),
        created_at: now.clone(),
        updated_at: now,
        has_oauth_tokens: false,
        failed_count: 0,
        failing_since: None,
    };
    let secrets: Vec<String> = secret.iter().cloned().collect();
    validate_spec(&state, &d, &auth, &secrets, &mut errors).await;
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    if state.store.name_taken(&ws, &d.name, &d.slug, "").await? {
        return Err(ApiError::conflict(format!(
            "a destination named {:?} (or with slug {:?}) already exists in this workspace",
            d.name, d.slug
        )));
    }
    if !auth.is_empty() {
        let plain = serde_json::to_vec(&auth).map_err(ApiError::internal)?;
        d.auth_config_sealed = Some(state.sealer.seal(&auth_context(&id), &plain));
    }
    if let Some(secret) = &secret {
        d.signing_secret_sealed = Some(state.sealer.seal(&signing_context(&id), secret.as_bytes()));
    }
    state
        .store
        .insert_destination(&d)
        .await
        .map_err(ApiError::or_taken(NAME_TAKEN))?;
    tracing::info!(destination = %d.id, r#type = %d.destination_type, "destination created");
    let mut shown = view::destination(&state.catalog, &d);
    shown.signing_secret = generated;
    Ok((StatusCode::CREATED, Json(shown)))
}

/// A signing destination's `auth_config.signing_secret` (where some clients' documents put
/// it) is the same managed, rotatable secret as the top-level `signing_secret`: it is moved
/// there, and refused when both are given and differ. A merge-patch whose `auth_config` held
/// nothing else leaves the stored credentials as they are.
fn lift_signing_secret(
    signed: bool,
    input: &mut DestinationInput,
    mode: Mode,
    errors: &mut Vec<FieldError>,
) {
    const PATH: &str = "/auth_config/signing_secret";
    let Some(auth) = input.auth_config.as_mut().filter(|_| signed) else {
        return;
    };
    let Some(given) = auth.remove("signing_secret") else {
        return;
    };
    if auth.is_empty() && mode == Mode::Merge {
        input.auth_config = None;
    }
    match given {
        Value::String(secret) if secret.trim().is_empty() => {
            errors.push(FieldError::new(PATH, "must not be empty"));
        }
        Value::String(secret) => match &input.signing_secret {
            Some(top) if *top != secret => errors.push(FieldError::new(
                PATH,
                "differs from the top-level signing_secret; give the secret once",
            )),
            _ => input.signing_secret = Some(secret),
        },
        _ => errors.push(FieldError::new(PATH, "must be a string")),
    }
}

/// How an update treats `config` and `auth_config`: replaced (PUT) or merge-patched (PATCH).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Replace,
    Merge,
}

pub async fn put(
    state: State,
    who: Principal,
    Path((ws, dest)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<DestinationView>> {
    update(state.0, who, ws, dest, body, Mode::Replace).await
}

pub async fn patch(
    state: State,
    who: Principal,
    Path((ws, dest)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<DestinationView>> {
    update(state.0, who, ws, dest, body, Mode::Merge).await
}

/// Fields left out keep their stored values; an omitted `auth_config` keeps the stored one.
async fn update(
    state: Arc<AppState>,
    who: Principal,
    ws: String,
    dest: String,
    body: Value,
    mode: Mode,
) -> ApiResult<Json<DestinationView>> {
    let mut d = load(&state, &who, &ws, &dest).await?;
    require(&who, &d, "manage_destination")?;
    let (mut input, mut errors) = input::parse::<DestinationUpdate>(&body);
    let signed = signs(&state.catalog, &d.destination_type);
    lift_signing_secret(signed, &mut input, mode, &mut errors);
    if let Some(t) = &input.destination_type
        && *t != d.destination_type
    {
        errors.push(FieldError::new(
            "/destination_type",
            "cannot be changed; create a new destination instead",
        ));
    }
    let mut connection_changed = false;
    let config_before = d.config.clone();
    let config_given: Option<Vec<String>> =
        input.config.as_ref().map(|c| c.keys().cloned().collect());
    if let Some(name) = input.name {
        // A slug derived from the old name follows the new one; a slug the user chose stays.
        if input.slug.is_none() && d.slug == ids::slugify(&d.name) {
            d.slug = ids::slugify(&name);
        }
        d.name = name;
    }
    if let Some(slug) = input.slug {
        d.slug = slug;
    }
    if let Some(config) = input.config {
        let mut next = match mode {
            Mode::Replace => Map::new(),
            Mode::Merge => d.config.as_object().cloned().unwrap_or_default(),
        };
        input::merge_patch(&mut next, &config);
        d.config = Value::Object(next);
        connection_changed = true;
    }
    let mut auth = secrets::open_auth(&state.sealer, &d)?;
    let auth_before = Value::Object(auth.clone());
    if let Some(given) = &input.auth_config {
        if mode == Mode::Replace {
            auth.clear();
        }
        input::merge_patch(&mut auth, given);
        connection_changed = true;
    }
    if let Some(secret) = &input.signing_secret {
        if signs(&state.catalog, &d.destination_type) {
            d.signing_secret_sealed = Some(
                state
                    .sealer
                    .seal(&signing_context(&d.id), secret.as_bytes()),
            );
        } else {
            errors.push(FieldError::new(
                "/signing_secret",
                format!("{} destinations are not signed", d.destination_type),
            ));
        }
    }
    if let Some(active) = input.is_active {
        // `disabled` comes with deactivation (a 410, failing too long): turning the
        // destination back on means trying it again.
        if active && !d.is_active && d.status == "disabled" {
            d.status = "pending".into();
            d.status_error = String::new();
        }
        d.is_active = active;
    }
    if let Some(cap) = input.payload_cap_bytes {
        d.payload_cap_bytes = cap.map(|n| n as i64);
    }
    if !input.policy.is_empty() {
        d.policy = policy(&d.policy, &input.policy, &mut errors);
    }
    let secrets = secrets::signing_secrets(&state.sealer, &d)?;
    let auth_after = Value::Object(auth.clone());
    let moved = moved_endpoints(
        &state,
        &d.destination_type,
        (&config_before, &auth_before),
        (&d.config, &auth_after),
    );
    let mut kept = kept_credentials(&auth_before, input.auth_config.as_ref(), mode);
    for field in view::write_only_fields(&state.catalog, &d.destination_type) {
        let stored = config_before.get(*field).is_some_and(|v| v != &json!({}));
        let given = config_given
            .as_ref()
            .is_some_and(|keys| mode == Mode::Replace || keys.iter().any(|k| k == field));
        if stored && !given {
            kept.push(format!("config.{field}"));
        }
    }
    errors.extend(credentials_left_behind(&moved, &kept));
    validate_spec(&state, &d, &auth, &secrets, &mut errors).await;
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    if state
        .store
        .name_taken(&d.workspace_id, &d.name, &d.slug, &d.id)
        .await?
    {
        return Err(ApiError::conflict(format!(
            "another destination in this workspace is named {:?} or has slug {:?}",
            d.name, d.slug
        )));
    }
    d.auth_config_sealed = if auth.is_empty() {
        None
    } else {
        let plain = serde_json::to_vec(&auth).map_err(ApiError::internal)?;
        Some(state.sealer.seal(&auth_context(&d.id), &plain))
    };
    if connection_changed {
        // The connection must be tested again.
        d.status = "pending".into();
        d.status_error = String::new();
    }
    let read_at = std::mem::replace(&mut d.updated_at, ids::now());
    if !state
        .store
        .update_destination(&d, &read_at)
        .await
        .map_err(ApiError::or_taken(NAME_TAKEN))?
    {
        return Err(ApiError::changed_meanwhile());
    }
    // Tokens from an OAuth flow belong to the client and the endpoints it ran with: new tokens
    // in the auth_config, another client, or any endpoint changed (which could send them
    // elsewhere) drop them, and the destination must be connected again.
    let new_grant = input.auth_config.as_ref().is_some_and(|given| {
        given.contains_key("refresh_token") || given.contains_key("access_token")
    }) || !moved.is_empty()
        || endpoints_changed(&config_before, &d.config)
        || endpoints_changed(&auth_before, &auth_after);
    if new_grant && d.has_oauth_tokens {
        state.store.save_oauth_tokens(&d.id, None).await?;
        d.has_oauth_tokens = false;
    }
    Ok(Json(view::destination(&state.catalog, &d)))
}

/// The endpoints an update would send requests to that the stored destination did not (a
/// new host or port), as the connector declares them.
fn moved_endpoints(
    state: &AppState,
    destination_type: &str,
    (config_before, auth_before): (&Value, &Value),
    (config_after, auth_after): (&Value, &Value),
) -> Vec<Endpoint> {
    let before = state
        .rules
        .endpoints(destination_type, config_before, auth_before);
    let mut moved: Vec<Endpoint> = state
        .rules
        .endpoints(destination_type, config_after, auth_after)
        .into_iter()
        .filter(|e| !before.iter().any(|b| b.host == e.host && b.port == e.port))
        .collect();
    moved.dedup_by(|a, b| a.path == b.path);
    moved
}

/// Stored credentials are bound to the endpoints they were saved with: an update that moves an
/// endpoint must send the whole `auth_config` again, or an editor could point the destination
/// at a host of their own and receive the stored secret with the next test or delivery.
fn credentials_left_behind(moved: &[Endpoint], kept: &[String]) -> Vec<FieldError> {
    if kept.is_empty() {
        return Vec::new();
    }
    moved
        .iter()
        .map(|e| {
            FieldError::new(
                &e.path,
                format!(
                    "sends requests to {}, which this destination's stored credentials were not saved for; send auth_config again in full with this change (kept from before: {})",
                    e.host,
                    kept.join(", ")
                ),
            )
        })
        .collect()
}

/// The stored auth_config fields an update keeps without their being sent again.
fn kept_credentials(
    auth_before: &Value,
    given: Option<&Map<String, Value>>,
    mode: Mode,
) -> Vec<String> {
    let stored = auth_before.as_object().into_iter().flat_map(|m| m.keys());
    match (given, mode) {
        (None, _) => stored.map(|k| format!("auth_config.{k}")).collect(),
        (Some(_), Mode::Replace) => Vec::new(),
        (Some(given), Mode::Merge) => stored
            .filter(|k| !given.contains_key(k.as_str()))
            .map(|k| format!("auth_config.{k}"))
            .collect(),
    }
}

/// Whether a value that says where requests go (an endpoint or URL, a tenant, the OAuth
/// client) differs between two configs.
fn endpoints_changed(before: &Value, after: &Value) -> bool {
    let keys = before
        .as_object()
        .into_iter()
        .chain(after.as_object())
        .flat_map(|m| m.keys());
    keys.filter(|k| {
        k.ends_with("_url") || ["endpoint", "tenant", "client_id"].contains(&k.as_str())
    })
    .any(|k| before.get(k) != after.get(k))
}

pub async fn delete(
    state: State,
    who: Principal,
    Path((ws, dest)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let d = load(&state, &who, &ws, &dest).await?;
    require(&who, &d, "manage_destination")?;
    let routes = state
        .store
        .routes_of_destination(&d.workspace_id, &d.id)
        .await?;
    if !routes.is_empty() {
        let names: Vec<String> = routes
            .iter()
            .map(|r| format!("{} ({})", r.name, r.id))
            .collect();
        return Err(ApiError::conflict(format!(
            "active routes still send to this destination: {}; delete or deactivate them first",
            names.join(", ")
        )));
    }
    if !state
        .store
        .delete_destination(&d.workspace_id, &d.id)
        .await?
    {
        return Err(ApiError::not_found("destination"));
    }
    tracing::info!(destination = %d.id, "destination deleted");
    Ok(StatusCode::NO_CONTENT)
}

//! `POST /workspaces/{id}/events`: one event (`{"type", "payload", "idempotency_key"}`) or up to
//! 1,000 (`{"events": [...]}`). Answered 202 only once the events and their deliveries are
//! stored in one transaction; a repeated idempotency key (24 hours) returns the first event.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use courier_core::FieldError;
use serde_json::{Value, json};

use super::State;
use super::auth::Principal;
use super::body::JsonBody;
use super::error::{ApiError, ApiResult};
use crate::delivery::mapping;
use std::collections::HashMap;

use courier_core::Category;
use courier_runtime::DeliveryPolicy;

use super::AppState;
use crate::store::{FlushRule, NewDelivery, NewEvent, RouteRow, route_matches};

pub const MAX_BATCH: usize = 1000;

pub(crate) fn parse_event(
    value: &Value,
    at: &str,
    errors: &mut Vec<FieldError>,
) -> Option<(String, Value, Option<String>)> {
    let Some(fields) = value.as_object() else {
        errors.push(FieldError::new(
            at,
            "must be an object with type and payload",
        ));
        return None;
    };
    for key in fields.keys() {
        if !["type", "payload", "idempotency_key"].contains(&key.as_str()) {
            errors.push(FieldError::new(
                format!("{at}/{}", courier_core::spec::pointer_segment(key)),
                "is not an event field",
            ));
        }
    }
    let event_type = match fields.get("type").and_then(Value::as_str) {
        Some(t)
            if !t.is_empty()
                && t.len() <= 200
                && !t.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Some(t.to_string())
        }
        _ => {
            errors.push(FieldError::new(
                format!("{at}/type"),
                "must be a non-empty event type without spaces, e.g. order.created",
            ));
            None
        }
    };
    let payload = match fields.get("payload") {
        Some(p) => Some(p.clone()),
        None => {
            errors.push(FieldError::new(format!("{at}/payload"), "is required"));
            None
        }
    };
    let key = match fields.get("idempotency_key") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) if !k.is_empty() && k.len() <= 255 => Some(k.clone()),
        Some(_) => {
            errors.push(FieldError::new(
                format!("{at}/idempotency_key"),
                "must be a string of 1 to 255 characters",
            ));
            None
        }
    };
    Some((event_type?, payload?, key))
}

/// The deliveries an event fans out to: one per active route whose filter matches, with the
/// route's mapping applied.
fn deliveries_for(
    routes: &[(RouteRow, Vec<mapping::Rule>)],
    batching: &HashMap<String, FlushRule>,
    waits: &HashMap<String, i64>,
    event_type: &str,
    payload: &Value,
) -> Vec<NewDelivery> {
    routes
        .iter()
        .filter(|(r, _)| r.is_active && r.event_types.iter().any(|f| route_matches(f, event_type)))
        .map(|(r, rules)| NewDelivery {
            destination_id: r.destination_id.clone(),
            route_id: r.id.clone(),
            payload: mapping::apply(rules, payload).map(|v| v.to_string()),
            wait_ms: batching
                .contains_key(&r.destination_id)
                .then(|| waits.get(&r.destination_id).copied())
                .flatten()
                .unwrap_or(0),
        })
        .collect()
}

/// The batching destinations among `routes` (file and stream destinations batch; HTTP ones
/// deliver each record at once), with their flush limits and how long a record may wait.
async fn batching_rules(
    state: &AppState,
    workspace_id: &str,
    routes: &[(RouteRow, Vec<mapping::Rule>)],
) -> ApiResult<(HashMap<String, FlushRule>, HashMap<String, i64>)> {
    let mut rules = HashMap::new();
    let mut waits = HashMap::new();
    for (route, _) in routes {
        if rules.contains_key(&route.destination_id) || waits.contains_key(&route.destination_id) {
            continue;
        }
        let Some(d) = state
            .store
            .destination(workspace_id, &route.destination_id)
            .await?
        else {
            continue;
        };
        let batches = state
            .catalog
            .get(&d.destination_type)
            .is_ok_and(|c| c.metadata().category != Category::Http);
        let policy: DeliveryPolicy = serde_json::from_value(d.policy.clone()).unwrap_or_default();
        waits.insert(d.id.clone(), policy.batch_max_age_ms as i64);
        if batches {
            rules.insert(
                d.id.clone(),
                FlushRule {
                    destination_id: d.id.clone(),
                    max_records: i64::from(policy.batch_max_records),
                    max_bytes: policy.batch_max_bytes as i64,
                },
            );
        }
    }
    Ok((rules, waits))
}

pub async fn create(
    state: State,
    who: Principal,
    Path(ws): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ws = who.workspace(&ws)?.to_string();
    let mut errors = Vec::new();
    let batch = body.get("events").is_some();
    let items: Vec<(String, Value)> = if batch {
        if let Some(other) = body
            .as_object()
            .and_then(|o| o.keys().find(|k| *k != "events"))
        {
            errors.push(FieldError::new(
                format!("/{}", courier_core::spec::pointer_segment(other)),
                "is not allowed beside events",
            ));
        }
        match body["events"].as_array() {
            Some(list) if list.is_empty() => {
                errors.push(FieldError::new("/events", "must not be empty"));
                Vec::new()
            }
            Some(list) if list.len() > MAX_BATCH => {
                errors.push(FieldError::new(
                    "/events",
                    format!("holds at most {MAX_BATCH} events"),
                ));
                Vec::new()
            }
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, e)| (format!("/events/{i}"), e.clone()))
                .collect(),
            None => {
                errors.push(FieldError::new("/events", "must be an array"));
                Vec::new()
            }
        }
    } else {
        vec![(String::new(), body.clone())]
    };
    let parsed: Vec<_> = items
        .iter()
        .filter_map(|(at, v)| parse_event(v, at, &mut errors))
        .collect();
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let routes: Vec<(RouteRow, Vec<mapping::Rule>)> = state
        .store
        .list_routes(&ws)
        .await?
        .into_iter()
        .filter(|r| r.is_active)
        .map(|r| {
            let rules = mapping::parse(&r.field_mapping).unwrap_or_default();
            (r, rules)
        })
        .collect();
    let (batching, waits) = batching_rules(&state, &ws, &routes).await?;
    let events: Vec<NewEvent> = parsed
        .into_iter()
        .map(|(event_type, payload, idempotency_key)| NewEvent {
            deliveries: deliveries_for(&routes, &batching, &waits, &event_type, &payload),
            event_type,
            payload,
            idempotency_key,
        })
        .collect();
    let flush: Vec<FlushRule> = batching.into_values().collect();
    let accepted = state.store.accept_events(&ws, events, &flush).await?;
    state.wake.notify_one();
    let body = if batch {
        json!({"ids": accepted.iter().map(|a| a.id.clone()).collect::<Vec<_>>(), "events": accepted})
    } else {
        serde_json::to_value(&accepted[0]).map_err(ApiError::internal)?
    };
    Ok((StatusCode::ACCEPTED, Json(body)))
}

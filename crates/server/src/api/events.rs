//! `POST /workspaces/{id}/events`: one event (`{"type", "payload", "idempotency_key"}`) or up to
//! 1,000 (`{"events": [...]}`). Answered 202 only once the events and their deliveries are
//! committed (requests arriving together share one transaction); a repeated idempotency key
//! (24 hours) returns the first event.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::{Extension, Json};
use courier_core::FieldError;
use serde_json::{Value, json};

use std::collections::BTreeSet;

use super::auth::Publisher;
use super::body::JsonBody;
use super::error::{ApiError, ApiResult};
use super::limits::Effective;
use super::permissions::require;
use super::{AppState, State};
use crate::store::{NewEvent, Role};

pub const MAX_BATCH: usize = 1000;
/// Deliveries one request may create (each event times the routes it matches): the rows a
/// request stores stay bounded however many routes a workspace has.
pub const MAX_DELIVERIES_PER_REQUEST: usize = 10_000;
/// Payload bytes field mappings may produce for one request (each mapped delivery stores its
/// own payload).
pub const MAX_MAPPED_BYTES_PER_REQUEST: usize = 64 << 20;

pub(crate) fn parse_event(
    mut value: Value,
    at: &str,
    errors: &mut Vec<FieldError>,
) -> Option<(String, Value, Option<String>)> {
    let Some(fields) = value.as_object_mut() else {
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
    let payload = match fields.get_mut("payload") {
        Some(p) => Some(p.take()),
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

/// Takes `events` from the workspace's events-per-second budget: 429 with `Retry-After` when
/// it is spent; 422 for a batch larger than a second's worth, which could never pass.
fn intake_within(state: &AppState, ws: &str, events: usize, rate: f64) -> Result<(), ApiError> {
    let burst = rate.max(1.0);
    if events as f64 > burst {
        return Err(ApiError::validation(vec![FieldError::new(
            "/events",
            format!(
                "holds {events} events, more than this workspace may send in a second ({rate}); send smaller batches"
            ),
        )]));
    }
    state
        .workspace_intake
        .check_at(ws, rate, events as f64)
        .map_err(ApiError::rate_limited)
}

pub async fn create(
    state: State,
    Publisher(who): Publisher,
    Path(ws): Path<String>,
    Extension(limits): Extension<Effective>,
    JsonBody(mut body): JsonBody,
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
        match body["events"].take() {
            Value::Array(list) => match list.len() {
                0 => {
                    errors.push(FieldError::new("/events", "must not be empty"));
                    Vec::new()
                }
                n if n > MAX_BATCH => {
                    errors.push(FieldError::new(
                        "/events",
                        format!("holds at most {MAX_BATCH} events"),
                    ));
                    Vec::new()
                }
                _ => list
                    .into_iter()
                    .enumerate()
                    .map(|(i, e)| (format!("/events/{i}"), e))
                    .collect(),
            },
            _ => {
                errors.push(FieldError::new("/events", "must be an array"));
                Vec::new()
            }
        }
    } else {
        vec![(String::new(), body)]
    };
    let parsed: Vec<_> = items
        .into_iter()
        .filter_map(|(at, v)| parse_event(v, &at, &mut errors))
        .collect();
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    if let Some(rate) = limits.events_per_second {
        intake_within(&state, &ws, parsed.len(), rate)?;
    }
    let routes = state.routing.of(&state.store, &state.catalog, &ws).await?;
    let whole = if batch { "/events" } else { "" };
    let fan_out: usize = parsed.iter().map(|(t, _, _)| routes.fan_out(t)).sum();
    if fan_out > MAX_DELIVERIES_PER_REQUEST {
        return Err(ApiError::validation(vec![FieldError::new(
            whole,
            format!(
                "fans out to {fan_out} deliveries (events × the routes each matches); at most {MAX_DELIVERIES_PER_REQUEST} per request: send fewer events at once"
            ),
        )]));
    }
    let mut mapped_bytes = 0;
    let mut events = Vec::with_capacity(parsed.len());
    for (event_type, payload, idempotency_key) in parsed {
        let deliveries = routes.deliveries_for(&event_type, &payload);
        mapped_bytes += deliveries
            .iter()
            .map(|d| d.payload.as_ref().map_or(0, String::len))
            .sum::<usize>();
        if mapped_bytes > MAX_MAPPED_BYTES_PER_REQUEST {
            return Err(ApiError::validation(vec![FieldError::new(
                whole,
                format!(
                    "its routes' field mappings would store over {} MiB of payloads; send fewer events at once",
                    MAX_MAPPED_BYTES_PER_REQUEST >> 20
                ),
            )]));
        }
        events.push(NewEvent {
            deliveries,
            event_type,
            payload: payload.to_string(),
            idempotency_key,
        });
    }
    if who.key.role == Role::Member {
        // A member triggers deliveries only where the destination lets members do so (as
        // retry and replay require); publishers and admins send to every route.
        let targets: BTreeSet<&str> = events
            .iter()
            .flat_map(|e| e.deliveries.iter().map(|d| d.destination_id.as_str()))
            .collect();
        for id in targets {
            if let Some(d) = state.store.destination(&ws, id).await? {
                require(&who, &d, "trigger_syncs")?;
            }
        }
    }
    let accepted = state
        .engine
        .accept(ws, events)
        .await
        .map_err(ApiError::unavailable)?;
    let body = if batch {
        json!({"ids": accepted.iter().map(|a| a.id.clone()).collect::<Vec<_>>(), "events": accepted})
    } else {
        serde_json::to_value(&accepted[0]).map_err(ApiError::internal)?
    };
    Ok((StatusCode::ACCEPTED, Json(body)))
}

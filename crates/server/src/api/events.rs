//! `POST /workspaces/{id}/events`: one event (`{"type", "payload", "idempotency_key"}`) or up to
//! 1,000 (`{"events": [...]}`). Answered 202 only once the events and their deliveries are
//! committed (requests arriving together share one transaction); a repeated idempotency key
//! (24 hours) returns the first event.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::{Extension, Json};
use courier_core::FieldError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use std::collections::BTreeSet;

use super::auth::Publisher;
use super::error::{ApiError, ApiResult};
use super::limits::Effective;
use super::permissions::require;
use super::valid::{Input, Valid};
use super::{AppState, State};
use crate::store::{Accepted, NewEvent, Role, body_hash};

/// Deliveries one request may create (each event times the routes it matches): the rows a
/// request stores stay bounded however many routes a workspace has.
pub const MAX_DELIVERIES_PER_REQUEST: usize = 10_000;
/// Payload bytes field mappings may produce for one request (each mapped delivery stores its
/// own payload).
pub const MAX_MAPPED_BYTES_PER_REQUEST: usize = 64 << 20;

/// One event.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    /// Its type, such as `order.created`: routes pick events by it.
    #[serde(rename = "type")]
    #[schemars(
        length(min = 1, max = 200),
        regex(pattern = r"^[^\s\x00-\x1f\x7f-\x9f]+$")
    )]
    pub event_type: String,
    /// Any JSON; an object when a route it matches has a field mapping.
    pub payload: Value,
    /// A repeat of this key within 24 hours (with the same type and payload) returns the first
    /// event instead of storing another; with another body it is refused.
    #[schemars(length(min = 1, max = 255))]
    pub idempotency_key: Option<String>,
}

/// One event, or up to 1,000 at once.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum EventInput {
    Batch(EventBatch),
    One(EventIn),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    #[schemars(length(min = 1, max = 1000))]
    pub events: Vec<EventIn>,
}

impl Input for EventInput {
    fn as_written(path: &str) -> bool {
        path == "/payload"
            || path
                .strip_prefix("/events/")
                .and_then(|rest| rest.split_once('/'))
                .is_some_and(|(_, field)| field == "payload")
    }

    /// Moves each payload out of the body rather than through serde's untagged-enum buffer,
    /// which would copy every payload once more (this is the intake's hot path).
    fn from_checked(value: Value) -> Result<Self, Vec<FieldError>> {
        let Value::Object(mut body) = value else {
            return Err(vec![FieldError::new("", "must be an object")]);
        };
        match body.remove("events") {
            Some(Value::Array(items)) => Ok(EventInput::Batch(EventBatch {
                events: items
                    .into_iter()
                    .map(|item| match item {
                        Value::Object(event) => Ok(event_of(event)),
                        _ => Err(vec![FieldError::new("/events", "must hold objects")]),
                    })
                    .collect::<Result<_, _>>()?,
            })),
            _ => Ok(EventInput::One(event_of(body))),
        }
    }
}

/// An event from an object that passed the schema (`type` a string, `payload` present).
fn event_of(mut event: serde_json::Map<String, Value>) -> EventIn {
    let text = |v: Option<Value>| match v {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    EventIn {
        event_type: text(event.remove("type")).unwrap_or_default(),
        payload: event.remove("payload").unwrap_or(Value::Null),
        idempotency_key: text(event.remove("idempotency_key")),
    }
}

/// The answer to a batch: each event's, in order.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AcceptedBatch {
    /// The events' ids, in order.
    pub ids: Vec<String>,
    pub events: Vec<Accepted>,
}

/// The answer to one event or to a batch.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum AcceptedAnswer {
    One(Accepted),
    Batch(AcceptedBatch),
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
    Valid(body): Valid<EventInput>,
) -> ApiResult<(StatusCode, Json<AcceptedAnswer>)> {
    let ws = who.workspace(&ws)?.to_string();
    let (batch, parsed) = match body {
        EventInput::One(e) => (false, vec![e]),
        EventInput::Batch(b) => (true, b.events),
    };
    if let Some(rate) = limits.events_per_second {
        intake_within(&state, &ws, parsed.len(), rate)?;
    }
    let routes = state.routing.of(&state.store, &state.catalog, &ws).await?;
    let at = |i: usize| {
        if batch {
            format!("/events/{i}")
        } else {
            String::new()
        }
    };
    let whole = if batch { "/events" } else { "" };
    // Courier's own operational events are emitted by the server, never posted.
    let reserved: Vec<FieldError> = parsed
        .iter()
        .enumerate()
        .filter(|(_, e)| e.event_type.starts_with(crate::store::OPERATIONAL_PREFIX))
        .map(|(i, _)| {
            FieldError::new(
                format!("{}/type", at(i)),
                "courier.* types are reserved for the events Courier emits about destinations",
            )
        })
        .collect();
    if !reserved.is_empty() {
        return Err(ApiError::validation(reserved));
    }
    // Events of a type that validates must match its payload schema.
    let invalid: Vec<FieldError> = parsed
        .iter()
        .enumerate()
        .flat_map(|(i, e)| {
            routes
                .payload_errors(&e.event_type, &e.payload)
                .into_iter()
                .map(move |(path, message)| {
                    FieldError::new(
                        format!("{}/payload{path}", at(i)),
                        format!(
                            "does not match the schema of event type {:?}: {message}",
                            e.event_type
                        ),
                    )
                })
        })
        .collect();
    if !invalid.is_empty() {
        return Err(ApiError::validation(invalid));
    }
    // A route with a field mapping reshapes an object; any other payload could never be
    // delivered through it, and is refused before anything is stored.
    let unmappable: Vec<FieldError> = parsed
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.payload.is_object())
        .filter_map(|(i, e)| {
            routes
                .mapping_route(&e.event_type, &e.payload)
                .map(|route| {
                    FieldError::new(
                        format!("{}/payload", at(i)),
                        format!("must be a JSON object: route {route:?} maps its fields"),
                    )
                })
        })
        .collect();
    if !unmappable.is_empty() {
        return Err(ApiError::validation(unmappable));
    }
    let fan_out: usize = parsed
        .iter()
        .map(|e| routes.fan_out(&e.event_type, &e.payload))
        .sum();
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
    for e in parsed {
        let deliveries = routes.deliveries_for(&e.event_type, &e.payload);
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
            body_hash: e
                .idempotency_key
                .as_ref()
                .map(|_| body_hash(&e.event_type, &e.payload)),
            deliveries,
            payload: e.payload.to_string(),
            event_type: e.event_type,
            idempotency_key: e.idempotency_key,
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
    let mut accepted = state
        .engine
        .accept(ws, events)
        .await
        .map_err(ApiError::unavailable)?;
    if batch {
        return Ok((
            StatusCode::ACCEPTED,
            Json(AcceptedAnswer::Batch(AcceptedBatch {
                ids: accepted.iter().map(|a| a.id.clone()).collect(),
                events: accepted,
            })),
        ));
    }
    let one = accepted
        .pop()
        .ok_or_else(|| ApiError::internal("no answer for the event"))?;
    if one.idempotency_conflict {
        return Err(ApiError::idempotency_conflict(&one.id));
    }
    Ok((StatusCode::ACCEPTED, Json(AcceptedAnswer::One(one))))
}

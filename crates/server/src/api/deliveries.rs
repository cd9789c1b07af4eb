//! The attempt log: deliveries (newest first, filtered, in pages), one delivery with every
//! attempt, a retry of one, and a bulk replay by filter; and the events they came from.

use axum::Json;
use axum::extract::Path;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::State;
use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::model::{Cursor, Id, Limit, Page, Timestamp, page_size};
use super::permissions::require;
use super::query::Params;
use super::valid::{Input, Valid};
use crate::store::{
    Delivery, DeliveryDetail, DeliveryFilter, DeliveryStatus, Event, EventDetail, EventFilter,
    IdRange,
};

/// The id range of a time range and a cursor; 422 for a time that is not RFC 3339.
fn id_range(
    since: Option<&str>,
    until: Option<&str>,
    cursor: Option<Cursor>,
) -> ApiResult<IdRange> {
    let ms = |text: Option<&str>, path: &str| -> ApiResult<Option<i64>> {
        match text {
            None => Ok(None),
            Some(t) => crate::ids::parse_timestamp(t)
                .map(|t| Some((t.unix_timestamp_nanos() / 1_000_000) as i64))
                .ok_or_else(|| {
                    ApiError::validation(vec![courier_core::FieldError::new(
                        path,
                        "must be an RFC 3339 time such as 2030-01-31T00:00:00Z",
                    )])
                }),
        }
    };
    Ok(IdRange {
        since_ms: ms(since, "/since")?,
        until_ms: ms(until, "/until")?,
        before: cursor.map(|c| c.0),
    })
}

/// `?destination_id=&status=&event_type=&event_id=&since=&until=&limit=&cursor=`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    destination_id: Option<Id>,
    status: Option<DeliveryStatus>,
    #[schemars(length(min = 1, max = 200))]
    event_type: Option<String>,
    event_id: Option<Id>,
    /// Created at or after this time (RFC 3339).
    #[schemars(with = "Option<Timestamp>")]
    since: Option<String>,
    /// Created before this time (RFC 3339).
    #[schemars(with = "Option<Timestamp>")]
    until: Option<String>,
    limit: Option<Limit>,
    cursor: Option<Cursor>,
}

pub async fn list(
    state: State,
    who: Principal,
    Path(ws): Path<String>,
    Params(q): Params<DeliveryQuery>,
) -> ApiResult<Json<Page<Delivery>>> {
    let ws = who.workspace(&ws)?;
    let limit = page_size(q.limit);
    let filter = DeliveryFilter {
        destination_id: q.destination_id.map(|d| d.0),
        status: q.status,
        event_type: q.event_type,
        event_id: q.event_id.map(|e| e.0),
        range: id_range(q.since.as_deref(), q.until.as_deref(), q.cursor)?,
        destination_types: who.destination_types(),
    };
    let data = state
        .store
        .deliveries_page(ws, &filter, i64::from(limit))
        .await?;
    Ok(Json(Page::of(data, limit, |d| &d.id)))
}

pub async fn get(
    state: State,
    who: Principal,
    Path((ws, id)): Path<(String, String)>,
) -> ApiResult<Json<DeliveryDetail>> {
    let ws = who.workspace(&ws)?;
    let delivery = state
        .store
        .delivery(ws, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    if who.destination_types().is_some() {
        // A delivery to a destination the portal session does not see is not found either.
        let destination = state
            .store
            .destination(ws, &delivery.delivery.destination_id)
            .await?;
        if destination.is_none_or(|d| who.sees(&d).is_err()) {
            return Err(ApiError::not_found("delivery"));
        }
    }
    Ok(Json(delivery))
}

/// What a retry or a replay queued.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Queued {
    /// Deliveries queued again.
    pub queued: u64,
}

/// `POST .../deliveries/{id}/retry`: queued again now, with a fresh attempt budget.
pub async fn retry(
    state: State,
    who: Principal,
    Path((ws, id)): Path<(String, String)>,
) -> ApiResult<Json<Queued>> {
    let ws = who.workspace(&ws)?;
    let delivery = state
        .store
        .delivery(ws, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    if let Some(d) = state
        .store
        .destination(ws, &delivery.delivery.destination_id)
        .await?
    {
        require(&who, &d, "trigger_syncs")?;
    } else if who.destination_types().is_some() {
        // Its destination is gone: a portal session limited to some types cannot tell.
        return Err(ApiError::not_found("delivery"));
    }
    let n = state.store.requeue(ws, Some(&id), None, "").await?;
    if n == 0 {
        return Err(ApiError::conflict(
            "the delivery is in flight or cannot be delivered (its mapping failed)",
        ));
    }
    state.engine.wake();
    Ok(Json(Queued { queued: n }))
}

/// What discarding a destination's waiting deliveries ended.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Discarded {
    /// Deliveries ended as `failed` (replayable).
    pub discarded: u64,
}

/// `POST .../destinations/{dest}/discard-held`: the destination's waiting deliveries (held while
/// it is disabled or awaiting reauthorization, or queued for a retry) end as `failed`,
/// replayable later; those in flight finish as they will.
pub async fn discard_held(
    state: State,
    who: Principal,
    Path((ws, dest)): Path<(String, String)>,
) -> ApiResult<Json<Discarded>> {
    let ws = who.workspace(&ws)?;
    let d = state
        .store
        .destination(ws, &dest)
        .await?
        .ok_or_else(|| ApiError::not_found("destination"))?;
    require(&who, &d, "trigger_syncs")?;
    let discarded = state
        .store
        .discard_waiting(ws, &d.id, &format!("API key {}", who.key.name))
        .await?;
    Ok(Json(Discarded { discarded }))
}

/// Which ended deliveries a replay queues again.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Replayable {
    #[default]
    Failed,
    Delivered,
}

/// `{"destination_id"?, "status"?}`: replays that destination's (or, for admins, every one's)
/// deliveries of that status (`failed` when omitted).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayInput {
    #[serde(default)]
    #[schemars(with = "Id")]
    pub destination_id: Option<Id>,
    #[serde(default)]
    pub status: Replayable,
}

impl Input for ReplayInput {
    /// `POST .../deliveries/replay` alone replays every failed delivery.
    const EMPTY_IS_EMPTY_OBJECT: bool = true;
}

pub async fn replay(
    state: State,
    who: Principal,
    Path(ws): Path<String>,
    Valid(body): Valid<ReplayInput>,
) -> ApiResult<Json<Queued>> {
    let ws = who.workspace(&ws)?;
    let status = match body.status {
        Replayable::Failed => "failed",
        Replayable::Delivered => "delivered",
    };
    let destination = body.destination_id.map(|d| d.0);
    match &destination {
        Some(id) => {
            let d = state
                .store
                .destination(ws, id)
                .await?
                .ok_or_else(|| ApiError::not_found("destination"))?;
            require(&who, &d, "trigger_syncs")?;
        }
        None if !who.is_admin() => {
            return Err(ApiError::forbidden(
                "only admins replay every destination at once",
            ));
        }
        None => {}
    }
    let n = state
        .store
        .requeue(ws, None, destination.as_deref(), status)
        .await?;
    state.engine.wake();
    Ok(Json(Queued { queued: n }))
}

/// `?event_type=&since=&until=&limit=&cursor=`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Only events of this type.
    #[schemars(length(min = 1, max = 200))]
    event_type: Option<String>,
    /// Created at or after this time (RFC 3339).
    #[schemars(with = "Option<Timestamp>")]
    since: Option<String>,
    /// Created before this time (RFC 3339).
    #[schemars(with = "Option<Timestamp>")]
    until: Option<String>,
    limit: Option<Limit>,
    cursor: Option<Cursor>,
}

/// `GET .../events`: accepted events, newest first.
pub async fn events(
    state: State,
    who: Principal,
    Path(ws): Path<String>,
    Params(q): Params<EventQuery>,
) -> ApiResult<Json<Page<Event>>> {
    let ws = who.workspace(&ws)?;
    let limit = page_size(q.limit);
    let filter = EventFilter {
        event_type: q.event_type,
        range: id_range(q.since.as_deref(), q.until.as_deref(), q.cursor)?,
    };
    let data = state
        .store
        .events_page(ws, &filter, i64::from(limit))
        .await?;
    Ok(Json(Page::of(data, limit, |e| &e.id)))
}

/// `GET .../events/{id}`: the event with its payload and deliveries.
pub async fn event(
    state: State,
    who: Principal,
    Path((ws, id)): Path<(String, String)>,
) -> ApiResult<Json<EventDetail>> {
    let ws = who.workspace(&ws)?;
    let event = state
        .store
        .event(ws, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    Ok(Json(event))
}

//! What the API reads of the queue: deliveries (a page, newest first, or one with every
//! attempt) and events (a page, or one with its deliveries), as the types responses carry.
//! Time ranges are id ranges: ids are UUIDv7, so they sort by creation time and no index
//! beyond the primary keys is needed.

use anyhow::Result;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::retention::id_boundary;
use super::{Store, counted};
use crate::api::model::Timestamp;
use crate::ids;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first attempt (or for the destination's circuit breaker to close).
    Pending,
    /// An attempt is under way.
    InFlight,
    Delivered,
    /// A transient failure; the next attempt is at `next_attempt_at`.
    RetryScheduled,
    /// Ended without success (see `last_error` and the attempts); replayable.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::InFlight => "in_flight",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::RetryScheduled => "retry_scheduled",
            DeliveryStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<DeliveryStatus> {
        serde_json::from_value(Value::String(s.to_string()))
            .map_err(|_| anyhow::anyhow!("stored delivery status {s:?}"))
    }
}

/// A delivery of one event to one destination, as lists show it: the payload as a preview.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Delivery {
    pub id: String,
    pub workspace_id: String,
    pub event_id: String,
    pub destination_id: String,
    pub route_id: String,
    pub event_type: String,
    pub status: DeliveryStatus,
    /// Attempts made, in all (retries and replays included).
    pub attempt_count: i64,
    /// When the next attempt is due; `null` once the delivery has ended.
    #[schemars(with = "Option<Timestamp>")]
    pub next_attempt_at: Option<String>,
    /// Why the last attempt failed; `null` once delivered.
    pub last_error: Option<String>,
    /// Why a waiting delivery has not been attempted yet, such as the destination's open
    /// circuit breaker; `null` otherwise.
    pub waiting_reason: Option<String>,
    /// What holds a waiting delivery back (`circuit_open`, `reauth_required`...), its next
    /// attempt time being when it is looked at again; `null` when nothing does.
    pub held_by: Option<crate::delivery::held::HeldBy>,
    /// The payload's first 256 characters (`…` marks a cut).
    pub payload_preview: String,
    pub payload_bytes: i64,
    #[schemars(with = "Timestamp")]
    pub created_at: String,
    #[schemars(with = "Timestamp")]
    pub updated_at: String,
}

/// One attempt at a delivery.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Attempt {
    /// 1 for the first attempt, counting across retries and replays.
    pub number: i64,
    #[schemars(with = "Timestamp")]
    pub started_at: String,
    pub duration_ms: i64,
    /// `delivered`, `failed` or `retry` (a transient failure).
    pub outcome: String,
    pub http_status: Option<i64>,
    /// What the destination answered with: an object key, a message id...
    pub reference: Option<String>,
    pub error_kind: Option<String>,
    pub error: Option<String>,
    /// The start of the destination's answer body.
    pub response: Option<String>,
}

/// One delivery with its whole payload and every attempt, oldest first.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: Delivery,
    /// The payload sent: the event's, after the route's field mapping.
    pub payload: Value,
    pub attempts: Vec<Attempt>,
}

/// An accepted event, as lists show it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Event {
    pub id: String,
    pub workspace_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub idempotency_key: Option<String>,
    /// The payload's first 256 characters (`…` marks a cut).
    pub payload_preview: String,
    pub payload_bytes: i64,
    #[schemars(with = "Timestamp")]
    pub created_at: String,
}

/// One event with its payload and the deliveries it fanned out to.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EventDetail {
    #[serde(flatten)]
    pub event: Event,
    pub payload: Value,
    pub deliveries: Vec<Delivery>,
}

/// Which deliveries a list shows.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub destination_id: Option<String>,
    pub status: Option<DeliveryStatus>,
    pub event_type: Option<String>,
    pub event_id: Option<String>,
    pub range: IdRange,
    /// Only deliveries to destinations of these types (a portal session's), when set.
    pub destination_types: Option<Vec<String>>,
}

/// Which events a list shows.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub event_type: Option<String>,
    pub range: IdRange,
}

/// Items created in `[since_ms, until_ms)` and older than the cursor `before`.
#[derive(Debug, Clone, Default)]
pub struct IdRange {
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub before: Option<String>,
}

impl IdRange {
    /// The lowest id to show (`''`: no bound) and the id every shown one is below.
    fn bounds(&self) -> (String, String) {
        let low = self.since_ms.map(id_boundary).unwrap_or_default();
        let mut high = self.until_ms.map(id_boundary);
        if let Some(before) = &self.before {
            let before = before.to_ascii_lowercase();
            high = Some(match high {
                Some(h) if h < before => h,
                _ => before,
            });
        }
        (low, high.unwrap_or_default())
    }
}

/// How much of each payload a list shows, in characters.
const PREVIEW_CHARS: i64 = 256;

/// A payload column's preview and size, as SQL.
fn preview_columns(payload: &str, postgres: bool) -> String {
    let bytes = if postgres {
        format!("octet_length({payload})")
    } else {
        format!("length(CAST({payload} AS BLOB))")
    };
    format!("substr({payload}, 1, {PREVIEW_CHARS}) AS preview, {bytes} AS payload_bytes")
}

fn preview(r: &AnyRow) -> Result<(String, i64)> {
    let bytes: i64 = r.try_get("payload_bytes")?;
    let mut preview: String = r.try_get("preview")?;
    if preview.chars().count() as i64 == PREVIEW_CHARS && preview.len() as i64 != bytes {
        preview.push('…');
    }
    Ok((preview, bytes))
}

/// A delivery's payload: its own after a mapping, else its event's (stored as `''`).
const DELIVERY_PAYLOAD: &str = "CASE WHEN d.payload = '' THEN e.payload ELSE d.payload END";

fn delivery_columns(postgres: bool) -> String {
    format!(
        "d.id AS id, d.workspace_id AS workspace_id, d.event_id AS event_id, \
         d.destination_id AS destination_id, d.route_id AS route_id, d.event_type AS event_type, \
         d.status AS status, d.next_attempt_ms AS next_attempt_ms, d.last_error AS last_error, \
         d.waiting_reason AS waiting_reason, d.created_at AS created_at, d.updated_at AS updated_at, \
         COALESCE((SELECT MAX(a.number) FROM attempts a WHERE a.delivery_id = d.id), 0) AS attempt_count, \
         {}",
        preview_columns(DELIVERY_PAYLOAD, postgres)
    )
}

fn delivery_from(r: &AnyRow) -> Result<Delivery> {
    let status = DeliveryStatus::parse(&r.try_get::<String, _>("status")?)?;
    let next_ms: i64 = r.try_get("next_attempt_ms")?;
    let waiting = matches!(
        status,
        DeliveryStatus::Pending | DeliveryStatus::RetryScheduled | DeliveryStatus::InFlight
    );
    // Once an attempt is under way, the reason it waited no longer holds.
    let held = matches!(
        status,
        DeliveryStatus::Pending | DeliveryStatus::RetryScheduled
    );
    let (payload_preview, payload_bytes) = preview(r)?;
    let waiting_reason: Option<String> = if held {
        r.try_get("waiting_reason")?
    } else {
        None
    };
    Ok(Delivery {
        id: r.try_get("id")?,
        workspace_id: r.try_get("workspace_id")?,
        event_id: r.try_get("event_id")?,
        destination_id: r.try_get("destination_id")?,
        route_id: r.try_get("route_id")?,
        event_type: r.try_get("event_type")?,
        status,
        attempt_count: r.try_get("attempt_count")?,
        next_attempt_at: (waiting && next_ms > 0).then(|| ids::timestamp_ms(next_ms)),
        last_error: r.try_get("last_error")?,
        waiting_reason: waiting_reason.clone(),
        held_by: waiting_reason
            .as_deref()
            .and_then(crate::delivery::held::HeldBy::of_reason),
        payload_preview,
        payload_bytes,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

impl Store {
    /// A page of a workspace's deliveries, newest first.
    pub async fn deliveries_page(
        &self,
        workspace_id: &str,
        filter: &DeliveryFilter,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        let (low, high) = filter.range.bounds();
        let rows = sqlx::query(&format!(
            "SELECT {} FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.workspace_id = $1 \
             AND ($2 = '' OR d.destination_id = $2) AND ($3 = '' OR d.status = $3) \
             AND ($4 = '' OR d.event_type = $4) AND ($5 = '' OR d.event_id = $5) \
             AND ($6 = '' OR d.id >= $6) AND ($7 = '' OR d.id < $7) \
             AND ($9 = '' OR d.destination_id IN (SELECT t.id FROM destinations t \
                  WHERE t.workspace_id = $1 AND {})) \
             ORDER BY d.id DESC LIMIT $8",
            delivery_columns(self.is_postgres()),
            super::destinations::type_in_list("t.destination_type", "$9")
        ))
        .bind(workspace_id)
        .bind(filter.destination_id.as_deref().unwrap_or_default())
        .bind(filter.status.map(DeliveryStatus::as_str).unwrap_or_default())
        .bind(filter.event_type.as_deref().unwrap_or_default())
        .bind(filter.event_id.as_deref().unwrap_or_default())
        .bind(low)
        .bind(high)
        .bind(limit)
        .bind(super::destinations::type_list(
            filter.destination_types.as_deref(),
        ))
        .fetch_all(counted::on_pool(self.pool()))
        .await?;
        rows.iter().map(delivery_from).collect()
    }

    /// One delivery with its payload and every attempt, oldest first.
    pub async fn delivery(&self, workspace_id: &str, id: &str) -> Result<Option<DeliveryDetail>> {
        let Some(row) = sqlx::query(&format!(
            "SELECT {}, {DELIVERY_PAYLOAD} AS payload FROM deliveries d JOIN events e ON e.id = d.event_id \
             WHERE d.workspace_id = $1 AND d.id = $2",
            delivery_columns(self.is_postgres())
        ))
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(counted::on_pool(self.pool()))
        .await?
        else {
            return Ok(None);
        };
        let attempts = sqlx::query(
            "SELECT number, started_at, duration_ms, outcome, http_status, reference, error_kind, \
             error, response FROM attempts WHERE delivery_id = $1 ORDER BY number",
        )
        .bind(id)
        .fetch_all(counted::on_pool(self.pool()))
        .await?;
        let attempts = attempts
            .iter()
            .map(|a| {
                Ok(Attempt {
                    number: a.try_get("number")?,
                    started_at: a.try_get("started_at")?,
                    duration_ms: a.try_get("duration_ms")?,
                    outcome: a.try_get("outcome")?,
                    http_status: a.try_get("http_status")?,
                    reference: a.try_get("reference")?,
                    error_kind: a.try_get("error_kind")?,
                    error: a.try_get("error")?,
                    response: a.try_get("response")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(DeliveryDetail {
            delivery: delivery_from(&row)?,
            payload: json_of(&row.try_get::<String, _>("payload")?),
            attempts,
        }))
    }

    /// A page of a workspace's events, newest first.
    pub async fn events_page(
        &self,
        workspace_id: &str,
        filter: &EventFilter,
        limit: i64,
    ) -> Result<Vec<Event>> {
        let (low, high) = filter.range.bounds();
        let rows = sqlx::query(&format!(
            "SELECT id, workspace_id, type, idempotency_key, created_at, {} FROM events \
             WHERE workspace_id = $1 AND ($2 = '' OR type = $2) AND ($3 = '' OR id >= $3) \
             AND ($4 = '' OR id < $4) ORDER BY id DESC LIMIT $5",
            preview_columns("payload", self.is_postgres())
        ))
        .bind(workspace_id)
        .bind(filter.event_type.as_deref().unwrap_or_default())
        .bind(low)
        .bind(high)
        .bind(limit)
        .fetch_all(counted::on_pool(self.pool()))
        .await?;
        rows.iter().map(event_from).collect()
    }

    /// One event with its payload and its deliveries (oldest first).
    pub async fn event(&self, workspace_id: &str, id: &str) -> Result<Option<EventDetail>> {
        let Some(row) = sqlx::query(&format!(
            "SELECT id, workspace_id, type, idempotency_key, created_at, payload, {} FROM events \
             WHERE workspace_id = $1 AND id = $2",
            preview_columns("payload", self.is_postgres())
        ))
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(counted::on_pool(self.pool()))
        .await?
        else {
            return Ok(None);
        };
        let deliveries = sqlx::query(&format!(
            "SELECT {} FROM deliveries d JOIN events e ON e.id = d.event_id \
             WHERE d.workspace_id = $1 AND d.event_id = $2 ORDER BY d.id",
            delivery_columns(self.is_postgres())
        ))
        .bind(workspace_id)
        .bind(id)
        .fetch_all(counted::on_pool(self.pool()))
        .await?;
        Ok(Some(EventDetail {
            event: event_from(&row)?,
            payload: json_of(&row.try_get::<String, _>("payload")?),
            deliveries: deliveries
                .iter()
                .map(delivery_from)
                .collect::<Result<_>>()?,
        }))
    }
}

fn event_from(r: &AnyRow) -> Result<Event> {
    let (payload_preview, payload_bytes) = preview(r)?;
    Ok(Event {
        id: r.try_get("id")?,
        workspace_id: r.try_get("workspace_id")?,
        event_type: r.try_get("type")?,
        idempotency_key: r.try_get("idempotency_key")?,
        payload_preview,
        payload_bytes,
        created_at: r.try_get("created_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_is_the_tighter_of_its_end_and_the_cursor() {
        let range = IdRange {
            since_ms: Some(1_000),
            until_ms: Some(2_000),
            before: Some(id_boundary(1_500).to_uppercase()),
        };
        assert_eq!(range.bounds(), (id_boundary(1_000), id_boundary(1_500)));
        let range = IdRange {
            before: Some(id_boundary(3_000)),
            until_ms: Some(2_000),
            ..IdRange::default()
        };
        assert_eq!(range.bounds(), (String::new(), id_boundary(2_000)));
        assert_eq!(IdRange::default().bounds(), (String::new(), String::new()));
    }
}

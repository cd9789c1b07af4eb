//! Events, the deliveries they fan out to, and every attempt: the durable queue's types and
//! what the API reads and requeues. The delivery engine writes it (`store::engine`): an event
//! with its deliveries in one transaction, claims under a lease (`FOR UPDATE SKIP LOCKED` on
//! Postgres, so replicas never take the same one), taken again once a crashed worker's lease
//! lapses.

use anyhow::Result;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, counted};
use crate::ids;

/// Idempotency keys are remembered this long.
pub const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_type: String,
    /// The payload as JSON text.
    pub payload: String,
    pub idempotency_key: Option<String>,
    pub deliveries: Vec<NewDelivery>,
}

/// A delivery to create: the payload after the route's mapping ([`SAME_AS_EVENT`] when the
/// route maps nothing), or the mapping's error (then the delivery is failed from the start and
/// kept for inspection).
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub destination_id: String,
    pub route_id: String,
    pub payload: Result<String, String>,
    /// How long it may wait for others to share a batch (0 for per-record destinations).
    pub wait_ms: i64,
}

impl NewDelivery {
    /// The payload it carries: its own after a mapping, else the event's.
    pub fn payload_or<'a>(&'a self, event_payload: &'a str) -> Option<&'a str> {
        match &self.payload {
            Ok(p) if p.as_str() == SAME_AS_EVENT => Some(event_payload),
            Ok(p) => Some(p),
            Err(_) => None,
        }
    }
}

/// What accepting one event did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Accepted {
    pub id: String,
    /// A repeat of an idempotency key seen in the last 24 hours: nothing new was stored.
    pub duplicate: bool,
    pub deliveries: usize,
}

/// A claimed delivery, ready for an attempt.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub workspace_id: String,
    pub event_id: String,
    pub destination_id: String,
    pub event_type: String,
    pub payload: String,
    pub attempts: i64,
    /// Which claim this is: finishing, renewing and releasing only touch the delivery while
    /// this claim still holds it (a claim whose lease lapsed may have been taken by another).
    pub claim_token: String,
}

/// How an attempt (or a decision not to attempt) ends a claim.
#[derive(Debug, Clone)]
pub enum Finish {
    Delivered,
    /// Try again at this time (epoch ms).
    Retry {
        at_ms: i64,
    },
    /// Dead letter: kept, replayable.
    Failed,
    /// Not attempted (circuit open, destination inactive): back in the queue at this time.
    Release {
        at_ms: i64,
    },
}

/// One attempt as logged.
#[derive(Debug, Clone, Default)]
pub struct AttemptLog {
    pub started_at: String,
    pub duration_ms: i64,
    pub outcome: String,
    pub http_status: Option<i64>,
    pub reference: Option<String>,
    pub error_kind: Option<String>,
    pub error: Option<String>,
    pub response: Option<String>,
}

/// A delivery's columns, read with its events row `e` joined: a delivery whose payload is the
/// event's own stores `''` and reads the event's (see [`SAME_AS_EVENT`]).
const DELIVERY_COLUMNS: &str = "d.id AS id, d.workspace_id AS workspace_id, d.event_id AS event_id, \
    d.destination_id AS destination_id, d.route_id AS route_id, d.event_type AS event_type, \
    CASE WHEN d.payload = '' THEN e.payload ELSE d.payload END AS payload, d.status AS status, \
    d.attempts AS attempts, d.next_attempt_ms AS next_attempt_ms, d.last_error AS last_error, \
    d.created_at AS created_at, d.updated_at AS updated_at";

/// The stored payload of a delivery that carries its event's payload unchanged (no field
/// mapping): the text is not stored twice. No JSON value is empty, so this cannot be a payload.
pub const SAME_AS_EVENT: &str = "";

/// How much of each payload a list shows, in characters: a page of deliveries stays small
/// whatever the payloads weigh (the full payload is in the delivery by id).
const PREVIEW_CHARS: i64 = 256;

/// A list's columns: the delivery's, with the payload cut to a preview and its size in bytes.
fn list_columns(postgres: bool) -> String {
    let payload = "CASE WHEN d.payload = '' THEN e.payload ELSE d.payload END";
    let bytes = if postgres {
        format!("octet_length({payload})")
    } else {
        format!("length(CAST({payload} AS BLOB))")
    };
    DELIVERY_COLUMNS.replace(
        &format!("{payload} AS payload"),
        &format!("substr({payload}, 1, {PREVIEW_CHARS}) AS payload, {bytes} AS payload_bytes"),
    )
}

/// A delivery in a list: `payload_preview` (the payload's text, cut to [`PREVIEW_CHARS`]
/// characters, `…` marking a cut) and `payload_bytes` instead of the payload.
fn listed_delivery_json(r: &AnyRow) -> Result<Value> {
    let mut d = delivery_json(r)?;
    let bytes: i64 = r.try_get("payload_bytes")?;
    let mut preview: String = r.try_get("payload")?;
    if preview.chars().count() as i64 == PREVIEW_CHARS && preview.len() as i64 != bytes {
        preview.push('…');
    }
    if let Some(map) = d.as_object_mut() {
        map.shift_remove("payload");
        map.insert("payload_preview".into(), Value::String(preview));
        map.insert("payload_bytes".into(), json!(bytes));
    }
    Ok(d)
}

fn delivery_json(r: &AnyRow) -> Result<Value> {
    let payload: String = r.try_get("payload")?;
    Ok(json!({
        "id": r.try_get::<String, _>("id")?,
        "workspace_id": r.try_get::<String, _>("workspace_id")?,
        "event_id": r.try_get::<String, _>("event_id")?,
        "destination_id": r.try_get::<String, _>("destination_id")?,
        "route_id": r.try_get::<String, _>("route_id")?,
        "event_type": r.try_get::<String, _>("event_type")?,
        "payload": serde_json::from_str::<Value>(&payload).unwrap_or(Value::String(payload)),
        "status": r.try_get::<String, _>("status")?,
        "attempts": r.try_get::<i64, _>("attempts")?,
        "next_attempt_at": ids::timestamp_ms(r.try_get::<i64, _>("next_attempt_ms")?),
        "last_error": r.try_get::<Option<String>, _>("last_error")?,
        "created_at": r.try_get::<String, _>("created_at")?,
        "updated_at": r.try_get::<String, _>("updated_at")?,
    }))
}

impl Store {
    /// Deliveries of a workspace, newest first, after `cursor` (a delivery id), filtered.
    pub async fn list_deliveries(
        &self,
        workspace_id: &str,
        destination_id: Option<&str>,
        status: Option<&str>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Value>> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.workspace_id = $1 \
             AND ($2 = '' OR d.destination_id = $2) AND ($3 = '' OR d.status = $3) AND ($4 = '' OR d.id < $4) \
             ORDER BY d.id DESC LIMIT $5",
            list_columns(self.is_postgres())
        ))
        .bind(workspace_id)
        .bind(destination_id.unwrap_or(""))
        .bind(status.unwrap_or(""))
        .bind(cursor.unwrap_or(""))
        .bind(limit)
        .fetch_all(counted::on_pool(self.pool()))
        .await?;
        rows.iter().map(listed_delivery_json).collect()
    }

    /// One delivery with every attempt, oldest first.
    pub async fn delivery(&self, workspace_id: &str, id: &str) -> Result<Option<Value>> {
        let Some(row) = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.workspace_id = $1 AND d.id = $2"
        ))
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(counted::on_pool(self.pool()))
        .await?
        else {
            return Ok(None);
        };
        let mut delivery = delivery_json(&row)?;
        let attempts = sqlx::query("SELECT number, started_at, duration_ms, outcome, http_status, reference, error_kind, error, response FROM attempts WHERE delivery_id = $1 ORDER BY number")
            .bind(id)
            .fetch_all(counted::on_pool(self.pool()))
            .await?;
        let attempts: Result<Vec<Value>> = attempts
            .iter()
            .map(|a| {
                Ok(json!({
                    "number": a.try_get::<i64, _>("number")?,
                    "started_at": a.try_get::<String, _>("started_at")?,
                    "duration_ms": a.try_get::<i64, _>("duration_ms")?,
                    "outcome": a.try_get::<String, _>("outcome")?,
                    "http_status": a.try_get::<Option<i64>, _>("http_status")?,
                    "reference": a.try_get::<Option<String>, _>("reference")?,
                    "error_kind": a.try_get::<Option<String>, _>("error_kind")?,
                    "error": a.try_get::<Option<String>, _>("error")?,
                    "response": a.try_get::<Option<String>, _>("response")?,
                }))
            })
            .collect();
        delivery["attempts"] = Value::Array(attempts?);
        Ok(Some(delivery))
    }

    /// Queues deliveries again from now with a fresh attempt budget: one (`id`), or every one
    /// matching the filter. In-flight deliveries are left alone. Returns how many.
    pub async fn requeue(
        &self,
        workspace_id: &str,
        id: Option<&str>,
        destination_id: Option<&str>,
        status: &str,
    ) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_ms = $5, updated_at = $6 \
             WHERE workspace_id = $1 AND ($2 = '' OR id = $2) AND ($3 = '' OR destination_id = $3) \
             AND status <> 'in_flight' AND ($4 = '' OR status = $4) AND payload <> 'null'",
        )
        .bind(workspace_id)
        .bind(id.unwrap_or(""))
        .bind(destination_id.unwrap_or(""))
        .bind(status)
        .bind(crate::clock::queue_now_ms())
        .bind(ids::now())
        .execute(counted::on_pool(self.pool()))
        .await?;
        Ok(done.rows_affected())
    }

    /// Forgets idempotency keys older than the window (they no longer hold their event).
    pub async fn prune_idempotency_keys(&self) -> Result<u64> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_ms < $1")
            .bind(crate::clock::queue_now_ms() - IDEMPOTENCY_WINDOW_MS)
            .execute(counted::on_pool(self.relaxed()))
            .await?;
        Ok(done.rows_affected())
    }

    /// Deliveries waiting (pending, scheduled for retry, or in flight).
    pub async fn queue_depth(&self) -> Result<i64> {
        Ok(sqlx::query_scalar(
            // Each count reads its own partial index.
            "SELECT (SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'retry_scheduled')) \
             + (SELECT COUNT(*) FROM deliveries WHERE status = 'in_flight')",
        )
        .fetch_one(counted::on_pool(self.pool()))
        .await?)
    }
}

//! Events, the deliveries they fan out to, and every attempt: the durable queue's types and
//! what the API reads and requeues. The delivery engine writes it (`store::engine`): an event
//! with its deliveries in one transaction, claims under a lease (`FOR UPDATE SKIP LOCKED` on
//! Postgres, so replicas never take the same one), taken again once a crashed worker's lease
//! lapses.

use anyhow::Result;
use serde_json::Value;

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
    /// With a key: what the key is bound to (see [`body_hash`]); a repeat of the key with
    /// another body is refused.
    pub body_hash: Option<String>,
    pub deliveries: Vec<NewDelivery>,
}

/// SHA-256 of an event's type and payload, the payload's object keys sorted (the same JSON
/// sent with its keys in another order is the same body).
pub fn body_hash(event_type: &str, payload: &Value) -> String {
    use sha2::{Digest, Sha256};
    fn canonical(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    canonical(&map[k], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    canonical(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut text = String::with_capacity(event_type.len() + 64);
    text.push_str(event_type);
    text.push('\0');
    canonical(payload, &mut text);
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
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
    /// Its lane, when its destination delivers in fifo order.
    pub lane_key: Option<String>,
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
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Accepted {
    pub id: String,
    /// A repeat of an idempotency key seen in the last 24 hours: nothing new was stored.
    pub duplicate: bool,
    pub deliveries: usize,
    /// The key was first sent with another body: this event was not stored.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub idempotency_conflict: bool,
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
    /// Not attempted (circuit open, destination inactive): back in the queue at this time,
    /// and why (shown as the delivery's `waiting_reason`).
    Release {
        at_ms: i64,
        reason: Option<&'static str>,
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

/// The stored payload of a delivery that carries its event's payload unchanged (no field
/// mapping): the text is not stored twice. No JSON value is empty, so this cannot be a payload.
pub const SAME_AS_EVENT: &str = "";

impl Store {
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
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_ms = $5, updated_at = $6, waiting_reason = NULL \
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

    /// Ends a destination's waiting deliveries (held while it is disabled or awaiting
    /// reauthorization, or queued for a retry; not those in flight) as `failed`, saying who
    /// discarded them: they stay in the attempt log, replayable like any dead letter.
    pub async fn discard_waiting(
        &self,
        workspace_id: &str,
        destination_id: &str,
        by: &str,
    ) -> Result<u64> {
        // The destination counts them among its failed deliveries, in the same transaction.
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE deliveries SET status = 'failed', next_attempt_ms = 0, waiting_reason = NULL, \
             last_error = $3, updated_at = $4 \
             WHERE workspace_id = $1 AND destination_id = $2 AND status IN ('pending', 'retry_scheduled')",
        )
        .bind(workspace_id)
        .bind(destination_id)
        .bind(format!("discarded while waiting, by {by}"))
        .bind(ids::now())
        .execute(counted::on(&mut tx))
        .await?
        .rows_affected();
        if done > 0 {
            sqlx::query(
                "UPDATE destinations SET failed_count = failed_count + $1 WHERE workspace_id = $2 AND id = $3",
            )
            .bind(done as i64)
            .bind(workspace_id)
            .bind(destination_id)
            .execute(counted::on(&mut tx))
            .await?;
        }
        counted::commit(tx).await?;
        Ok(done)
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

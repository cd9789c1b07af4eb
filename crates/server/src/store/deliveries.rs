//! Events, the deliveries they fan out to, and every attempt: the durable queue. An event is
//! stored with its deliveries in one transaction; workers claim due deliveries under a lease
//! (`FOR UPDATE SKIP LOCKED` on Postgres, so replicas never take the same one), and a crashed
//! worker's claims are taken again once the lease expires.

use anyhow::Result;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
use crate::ids;

/// Idempotency keys are remembered this long.
pub const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_type: String,
    pub payload: Value,
    pub idempotency_key: Option<String>,
    pub deliveries: Vec<NewDelivery>,
}

/// A delivery to create: the payload after the route's mapping, or the mapping's error (then
/// the delivery is failed from the start and kept for inspection).
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub destination_id: String,
    pub route_id: String,
    pub payload: Result<String, String>,
    /// How long it may wait for others to share a batch (0 for per-record destinations).
    pub wait_ms: i64,
}

/// A batching destination's flush limits: when this many records or bytes wait, they are due
/// at once instead of at the end of their wait.
#[derive(Debug, Clone)]
pub struct FlushRule {
    pub destination_id: String,
    pub max_records: i64,
    pub max_bytes: i64,
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

const DELIVERY_COLUMNS: &str = "id, workspace_id, event_id, destination_id, route_id, event_type, payload, status, attempts, next_attempt_ms, last_error, created_at, updated_at";

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

/// `$first, $first+1, ...`: `n` numbered parameters.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Stores events and their deliveries in one transaction; a repeated idempotency key
    /// returns the first event instead.
    pub async fn accept_events(
        &self,
        workspace_id: &str,
        events: Vec<NewEvent>,
        flush: &[FlushRule],
    ) -> Result<Vec<Accepted>> {
        let now_ms = ids::now_ms();
        let now = ids::now();
        let mut tx = self.pool().begin().await?;
        let mut accepted = Vec::with_capacity(events.len());
        for event in events {
            let id = ids::new_id();
            if let Some(key) = &event.idempotency_key {
                sqlx::query("DELETE FROM idempotency_keys WHERE workspace_id = $1 AND key = $2 AND created_ms < $3")
                    .bind(workspace_id)
                    .bind(key)
                    .bind(now_ms - IDEMPOTENCY_WINDOW_MS)
                    .execute(&mut *tx)
                    .await?;
                // Claiming the key first makes a concurrent request with the same key wait for
                // this one, then find the key taken, instead of failing on the constraint.
                let claimed = sqlx::query(
                    "INSERT INTO idempotency_keys (workspace_id, key, event_id, created_ms) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (workspace_id, key) DO NOTHING",
                )
                .bind(workspace_id)
                .bind(key)
                .bind(&id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                if claimed.rows_affected() == 0 {
                    let seen: String = sqlx::query_scalar(
                        "SELECT event_id FROM idempotency_keys WHERE workspace_id = $1 AND key = $2",
                    )
                    .bind(workspace_id)
                    .bind(key)
                    .fetch_one(&mut *tx)
                    .await?;
                    let deliveries: i64 =
                        sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE event_id = $1")
                            .bind(&seen)
                            .fetch_one(&mut *tx)
                            .await?;
                    accepted.push(Accepted {
                        id: seen,
                        duplicate: true,
                        deliveries: deliveries as usize,
                    });
                    continue;
                }
            }
            sqlx::query("INSERT INTO events (id, workspace_id, type, payload, idempotency_key, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(&id)
                .bind(workspace_id)
                .bind(&event.event_type)
                .bind(event.payload.to_string())
                .bind(&event.idempotency_key)
                .bind(&now)
                .execute(&mut *tx)
                .await?;
            for d in &event.deliveries {
                let (payload, status, error) = match &d.payload {
                    Ok(p) => (p.clone(), "pending", None),
                    Err(e) => (String::from("null"), "failed", Some(e.clone())),
                };
                sqlx::query(&format!(
                    "INSERT INTO deliveries ({DELIVERY_COLUMNS}, lease_until_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10, $11, $11, 0)"
                ))
                .bind(ids::new_id())
                .bind(workspace_id)
                .bind(&id)
                .bind(&d.destination_id)
                .bind(&d.route_id)
                .bind(&event.event_type)
                .bind(payload)
                .bind(status)
                .bind(now_ms + d.wait_ms)
                .bind(error)
                .bind(&now)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE destinations SET event_count = event_count + 1 WHERE id = $1")
                    .bind(&d.destination_id)
                    .execute(&mut *tx)
                    .await?;
            }
            accepted.push(Accepted {
                id,
                duplicate: false,
                deliveries: event.deliveries.len(),
            });
        }
        // A batching destination with a full batch waiting gets it now, not at the end of the
        // wait.
        for rule in flush {
            let (count, bytes): (i64, i64) = {
                let row = sqlx::query(
                    "SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(payload)), 0) AS bytes FROM deliveries \
                     WHERE destination_id = $1 AND status = 'pending' AND next_attempt_ms > $2",
                )
                .bind(&rule.destination_id)
                .bind(now_ms)
                .fetch_one(&mut *tx)
                .await?;
                (row.try_get("n")?, row.try_get("bytes")?)
            };
            if count >= rule.max_records || bytes >= rule.max_bytes {
                sqlx::query(
                    "UPDATE deliveries SET next_attempt_ms = $2 WHERE destination_id = $1 AND status = 'pending' AND next_attempt_ms > $2",
                )
                .bind(&rule.destination_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(accepted)
    }

    /// More due deliveries of one destination under an existing claim (filling a batch).
    pub async fn claim_more(
        &self,
        destination_id: &str,
        token: &str,
        limit: i64,
        lease_ms: i64,
    ) -> Result<Vec<Job>> {
        let due = "destination_id = $6 AND status IN ('pending', 'retry_scheduled') AND next_attempt_ms <= $3 ORDER BY id";
        self.claim_where(due, Some(destination_id), token, limit, lease_ms)
            .await
    }

    /// Claims up to `limit` due deliveries (or ones whose lease expired) for `lease_ms`.
    pub async fn claim(&self, limit: i64, lease_ms: i64) -> Result<Vec<Job>> {
        let due = "(status IN ('pending', 'retry_scheduled') AND next_attempt_ms <= $3) \
                   OR (status = 'in_flight' AND lease_until_ms < $3) ORDER BY next_attempt_ms";
        self.claim_where(due, None, &ids::new_id(), limit, lease_ms)
            .await
    }

    /// Claims up to `limit` deliveries matching `due` (SQL over `$3` = now, and `$6` =
    /// `destination` when given) under `token`, for `lease_ms`.
    async fn claim_where(
        &self,
        due: &str,
        destination: Option<&str>,
        token: &str,
        limit: i64,
        lease_ms: i64,
    ) -> Result<Vec<Job>> {
        let now = ids::now_ms();
        let lock = if self.is_postgres() {
            "FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE deliveries SET status = 'in_flight', lease_until_ms = $1, updated_at = $2, claim_token = $5 \
             WHERE id IN (SELECT id FROM deliveries WHERE {due} LIMIT $4 {lock}) \
             RETURNING id, workspace_id, event_id, destination_id, event_type, payload, attempts"
        );
        let mut query = sqlx::query(&sql)
            .bind(now + lease_ms)
            .bind(ids::now())
            .bind(now)
            .bind(limit)
            .bind(token);
        if let Some(destination) = destination {
            query = query.bind(destination);
        }
        let rows = query.fetch_all(self.relaxed()).await?;
        rows.into_iter()
            .map(|r| {
                Ok(Job {
                    id: r.try_get("id")?,
                    workspace_id: r.try_get("workspace_id")?,
                    event_id: r.try_get("event_id")?,
                    destination_id: r.try_get("destination_id")?,
                    event_type: r.try_get("event_type")?,
                    payload: r.try_get("payload")?,
                    attempts: r.try_get("attempts")?,
                    claim_token: token.to_string(),
                })
            })
            .collect()
    }

    /// Ends a claim: moves the delivery on, logs the attempt (if one was made), and keeps the
    /// destination's last-delivery fields current.
    pub async fn finish(
        &self,
        job: &Job,
        finish: Finish,
        attempt: Option<AttemptLog>,
    ) -> Result<()> {
        self.finish_many(&[(job, finish, attempt)]).await
    }

    /// [`Store::finish`] for several claims, in order, a transaction per
    /// [`FINISH_CHUNK`] of them: a batch of a thousand records delivered as one file commits a
    /// few times, not a thousand.
    pub async fn finish_many(&self, items: &[(&Job, Finish, Option<AttemptLog>)]) -> Result<()> {
        for chunk in items.chunks(FINISH_CHUNK) {
            // Every statement writes, the first one included: a SQLite transaction that read
            // first could not take the write lock under concurrency (SQLITE_BUSY without
            // waiting).
            let mut tx = self.relaxed().begin().await?;
            for (job, finish, attempt) in chunk {
                finish_one(&mut tx, job, finish, attempt.as_ref()).await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// Extends the leases of a worker's live claims (by claim token).
    pub async fn renew(&self, tokens: &[String], lease_ms: i64) -> Result<()> {
        let until = ids::now_ms() + lease_ms;
        for chunk in tokens.chunks(500) {
            let list = placeholders(2, chunk.len());
            let sql = format!(
                "UPDATE deliveries SET lease_until_ms = $1 WHERE status = 'in_flight' AND claim_token IN ({list})"
            );
            let mut query = sqlx::query(&sql).bind(until);
            for token in chunk {
                query = query.bind(token);
            }
            query.execute(self.relaxed()).await?;
        }
        Ok(())
    }

    /// Puts a worker's unfinished claims back in the queue (at shutdown).
    pub async fn release(&self, tokens: &[String]) -> Result<()> {
        for chunk in tokens.chunks(500) {
            let list = placeholders(1, chunk.len());
            let sql = format!(
                "UPDATE deliveries SET status = 'pending', lease_until_ms = 0 WHERE status = 'in_flight' AND claim_token IN ({list})"
            );
            let mut query = sqlx::query(&sql);
            for token in chunk {
                query = query.bind(token);
            }
            query.execute(self.relaxed()).await?;
        }
        Ok(())
    }

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
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE workspace_id = $1 \
             AND ($2 = '' OR destination_id = $2) AND ($3 = '' OR status = $3) AND ($4 = '' OR id < $4) \
             ORDER BY id DESC LIMIT $5"
        ))
        .bind(workspace_id)
        .bind(destination_id.unwrap_or(""))
        .bind(status.unwrap_or(""))
        .bind(cursor.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(delivery_json).collect()
    }

    /// One delivery with every attempt, oldest first.
    pub async fn delivery(&self, workspace_id: &str, id: &str) -> Result<Option<Value>> {
        let Some(row) = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE workspace_id = $1 AND id = $2"
        ))
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        let mut delivery = delivery_json(&row)?;
        let attempts = sqlx::query("SELECT number, started_at, duration_ms, outcome, http_status, reference, error_kind, error, response FROM attempts WHERE delivery_id = $1 ORDER BY number")
            .bind(id)
            .fetch_all(self.pool())
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
        .bind(ids::now_ms())
        .bind(ids::now())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Deliveries waiting (pending, scheduled for retry, or in flight).
    pub async fn queue_depth(&self) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'retry_scheduled', 'in_flight')",
        )
        .fetch_one(self.pool())
        .await?)
    }
}

/// Claims finished per transaction: short enough that other writers wait little for the lock.
const FINISH_CHUNK: usize = 200;

/// One claim's end on `conn`, inside a transaction (see [`Store::finish`]); a claim that
/// lapsed is left alone.
async fn finish_one(
    conn: &mut sqlx::AnyConnection,
    job: &Job,
    finish: &Finish,
    attempt: Option<&AttemptLog>,
) -> Result<()> {
    let now = ids::now();
    let (status, next_ms) = match finish {
        Finish::Delivered => ("delivered", 0),
        Finish::Failed => ("failed", 0),
        Finish::Retry { at_ms } => ("retry_scheduled", *at_ms),
        Finish::Release { at_ms } => ("pending", *at_ms),
    };
    let last_error = attempt.and_then(|a| a.error.clone());
    let moved = sqlx::query("UPDATE deliveries SET status = $2, attempts = attempts + $3, next_attempt_ms = $4, lease_until_ms = 0, \
                 last_error = COALESCE($5, last_error), updated_at = $6 \
                 WHERE id = $1 AND status = 'in_flight' AND claim_token = $7")
        .bind(&job.id)
        .bind(status)
        .bind(i64::from(attempt.is_some()))
        .bind(next_ms)
        .bind(last_error)
        .bind(&now)
        .bind(&job.claim_token)
        .execute(&mut *conn)
        .await?;
    if moved.rows_affected() == 0 {
        // The lease lapsed and another claim owns the delivery now: leave it to that one.
        tracing::warn!(delivery = %job.id, "a delivery's claim lapsed before its attempt was recorded");
        return Ok(());
    }
    if let Some(a) = attempt {
        sqlx::query("INSERT INTO attempts (id, delivery_id, number, started_at, duration_ms, outcome, http_status, reference, error_kind, error, response) \
                     VALUES ($1, $2, (SELECT COUNT(*) + 1 FROM attempts WHERE delivery_id = $2), $3, $4, $5, $6, $7, $8, $9, $10)")
            .bind(ids::new_id())
            .bind(&job.id)
            .bind(&a.started_at)
            .bind(a.duration_ms)
            .bind(&a.outcome)
            .bind(a.http_status)
            .bind(&a.reference)
            .bind(&a.error_kind)
            .bind(&a.error)
            .bind(&a.response)
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "UPDATE destinations SET last_delivery_at = $2, last_delivery_status = $3, \
             last_success_at = CASE WHEN $3 = 'delivered' THEN $2 ELSE last_success_at END, \
             failing_since = CASE WHEN $3 = 'delivered' THEN NULL ELSE COALESCE(failing_since, $2) END WHERE id = $1",
        )
        .bind(&job.destination_id)
        .bind(&now)
        .bind(&a.outcome)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

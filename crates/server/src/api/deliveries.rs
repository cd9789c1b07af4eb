//! The attempt log: deliveries by destination and status (newest first, cursor paging), one
//! delivery with every attempt, a retry of one, and a bulk replay by filter.

use axum::Json;
use axum::extract::{Path, Query};
use courier_core::FieldError;
use serde::Deserialize;
use serde_json::{Value, json};

use super::State;
use super::auth::Principal;
use super::body::JsonBody;
use super::error::{ApiError, ApiResult};

const STATUSES: &[&str] = &[
    "pending",
    "in_flight",
    "delivered",
    "retry_scheduled",
    "failed",
];

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    destination_id: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

pub async fn list(
    state: State,
    who: Principal,
    Path(ws): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let ws = who.workspace(&ws)?;
    if let Some(s) = &q.status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(ApiError::validation(vec![FieldError::new(
            "/status",
            format!("must be one of {}", STATUSES.join(", ")),
        )]));
    }
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let data = state
        .store
        .list_deliveries(
            ws,
            q.destination_id.as_deref(),
            q.status.as_deref(),
            q.cursor.as_deref(),
            limit,
        )
        .await?;
    let next_cursor = (data.len() as i64 == limit)
        .then(|| data.last().map(|d| d["id"].clone()))
        .flatten();
    Ok(Json(json!({"data": data, "next_cursor": next_cursor})))
}

pub async fn get(
    state: State,
    who: Principal,
    Path((ws, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let ws = who.workspace(&ws)?;
    let delivery = state
        .store
        .delivery(ws, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    Ok(Json(delivery))
}

/// `POST .../deliveries/{id}/retry`: queued again now, with a fresh attempt budget.
pub async fn retry(
    state: State,
    who: Principal,
    Path((ws, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let ws = who.workspace(&ws)?;
    if state.store.delivery(ws, &id).await?.is_none() {
        return Err(ApiError::not_found("delivery"));
    }
    let n = state.store.requeue(ws, Some(&id), None, "").await?;
    if n == 0 {
        return Err(ApiError::conflict(
            "the delivery is in flight or cannot be delivered (its mapping failed)",
        ));
    }
    state.wake.notify_one();
    Ok(Json(json!({"status": "queued", "id": id})))
}

/// `POST .../deliveries/replay` with `{"destination_id"?, "status"?}` (status `failed` by default).
pub async fn replay(
    state: State,
    who: Principal,
    Path(ws): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let ws = who.workspace(&ws)?;
    let mut errors = Vec::new();
    let fields = body.as_object().cloned().unwrap_or_default();
    for key in fields.keys() {
        if !["destination_id", "status"].contains(&key.as_str()) {
            errors.push(FieldError::new(format!("/{key}"), "is not a replay filter"));
        }
    }
    let status = fields
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("failed");
    if !["failed", "delivered"].contains(&status) {
        errors.push(FieldError::new("/status", "must be failed or delivered"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let destination = fields.get("destination_id").and_then(Value::as_str);
    let n = state.store.requeue(ws, None, destination, status).await?;
    state.wake.notify_one();
    Ok(Json(json!({"queued": n})))
}

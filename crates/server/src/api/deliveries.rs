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
use super::permissions::require;

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
    limit: Option<String>,
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
    let limit = super::paging::limit(q.limit.as_deref())?;
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
    let next_cursor = super::paging::next_cursor(
        data.len(),
        limit,
        data.last().and_then(|d| d["id"].as_str()),
    );
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
    let delivery = state
        .store
        .delivery(ws, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    if let Some(d) = state
        .store
        .destination(ws, delivery["destination_id"].as_str().unwrap_or_default())
        .await?
    {
        require(&who, &d, "trigger_syncs")?;
    }
    let n = state.store.requeue(ws, Some(&id), None, "").await?;
    if n == 0 {
        return Err(ApiError::conflict(
            "the delivery is in flight or cannot be delivered (its mapping failed)",
        ));
    }
    state.engine.wake();
    Ok(Json(json!({"status": "queued", "id": id})))
}

/// `POST .../deliveries/replay` with `{"destination_id"?, "status"?}` (status `failed` by
/// default). Replaying every destination at once is for admins.
pub async fn replay(
    state: State,
    who: Principal,
    Path(ws): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let ws = who.workspace(&ws)?;
    let Some(fields) = body.as_object() else {
        return Err(ApiError::validation(vec![FieldError::new(
            "",
            "must be an object of filters",
        )]));
    };
    let mut errors = Vec::new();
    for key in fields.keys() {
        if !["destination_id", "status"].contains(&key.as_str()) {
            errors.push(FieldError::new(
                format!("/{}", courier_core::spec::pointer_segment(key)),
                "is not a replay filter",
            ));
        }
    }
    let status = match fields.get("status") {
        None => "failed",
        Some(Value::String(s)) if s == "failed" || s == "delivered" => s.as_str(),
        Some(_) => {
            errors.push(FieldError::new("/status", "must be failed or delivered"));
            "failed"
        }
    };
    let destination = match fields.get("destination_id") {
        None => None,
        Some(Value::String(d)) => Some(d.as_str()),
        Some(_) => {
            errors.push(FieldError::new(
                "/destination_id",
                "must be a destination id",
            ));
            None
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    match destination {
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
    let n = state.store.requeue(ws, None, destination, status).await?;
    state.engine.wake();
    Ok(Json(json!({"queued": n})))
}

//! Liveness and readiness: `/healthz` answers while the process runs, `/readyz` once the
//! database answers.

use axum::Json;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::State;

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(state: State) -> (StatusCode, Json<Value>) {
    if state.store.ping().await {
        (StatusCode::OK, Json(json!({"status": "ready"})))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "database unavailable"})),
        )
    }
}

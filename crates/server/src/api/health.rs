//! Liveness and readiness: `/healthz` answers while the process runs, `/readyz` once the
//! database answers (503 while it does not).

use axum::Json;
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::Serialize;

use super::State;

/// How the process is.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Health {
    /// `ok` (liveness), `ready` or `database unavailable` (readiness).
    pub status: &'static str,
}

pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

pub async fn readyz(state: State) -> (StatusCode, Json<Health>) {
    if state.store.ping().await {
        (StatusCode::OK, Json(Health { status: "ready" }))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "database unavailable",
            }),
        )
    }
}

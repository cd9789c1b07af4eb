//! Request bodies: read within the size limit (413 over it) and the body read timeout (408
//! after it: a client trickling its body cannot hold a request open), parsed as JSON (400 with
//! the line and column when malformed), answered in the one error shape.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde_json::Value;

use super::AppState;
use super::error::ApiError;

/// Reads a request's body within the size limit and the read timeout.
pub async fn read_bytes(req: Request, state: &Arc<AppState>) -> Result<Bytes, ApiError> {
    let deadline = Duration::from_millis(state.config.body_read_timeout_ms.max(1));
    let read = tokio::time::timeout(deadline, Bytes::from_request(req, state))
        .await
        .map_err(|_| ApiError::body_timeout())?;
    read.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large()
        } else {
            ApiError::bad_request("the request body could not be read")
        }
    })
}

/// A JSON request body, as a value, read as strictly as typed bodies are (415 for another
/// media type, 422 when empty, 400 for malformed JSON or a key given twice), for handlers
/// that check it against their type themselves (handlers check its fields, reporting every problem).
#[derive(Debug)]
pub struct JsonBody(pub Value);

impl FromRequest<Arc<AppState>> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        super::valid::json_value(req, state, |_| false, false)
            .await
            .map(JsonBody)
    }
}

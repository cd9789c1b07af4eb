//! The catalog document a front end builds its destination forms from, and the workspaces a
//! key can see.

use axum::Json;
use axum::extract::Path;
use axum::http::header;
use axum::response::IntoResponse;
use courier_catalog::ConnectorEntry;

use super::State;
use super::auth::Principal;
use super::error::{ApiError, ApiResult};

pub async fn list(state: State, _who: Principal) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.catalog_json.clone(),
    )
}

pub async fn one(
    state: State,
    _who: Principal,
    Path(type_id): Path<String>,
) -> ApiResult<Json<ConnectorEntry>> {
    let connector = state
        .catalog
        .get(&type_id)
        .map_err(|_| ApiError::not_found("connector type"))?;
    Ok(Json(ConnectorEntry::of(connector.as_ref())))
}

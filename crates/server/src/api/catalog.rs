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

pub async fn list(state: State, who: Principal) -> axum::response::Response {
    let Some(types) = who.destination_types() else {
        return (
            [(header::CONTENT_TYPE, "application/json")],
            state.catalog_json.clone(),
        )
            .into_response();
    };
    // A portal session limited to some types sees only their entries.
    let mut document = state.catalog.document();
    document
        .connectors
        .retain(|c| types.iter().any(|t| *t == c.meta.type_id));
    Json(document).into_response()
}

pub async fn one(
    state: State,
    who: Principal,
    Path(type_id): Path<String>,
) -> ApiResult<Json<ConnectorEntry>> {
    if who
        .portal
        .as_ref()
        .is_some_and(|p| !p.scope.sees_type(&type_id))
    {
        return Err(ApiError::not_found("connector type"));
    }
    let connector = state
        .catalog
        .get(&type_id)
        .map_err(|_| ApiError::not_found("connector type"))?;
    Ok(Json(ConnectorEntry::of(connector.as_ref())))
}

//! `GET /portal/open?token=…`: trades a portal URL's one-time token for the session's
//! HttpOnly cookie and sends the browser on to `/portal/` without the token, so it leaves the
//! address bar and history. A token unknown, used or past its five minutes gets a page saying
//! so (it never echoes the token).

use axum::extract::Query;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::api::State;
use crate::ids;

/// The portal URL's query.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ExchangeQuery {
    /// The one-time token of `POST /workspaces/{ws}/portal-sessions`' URL.
    #[serde(default)]
    pub token: Option<String>,
}

pub async fn exchange(state: State, Query(query): Query<ExchangeQuery>) -> Response {
    let Some(token) = query.token.filter(|t| t.starts_with("cpt_")) else {
        return refused(StatusCode::BAD_REQUEST, "This portal link is not valid.");
    };
    let secret = format!("cps_{}", ids::random_token(32));
    let now = ids::now_ms();
    let exchanged = state
        .store
        .exchange_portal_token(&ids::hash_api_key(&token), &ids::hash_api_key(&secret), now)
        .await;
    match exchanged {
        Ok(Some(row)) => {
            let max_age_s = (row.expires_ms - now) / 1_000;
            let cookie = super::cookie::set(&state.config, &secret, max_age_s);
            (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, "/portal/".to_string()),
                    (header::SET_COOKIE, cookie),
                    (header::CACHE_CONTROL, "no-store".to_string()),
                    (header::REFERRER_POLICY, "no-referrer".to_string()),
                ],
            )
                .into_response()
        }
        Ok(None) => refused(
            StatusCode::BAD_REQUEST,
            "This portal link has expired or was already used. Ask for a new one.",
        ),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "exchanging a portal token failed");
            refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The portal could not be opened. Try again.",
            )
        }
    }
}

/// A page saying why the portal did not open, framable where the portal is.
fn refused(status: StatusCode, message: &'static str) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        Html(format!(
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Courier portal</title><main><p role=\"alert\">{message}</p></main></html>"
        )),
    )
        .into_response()
}

//! Connecting OAuth destinations (google_drive, onedrive): `POST .../oauth/{type}/start` returns
//! the provider's authorization URL for one destination; the provider sends the person's browser
//! to `GET /api/v1/oauth/callback`, which checks the state (single use, ten minutes), exchanges
//! the code with the PKCE verifier, seals the tokens into the destination and marks it
//! `connected`. Pending authorizations live in the database, so the callback may reach any
//! replica.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use courier_core::{BuildError, DynConnector, FieldError, OAuthClient, Secret, TokenStore};
use courier_oauth::{OAuthApp, PendingAuthorization};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::Change;
use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::model::Id;
use super::permissions::require;
use super::secrets::spec_of;
use super::valid::{Input, Valid};
use super::{AppState, State, view};
use crate::ids;
use crate::store::{DestinationRow, PendingRow};
use crate::tokens::DbTokenStore;

/// How long a started authorization waits for its redirect.
const PENDING_MS: i64 = 10 * 60 * 1000;

fn state_hash(state: &str) -> String {
    ids::hash_api_key(state)
}

fn verifier_context(state_hash: &str) -> String {
    format!("oauth-pending:{state_hash}")
}

/// The OAuth client the destination's connector declares, from its stored auth_config.
fn client_of(
    state: &AppState,
    d: &DestinationRow,
) -> ApiResult<(Arc<dyn DynConnector>, OAuthClient)> {
    let connector = state
        .catalog
        .get(&d.destination_type)
        .map_err(|e| ApiError::conflict(e.to_string()))?;
    let spec = spec_of(
        &state.sealer,
        &state.store,
        d,
        state.config.allow_private_destinations,
    )?;
    match connector.oauth_client(&spec) {
        Ok(Some(client)) => Ok((connector, client)),
        Ok(None) => Err(ApiError::conflict(format!(
            "{} destinations do not use OAuth",
            d.destination_type
        ))),
        Err(BuildError::Invalid(errors)) => Err(ApiError::conflict(format!(
            "the destination's config is not valid: {}",
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        ))),
        Err(e) => Err(ApiError::conflict(e.to_string())),
    }
}

/// Connecting an OAuth destination.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthStart {
    /// The destination to connect; its type must be the path's.
    pub destination_id: Id,
    /// Where the browser goes after the callback, with `oauth_status` (and `oauth_error`)
    /// added: this server's origin or one of `allowed_return_origins`.
    #[serde(default)]
    #[schemars(with = "String", url, length(max = 2000))]
    pub return_to: Option<String>,
}

impl Input for OAuthStart {}

/// Where to send the person who connects.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OAuthStarted {
    /// The provider's authorization page.
    #[schemars(url)]
    pub authorization_url: String,
    pub destination_id: String,
    /// The flow must end by then.
    #[schemars(with = "super::model::Timestamp")]
    pub expires_at: String,
}

/// `POST /workspaces/{ws}/oauth/{type}/start`.
pub async fn start(
    state: State,
    who: Principal,
    Path((ws, kind)): Path<(String, String)>,
    Valid(body): Valid<OAuthStart>,
) -> ApiResult<Json<OAuthStarted>> {
    let state: Arc<AppState> = state.0;
    let ws = who.workspace(&ws)?.to_string();
    let return_to = match body.return_to {
        None => None,
        Some(url) if allowed_return(&state, &url) => Some(url),
        Some(_) => {
            return Err(ApiError::validation(vec![FieldError::new(
                "/return_to",
                "must be an http(s) URL on this server's origin or one of allowed_return_origins",
            )]));
        }
    };
    let destination_id = body.destination_id.0;
    let d = state
        .store
        .destination(&ws, &destination_id)
        .await?
        .ok_or_else(|| ApiError::not_found("destination"))?;
    require(&who, &d, "manage_destination")?;
    if d.destination_type != kind {
        return Err(ApiError::validation(vec![FieldError::new(
            "/destination_id",
            format!("is a {} destination, not {kind}", d.destination_type),
        )]));
    }
    let (_, client) = client_of(&state, &d)?;
    let redirect_uri = callback_url(&state);
    let app = OAuthApp::from_client(
        &client,
        &redirect_uri,
        state.config.allow_private_destinations,
    )
    .map_err(|e| ApiError::conflict(format!("{} ({})", e.message, e.hint)))?;
    let pending = app.start(&d.id);
    let hash = state_hash(pending.state.expose());
    let now = ids::now_ms();
    let row = PendingRow {
        verifier_sealed: state.sealer.seal(
            &verifier_context(&hash),
            pending.pkce_verifier().expose().as_bytes(),
        ),
        state_hash: hash,
        workspace_id: ws,
        destination_id: d.id.clone(),
        redirect_uri,
        return_to,
        expires_ms: now + PENDING_MS,
        started_by: Some((who.key.id.clone(), who.key.name.clone())),
    };
    state.store.insert_oauth_pending(&row, now).await?;
    tracing::info!(destination = %d.id, provider = client.provider, "OAuth authorization started");
    Ok(Json(OAuthStarted {
        authorization_url: pending.url,
        destination_id: d.id,
        expires_at: ids::timestamp_ms(row.expires_ms),
    }))
}

/// Whether the browser may be sent to `url` after the callback: only to known front ends, so
/// the callback is no open redirect.
pub(super) fn allowed_return(state: &AppState, url: &str) -> bool {
    let origin = |u: &str| {
        url::Url::parse(u)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .map(|u| u.origin().ascii_serialization())
    };
    let Some(wanted) = origin(url) else {
        return false;
    };
    state
        .config
        .public_url
        .iter()
        .chain(&state.config.allowed_return_origins)
        .any(|allowed| origin(allowed).as_deref() == Some(wanted.as_str()))
}

fn callback_url(state: &AppState) -> String {
    let base = state
        .config
        .public_url
        .as_deref()
        .unwrap_or("http://127.0.0.1:8080");
    format!("{}/api/v1/oauth/callback", base.trim_end_matches('/'))
}

/// What the provider sends the browser back with.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct CallbackQuery {
    /// The flow this callback ends.
    pub state: Option<String>,
    /// The authorization code, on success.
    pub code: Option<String>,
    /// The provider's error, on refusal.
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// `GET /api/v1/oauth/callback?code=...&state=...` (or `error=...`), from the provider.
pub async fn callback(
    state: State,
    headers: axum::http::HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let state: Arc<AppState> = state.0;
    let Some(returned) = q.get("state") else {
        return page(
            StatusCode::BAD_REQUEST,
            None,
            "error",
            "The redirect has no state.",
        );
    };
    let pending = match state.store.take_oauth_pending(&state_hash(returned)).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return page(
                StatusCode::BAD_REQUEST,
                None,
                "error",
                "This authorization is unknown or was already used. Start connecting the destination again.",
            );
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "could not read a pending OAuth authorization");
            return page(
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                "error",
                "Courier could not read the authorization.",
            );
        }
    };
    let back = pending.return_to.as_deref();
    if pending.expires_ms < ids::now_ms() {
        return page(
            StatusCode::BAD_REQUEST,
            back,
            "expired",
            "This authorization expired. Start connecting the destination again.",
        );
    }
    if let Some(error) = q.get("error") {
        tracing::info!(destination = %pending.destination_id, error = %error, "OAuth authorization refused by the person or provider");
        return page(
            StatusCode::BAD_REQUEST,
            back,
            "denied",
            &format!("The provider did not grant access ({error})."),
        );
    }
    let Some(code) = q.get("code") else {
        return page(
            StatusCode::BAD_REQUEST,
            back,
            "error",
            "The redirect has no code.",
        );
    };
    let completed = complete(&state, &pending, returned, code).await;
    if let Some((key_id, key_name)) = &pending.started_by {
        let status = if completed.is_ok() {
            StatusCode::OK
        } else {
            StatusCode::BAD_GATEWAY
        };
        let change = Change {
            workspace_id: pending.workspace_id.clone(),
            key_id: key_id.clone(),
            key_name: key_name.clone(),
            action: "oauth.connect",
            resource_id: Some(pending.destination_id.clone()),
            status,
            request_id: headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        };
        super::audit::record(&state, change).await;
    }
    match completed {
        Ok(d) => {
            if wants_json(&q) {
                return Json(json!({"status": "connected", "destination": view::destination(&state.catalog, &d)}))
                    .into_response();
            }
            page(
                StatusCode::OK,
                back,
                "connected",
                &format!(
                    "Destination “{}” is connected. You can close this window.",
                    d.name
                ),
            )
        }
        Err(message) => page(StatusCode::BAD_GATEWAY, back, "error", &message),
    }
}

fn wants_json(q: &HashMap<String, String>) -> bool {
    q.get("format").is_some_and(|f| f == "json")
}

/// Exchanges the code and stores the tokens; the message on failure is for the person.
async fn complete(
    state: &AppState,
    pending: &PendingRow,
    returned: &str,
    code: &str,
) -> Result<DestinationRow, String> {
    let d = match state
        .store
        .destination(&pending.workspace_id, &pending.destination_id)
        .await
    {
        Ok(Some(d)) => d,
        _ => return Err("The destination no longer exists.".into()),
    };
    let (_, client) = client_of(state, &d).map_err(|e| e.message)?;
    let app = OAuthApp::from_client(
        &client,
        &pending.redirect_uri,
        state.config.allow_private_destinations,
    )
    .map_err(|e| e.message)?;
    let verifier = state
        .sealer
        .open(
            &verifier_context(&pending.state_hash),
            &pending.verifier_sealed,
        )
        .ok()
        .and_then(|v| String::from_utf8(v).ok())
        .ok_or("Courier could not open the stored authorization.")?;
    let restored =
        PendingAuthorization::restore(&d.id, Secret::new(returned), Secret::new(verifier));
    let tokens = app
        .complete(restored, returned, code)
        .await
        .map_err(|e| format!("{} ({})", e.message, e.hint))?;
    DbTokenStore::new(state.store.clone(), state.sealer.clone())
        .save(&d.id, &tokens)
        .await
        .map_err(|e| e.message)?;
    state
        .store
        .set_destination_status(&d.workspace_id, &d.id, "connected", "")
        .await
        .map_err(|_| "Courier could not update the destination.".to_string())?;
    tracing::info!(destination = %d.id, provider = client.provider, "OAuth destination connected");
    match state.store.destination(&d.workspace_id, &d.id).await {
        Ok(Some(d)) => Ok(d),
        _ => Err("The destination no longer exists.".into()),
    }
}

/// The page the person's browser shows, or a redirect to the front end's `return_to` with
/// `oauth_status` (and `oauth_error`) added.
fn page(code: StatusCode, return_to: Option<&str>, status: &str, message: &str) -> Response {
    if let Some(mut url) = return_to.and_then(|u| url::Url::parse(u).ok()) {
        url.query_pairs_mut().append_pair("oauth_status", status);
        if status != "connected" {
            url.query_pairs_mut().append_pair("oauth_error", message);
        }
        return (StatusCode::SEE_OTHER, [(header::LOCATION, url.to_string())]).into_response();
    }
    let escaped = message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    (
        code,
        Html(format!(
            "<!doctype html><meta charset=\"utf-8\"><title>Courier</title><p data-status=\"{status}\">{escaped}</p>"
        )),
    )
        .into_response()
}

//! Portal sessions over HTTP: an admin (or the operator) makes one for a workspace and gets a
//! URL with a one-time token to hand to a customer's browser; a session reads what it may do
//! (and the token its writes must echo against CSRF), and ends itself.

use axum::Json;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use courier_core::FieldError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::State;
use super::auth::Principal;
use super::capabilities::{PortalScope, PortalScopeView};
use super::error::{ApiError, ApiResult};
use super::valid::{Input, Valid};
use crate::ids;
use crate::store::PortalSessionRow;

/// How long the one-time token may wait to be exchanged.
const TOKEN_LIFETIME_MS: i64 = 5 * 60 * 1000;

/// A portal session to make.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalSessionCreate {
    /// How long the session lasts, in seconds (60 to 86,400; 3,600 when absent). Its URL must
    /// be opened within 5 minutes (or the session's life, if shorter).
    #[serde(default)]
    #[schemars(with = "u32", range(min = 60, max = 86_400))]
    pub expires_in_s: Option<u32>,
    /// What the session may do (absent: everything a portal can, routes excepted).
    #[serde(default)]
    #[schemars(with = "PortalScope")]
    pub capabilities: Option<PortalScope>,
    /// How the portal looks.
    #[serde(default)]
    #[schemars(with = "Theme")]
    pub theme: Option<Theme>,
    /// Where the portal's "back" link goes: an http(s) URL on this server's origin, one of
    /// `allowed_return_origins` or one of `portal_frame_ancestors`.
    #[serde(default)]
    #[schemars(with = "String", url, length(max = 2000))]
    pub return_url: Option<String>,
}

impl Input for PortalSessionCreate {}

/// How the portal looks: the platform's name and logo, an accent colour, light or dark.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Theme {
    /// The name shown in the portal's header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", length(min = 1, max = 80))]
    pub name: Option<String>,
    /// An https URL of the logo image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", url, length(max = 2000))]
    pub logo_url: Option<String>,
    /// The accent colour, `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", regex(pattern = r"^#[0-9a-fA-F]{6}$"))]
    pub accent_color: Option<String>,
    /// Light, dark, or as the browser prefers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "ThemeMode")]
    pub mode: Option<ThemeMode>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ThemeMode {
    Light,
    Dark,
    Auto,
}

/// A session made: the URL to open (once) and when the session ends.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PortalSessionCreated {
    pub id: String,
    /// Opens the portal: its one-time token is traded for the session's cookie.
    #[schemars(url)]
    pub url: String,
    #[schemars(with = "super::model::Timestamp")]
    pub expires_at: String,
}

/// `POST /workspaces/{ws}/portal-sessions`.
pub async fn create(
    state: State,
    who: Principal,
    Path(ws): Path<String>,
    Valid(body): Valid<PortalSessionCreate>,
) -> ApiResult<(StatusCode, Json<PortalSessionCreated>)> {
    let ws = who.workspace(&ws)?;
    let mut errors = Vec::new();
    let scope = body.capabilities.unwrap_or_default();
    for (i, t) in scope.destination_types.iter().flatten().enumerate() {
        if state.catalog.get(t).is_err() {
            errors.push(FieldError::new(
                format!("/capabilities/destination_types/{i}"),
                format!("{t:?} is not a destination type of this server's catalog"),
            ));
        }
    }
    let theme = body.theme.unwrap_or_default();
    if let Some(logo) = &theme.logo_url
        && !logo.starts_with("https://")
    {
        errors.push(FieldError::new("/theme/logo_url", "must be an https URL"));
    }
    if let Some(url) = &body.return_url
        && !super::oauth::allowed_return(&state, url)
        && !framing_origin(&state, url)
    {
        errors.push(FieldError::new(
            "/return_url",
            "must be an http(s) URL on this server's origin, one of allowed_return_origins or one of portal_frame_ancestors",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let now = ids::now_ms();
    let expires_ms = now + i64::from(body.expires_in_s.unwrap_or(3_600)) * 1_000;
    let row = PortalSessionRow {
        id: ids::new_id(),
        workspace_id: ws.to_string(),
        capabilities: serde_json::to_string(&scope).map_err(ApiError::internal)?,
        theme: serde_json::to_string(&theme).map_err(ApiError::internal)?,
        return_url: body.return_url,
        created_by_id: who.key.id.clone(),
        created_by_name: who.key.name.clone(),
        created_at: ids::now(),
        token_expires_ms: (now + TOKEN_LIFETIME_MS).min(expires_ms),
        expires_ms,
    };
    let token = format!("cpt_{}", ids::random_token(32));
    state
        .store
        .insert_portal_session(&row, &ids::hash_api_key(&token), now)
        .await?;
    let base = state.config.public_url.as_deref().unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        Json(PortalSessionCreated {
            id: row.id,
            url: format!("{}/portal/open?token={token}", base.trim_end_matches('/')),
            expires_at: ids::timestamp_ms(expires_ms),
        }),
    ))
}

/// Whether `url` is on one of the origins allowed to embed the portal.
fn framing_origin(state: &super::AppState, url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| {
        let origin = u.origin().ascii_serialization();
        state.config.portal_frame_ancestors.contains(&origin)
    })
}

/// What the portal needs to start: the session's workspace, capabilities, theme, and the
/// token its writes send in `X-Courier-CSRF`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PortalSessionView {
    pub id: String,
    pub workspace_id: String,
    pub capabilities: PortalScopeView,
    /// The theme as the session was made with it (JSON object; absent fields unset).
    pub theme: serde_json::Value,
    pub return_url: Option<String>,
    #[schemars(with = "super::model::Timestamp")]
    pub expires_at: String,
    /// Sent back in `X-Courier-CSRF` on every call that changes something.
    pub csrf_token: String,
}

/// `GET /portal/session`: the calling session (an API key has none: 404).
pub async fn current(who: Principal) -> ApiResult<Json<PortalSessionView>> {
    let portal = who
        .portal
        .as_ref()
        .ok_or_else(|| ApiError::not_found("portal session"))?;
    Ok(Json(PortalSessionView {
        id: portal.session_id.clone(),
        workspace_id: who.key.workspace_id.clone(),
        capabilities: PortalScopeView::from(&portal.scope),
        theme: serde_json::from_str(&portal.theme).unwrap_or_else(|_| serde_json::json!({})),
        return_url: portal.return_url.clone(),
        expires_at: who.key.expires_at.clone().unwrap_or_default(),
        csrf_token: portal.csrf.clone(),
    }))
}

/// `DELETE /portal/session`: ends the calling session and clears its cookie.
pub async fn end(state: State, who: Principal) -> ApiResult<Response> {
    let portal = who
        .portal
        .as_ref()
        .ok_or_else(|| ApiError::not_found("portal session"))?;
    state.store.end_portal_session(&portal.session_hash).await?;
    let cookie = crate::portal::cookie::clear(&state.config);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

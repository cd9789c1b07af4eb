//! `/portal/open?token=…`, where a portal URL leads. The GET only shows a page naming the
//! portal with a button; the button POSTs the token back from this origin, and only then is
//! the token traded for the session's HttpOnly cookie and the browser sent on to `/portal/`
//! without it. So a link scanner or a chat preview that fetches the URL does not use it up,
//! and another site cannot sign a visitor into a session by sending them to a link (the POST
//! must come from this origin). A token unknown, used or past its five minutes gets a page
//! saying so; no page ever echoes a token it did not just accept.

use axum::body::Bytes;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode, header};
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

/// What a one-time token looks like: `cpt_` and URL-safe base64 (so it is safe in a page).
fn well_formed(token: &str) -> bool {
    token.len() < 100
        && token.strip_prefix("cpt_").is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

const EXPIRED: &str = "This portal link has expired or was already used. Ask for a new one.";

/// `GET /portal/open`: a page with the button that opens the portal.
pub async fn show(state: State, Query(query): Query<ExchangeQuery>) -> Response {
    let Some(token) = query.token.filter(|t| well_formed(t)) else {
        return page(
            &state,
            StatusCode::BAD_REQUEST,
            &paragraph("This portal link is not valid."),
        );
    };
    let pending = state
        .store
        .pending_portal_session(&ids::hash_api_key(&token), ids::now_ms())
        .await;
    let row = match pending {
        Ok(Some(row)) => row,
        Ok(None) => return page(&state, StatusCode::BAD_REQUEST, &paragraph(EXPIRED)),
        Err(e) => return failed(&state, &e),
    };
    let name = serde_json::from_str::<serde_json::Value>(&row.theme)
        .ok()
        .and_then(|t| t["name"].as_str().map(escape))
        .unwrap_or_else(|| "your".to_string());
    let whose = if name == "your" {
        "your destinations portal".to_string()
    } else {
        format!("the {name} destinations portal")
    };
    page(
        &state,
        StatusCode::OK,
        &format!(
            "<h1>Open {whose}</h1>\
             <form method=\"post\" action=\"/portal/open\">\
             <input type=\"hidden\" name=\"token\" value=\"{token}\">\
             <button type=\"submit\">Open the portal</button></form>"
        ),
    )
}

/// `POST /portal/open` (from the page above): trades the token for the session cookie.
pub async fn exchange(state: State, headers: HeaderMap, body: Bytes) -> Response {
    let own = state
        .config
        .public_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .map(|u| u.origin().ascii_serialization());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if own.is_none() || origin != own.as_deref() || site.is_some_and(|s| s != "same-origin") {
        return page(
            &state,
            StatusCode::FORBIDDEN,
            &paragraph("Open the portal from its link's page."),
        );
    }
    let token = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .filter(|t| well_formed(t));
    let Some(token) = token else {
        return page(
            &state,
            StatusCode::BAD_REQUEST,
            &paragraph("This portal link is not valid."),
        );
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
        Ok(None) => page(&state, StatusCode::BAD_REQUEST, &paragraph(EXPIRED)),
        Err(e) => failed(&state, &e),
    }
}

fn failed(state: &crate::api::AppState, e: &anyhow::Error) -> Response {
    tracing::error!(error = %format!("{e:#}"), "opening a portal link failed");
    page(
        state,
        StatusCode::INTERNAL_SERVER_ERROR,
        &paragraph("The portal could not be opened. Try again."),
    )
}

fn paragraph(message: &str) -> String {
    format!("<p role=\"alert\">{}</p>", escape(message))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A small page of the portal's, with its headers (never cached, framable where the portal is).
fn page(state: &crate::api::AppState, status: StatusCode, body: &str) -> Response {
    let csp = super::assets::content_security_policy(&state.config.portal_frame_ancestors);
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store".to_string()),
            // The origin only, never the page's address (it holds the token). Not
            // `no-referrer`: under it a browser sends the button's POST with `Origin: null`.
            (header::REFERRER_POLICY, "strict-origin".to_string()),
            (header::CONTENT_SECURITY_POLICY, csp),
        ],
        Html(format!(
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Courier portal</title><link rel=\"icon\" href=\"data:,\">\
             <link rel=\"stylesheet\" href=\"/portal/portal.css\"><main>{body}</main></html>"
        )),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tokens_of_the_expected_shape_reach_a_page() {
        assert!(well_formed("cpt_AbC-_09"));
        for bad in [
            "",
            "cpt_",
            "cps_abc",
            "cpt_a\"><script>",
            "cpt_a b",
            &"cpt_a".repeat(30),
        ] {
            assert!(!well_formed(bad), "{bad}");
        }
    }
}

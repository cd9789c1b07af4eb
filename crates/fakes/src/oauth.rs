//! A fake OAuth 2.0 provider: `/authorize` approves at once and redirects with a code bound to
//! the PKCE challenge; `/token` exchanges codes (checking the verifier) and refresh tokens,
//! rotating refresh tokens when told to (as Microsoft does), expiring access tokens, and
//! answering `invalid_grant` for revoked or already-rotated refresh tokens.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::faults::{Fault, Script, Target, lock};
use crate::http::{Incoming, json, with_retry_after};

/// The client the fake provider knows.
pub const CLIENT_ID: &str = "fake-client-id";
pub const CLIENT_SECRET: &str = "fake-client-secret";

#[derive(Debug)]
struct Inner {
    /// Access token → when it expires.
    access: HashMap<String, Instant>,
    /// Refresh tokens that still work.
    refresh: Vec<String>,
    /// Code → (PKCE challenge, redirect URI).
    codes: HashMap<String, (String, String)>,
    rotate: bool,
    expires_in: u64,
    refreshes: u32,
    next: u64,
}

/// The provider's state.
#[derive(Debug)]
pub struct OAuthFake {
    inner: Mutex<Inner>,
}

impl Default for OAuthFake {
    fn default() -> Self {
        OAuthFake {
            inner: Mutex::new(Inner {
                access: HashMap::new(),
                refresh: Vec::new(),
                codes: HashMap::new(),
                rotate: false,
                expires_in: 3600,
                refreshes: 0,
                next: 0,
            }),
        }
    }
}

impl OAuthFake {
    /// Rotate refresh tokens on every refresh (Microsoft does; Google does not).
    pub fn set_rotation(&self, rotate: bool) {
        lock(&self.inner).rotate = rotate;
    }

    /// The lifetime of access tokens issued from now on.
    pub fn set_expires_in(&self, secs: u64) {
        lock(&self.inner).expires_in = secs;
    }

    /// Issues a token pair as a completed authorization would: (access, refresh).
    pub fn issue(&self) -> (String, String) {
        let mut inner = lock(&self.inner);
        let access = new_access(&mut inner);
        let refresh = new_refresh(&mut inner);
        (access, refresh)
    }

    /// Every access token issued so far stops working (the API answers 401).
    pub fn expire_access_tokens(&self) {
        let past = Instant::now() - Duration::from_secs(1);
        for at in lock(&self.inner).access.values_mut() {
            *at = past;
        }
    }

    /// The person revoked access: every refresh token now gets `invalid_grant`.
    pub fn revoke(&self) {
        lock(&self.inner).refresh.clear();
    }

    /// How many refresh grants succeeded.
    pub fn refreshes(&self) -> u32 {
        lock(&self.inner).refreshes
    }

    pub fn is_valid_access(&self, token: &str) -> bool {
        lock(&self.inner)
            .access
            .get(token)
            .is_some_and(|at| *at > Instant::now())
    }

    pub(crate) fn authorize(&self, req: &Incoming) -> Response {
        let q = &req.query;
        let (Some(redirect), Some(challenge), Some(state)) = (
            q.get("redirect_uri"),
            q.get("code_challenge"),
            q.get("state"),
        ) else {
            return (
                StatusCode::BAD_REQUEST,
                "missing redirect_uri, code_challenge or state",
            )
                .into_response();
        };
        if q.get("client_id").map(String::as_str) != Some(CLIENT_ID)
            || q.get("code_challenge_method").map(String::as_str) != Some("S256")
        {
            return (
                StatusCode::BAD_REQUEST,
                "unknown client or no S256 challenge",
            )
                .into_response();
        }
        let mut inner = lock(&self.inner);
        inner.next += 1;
        let code = format!("code-{}", inner.next);
        inner
            .codes
            .insert(code.clone(), (challenge.clone(), redirect.clone()));
        let mut target = match url::Url::parse(redirect) {
            Ok(u) => u,
            Err(_) => return (StatusCode::BAD_REQUEST, "bad redirect_uri").into_response(),
        };
        target
            .query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", state);
        (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
    }

    pub(crate) fn token(&self, req: &Incoming, script: &Script) -> Response {
        if let Some(Fault::Status {
            status,
            retry_after,
            reason,
        }) = script.take(Target::Token)
        {
            return with_retry_after(json(status, json!({"error": reason})), retry_after);
        }
        let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect();
        if !client_authenticated(req, &form) {
            return error(401, "invalid_client");
        }
        let mut inner = lock(&self.inner);
        match form.get("grant_type").map(String::as_str) {
            Some("authorization_code") => {
                let (Some(code), Some(verifier)) = (form.get("code"), form.get("code_verifier"))
                else {
                    return error(400, "invalid_request");
                };
                let Some((challenge, redirect)) = inner.codes.remove(code) else {
                    return error(400, "invalid_grant");
                };
                let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
                if computed != challenge || form.get("redirect_uri") != Some(&redirect) {
                    return error(400, "invalid_grant");
                }
                let access = new_access(&mut inner);
                let refresh = new_refresh(&mut inner);
                token_response(&inner, &access, Some(&refresh))
            }
            Some("refresh_token") => {
                let Some(given) = form.get("refresh_token") else {
                    return error(400, "invalid_request");
                };
                let Some(at) = inner.refresh.iter().position(|r| r == given) else {
                    return error(400, "invalid_grant");
                };
                inner.refreshes += 1;
                let access = new_access(&mut inner);
                if inner.rotate {
                    inner.refresh.remove(at);
                    let refresh = new_refresh(&mut inner);
                    token_response(&inner, &access, Some(&refresh))
                } else {
                    token_response(&inner, &access, None)
                }
            }
            _ => error(400, "unsupported_grant_type"),
        }
    }
}

fn client_authenticated(req: &Incoming, form: &HashMap<String, String>) -> bool {
    let basic = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Basic ").map(str::to_string))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let (id, secret) = match basic {
        Some(pair) => match pair.split_once(':') {
            Some((id, secret)) => (decode(id), decode(secret)),
            None => return false,
        },
        None => (
            form.get("client_id").cloned().unwrap_or_default(),
            form.get("client_secret").cloned().unwrap_or_default(),
        ),
    };
    id == CLIENT_ID && secret == CLIENT_SECRET
}

fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn new_access(inner: &mut Inner) -> String {
    inner.next += 1;
    let token = format!("at-{}", inner.next);
    let expires = Instant::now() + Duration::from_secs(inner.expires_in);
    inner.access.insert(token.clone(), expires);
    token
}

fn new_refresh(inner: &mut Inner) -> String {
    inner.next += 1;
    let token = format!("rt-{}", inner.next);
    inner.refresh.push(token.clone());
    token
}

fn token_response(inner: &Inner, access: &str, refresh: Option<&str>) -> Response {
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": inner.expires_in,
        "scope": "files",
    });
    if let Some(r) = refresh {
        body["refresh_token"] = r.into();
    }
    json(200, body)
}

fn error(status: u16, code: &str) -> Response {
    json(
        status,
        json!({"error": code, "error_description": format!("fake provider: {code}")}),
    )
}

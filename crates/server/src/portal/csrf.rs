//! CSRF for calls authenticated by the portal cookie: a call that changes something must send
//! `X-Courier-CSRF` (a token derived from the session's secret, which only a page that read
//! the session can know), an `Origin` that is this server's, and no `Sec-Fetch-Site` other
//! than `same-origin`; no cookie call may come from another site at all.

use axum::http::request::Parts;
use axum::http::{Method, header};
use sha2::{Digest, Sha256};

use crate::api::ApiError;
use crate::config::ServerConfig;

/// The header a session's writes carry the token in.
pub const HEADER: &str = "x-courier-csrf";

/// The CSRF token of the session whose cookie holds `secret`.
pub fn token(secret: &str) -> String {
    let digest = Sha256::digest(format!("courier-portal-csrf\0{secret}"));
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks a cookie-authenticated request against CSRF; `expected` is its session's token.
pub fn check(parts: &Parts, config: &ServerConfig, expected: &str) -> Result<(), ApiError> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let fetch_site = header("sec-fetch-site");
    if fetch_site == Some("cross-site") {
        return Err(ApiError::forbidden(
            "a portal session is not usable from another site",
        ));
    }
    if matches!(parts.method, Method::GET | Method::HEAD) {
        return Ok(());
    }
    if !header(HEADER).is_some_and(|given| crate::ids::same_secret(given, expected)) {
        return Err(ApiError::forbidden(
            "missing or wrong X-Courier-CSRF: send the csrf_token of GET /api/v1/portal/session",
        ));
    }
    let own = config
        .public_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .map(|u| u.origin().ascii_serialization());
    if own.is_none() || header(header::ORIGIN.as_str()) != own.as_deref() {
        return Err(ApiError::forbidden(
            "a portal session's changes must come from this server's origin",
        ));
    }
    if fetch_site.is_some_and(|site| site != "same-origin") {
        return Err(ApiError::forbidden(
            "a portal session's changes must come from this server's origin",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, headers: &[(&str, &str)]) -> Parts {
        let mut request = axum::http::Request::builder().method(method);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn writes_need_the_token_the_origin_and_no_other_site() {
        let config = ServerConfig {
            public_url: Some("http://127.0.0.1:8080".into()),
            ..ServerConfig::default()
        };
        let expected = token("cps_secret");
        assert_ne!(expected, token("cps_other"));
        let origin = ("origin", "http://127.0.0.1:8080");
        let csrf = (HEADER, expected.as_str());
        assert!(check(&parts("POST", &[origin, csrf]), &config, &expected).is_ok());
        assert!(check(&parts("GET", &[]), &config, &expected).is_ok());
        for refused in [
            parts("POST", &[origin]),
            parts("POST", &[csrf]),
            parts("POST", &[origin, (HEADER, "0000")]),
            parts("DELETE", &[("origin", "http://evil.example"), csrf]),
            parts("PATCH", &[origin, csrf, ("sec-fetch-site", "same-site")]),
            parts("GET", &[("sec-fetch-site", "cross-site")]),
        ] {
            assert!(check(&refused, &config, &expected).is_err(), "{refused:?}");
        }
    }
}

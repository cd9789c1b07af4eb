//! The portal session cookie: its name and attributes (HttpOnly, SameSite from the config,
//! Secure and the `__Host-` prefix when the server is reached over https, Partitioned with
//! SameSite=None), set, cleared, and read back from a request.

use axum::http::header;
use axum::http::request::Parts;

use crate::config::{SameSite, ServerConfig};

/// Whether the server is reached over https (its public URL says).
fn secure(config: &ServerConfig) -> bool {
    config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
}

/// The cookie's name: `__Host-` (Secure, whole site, no domain) over https.
pub fn name(config: &ServerConfig) -> &'static str {
    if secure(config) {
        "__Host-courier_portal"
    } else {
        "courier_portal"
    }
}

fn attributes(config: &ServerConfig, max_age_s: i64) -> String {
    let mut out = format!(
        "Path=/; HttpOnly; SameSite={}; Max-Age={max_age_s}",
        config.portal_cookie_same_site.as_str()
    );
    if secure(config) {
        out.push_str("; Secure");
    }
    if config.portal_cookie_same_site == SameSite::None {
        // Kept per embedding site where browsers partition third-party cookies.
        out.push_str("; Partitioned");
    }
    out
}

/// `Set-Cookie` for a session's `secret`, lasting `max_age_s` seconds.
pub fn set(config: &ServerConfig, secret: &str, max_age_s: i64) -> String {
    format!(
        "{}={secret}; {}",
        name(config),
        attributes(config, max_age_s.max(0))
    )
}

/// `Set-Cookie` removing the session cookie.
pub fn clear(config: &ServerConfig) -> String {
    format!("{}=; {}", name(config), attributes(config, 0))
}

/// The session secret the request's cookie carries, if any.
pub fn secret(parts: &Parts, config: &ServerConfig) -> Option<String> {
    let wanted = name(config);
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == wanted && !value.is_empty())
        .map(|(_, value)| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(public_url: &str, same_site: SameSite) -> ServerConfig {
        ServerConfig {
            public_url: Some(public_url.into()),
            portal_cookie_same_site: same_site,
            ..ServerConfig::default()
        }
    }

    #[test]
    fn attributes_follow_the_scheme_and_same_site() {
        let plain = config("http://127.0.0.1:8080", SameSite::Lax);
        assert_eq!(
            set(&plain, "cps_x", 60),
            "courier_portal=cps_x; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
        );
        let tls = config("https://courier.example.com", SameSite::None);
        assert_eq!(
            set(&tls, "cps_x", 60),
            "__Host-courier_portal=cps_x; Path=/; HttpOnly; SameSite=None; Max-Age=60; Secure; Partitioned"
        );
        assert!(clear(&tls).starts_with("__Host-courier_portal=; "));
        assert!(clear(&tls).contains("Max-Age=0"));
    }

    #[test]
    fn the_secret_is_read_from_any_cookie_header() {
        let plain = config("http://127.0.0.1:8080", SameSite::Lax);
        let request = axum::http::Request::builder()
            .header("cookie", "a=1; courier_portal_x=no")
            .header("cookie", "b=2;courier_portal=cps_secret ; c=3")
            .body(())
            .unwrap();
        let (parts, ()) = request.into_parts();
        assert_eq!(secret(&parts, &plain).as_deref(), Some("cps_secret"));
        // Over https only the __Host- cookie counts: a plain one could be planted by a
        // sibling domain.
        let tls = config("https://courier.example.com", SameSite::Lax);
        assert_eq!(secret(&parts, &tls), None);
    }
}

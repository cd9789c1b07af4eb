//! The portal's files (`crates/server/portal/`), built into the binary and served at
//! `/portal/` with their media types, ETags and security headers: a Content-Security-Policy
//! allowing only this server's own scripts, styles and calls, and framing by this origin and
//! the configured `portal_frame_ancestors`.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::api::{ApiError, AppState};

/// Every file: its name, media type and content.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../../portal/index.html"),
    ),
    (
        "portal.css",
        "text/css; charset=utf-8",
        include_bytes!("../../portal/portal.css"),
    ),
    // Compiled from `crates/server/portal-src` (`cargo xtask portal`; CI fails when stale).
    (
        "main.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../portal/main.js"),
    ),
    (
        "routes.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../portal/routes.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../portal/api.js"),
    ),
    (
        "deliveries.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../portal/deliveries.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../portal/dom.js"),
    ),
    (
        "render.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../portal/render.js"),
    ),
    (
        "schema.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../portal/schema.js"),
    ),
    (
        "state.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../portal/state.js"),
    ),
];

/// Each file's ETag (a hash of its content), computed once.
fn etag(index: usize) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    &TAGS.get_or_init(|| {
        FILES
            .iter()
            .map(|(_, _, body)| {
                let digest = Sha256::digest(body);
                let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    })[index]
}

/// The Content-Security-Policy of every portal response.
pub fn content_security_policy(frame_ancestors: &[String]) -> String {
    let mut ancestors = String::from("'self'");
    for origin in frame_ancestors {
        ancestors.push(' ');
        ancestors.push_str(origin);
    }
    format!(
        "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors {ancestors}"
    )
}

/// The routes of `/portal` and its files.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/portal", get(|| async { Redirect::permanent("/portal/") }))
        .route(
            "/portal/",
            get(|state, headers| file(state, headers, "index.html".into())),
        )
        .route(
            "/portal/{file}",
            get(|state, headers, Path(name): Path<String>| file(state, headers, name)),
        )
}

async fn file(State(state): State<Arc<AppState>>, headers: HeaderMap, name: String) -> Response {
    let Some(index) = FILES.iter().position(|(n, _, _)| *n == name) else {
        return ApiError::not_found("portal file").into_response();
    };
    let (_, media_type, body) = FILES[index];
    let tag = etag(index);
    let csp = content_security_policy(&state.config.portal_frame_ancestors);
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|given| given.as_bytes() == tag.as_bytes())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, media_type)], body).into_response()
    };
    let set = response.headers_mut();
    for (name, value) in [
        (header::ETAG, tag.to_string()),
        (header::CACHE_CONTROL, "no-cache".to_string()),
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        (header::REFERRER_POLICY, "no-referrer".to_string()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            set.insert(name, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_portal_is_served() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("portal");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut served: Vec<String> = FILES.iter().map(|(n, _, _)| n.to_string()).collect();
        served.sort();
        assert_eq!(on_disk, served);
    }

    #[test]
    fn the_page_names_served_files_and_preloads_every_module() {
        let page = std::str::from_utf8(FILES[0].2).unwrap();
        let named: Vec<&str> = page
            .split("\"/portal/")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap())
            .collect();
        for name in &named {
            assert!(
                FILES.iter().any(|(n, _, _)| n == name),
                "{name} is not served"
            );
        }
        for (name, _, _) in FILES.iter().filter(|(n, _, _)| n.ends_with(".js")) {
            let preload = format!("<link rel=\"modulepreload\" href=\"/portal/{name}\">");
            assert!(
                *name == "main.js" || page.contains(&preload),
                "{name} is not preloaded"
            );
        }
    }

    #[test]
    fn framing_is_this_origin_and_the_configured_ones() {
        let csp = content_security_policy(&["https://app.example.com".into()]);
        assert!(
            csp.ends_with("frame-ancestors 'self' https://app.example.com"),
            "{csp}"
        );
        assert!(csp.contains("script-src 'self';"));
    }
}

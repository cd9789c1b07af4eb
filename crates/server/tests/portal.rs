//! Portal sessions through the real server: an admin makes one; its URL's one-time token is
//! traded (once) for an HttpOnly cookie and the browser sent on without it; the cookie then
//! acts within the workspace and the session's capabilities (the API refuses the rest, not
//! just the UI); its writes need the CSRF token and this server's origin; it ends when it
//! expires, when it is ended, and with the key that made it. The portal's page is served with
//! its security headers.

mod support;

use std::sync::Arc;

use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode, redirect};
use serde_json::{Value, json};
use support::{Backend, TestServer};

fn api(server: &TestServer, rest: &str) -> String {
    format!("{}/api/v1{rest}", server.url)
}

/// A browser of its own: no redirects followed, cookies sent by hand.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

/// A portal session made by the operator key with `body`; its URL.
async fn make(server: &TestServer, body: Value) -> String {
    let (status, made) = server
        .call(Method::POST, &server.path("/portal-sessions"), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    made["url"].as_str().unwrap().to_string()
}

/// The link's page, then its button as a browser sends it (a form POST from the server's
/// own origin); the answer to the POST.
async fn press(url: &str) -> reqwest::Response {
    let page = browser().get(url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<form method="post" action="/portal/open">"#),
        "{html}"
    );
    press_anyway(url).await
}

/// Opens `url` as a browser would; the session cookie (`name=value`).
async fn open(url: &str) -> String {
    let response = press(url).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let set = response.headers()[header::SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_string()
}

/// A call with the session cookie; `csrf` adds the token and this server's origin.
async fn as_portal(
    server: &TestServer,
    cookie: &str,
    method: Method,
    url: &str,
    body: Option<Value>,
    csrf: Option<&str>,
) -> (StatusCode, Value, HeaderMap) {
    let mut request = browser()
        .request(method, url)
        .header(header::COOKIE, cookie);
    if let Some(token) = csrf {
        request = request
            .header("x-courier-csrf", token)
            .header(header::ORIGIN, &server.url);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value, headers)
}

/// The session's CSRF token.
async fn csrf(server: &TestServer, cookie: &str) -> String {
    let (status, session, _) = as_portal(
        server,
        cookie,
        Method::GET,
        &api(server, "/portal/session"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{session}");
    session["csrf_token"].as_str().unwrap().to_string()
}

async fn destination(server: &TestServer, body: Value) -> String {
    let (status, made) = server
        .call(Method::POST, &server.path("/destinations"), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    made["id"].as_str().unwrap().to_string()
}

fn webhook(name: &str) -> Value {
    json!({"name": name, "destination_type": "webhook",
           "config": {"url": "http://127.0.0.1:9/in", "allow_private_network": true}})
}

async fn sessions_are_made_by_admins_and_checked(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, member) = server
        .call(
            Method::POST,
            &server.path("/api-keys"),
            Some(json!({"name": "m", "role": "member"})),
        )
        .await;
    let member = member["key"].as_str().unwrap();
    let (status, _, _) = server
        .call_as(
            Some(member),
            Method::POST,
            &server.path("/portal-sessions"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, refused) = server
        .call(
            Method::POST,
            &server.path("/portal-sessions"),
            Some(json!({
                "expires_in_s": 5,
                "capabilities": {"destination_types": ["webhook", "no_such_type"]},
                "theme": {"accent_color": "red", "logo_url": "http://logo.example/x.png"},
                "return_url": "https://elsewhere.example/back",
            })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let paths: Vec<&str> = refused["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    for path in ["/expires_in_s", "/theme/accent_color"] {
        assert!(paths.contains(&path), "{path} in {refused}");
    }
    let (status, refused) = server
        .call(
            Method::POST,
            &server.path("/portal-sessions"),
            Some(json!({
                "capabilities": {"destination_types": ["webhook", "no_such_type"]},
                "theme": {"logo_url": "http://logo.example/x.png"},
                "return_url": "https://elsewhere.example/back",
            })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let paths: Vec<&str> = refused["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/capabilities/destination_types/1",
            "/theme/logo_url",
            "/return_url"
        ],
        "{refused}"
    );
    let (status, refused) = server
        .call(
            Method::POST,
            &server.path("/portal-sessions"),
            Some(json!({"capabilities": {"admin": true}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");

    let (status, made) = server
        .call(
            Method::POST,
            &server.path("/portal-sessions"),
            Some(
                json!({"expires_in_s": 600, "theme": {"name": "Acme", "accent_color": "#ff6600"}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let url = made["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/portal/open?token=cpt_", server.url)),
        "{made}"
    );
    assert!(made["expires_at"].is_string());
    // The audit log records the creation, not the token.
    let (_, log) = server
        .call(Method::GET, &server.path("/audit-log"), None)
        .await;
    let text = log.to_string();
    assert!(text.contains("portal_session.create"), "{text}");
    let token = url.split("token=").nth(1).unwrap();
    assert!(!text.contains(token));
    assert!(!server.logs.text().contains(token));
}

async fn a_token_opens_the_portal_once(backend: Backend) {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = support::config(dir.path(), &backend);
    config.portal_frame_ancestors = vec!["https://app.example.com".into()];
    let server = TestServer::start_with(config, dir).await;
    let url = make(
        &server,
        json!({"theme": {"name": "Acme", "mode": "dark"}, "return_url": "https://app.example.com/settings"}),
    )
    .await;

    // Fetching the link (a scanner, a chat preview) shows its page and uses nothing up.
    for _ in 0..2 {
        let page = browser().get(&url).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.headers().get(header::SET_COOKIE).is_none());
        assert!(
            page.text()
                .await
                .unwrap()
                .contains("Open the Acme destinations portal")
        );
    }
    // The button's POST from another site, or without an Origin, is refused.
    let token = url.split("token=").nth(1).unwrap().to_string();
    for (origin, site) in [("https://evil.example", "cross-site"), ("", "")] {
        let mut request = browser()
            .post(format!("{}/portal/open", server.url))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("token={token}"));
        if !origin.is_empty() {
            request = request
                .header(header::ORIGIN, origin)
                .header("sec-fetch-site", site);
        }
        let refused = request.send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert!(refused.headers().get(header::SET_COOKIE).is_none());
    }
    let response = press(&url).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/portal/");
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    assert_eq!(response.headers()[header::REFERRER_POLICY], "no-referrer");
    let set = response.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(set.starts_with("courier_portal=cps_"), "{set}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(set.contains(attribute), "{attribute} in {set}");
    }
    let cookie = set.split(';').next().unwrap().to_string();

    // Once only: the link's page now says so, and so does its button.
    let again = browser().get(&url).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(again.headers().get(header::SET_COOKIE).is_none());
    let page = again.text().await.unwrap();
    assert!(page.contains("expired or was already used"), "{page}");
    assert!(!page.contains(&token));
    let replayed = browser()
        .post(format!("{}/portal/open", server.url))
        .header(header::ORIGIN, &server.url)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
    // A made-up token, and none.
    for bad in ["cpt_made-up", ""] {
        let response = browser()
            .get(format!("{}/portal/open?token={bad}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }

    let (status, session, _) = as_portal(
        &server,
        &cookie,
        Method::GET,
        &api(&server, "/portal/session"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["workspace_id"], server.workspace.as_str());
    assert_eq!(session["theme"]["name"], "Acme");
    assert_eq!(session["return_url"], "https://app.example.com/settings");
    assert_eq!(session["capabilities"]["read_only"], false);
    assert_eq!(session["csrf_token"].as_str().unwrap().len(), 64);

    // The portal page, with its headers.
    let page = browser()
        .get(format!("{}/portal/", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'self' https://app.example.com"),
        "{csp}"
    );
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let html = page.text().await.unwrap();
    assert!(html.contains("/portal/main.js"));
    let etag = headers[header::ETAG].clone();
    let cached = browser()
        .get(format!("{}/portal/", server.url))
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    for (path, status) in [
        ("/portal/main.js", StatusCode::OK),
        ("/portal/schema.js", StatusCode::OK),
        ("/portal/portal.css", StatusCode::OK),
        ("/portal/..%2fCargo.toml", StatusCode::NOT_FOUND),
        ("/portal/secrets.json", StatusCode::NOT_FOUND),
    ] {
        let response = browser()
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
    }
    let response = browser()
        .get(format!("{}/portal", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[header::LOCATION], "/portal/");

    // An API key has no portal session.
    let (status, _) = server
        .call(Method::GET, &api(&server, "/portal/session"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A cookie nobody issued.
    let (status, _, _) = as_portal(
        &server,
        "courier_portal=cps_forged",
        Method::GET,
        &api(&server, "/portal/session"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn the_api_enforces_the_capabilities(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let hook = destination(&server, webhook("Hook")).await;
    let lake = destination(
        &server,
        json!({"name": "Lake", "destination_type": "s3", "config": {"bucket": "lake", "region": "us-east-1"},
               "auth_config": {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "portal-test-secret"}}),
    )
    .await;

    // Read only: reads answer, every write is refused by the API.
    let cookie = open(&make(&server, json!({"capabilities": {"read_only": true}})).await).await;
    let token = csrf(&server, &cookie).await;
    let (status, list, _) = as_portal(
        &server,
        &cookie,
        Method::GET,
        &server.path("/destinations"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    for (method, path, body) in [
        (
            Method::POST,
            "/destinations".to_string(),
            Some(webhook("New")),
        ),
        (Method::DELETE, format!("/destinations/{hook}"), None),
        // Reading fields may connect to the destination: it is for route editors.
        (Method::GET, format!("/destinations/{hook}/fields"), None),
        (
            Method::PATCH,
            format!("/destinations/{hook}"),
            Some(json!({"name": "Renamed"})),
        ),
        (
            Method::POST,
            "/routes".to_string(),
            Some(json!({"name": "r", "destination_id": hook, "event_types": ["*"]})),
        ),
    ] {
        let (status, answer, _) = as_portal(
            &server,
            &cookie,
            method.clone(),
            &server.path(&path),
            body,
            Some(&token),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
    }

    // Webhooks only, without routes: the s3 destination is not there at all.
    let cookie = open(
        &make(
            &server,
            json!({"capabilities": {"destination_types": ["webhook"], "manage_routes": false}}),
        )
        .await,
    )
    .await;
    let token = csrf(&server, &cookie).await;
    let get = |path: String| {
        let (server, cookie) = (&server, &cookie);
        async move {
            as_portal(server, cookie, Method::GET, &server.path(&path), None, None)
                .await
                .0
        }
    };
    let (_, list, _) = as_portal(
        &server,
        &cookie,
        Method::GET,
        &server.path("/destinations"),
        None,
        None,
    )
    .await;
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Hook"]);
    assert_eq!(
        get(format!("/destinations/{lake}")).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(format!("/destinations/{hook}/fields")).await,
        StatusCode::FORBIDDEN,
        "fields are for route editors"
    );
    assert_eq!(get(format!("/destinations/{hook}")).await, StatusCode::OK);
    let (status, _, _) = as_portal(
        &server,
        &cookie,
        Method::DELETE,
        &server.path(&format!("/destinations/{lake}")),
        None,
        Some(&token),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, refused, _) = as_portal(
        &server,
        &cookie,
        Method::POST,
        &server.path("/destinations"),
        Some(json!({"name": "Other lake", "destination_type": "s3",
                    "config": {"bucket": "other", "region": "us-east-1"}})),
        Some(&token),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["details"][0]["path"], "/destination_type");
    let (status, made, _) = as_portal(
        &server,
        &cookie,
        Method::POST,
        &server.path("/destinations"),
        Some(webhook("Portal hook")),
        Some(&token),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let (_, catalog, _) = as_portal(
        &server,
        &cookie,
        Method::GET,
        &api(&server, "/catalog/connectors"),
        None,
        None,
    )
    .await;
    let types: Vec<&str> = catalog["connectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["webhook"]);
    let (status, _, _) = as_portal(
        &server,
        &cookie,
        Method::POST,
        &server.path("/routes"),
        Some(json!({"name": "r", "destination_id": hook, "event_types": ["*"]})),
        Some(&token),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "manage_routes is off");
    // Routes outside the portal's reach: keys, permissions, audit, events, sessions.
    for (method, path) in [
        (Method::GET, "/api-keys".to_string()),
        (Method::GET, "/audit-log".to_string()),
        (Method::GET, format!("/destinations/{hook}/permissions")),
        (Method::POST, "/events".to_string()),
        (Method::POST, "/portal-sessions".to_string()),
    ] {
        let (status, answer, _) = as_portal(
            &server,
            &cookie,
            method.clone(),
            &server.path(&path),
            Some(json!({})),
            Some(&token),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
    }
    // Another workspace is not found.
    let (status, _, _) = as_portal(
        &server,
        &cookie,
        Method::GET,
        &api(&server, "/workspaces/ws_other/destinations"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // With routes: a route to the webhook is made through the portal, and the audit log
    // names the session.
    let cookie = open(&make(&server, json!({"capabilities": {"manage_routes": true}})).await).await;
    let token = csrf(&server, &cookie).await;
    let (status, route, _) = as_portal(
        &server,
        &cookie,
        Method::POST,
        &server.path("/routes"),
        Some(json!({"name": "all to hook", "destination_id": hook, "event_types": ["*"]})),
        Some(&token),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{route}");
    let (_, log) = server
        .call(Method::GET, &server.path("/audit-log"), None)
        .await;
    let entry = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "route.create")
        .expect("the route's creation is audited")
        .clone();
    assert!(entry.to_string().contains("portal:"), "{entry}");

    // A route editor of webhooks reads their fields; the s3 destination's are not found.
    let cookie = open(
        &make(
            &server,
            json!({"capabilities": {"destination_types": ["webhook"], "manage_routes": true}}),
        )
        .await,
    )
    .await;
    let fields = |dest: String| {
        let (server, cookie) = (&server, &cookie);
        async move {
            as_portal(
                server,
                cookie,
                Method::GET,
                &server.path(&format!("/destinations/{dest}/fields")),
                None,
                None,
            )
            .await
            .0
        }
    };
    assert_eq!(fields(hook.clone()).await, StatusCode::OK);
    assert_eq!(fields(lake.clone()).await, StatusCode::NOT_FOUND);
}

async fn cookie_writes_need_the_csrf_token_and_this_origin(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let cookie = open(&make(&server, json!({})).await).await;
    let token = csrf(&server, &cookie).await;
    let url = server.path("/destinations");
    let send = |headers: Vec<(&'static str, String)>| {
        let (url, cookie) = (url.clone(), cookie.clone());
        async move {
            let mut request = browser()
                .post(url)
                .header(header::COOKIE, cookie)
                .json(&webhook(&format!("Hook {}", headers.len())));
            for (name, value) in headers {
                request = request.header(name, value);
            }
            request.send().await.unwrap().status()
        }
    };
    let origin = server.url.clone();
    assert_eq!(send(vec![]).await, StatusCode::FORBIDDEN);
    assert_eq!(
        send(vec![("origin", origin.clone())]).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(vec![("x-courier-csrf", token.clone())]).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(vec![
            ("x-courier-csrf", "0".repeat(64)),
            ("origin", origin.clone())
        ])
        .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(vec![
            ("x-courier-csrf", token.clone()),
            ("origin", "https://evil.example".into())
        ])
        .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(vec![
            ("x-courier-csrf", token.clone()),
            ("origin", origin.clone()),
            ("sec-fetch-site", "cross-site".into())
        ])
        .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(vec![("x-courier-csrf", token.clone()), ("origin", origin)]).await,
        StatusCode::CREATED
    );
    // A Bearer key needs none of it.
    let (status, _) = server
        .call(Method::POST, &url, Some(webhook("Keyed")))
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn sessions_end(backend: Backend) {
    let server = TestServer::start(&backend).await;
    // Ended by the portal itself: the cookie is cleared and stops working.
    let cookie = open(&make(&server, json!({})).await).await;
    let token = csrf(&server, &cookie).await;
    let (status, _, headers) = as_portal(
        &server,
        &cookie,
        Method::DELETE,
        &api(&server, "/portal/session"),
        None,
        Some(&token),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let session = api(&server, "/portal/session");
    let (status, _, _) = as_portal(&server, &cookie, Method::GET, &session, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // With the admin key that made it.
    let (_, admin) = server
        .call(
            Method::POST,
            &server.path("/api-keys"),
            Some(json!({"name": "portal maker", "role": "admin"})),
        )
        .await;
    let (admin_id, admin) = (
        admin["id"].as_str().unwrap().to_string(),
        admin["key"].as_str().unwrap().to_string(),
    );
    let (status, made, _) = server
        .call_as(
            Some(&admin),
            Method::POST,
            &server.path("/portal-sessions"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let cookie = open(made["url"].as_str().unwrap()).await;
    let (status, _, _) = as_portal(&server, &cookie, Method::GET, &session, None, None).await;
    assert_eq!(status, StatusCode::OK);
    // Demoted, its sessions end, and promoting it again does not bring them back.
    for role in ["viewer", "admin"] {
        let (status, changed) = server
            .call(
                Method::PATCH,
                &server.path(&format!("/api-keys/{admin_id}")),
                Some(json!({"role": role})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{changed}");
        let (status, _, _) = as_portal(&server, &cookie, Method::GET, &session, None, None).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "after the key became {role}"
        );
    }
    let (status, made, _) = server
        .call_as(
            Some(&admin),
            Method::POST,
            &server.path("/portal-sessions"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let cookie = open(made["url"].as_str().unwrap()).await;
    let (status, _) = server
        .call(
            Method::DELETE,
            &server.path(&format!("/api-keys/{admin_id}")),
            None,
        )
        .await;
    assert!(status.is_success(), "{status}");
    let (status, _, _) = as_portal(&server, &cookie, Method::GET, &session, None, None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the key that made it is gone"
    );

    // At its end: pushed into the past in the store.
    let cookie = open(&make(&server, json!({"expires_in_s": 60})).await).await;
    let (status, _, _) = as_portal(&server, &cookie, Method::GET, &session, None, None).await;
    assert_eq!(status, StatusCode::OK);
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&server.database_url).await.unwrap();
    sqlx::query("UPDATE portal_sessions SET expires_ms = 1")
        .execute(&pool)
        .await
        .unwrap();
    let (status, _, _) = as_portal(&server, &cookie, Method::GET, &session, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "expired");
    // A token not exchanged in time.
    let url = make(&server, json!({})).await;
    sqlx::query("UPDATE portal_sessions SET token_expires_ms = 1 WHERE token_hash IS NOT NULL")
        .execute(&pool)
        .await
        .unwrap();
    let response = browser().get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = press_anyway(&url).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // A key that expired: a later expiry does not bring its sessions back.
    let (_, lapsing) = server
        .call(
            Method::POST,
            &server.path("/api-keys"),
            Some(json!({"name": "lapsing maker", "role": "admin"})),
        )
        .await;
    let lapsing_id = lapsing["id"].as_str().unwrap().to_string();
    let (status, made, _) = server
        .call_as(
            lapsing["key"].as_str(),
            Method::POST,
            &server.path("/portal-sessions"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let cookie = open(made["url"].as_str().unwrap()).await;
    let (status, _, _) = as_portal(&server, &cookie, Method::GET, &session, None, None).await;
    assert_eq!(status, StatusCode::OK);
    sqlx::query("UPDATE api_keys SET expires_at = '2001-01-01T00:00:00Z' WHERE id = $1")
        .bind(&lapsing_id)
        .execute(&pool)
        .await
        .unwrap();
    let (status, _, _) = as_portal(&server, &cookie, Method::GET, &session, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "its key expired");
    let (status, changed) = server
        .call(
            Method::PATCH,
            &server.path(&format!("/api-keys/{lapsing_id}")),
            Some(json!({"expires_at": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    let (status, _, _) = as_portal(&server, &cookie, Method::GET, &session, None, None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "not revived by a later expiry"
    );
}

/// The button's POST without looking at the page first.
async fn press_anyway(url: &str) -> reqwest::Response {
    let token = url.split("token=").nth(1).unwrap();
    let origin = url.split("/portal/").next().unwrap();
    browser()
        .post(format!("{origin}/portal/open"))
        .header(header::ORIGIN, origin)
        .header("sec-fetch-site", "same-origin")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap()
}

on_both_stores!(
    sessions_are_made_by_admins_and_checked,
    a_token_opens_the_portal_once,
    the_api_enforces_the_capabilities,
    cookie_writes_need_the_csrf_token_and_this_origin,
    sessions_end,
);

//! Connecting an OAuth destination through the API against the local Graph and OAuth fakes:
//! start → the provider's consent (the fake approves) → the callback checks state and PKCE and
//! seals the tokens → the destination is connected; refreshed, rotated tokens are persisted and
//! survive a restart; a state is single use; tokens never appear in responses or logs.

mod support;

use std::sync::Arc;

use courier_fakes::{CLIENT_ID, CLIENT_SECRET, GraphFake};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Backend, TestServer, sse_events};

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn create(server: &TestServer, fake: &GraphFake, name: &str) -> Value {
    let (status, d) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(json!({
                "name": name,
                "destination_type": "onedrive",
                "config": {"folder_path": "Exports", "graph_base_url": fake.url()},
                "auth_config": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                    "authorization_url": format!("{}/authorize", fake.url()),
                    "token_url": format!("{}/token", fake.url())},
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    d
}

/// Starts the flow and plays the browser up to the provider's redirect: the callback URL.
async fn consent(server: &TestServer, id: &str, extra: Value) -> String {
    let mut body = json!({"destination_id": id});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (status, started) = server
        .call(
            Method::POST,
            &server.path("/oauth/onedrive/start"),
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let url = started["authorization_url"].as_str().unwrap();
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    let approved = browser().get(url).send().await.unwrap();
    assert_eq!(approved.status(), StatusCode::FOUND);
    let callback = approved.headers()["location"].to_str().unwrap().to_string();
    assert!(
        callback.starts_with(&format!("{}/api/v1/oauth/callback?", server.url)),
        "{callback}"
    );
    callback
}

async fn test_status(server: &TestServer, id: &str) -> (bool, String) {
    let (_, text) = server
        .text(
            Method::POST,
            &server.path(&format!("/destinations/{id}/test")),
            None,
        )
        .await;
    let done = sse_events(&text)
        .into_iter()
        .find(|(e, _)| e == "done")
        .unwrap()
        .1;
    (
        done["success"].as_bool().unwrap(),
        done["destination"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

fn assert_no_tokens(text: &str) {
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
        let token = ["rt-", "at-"].iter().any(|p| {
            word.strip_prefix(p)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        });
        assert!(!token, "a token appeared: {word}");
    }
    assert!(!text.contains(CLIENT_SECRET), "the client secret appeared");
}

async fn connect_refresh_rotate_restart(backend: Backend) {
    let fake = GraphFake::start().await;
    fake.add_folder("Exports");
    fake.oauth().set_rotation(true);
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let config = support::config(dir.path(), &backend);
    let server = TestServer::start_with(config.clone(), dir.clone()).await;
    let d = create(&server, &fake, "OneDrive exports").await;
    let id = d["id"].as_str().unwrap().to_string();
    assert_eq!(
        (d["status"].as_str(), d["has_oauth_tokens"].as_bool()),
        (Some("pending"), Some(false))
    );
    // Without tokens the test says so, and the destination needs connecting.
    assert_eq!(
        test_status(&server, &id).await,
        (false, "reauth_required".to_string())
    );

    let callback = consent(&server, &id, json!({})).await;
    let page = browser().get(&callback).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("data-status=\"connected\"")
    );
    let (_, d) = server
        .call(
            Method::GET,
            &server.path(&format!("/destinations/{id}")),
            None,
        )
        .await;
    assert_eq!(
        (d["status"].as_str(), d["has_oauth_tokens"].as_bool()),
        (Some("connected"), Some(true)),
        "{d}"
    );
    assert_no_tokens(&d.to_string());
    // The connection is in the audit log, under the key that started it, without tokens.
    let (_, log) = server
        .call(
            Method::GET,
            &server.path("/audit-log?action=oauth.connect"),
            None,
        )
        .await;
    assert_eq!(log["data"][0]["resource_id"], id.as_str(), "{log}");
    assert_eq!(log["data"][0]["outcome"], "succeeded", "{log}");
    assert!(log["data"][0]["key_id"].is_string(), "{log}");
    assert_no_tokens(&log.to_string());

    // The state is single use.
    let again = browser().get(&callback).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);

    assert_eq!(
        test_status(&server, &id).await,
        (true, "connected".to_string())
    );
    // Events routed to it arrive as a file, through the worker and the stored tokens.
    let (status, _) = server
        .call(
            Method::PATCH,
            &server.path(&format!("/destinations/{id}")),
            Some(json!({"batch_max_age_ms": 200})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, r) = server
        .call(
            Method::POST,
            &server.path("/routes"),
            Some(json!({"name": "to onedrive", "destination_id": id, "event_types": ["order.*"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    let (status, _) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "order.created", "payload": {"id": 7}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while fake.items().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the event never reached the drive"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let item = &fake.items()[0];
    assert!(item.path.starts_with("Exports/"), "{}", item.path);
    assert!(String::from_utf8_lossy(&item.content).contains("\"id\":7"));
    // An expired access token is refreshed; Microsoft-style rotation kills the old refresh
    // token, so the new one must have been stored.
    fake.oauth().expire_access_tokens();
    assert_eq!(
        test_status(&server, &id).await,
        (true, "connected".to_string())
    );
    assert_eq!(fake.oauth().refreshes(), 1);
    let logs = server.logs.text();
    server.stop().await;

    let server = TestServer::start_with(config, dir).await;
    fake.oauth().expire_access_tokens();
    assert_eq!(
        test_status(&server, &id).await,
        (true, "connected".to_string())
    );
    assert_eq!(
        fake.oauth().refreshes(),
        2,
        "the rotated refresh token survived the restart"
    );
    assert_no_tokens(&(logs + &server.logs.text()));
}

on_both_stores!(connect_refresh_rotate_restart);

#[tokio::test]
async fn start_and_callback_refuse_what_does_not_fit() {
    let fake = GraphFake::start().await;
    fake.add_folder("Exports");
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = support::config(dir.path(), &Backend::Sqlite);
    config.allowed_return_origins = vec!["https://app.example".into()];
    let server = TestServer::start_with(config, dir).await;
    let d = create(&server, &fake, "OD").await;
    let id = d["id"].as_str().unwrap();
    let start = |kind: &str| server.path(&format!("/oauth/{kind}/start"));

    let (status, e) = server
        .call(Method::POST, &start("onedrive"), Some(json!({"nope": 1})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let paths: Vec<&str> = e["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/nope", "/destination_id"]);
    let (status, e) = server
        .call(
            Method::POST,
            &start("onedrive"),
            Some(json!({"destination_id": id, "return_to": "https://evil.example/x"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["details"][0]["path"], "/return_to");
    let (status, _) = server
        .call(
            Method::POST,
            &start("onedrive"),
            Some(json!({"destination_id": "01900000-0000-7000-8000-000000000000"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, e) = server
        .call(
            Method::POST,
            &start("google_drive"),
            Some(json!({"destination_id": id})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let (status, hook) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(json!({"name": "hook", "destination_type": "webhook",
            "config": {"url": "https://example.com/hook"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, e) = server
        .call(
            Method::POST,
            &start("webhook"),
            Some(json!({"destination_id": hook["id"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("do not use OAuth")
    );
    let (status, _, _) = server
        .call_as(
            None,
            Method::POST,
            &start("onedrive"),
            Some(json!({"destination_id": id})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A state that was never issued, a refused consent, and a return_to front end.
    let callback = consent(&server, id, json!({})).await;
    let tampered = callback.replace("state=", "state=x");
    assert_eq!(
        browser().get(&tampered).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    let state = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let denied = format!(
        "{}/api/v1/oauth/callback?error=access_denied&state={state}",
        server.url
    );
    let page = browser().get(&denied).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    assert!(page.text().await.unwrap().contains("access_denied"));
    let (_, d) = server
        .call(
            Method::GET,
            &server.path(&format!("/destinations/{id}")),
            None,
        )
        .await;
    assert_eq!(d["has_oauth_tokens"], false);

    let callback = consent(
        &server,
        id,
        json!({"return_to": "https://app.example/destinations?x=1"}),
    )
    .await;
    let back = browser().get(&callback).send().await.unwrap();
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        back.headers()["location"].to_str().unwrap(),
        "https://app.example/destinations?x=1&oauth_status=connected"
    );
    // Pointing the destination at another endpoint drops the tokens: they were granted for
    // the old one.
    let (_, d) = server
        .call(
            Method::GET,
            &server.path(&format!("/destinations/{id}")),
            None,
        )
        .await;
    assert_eq!(d["has_oauth_tokens"], true);
    let (status, d) = server
        .call(
            Method::PATCH,
            &server.path(&format!("/destinations/{id}")),
            // Moving an endpoint takes the client's credentials sent again; the tokens, bound
            // to the endpoints they were granted for, are dropped.
            Some(json!({
                "config": {"graph_base_url": "http://127.0.0.1:9/v1.0"},
                "auth_config": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                    "authorization_url": format!("{}/authorize", fake.url()),
                    "token_url": format!("{}/token", fake.url())},
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(
        (d["has_oauth_tokens"].as_bool(), d["status"].as_str()),
        (Some(false), Some("pending"))
    );
    let (_, doc) = server
        .call(
            Method::GET,
            &format!("{}/api/v1/openapi.json", server.url),
            None,
        )
        .await;
    assert!(doc["paths"]["/api/v1/oauth/callback"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/workspaces/{ws}/oauth/{type}/start"]["post"].is_object());
}

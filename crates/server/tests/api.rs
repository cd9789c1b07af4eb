//! The Destinations API, black box: the real server on a loopback port with SQLite in a temp
//! dir (Postgres when COURIER_TEST_POSTGRES_URL is set), and a real local webhook receiver.

mod support;

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::receiver::{Seen, receiver};
use support::{Backend, TestServer, sse_events};

const SENTINEL: &str = "SENTINEL-bearer-7f3a9c";

fn webhook(name: &str, url: &str) -> Value {
    json!({
        "name": name,
        "destination_type": "webhook",
        "config": {"url": url, "allow_private_network": true, "headers": {"X-Team": "growth"}},
        "auth_config": {"credentials": {"type": "bearer", "token": SENTINEL}},
        "timeout_ms": 5000,
        "retry_max_attempts": 3
    })
}

async fn destinations_round_trip_in_the_seed_shape(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (url, _, _) = receiver().await;
    let (status, created) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(webhook("Orders Hook", &url)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    for field in [
        "id",
        "workspace_id",
        "name",
        "slug",
        "destination_type",
        "config",
        "status",
        "status_error",
        "is_active",
        "has_auth_config",
        "has_signing_secret",
        "payload_cap_bytes",
        "timeout_ms",
        "retry_enabled",
        "retry_max_attempts",
        "retry_backoff_type",
        "retry_intervals",
        "circuit_breaker_enabled",
        "circuit_breaker_threshold",
        "circuit_breaker_reset_ms",
        "event_count",
        "failed_count",
        "failing_since",
        "last_delivery_at",
        "last_delivery_status",
        "created_by",
        "created_at",
        "updated_at",
    ] {
        assert!(created.get(field).is_some(), "{field} missing: {created}");
    }
    assert_eq!(created["slug"], "orders-hook");
    assert_eq!(created["status"], "pending");
    assert_eq!(created["has_auth_config"], true);
    assert_eq!(created["has_signing_secret"], true);
    assert_eq!(created["retry_max_attempts"], 3);
    let secret = created["signing_secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert!(created.get("auth_config").is_none());
    let id = created["id"].as_str().unwrap().to_string();
    let one = server.path(&format!("/destinations/{id}"));

    let (status, got) = server.call(Method::GET, &one, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        got.get("signing_secret").is_none(),
        "the secret is shown once only"
    );
    // Header values are write-only: only their names come back.
    assert_eq!(got["config"]["headers"], json!(["X-Team"]));
    assert!(!got.to_string().contains("growth"), "{got}");

    // PUT: given fields change, others (auth_config included) are kept.
    let (status, put) = server
        .call(
            Method::PUT,
            &one,
            Some(json!({"name": "Orders Hook v2", "timeout_ms": 9000})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(
        (put["name"].clone(), put["slug"].clone()),
        (json!("Orders Hook v2"), json!("orders-hook-v2"))
    );
    assert_eq!(put["timeout_ms"], 9000);
    assert_eq!(put["retry_max_attempts"], 3);
    assert_eq!(put["has_auth_config"], true);

    // PATCH merges config (RFC 7396); PUT replaces it.
    let (status, patched) = server
        .call(
            Method::PATCH,
            &one,
            Some(json!({"config": {"headers": {"X-Env": "prod"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["config"]["headers"], json!(["X-Team", "X-Env"]));
    assert_eq!(patched["config"]["url"], json!(url));

    let (_, list) = server
        .call(Method::GET, &server.path("/destinations"), None)
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["id"], json!(id));
    assert_eq!(list["next_cursor"], json!(null));

    let (status, deleted) = server.call(Method::DELETE, &one, None).await;
    assert_eq!((status, deleted), (StatusCode::NO_CONTENT, json!("")));
    let (status, missing) = server.call(Method::GET, &one, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["error"]["code"], "not_found");
}

async fn every_validation_problem_comes_back_at_once_with_its_path(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (status, body) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(json!({
                "destination_type": "webhook",
                "config": {"url": "not a url", "colour": "red"},
                "timeout_ms": 0,
                "nickname": "x"
            })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "validation_error");
    let paths: Vec<String> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_string())
        .collect();
    for expected in [
        "/nickname",
        "/name",
        "/timeout_ms",
        "/config/url",
        "/config/colour",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "{expected} not in {paths:?}"
        );
    }
    let (status, body) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(json!({"name": "x", "destination_type": "carrier_pigeon", "config": {}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["details"][0]["path"], "/destination_type");

    let raw = reqwest::Client::new()
        .post(server.path("/destinations"))
        .bearer_auth(&server.key)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    let body: Value = raw.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{body}"
    );
}

async fn keys_workspaces_and_roles_are_enforced(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (url, _, _) = receiver().await;
    let (_, created) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(webhook("Hook", &url)),
        )
        .await;
    let one = server.path(&format!(
        "/destinations/{}",
        created["id"].as_str().unwrap()
    ));

    let (status, body, _) = server.call_as(None, Method::GET, &one, None).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("unauthorized"))
    );
    let (status, _, _) = server
        .call_as(Some("ck_wrong"), Method::GET, &one, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A second workspace with its own admin and a member key in the first one.
    let store = courier_server::store::Store::open(&server.database_url)
        .await
        .unwrap();
    let other = store
        .create_workspace(&courier_server::store::WorkspaceChange {
            name: Some("Other".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    store
        .add_api_key(
            &other.id,
            "other admin",
            courier_server::store::Role::Admin,
            "ck_other_admin",
            None,
        )
        .await
        .unwrap();
    store
        .add_api_key(
            &server.workspace,
            "member",
            courier_server::store::Role::Member,
            "ck_member",
            None,
        )
        .await
        .unwrap();
    let (status, body, _) = server
        .call_as(Some("ck_other_admin"), Method::GET, &one, None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another workspace's destination: {body}"
    );
    assert!(!body.to_string().contains("Hook"));
    let other_list = format!("{}/api/v1/workspaces/{}/destinations", server.url, other.id);
    let (status, list, _) = server
        .call_as(Some("ck_other_admin"), Method::GET, &other_list, None)
        .await;
    assert_eq!(
        (status, list),
        (StatusCode::OK, json!({"data": [], "next_cursor": null}))
    );

    // A member may read but, by default, not change or delete.
    let (status, _, _) = server
        .call_as(Some("ck_member"), Method::GET, &one, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body, _) = server
        .call_as(
            Some("ck_member"),
            Method::PATCH,
            &one,
            Some(json!({"name": "Mine"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::FORBIDDEN, json!("forbidden"))
    );
    let (status, _, _) = server
        .call_as(Some("ck_member"), Method::DELETE, &one, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let permissions = format!("{one}/permissions");
    let (status, _, _) = server
        .call_as(
            Some("ck_member"),
            Method::PUT,
            &permissions,
            Some(json!([{"role": "member", "manage_destination": true}])),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "members cannot grant themselves rights"
    );
    let (status, listed) = server
        .call(
            Method::PUT,
            &permissions,
            Some(json!([{"role": "member", "manage_destination": true}])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed[1]["role"], "member");
    assert_eq!(listed[1]["manage_destination"], true);
    assert_eq!(listed[1]["configure_models_syncs"], false);
    let (status, _, _) = server
        .call_as(
            Some("ck_member"),
            Method::PATCH,
            &one,
            Some(json!({"name": "Mine"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server
        .call(
            Method::PUT,
            &permissions,
            Some(json!([{"role": "admin", "manage_destination": false}, {"role": "guest"}])),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

async fn duplicates_conflict_and_oversized_bodies_are_refused(backend: Backend) {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = support::config(dir.path(), &backend);
    config.max_body_bytes = 4096;
    let server = TestServer::start_with(config, dir).await;
    let (url, _, _) = receiver().await;
    let (status, _) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(webhook("Same", &url)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(webhook("Same", &url)),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("conflict"))
    );

    let mut big = webhook("Big", &url);
    big["config"]["headers"]["X-Pad"] = json!("p".repeat(8000));
    let (status, body) = server
        .call(Method::POST, &server.path("/destinations"), Some(big))
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::PAYLOAD_TOO_LARGE, json!("payload_too_large"))
    );
    let (_, list) = server
        .call(Method::GET, &server.path("/destinations"), None)
        .await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "nothing already accepted is lost"
    );
}

async fn a_busy_key_is_rate_limited_with_retry_after(backend: Backend) {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = support::config(dir.path(), &backend);
    config.rate_limit_per_second = 1;
    let server = TestServer::start_with(config, dir).await;
    let list = server.path("/destinations");
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..4 {
        let (status, _, headers) = server
            .call_as(Some(&server.key), Method::GET, &list, None)
            .await;
        statuses.push(status);
        if status == StatusCode::TOO_MANY_REQUESTS {
            retry_after = headers.get("retry-after").cloned();
        }
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert_eq!(retry_after.unwrap(), "1");
}

async fn connection_tests_stream_steps_and_record_the_status(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (url, seen, _) = receiver().await;
    let (status, text) = server
        .text(
            Method::POST,
            &server.path("/destinations/test"),
            Some(json!({"destination_type": "webhook", "config": {"url": url, "allow_private_network": true}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let events = sse_events(&text);
    assert!(
        events
            .iter()
            .any(|(e, d)| e == "step" && d["name"] == "request" && d["status"] == "passed"),
        "{text}"
    );
    let (last, done) = events.last().unwrap();
    assert_eq!(last, "done");
    assert_eq!(done["success"], true, "{done}");
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the test reached the receiver"
    );

    let (_, created) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(webhook("Hook", &url)),
        )
        .await;
    let one = server.path(&format!(
        "/destinations/{}",
        created["id"].as_str().unwrap()
    ));
    let (_, text) = server
        .text(Method::POST, &format!("{one}/test"), None)
        .await;
    let (_, done) = sse_events(&text).pop().unwrap();
    assert_eq!(done["success"], true, "{text}");
    assert_eq!(done["destination"]["status"], "connected");
    let auth = seen
        .lock()
        .unwrap()
        .last()
        .unwrap()
        .0
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        auth,
        format!("Bearer {SENTINEL}"),
        "the stored credential was used"
    );

    // Pointing it at a closed port makes the next test fail and the status say why.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (status, _) = server
        .call(
            Method::PATCH,
            &one,
            // Moving the endpoint takes the credentials (and header values) sent again.
            Some(json!({
                "config": {"url": format!("http://127.0.0.1:{closed}/x"), "headers": {"X-Team": "growth"}},
                "auth_config": {"credentials": {"type": "bearer", "token": SENTINEL}},
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, text) = server
        .text(Method::POST, &format!("{one}/test"), None)
        .await;
    let (_, done) = sse_events(&text).pop().unwrap();
    assert_eq!(done["success"], false);
    assert_eq!(done["destination"]["status"], "error");
    let (_, got) = server.call(Method::GET, &one, None).await;
    assert_eq!(got["status"], "error");
    assert!(
        got["status_error"].as_str().unwrap().starts_with("connect"),
        "{got}"
    );

    let (status, fields) = server
        .call(Method::GET, &format!("{one}/fields"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{fields}");
    assert!(fields.as_array().is_some_and(|f| !f.is_empty()), "{fields}");
}

async fn rotation_signs_with_both_secrets_for_a_day(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (url, seen, _) = receiver().await;
    let mut body = webhook("Signed", &url);
    body["signing_secret"] = json!("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    let (status, created) = server
        .call(Method::POST, &server.path("/destinations"), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(
        created.get("signing_secret").is_none(),
        "a given secret is not echoed"
    );
    let one = server.path(&format!(
        "/destinations/{}",
        created["id"].as_str().unwrap()
    ));
    let signatures = |seen: &Seen| {
        let headers = seen.lock().unwrap();
        let value = headers
            .last()
            .unwrap()
            .0
            .get("webhook-signature")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        value.split(' ').count()
    };
    server
        .text(Method::POST, &format!("{one}/test"), None)
        .await;
    assert_eq!(signatures(&seen), 1);

    let (status, rotated) = server
        .call(Method::POST, &format!("{one}/rotate-secret"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert!(
        rotated["signing_secret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_")
    );
    assert!(rotated["previous_secret_expires_at"].is_string());
    server
        .text(Method::POST, &format!("{one}/test"), None)
        .await;
    assert_eq!(
        signatures(&seen),
        2,
        "old and new secrets sign during the grace period"
    );
}

async fn secrets_never_leave_in_clear_and_a_restart_keeps_everything(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (url, seen, _) = receiver().await;
    let mut body = webhook("Kept", &url);
    body["signing_secret"] = json!("whsec_U0VOVElORUwtc2lnbmluZy0xMjM0NTY3ODkw");
    let (status, created) = server
        .call(Method::POST, &server.path("/destinations"), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let one = server.path(&format!(
        "/destinations/{}",
        created["id"].as_str().unwrap()
    ));
    let mut responses = vec![created.to_string()];
    for path in [
        one.clone(),
        server.path("/destinations"),
        format!("{one}/permissions"),
    ] {
        responses.push(server.call(Method::GET, &path, None).await.1.to_string());
    }
    responses.push(
        server
            .text(Method::POST, &format!("{one}/test"), None)
            .await
            .1,
    );
    // A validation error must not quote the secret either.
    let mut bad = webhook("Bad", "nope");
    bad["auth_config"]["credentials"]["token"] = json!(SENTINEL);
    responses.push(
        server
            .call(Method::POST, &server.path("/destinations"), Some(bad))
            .await
            .1
            .to_string(),
    );
    let logs = server.logs.clone();
    let dir = server.stop().await;

    let mut stored = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap().flatten() {
        stored.extend(std::fs::read(entry.path()).unwrap_or_default());
    }
    let stored = String::from_utf8_lossy(&stored).to_string();
    for (what, text) in [
        ("responses", responses.join("\n")),
        ("logs", logs.text()),
        ("database files", stored),
    ] {
        assert!(!text.contains(SENTINEL), "{what} contain the credential");
        assert!(
            !text.contains("U0VOVElORUwtc2lnbmluZy0xMjM0NTY3ODkw"),
            "{what} contain the signing secret"
        );
    }

    // Same data directory, new process state: everything is there and the secrets still open.
    let server = TestServer::start_with(support::config(dir.path(), &backend), dir.clone()).await;
    let one = server.path(&format!(
        "/destinations/{}",
        created["id"].as_str().unwrap()
    ));
    let (status, got) = server.call(Method::GET, &one, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["name"], "Kept");
    assert_eq!(got["has_auth_config"], true);
    let before = seen.lock().unwrap().len();
    let (_, text) = server
        .text(Method::POST, &format!("{one}/test"), None)
        .await;
    assert_eq!(
        sse_events(&text).pop().unwrap().1["success"],
        true,
        "{text}"
    );
    let headers = seen.lock().unwrap();
    assert_eq!(headers.len(), before + 1);
    assert_eq!(
        headers.last().unwrap().0["authorization"],
        format!("Bearer {SENTINEL}").as_str()
    );
}

async fn new_destinations_retry_for_about_a_day(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (url, _, _) = receiver().await;
    let (_, created) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(webhook("Three", &url)),
        )
        .await;
    assert_eq!(created["retry_max_attempts"], 3);
    // Without a backoff of its own, a destination retries over about a day.
    assert_eq!(
        created["retry_intervals"],
        json!([5000, 300000, 1800000, 7200000, 18000000, 36000000, 36000000])
    );
    let mut plain = webhook("Plain", &url);
    plain.as_object_mut().unwrap().remove("retry_max_attempts");
    let (_, day) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(plain.clone()),
        )
        .await;
    assert_eq!(day["retry_max_attempts"], 8, "{day}");
    plain["name"] = json!("Exponential");
    plain["retry_backoff_type"] = json!("exponential");
    let (_, own) = server
        .call(Method::POST, &server.path("/destinations"), Some(plain))
        .await;
    assert_eq!(own["retry_intervals"], json!([]), "{own}");
    assert_eq!(own["retry_max_attempts"], 5, "{own}");
}

on_both_stores!(
    new_destinations_retry_for_about_a_day,
    destinations_round_trip_in_the_seed_shape,
    every_validation_problem_comes_back_at_once_with_its_path,
    keys_workspaces_and_roles_are_enforced,
    duplicates_conflict_and_oversized_bodies_are_refused,
    a_busy_key_is_rate_limited_with_retry_after,
    connection_tests_stream_steps_and_record_the_status,
    rotation_signs_with_both_secrets_for_a_day,
    secrets_never_leave_in_clear_and_a_restart_keeps_everything,
);

async fn the_openapi_document_is_valid_and_every_route_in_it_exists(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (url, _, _) = receiver().await;
    let (_, created) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(webhook("Doc", &url)),
        )
        .await;
    let dest = created["id"].as_str().unwrap().to_string();
    let (status, doc, _) = server
        .call_as(
            None,
            Method::GET,
            &format!("{}/api/v1/openapi.json", server.url),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let spec = oas3::from_json(doc.to_string()).expect("a valid OpenAPI 3.1 document");
    assert!(spec.openapi.starts_with("3.1"));
    let mut calls = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            calls.push((method.to_uppercase(), path.clone()));
        }
    }
    // Deletion last, so every other call finds the destination.
    calls.sort_by_key(|(m, _)| m == "DELETE");
    assert!(calls.len() >= 19, "{calls:?}");
    for (method, path) in calls {
        let url = format!(
            "{}{}",
            server.url,
            path.replace("{ws}", &server.workspace)
                .replace("{dest}", &dest)
                .replace("{type}", "webhook")
                .replace("{route}", "no-such-route")
                .replace("{delivery}", "no-such-delivery")
        );
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let (status, body, _) = server
            .call_as(Some(&server.key), method.clone(), &url, Some(json!({})))
            .await;
        let unrouted = status == StatusCode::METHOD_NOT_ALLOWED
            || (status == StatusCode::NOT_FOUND
                && body.to_string().contains("API endpoint not found"));
        assert!(
            !unrouted,
            "{method} {path} is documented but not served: {status} {body}"
        );
    }
}

async fn requests_carry_ids_and_show_up_in_metrics(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let client = reqwest::Client::new();
    let response = client
        .get(server.path("/destinations"))
        .bearer_auth(&server.key)
        .header("x-request-id", "req-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-abc-123");
    let generated = client
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert!(generated.headers().contains_key("x-request-id"));
    let metrics = client
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("courier_http_requests_total")
            && metrics.contains("route=\"/api/v1/workspaces/{ws}/destinations\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("courier_http_request_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(
        server.logs.text().contains("req-abc-123"),
        "the request id is in the logs"
    );
}

on_both_stores!(
    the_openapi_document_is_valid_and_every_route_in_it_exists,
    requests_carry_ids_and_show_up_in_metrics,
);

async fn operator_rules_and_role_permissions_hold(backend: Backend) {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = support::config(dir.path(), &backend);
    config.allow_private_destinations = false;
    config.metrics_token = Some(courier_core::Secret::new("metrics-token-123"));
    let server = TestServer::start_with(config, dir).await;

    // No borrowing the server's own AWS identity, no private networks.
    let (status, body) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(json!({"name": "Lake", "destination_type": "s3", "config": {"bucket": "operator-backups", "region": "us-east-1"}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.to_string().contains("/auth_config/access_key_id"),
        "{body}"
    );
    let (status, body) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(webhook("Inside", "http://127.0.0.1:9/x")),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.to_string().contains("/config/allow_private_network"),
        "{body}"
    );

    // /metrics wants its token when one is set.
    let (status, _, _) = server
        .call_as(None, Method::GET, &format!("{}/metrics", server.url), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = server
        .call_as(
            Some("metrics-token-123"),
            Method::GET,
            &format!("{}/metrics", server.url),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // A member without configure_models_syncs cannot route events to the destination.
    // (A public address: names must resolve to be saved, and this machine may have no DNS.)
    let mut public = webhook("Public", "https://93.184.216.34/x");
    public["config"]
        .as_object_mut()
        .unwrap()
        .remove("allow_private_network");
    let (status, created) = server
        .call(Method::POST, &server.path("/destinations"), Some(public))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let store = courier_server::store::Store::open(&server.database_url)
        .await
        .unwrap();
    store
        .add_api_key(
            &server.workspace,
            "member",
            courier_server::store::Role::Member,
            "ck_member_rules",
            None,
        )
        .await
        .unwrap();
    let route = json!({"name": "R", "destination_id": created["id"], "event_types": ["*"]});
    let (status, _, _) = server
        .call_as(
            Some("ck_member_rules"),
            Method::POST,
            &server.path("/routes"),
            Some(route.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server
        .call(Method::POST, &server.path("/routes"), Some(route))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body, _) = server
        .call_as(
            Some("ck_member_rules"),
            Method::POST,
            &server.path("/deliveries/replay"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body, _) = server
        .call_as(
            Some(&server.key),
            Method::GET,
            &server.path("/deliveries?limit=abc"),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("validation_error"))
    );
    let (status, body, _) = server
        .call_as(
            Some(&server.key),
            Method::PATCH,
            &server.path("/routes"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body["error"]["message"].is_string(), "{body}");
}

on_both_stores!(operator_rules_and_role_permissions_hold);

//! The trust boundary, attacked through the real server: what a tenant writes cannot make the
//! server send stored credentials to a host of the tenant's choosing, the seed's shape for a
//! webhook's signing secret is accepted, and slow, greedy or guessing clients cannot hold the
//! server.

mod support;

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::receiver::receiver;
use support::{Backend, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SENTINEL: &str = "SENTINEL-stored-credential-51c2";

fn webhook(name: &str, url: &str) -> Value {
    json!({
        "name": name,
        "destination_type": "webhook",
        "config": {"url": url, "allow_private_network": true, "headers": {"X-Api-Key": SENTINEL}},
        "auth_config": {"credentials": {"type": "bearer", "token": SENTINEL}},
    })
}

/// Every request the receiver saw, as text (headers and body), for a sentinel scan.
fn seen_text(seen: &support::receiver::Seen) -> String {
    seen.lock()
        .unwrap()
        .iter()
        .map(|(headers, body)| format!("{headers:?} {body}"))
        .collect()
}

async fn stored_credentials_never_follow_an_edited_endpoint(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (home, home_seen, _) = receiver().await;
    let (attacker, attacker_seen, _) = receiver().await;
    let (status, created) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(webhook("Hook", &home)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let one = server.path(&format!(
        "/destinations/{}",
        created["id"].as_str().unwrap()
    ));

    // Pointing the destination elsewhere while keeping what is stored is refused, by PATCH
    // and by PUT, with the field and the reason.
    for (method, body) in [
        (Method::PATCH, json!({"config": {"url": attacker}})),
        (
            Method::PUT,
            json!({"config": {"url": attacker, "allow_private_network": true}}),
        ),
        // Re-sending the credentials is not enough while the stored headers would follow.
        (
            Method::PATCH,
            json!({"config": {"url": attacker}, "auth_config": {"credentials": {"type": "bearer", "token": "new"}}}),
        ),
    ] {
        let (status, body_back) = server.call(method.clone(), &one, Some(body)).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{method} {body_back}"
        );
        let errors = body_back["error"]["details"].to_string();
        assert!(
            errors.contains("/config/url") && errors.contains("send auth_config again"),
            "{errors}"
        );
    }
    let (status, text) = server
        .text(Method::POST, &format!("{one}/test"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        attacker_seen.lock().unwrap().is_empty(),
        "the attacker's host was contacted"
    );
    assert!(
        seen_text(&home_seen).contains(SENTINEL),
        "the stored credential still goes home"
    );

    // Sending the credentials and headers again moves the destination; nothing stored
    // goes with it.
    let (status, moved) = server
        .call(
            Method::PATCH,
            &one,
            Some(json!({
                "config": {"url": attacker, "headers": {"X-Api-Key": "theirs"}},
                "auth_config": {"credentials": {"type": "bearer", "token": "theirs"}},
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    server
        .text(Method::POST, &format!("{one}/test"), None)
        .await;
    let seen = seen_text(&attacker_seen);
    assert!(seen.contains("theirs"), "{seen}");
    assert!(!seen.contains(SENTINEL), "a stored secret followed: {seen}");

    // Changes that keep the endpoint keep the credentials.
    let (status, renamed) = server
        .call(
            Method::PATCH,
            &one,
            Some(json!({"name": "Renamed", "config": {"timeout_ms": 5000}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["has_auth_config"], true);
}

async fn a_signing_secret_inside_auth_config_is_the_managed_secret(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (url, seen, _) = receiver().await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (status, created) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(json!({
                "name": "Seed shape",
                "destination_type": "webhook",
                "config": {"url": url, "allow_private_network": true},
                "auth_config": {"signing_secret": secret},
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["has_signing_secret"], true);
    assert_eq!(
        created["has_auth_config"], false,
        "the secret is not kept twice"
    );
    assert!(!created.to_string().contains(secret), "{created}");
    let one = server.path(&format!(
        "/destinations/{}",
        created["id"].as_str().unwrap()
    ));
    server
        .text(Method::POST, &format!("{one}/test"), None)
        .await;
    let (headers, body) = seen.lock().unwrap().last().cloned().unwrap();
    let header = |name: &str| headers[name].to_str().unwrap().to_string();
    let key =
        courier_connector_webhook::signing::SigningKey::parse(&courier_core::Secret::new(secret))
            .unwrap();
    let expected = key.sign(
        &header("webhook-id"),
        header("webhook-timestamp").parse().unwrap(),
        &serde_json::to_vec(&body).unwrap(),
    );
    assert_eq!(header("webhook-signature"), expected);

    // Given twice with different values, it is refused at its path.
    let (status, refused) = server
        .call(
            Method::PATCH,
            &one,
            Some(json!({
                "signing_secret": secret,
                "auth_config": {"signing_secret": "whsec_U0VOVElORUwtc2lnbmluZy0xMjM0NTY3ODkw"},
            })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(
        refused.to_string().contains("/auth_config/signing_secret"),
        "{refused}"
    );
    // Replaced through auth_config, it signs from then on (a PATCH that names only the secret
    // keeps the rest of the auth_config and the status).
    let (status, patched) = server
        .call(
            Method::PATCH,
            &one,
            Some(json!({"auth_config": {"signing_secret": "whsec_U0VOVElORUwtc2lnbmluZy0xMjM0NTY3ODkw"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["has_auth_config"], false);
}

on_both_stores!(
    a_request_cannot_fan_out_without_bound_and_lists_stay_small,
    stored_credentials_never_follow_an_edited_endpoint,
    a_signing_secret_inside_auth_config_is_the_managed_secret,
);

/// A server with tight connection limits, so the tests see them act quickly.
async fn guarded_server(max_connections: usize, header_read_timeout_ms: u64) -> TestServer {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = support::config(dir.path(), &Backend::Sqlite);
    config.header_read_timeout_ms = header_read_timeout_ms;
    config.body_read_timeout_ms = 300;
    config.max_connections = max_connections;
    config.auth_failures_per_minute = 5;
    TestServer::start_with(config, dir).await
}

fn address(server: &TestServer) -> String {
    server.url.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection (or 5 s pass: then it did not), returning
/// what it sent.
async fn read_until_closed(stream: &mut TcpStream) -> Option<String> {
    let mut answer = Vec::new();
    match tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await {
        Ok(_) => Some(String::from_utf8_lossy(&answer).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn slow_and_idle_clients_are_cut_off() {
    let server = guarded_server(64, 300).await;
    // Headers that never finish.
    let mut slow = TcpStream::connect(address(&server)).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: courier\r\nX-Slow: ")
        .await
        .unwrap();
    assert!(
        read_until_closed(&mut slow).await.is_some(),
        "a client that never finished its headers kept its connection"
    );
    // A connection that never sends anything.
    let mut idle = TcpStream::connect(address(&server)).await.unwrap();
    assert!(
        read_until_closed(&mut idle).await.is_some(),
        "an idle connection was kept open"
    );
    // A body that never finishes: 408, and the connection is closed.
    let mut trickle = TcpStream::connect(address(&server)).await.unwrap();
    let head = format!(
        "POST /api/v1/workspaces/{}/destinations HTTP/1.1\r\nHost: courier\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"name\"",
        server.workspace, server.key
    );
    trickle.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut trickle)
        .await
        .expect("a trickled body held its connection");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_read_timeout_ms"), "{answer}");
    // The server still serves everyone else.
    let (status, _) = server
        .call(Method::GET, &format!("{}/healthz", server.url), None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_their_turn() {
    let server = guarded_server(2, 1_000).await;
    // Two clients hold the server's two connections with headers that never finish (until
    // the header timeout cuts them off after a second).
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = TcpStream::connect(address(&server)).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: courier\r\nX-Slow: ")
            .await
            .unwrap();
        held.push(c);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let third = reqwest::Client::new()
        .get(format!("{}/healthz", server.url))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(
        third.is_err(),
        "a third connection was served while two were held"
    );
    // Once the held connections time out, others are served.
    let later = reqwest::Client::new()
        .get(format!("{}/healthz", server.url))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("served after the held connections were cut off");
    assert_eq!(later.status(), StatusCode::OK);
}

/// `courier_auth_key_lookups_total` from the server's metrics.
async fn key_lookups(server: &TestServer) -> u64 {
    let text = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with("courier_auth_key_lookups_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn guessing_keys_is_throttled_before_it_costs_a_query() {
    let server = guarded_server(64, 300).await;
    let guess = |n: usize| {
        let url = server.path("/destinations");
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(format!("ck_guess_{n}_0123456789abcdefghijklmnopqrstuvwxyz"))
                .send()
                .await
                .unwrap()
        }
    };
    for n in 0..5 {
        assert_eq!(guess(n).await.status(), StatusCode::UNAUTHORIZED);
    }
    let before = key_lookups(&server).await;
    assert!(before >= 5, "{before}");
    for n in 5..25 {
        let answer = guess(n).await;
        assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = answer.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=12).contains(&retry), "{retry}");
    }
    assert_eq!(
        key_lookups(&server).await,
        before,
        "refused guesses were looked up"
    );
    // A key the server already knows (cached) still works from the same address.
    let (status, _) = server
        .call(Method::GET, &server.path("/destinations"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_is_private_to_the_server_user() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let data = dir.path().join("data");
    let mut config = support::config(&data, &Backend::Sqlite);
    config.encryption_key = None;
    let server = TestServer::start_with(config, dir.clone()).await;
    // Something written, so the WAL exists.
    let (status, _) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(webhook("Perms", "http://127.0.0.1:9/x")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "the data directory");
    let mut files = 0;
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        files += 1;
    }
    assert!(
        files >= 3,
        "the database, its WAL and the key file: {files}"
    );
}

async fn a_request_cannot_fan_out_without_bound_and_lists_stay_small(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (url, seen, _) = receiver().await;
    let (status, d) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(json!({"name": "Fan", "destination_type": "webhook",
                "config": {"url": url, "allow_private_network": true}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    for n in 0..11 {
        let (status, r) = server
            .call(
                Method::POST,
                &server.path("/routes"),
                Some(json!({"name": format!("r{n}"), "destination_id": d["id"], "event_types": ["*"]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
    }
    // 1,000 events × 11 routes is over the 10,000 deliveries one request may make.
    let events: Vec<Value> = (0..1000)
        .map(|i| json!({"type": "t", "payload": {"i": i}}))
        .collect();
    let (status, refused) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"events": events})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(
        refused["error"]["details"][0]["path"], "/events",
        "{refused}"
    );
    assert!(
        refused.to_string().contains("11000 deliveries"),
        "{refused}"
    );

    // A large payload is listed by size and a preview; the delivery itself has all of it.
    let big = "x".repeat(5000);
    let (status, accepted) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "t", "payload": {"text": big}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while seen.lock().unwrap().len() < 11 {
        assert!(std::time::Instant::now() < deadline, "not delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, list) = server
        .call(Method::GET, &server.path("/deliveries?limit=500"), None)
        .await;
    let rows = list["data"].as_array().unwrap();
    assert_eq!(rows.len(), 11, "only the accepted event's deliveries exist");
    for row in rows {
        assert!(row.get("payload").is_none(), "{row}");
        assert_eq!(row["payload_bytes"], json!(big.len() + 11), "{row}");
        let preview = row["payload_preview"].as_str().unwrap();
        assert_eq!(preview.chars().count(), 257, "{preview}");
        assert!(preview.ends_with('…'));
    }
    let (_, one) = server
        .call(
            Method::GET,
            &server.path(&format!("/deliveries/{}", rows[0]["id"].as_str().unwrap())),
            None,
        )
        .await;
    assert_eq!(one["payload"]["text"], json!(big));
}

#[tokio::test]
async fn connection_tests_are_bounded_per_workspace_and_stop_with_their_client() {
    let server = TestServer::start(&Backend::Sqlite).await;
    // A target that accepts connections and never answers: each test waits on it.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let body = json!({"destination_type": "webhook",
        "config": {"url": url, "allow_private_network": true, "timeout_ms": 60000}});
    let client = reqwest::Client::new();
    let start = || {
        client
            .post(server.path("/destinations/test"))
            .bearer_auth(&server.key)
            .json(&body)
            .send()
    };
    let mut running = Vec::new();
    for _ in 0..4 {
        let answer = start().await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        running.push(answer);
    }
    let refused = start().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    // A client that goes away frees its test's slot.
    drop(running.remove(0));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let answer = start().await.unwrap();
        if answer.status() == StatusCode::OK {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the abandoned test kept its slot"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

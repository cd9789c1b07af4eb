//! The trust boundary, attacked through the real server: what a tenant writes cannot make the
//! server send stored credentials to a host of the tenant's choosing, and the seed's shape for
//! a webhook's signing secret is accepted.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::receiver::receiver;
use support::{Backend, TestServer};

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
    stored_credentials_never_follow_an_edited_endpoint,
    a_signing_secret_inside_auth_config_is_the_managed_secret,
);

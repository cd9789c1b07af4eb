//! Operational events end to end: a destination answering 410 is disabled and its delivery
//! dead-lettered, and a second receiver, routed `courier.*`, gets `courier.destination.disabled`
//! and `courier.delivery.failed` as signed webhooks naming their type; a destination failing
//! for half the time that disables it yields `courier.destination.failing`, then
//! `courier.destination.recovered` once it delivers again. `*` never takes them, no event about
//! a destination goes to that destination, and clients cannot post `courier.*` types. On SQLite
//! and on PostgreSQL.

mod support;

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::receiver::{Seen, receiver};
use support::{Backend, TestServer, eventually};

async fn destination(server: &TestServer, name: &str, url: &str, policy: Value) -> String {
    let mut body = json!({
        "name": name,
        "destination_type": "webhook",
        "config": {"url": url, "allow_private_network": true},
        "signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "retry_intervals": [200],
        "retry_max_attempts": 100,
        "circuit_breaker_enabled": false,
    });
    for (k, v) in policy.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (status, d) = server
        .call(Method::POST, &server.path("/destinations"), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    d["id"].as_str().unwrap().to_string()
}

async fn route(server: &TestServer, dest: &str, types: Value) {
    let (status, r) = server
        .call(
            Method::POST,
            &server.path("/routes"),
            Some(json!({"name": format!("to {dest} {types}"), "destination_id": dest, "event_types": types})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
}

/// The operational events `seen` received, as (type header, body).
fn notices(seen: &Seen) -> Vec<(String, Value)> {
    seen.lock()
        .unwrap()
        .iter()
        .filter_map(|(h, body)| {
            let t = h.get("courier-event-type")?.to_str().ok()?;
            t.starts_with("courier.")
                .then(|| (t.to_string(), body.clone()))
        })
        .collect()
}

fn has(seen: &Seen, event_type: &str) -> bool {
    notices(seen).iter().any(|(t, _)| t == event_type)
}

async fn a_410_tells_the_workspace_through_its_courier_routes(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (gone_url, gone_seen, script) = receiver().await;
    script.lock().unwrap().push_back((410, None));
    let (ops_url, ops_seen, _) = receiver().await;
    let gone = destination(&server, "Gone", &gone_url, json!({})).await;
    let ops = destination(&server, "Ops", &ops_url, json!({})).await;
    route(&server, &gone, json!(["*"])).await;
    route(&server, &gone, json!(["courier.*"])).await;
    route(&server, &ops, json!(["courier.*"])).await;

    let (status, body) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "courier.destination.disabled", "payload": {}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["details"][0]["path"], "/type");

    let (status, accepted) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "order.created", "payload": {"id": 7}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    eventually("both operational events at the second receiver", || {
        has(&ops_seen, "courier.destination.disabled") && has(&ops_seen, "courier.delivery.failed")
    })
    .await;
    let got = notices(&ops_seen);
    let (_, disabled) = got
        .iter()
        .find(|(t, _)| t == "courier.destination.disabled")
        .unwrap();
    assert_eq!(disabled["destination"]["id"], gone);
    assert_eq!(disabled["destination"]["name"], "Gone");
    assert_eq!(disabled["destination"]["type"], "webhook");
    assert_eq!(disabled["status"], "disabled");
    assert!(
        disabled["reason"].as_str().unwrap().contains("410"),
        "{disabled}"
    );
    let (_, failed) = got
        .iter()
        .find(|(t, _)| t == "courier.delivery.failed")
        .unwrap();
    assert_eq!(failed["event_id"], accepted["id"]);
    assert_eq!(failed["event_type"], "order.created");
    assert_eq!(failed["attempts"], 1);
    assert_eq!(failed["error"]["kind"], "rejected", "{failed}");
    // Signed like any webhook delivery.
    assert!(
        ops_seen
            .lock()
            .unwrap()
            .iter()
            .all(|(h, _)| h.contains_key("webhook-signature"))
    );
    // The events are the workspace's, listed like any other.
    let (_, events) = server
        .call(
            Method::GET,
            &server.path("/events?event_type=courier.destination.disabled"),
            None,
        )
        .await;
    assert_eq!(events["data"].as_array().unwrap().len(), 1, "{events}");
    // The disabled destination got only the event it failed: nothing about itself, and its
    // `*` route takes no operational event.
    assert_eq!(gone_seen.lock().unwrap().len(), 1);
}

async fn failing_then_recovered(backend: Backend) {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = support::config(dir.path(), &backend);
    // The lane reads the failing clock at most every 10 s: the second read, ~10 s in, is past
    // half of 16 s.
    config.disable_after_failing_ms = 16_000;
    let server = TestServer::start_with(config, dir).await;
    let (flaky_url, _, script) = receiver().await;
    script.lock().unwrap().extend([(503, None); 200]);
    let (ops_url, ops_seen, _) = receiver().await;
    let flaky = destination(&server, "Flaky", &flaky_url, json!({})).await;
    let ops = destination(&server, "Ops", &ops_url, json!({})).await;
    route(&server, &flaky, json!(["order.*"])).await;
    route(&server, &ops, json!(["courier.destination.*"])).await;
    let (status, _) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "order.created", "payload": {"id": 8}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !has(&ops_seen, "courier.destination.failing") {
        assert!(std::time::Instant::now() < deadline, "no failing event");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (_, failing) = notices(&ops_seen)
        .into_iter()
        .find(|(t, _)| t == "courier.destination.failing")
        .unwrap();
    assert_eq!(failing["destination"]["id"], flaky);
    assert_eq!(failing["percent_of_disable_threshold"], 50, "{failing}");
    // The endpoint comes back: the next attempt delivers, and the workspace hears of it.
    script.lock().unwrap().clear();
    eventually("the recovered event", || {
        has(&ops_seen, "courier.destination.recovered")
    })
    .await;
}

on_both_stores!(
    a_410_tells_the_workspace_through_its_courier_routes,
    failing_then_recovered
);

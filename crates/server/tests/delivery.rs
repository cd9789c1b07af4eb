//! Event delivery end to end on loopback: events in through the API, routed and mapped, out to a
//! real webhook receiver that can be told to fail; retries, Retry-After, dead letters and
//! replay, 410 disabling a destination, idempotency, and the attempt log. On SQLite and on
//! PostgreSQL.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::receiver::receiver;
use support::{Backend, TestServer, eventually};

/// A webhook destination with fast retries, and a route of `types` to it with `mapping`.
async fn destination_and_route(
    server: &TestServer,
    url: &str,
    types: Value,
    mapping: Value,
    policy: Value,
) -> (String, String) {
    let mut body = json!({
        "name": "Receiver",
        "destination_type": "webhook",
        "config": {"url": url, "allow_private_network": true},
        "retry_intervals": [50],
        "retry_max_attempts": 4,
        "timeout_ms": 3000,
        "circuit_breaker_enabled": false,
    });
    for (k, v) in policy.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (status, d) = server
        .call(Method::POST, &server.path("/destinations"), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let dest = d["id"].as_str().unwrap().to_string();
    let (status, r) = server
        .call(
            Method::POST,
            &server.path("/routes"),
            Some(json!({"name": "Orders", "destination_id": dest, "event_types": types, "field_mapping": mapping})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    (dest, r["id"].as_str().unwrap().to_string())
}

async fn delivery_of(server: &TestServer, destination: &str) -> Value {
    let (_, list) = server
        .call(
            Method::GET,
            &server.path(&format!("/deliveries?destination_id={destination}")),
            None,
        )
        .await;
    let id = list["data"][0]["id"]
        .as_str()
        .expect("a delivery")
        .to_string();
    server
        .call(
            Method::GET,
            &server.path(&format!("/deliveries/{id}")),
            None,
        )
        .await
        .1
}

async fn wait_status(server: &TestServer, destination: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d = delivery_of(server, destination).await;
        if d["status"] == status {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "delivery never became {status}: {d}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The workspace's deliveries (up to 500) once every one has ended, delivered or failed: no
/// attempt is left that could still send anything.
async fn once_all_ended(server: &TestServer) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, listed) = server
            .call(Method::GET, &server.path("/deliveries?limit=500"), None)
            .await;
        let all = listed["data"].as_array().expect("deliveries").clone();
        if !all.is_empty()
            && all
                .iter()
                .all(|d| d["status"] == "delivered" || d["status"] == "failed")
        {
            return all;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries never all ended; by status: {:?}",
            by_status(&all)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many of `deliveries` are in each status.
fn by_status(deliveries: &[Value]) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for d in deliveries {
        *counts
            .entry(d["status"].as_str().unwrap_or("?").to_string())
            .or_insert(0) += 1;
    }
    counts
}

async fn mapped_events_reach_the_receiver_exactly(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (url, seen, _) = receiver().await;
    let mapping = json!([
        {"source": "customer.email", "target": "email"},
        {"target": "source", "value": "courier"},
        {"source": "internal", "drop": true},
    ]);
    let (dest, _) =
        destination_and_route(&server, &url, json!(["order.*"]), mapping, json!({})).await;
    let (status, accepted) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "order.created", "payload": {"id": 7, "customer": {"email": "a@x.io"}, "internal": "x"}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["deliveries"], 1);
    let (status, other) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "user.created", "payload": {}})),
        )
        .await;
    assert_eq!(
        (status, other["deliveries"].clone()),
        (StatusCode::ACCEPTED, json!(0))
    );
    eventually("the webhook", || seen.lock().unwrap().len() == 1).await;
    let (headers, body) = seen.lock().unwrap()[0].clone();
    assert_eq!(
        body,
        json!({"id": 7, "email": "a@x.io", "source": "courier"})
    );
    let delivery = wait_status(&server, &dest, "delivered").await;
    assert_eq!(
        headers["webhook-id"].to_str().unwrap(),
        delivery["id"].as_str().unwrap()
    );
    assert_eq!(delivery["event_id"], accepted["id"]);
    // The receiver is told which event it got, apart from the mapped body.
    assert_eq!(headers["courier-event-type"], "order.created");
    assert_eq!(
        headers["courier-event-id"].to_str().unwrap(),
        accepted["id"].as_str().unwrap()
    );
    assert_eq!(delivery["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(delivery["attempts"][0]["outcome"], "delivered");
    // Statistics are gathered in memory and written at least every 200 ms (docs/engine.md),
    // so they may trail the delivery's own row by a cycle.
    let d = destination_once(&server, &dest, |d| !d["last_delivery_status"].is_null()).await;
    assert_eq!(
        (
            d["event_count"].clone(),
            d["last_delivery_status"].clone(),
            d["failed_count"].clone(),
            d["failing_since"].clone()
        ),
        (json!(1), json!("delivered"), json!(0), Value::Null)
    );
    assert!(d["last_delivery_at"].is_string());
    let metrics = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line =
        format!("courier_deliveries_total{{destination_id=\"{dest}\",outcome=\"delivered\"}} 1");
    assert!(metrics.contains(&line), "{line} not in {metrics}");
    assert!(
        metrics.contains("courier_delivery_attempt_seconds_bucket"),
        "{metrics}"
    );
}

async fn a_repeated_idempotency_key_delivers_once(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (url, seen, _) = receiver().await;
    destination_and_route(&server, &url, json!(["*"]), json!([]), json!({})).await;
    let event = json!({"type": "order.paid", "payload": {"n": 1}, "idempotency_key": "k-1"});
    let (_, first) = server
        .call(Method::POST, &server.path("/events"), Some(event.clone()))
        .await;
    let (_, again) = server
        .call(Method::POST, &server.path("/events"), Some(event))
        .await;
    assert_eq!(first["id"], again["id"]);
    assert_eq!(
        (first["duplicate"].clone(), again["duplicate"].clone()),
        (json!(false), json!(true))
    );
    // The same body with its keys in another order is the same event.
    let reordered = r#"{"payload": {"n": 1}, "idempotency_key": "k-1", "type": "order.paid"}"#;
    let (status, same, _) = server
        .raw(
            Method::POST,
            &server.path("/events"),
            "application/json",
            reordered,
        )
        .await;
    assert_eq!(
        (status, same["id"].clone()),
        (StatusCode::ACCEPTED, first["id"].clone())
    );
    // The key with another payload is refused, naming the first event; nothing is stored.
    let (status, conflict) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "order.paid", "payload": {"n": 2}, "idempotency_key": "k-1"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    assert_eq!(conflict["error"]["code"], "idempotency_conflict");
    assert!(
        conflict["error"]["message"]
            .as_str()
            .unwrap()
            .contains(first["id"].as_str().unwrap()),
        "{conflict}"
    );
    // In a batch, the conflicting event is marked and not stored; the others are.
    let (status, batch) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"events": [
                {"type": "order.paid", "payload": {"n": 3}, "idempotency_key": "k-1"},
                {"type": "order.paid", "payload": {"n": 1}, "idempotency_key": "k-1"},
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{batch}");
    assert_eq!(batch["events"][0]["idempotency_conflict"], true, "{batch}");
    assert_eq!(batch["events"][1]["duplicate"], true, "{batch}");
    assert!(
        batch["events"][1].get("idempotency_conflict").is_none(),
        "{batch}"
    );
    let (status, batch) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(
                json!({"events": [{"type": "a.b", "payload": 1}, {"type": "a.c", "payload": [2]}]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{batch}");
    assert_eq!(batch["ids"].as_array().unwrap().len(), 2);
    // A key beside `events` is named by its JSON pointer, `/` and `~` escaped.
    let (status, refused) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"events": [{"type": "a.b", "payload": 1}], "a/b~": true})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(refused.to_string().contains("\"/a~1b~0\""), "{refused}");
    eventually("three deliveries", || seen.lock().unwrap().len() == 3).await;
    // The store is the truth: three deliveries (the repeated key made none of its own), every
    // one delivered, so no further attempt can send anything.
    let deliveries = once_all_ended(&server).await;
    assert_eq!(
        by_status(&deliveries),
        [("delivered".to_string(), 3)].into(),
        "{deliveries:?}"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        3,
        "no second delivery for the repeated key"
    );
}

async fn failures_are_retried_honouring_retry_after_then_delivered(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (url, seen, script) = receiver().await;
    script
        .lock()
        .unwrap()
        .extend([(500, None), (429, Some("1"))]);
    let (dest, _) = destination_and_route(&server, &url, json!(["*"]), json!([]), json!({})).await;
    server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "x", "payload": {"a": 1}})),
        )
        .await;
    let delivery = wait_status(&server, &dest, "delivered").await;
    let attempts = delivery["attempts"].as_array().unwrap();
    let outcomes: Vec<(&str, Option<i64>)> = attempts
        .iter()
        .map(|a| (a["outcome"].as_str().unwrap(), a["http_status"].as_i64()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("failed", Some(500)),
            ("failed", Some(429)),
            ("delivered", Some(204))
        ],
        "{delivery}"
    );
    assert_eq!(attempts[1]["error_kind"], "rate_limited");
    let at = |i: usize| {
        time::OffsetDateTime::parse(
            attempts[i]["started_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    assert!(
        at(2) - at(1) >= time::Duration::milliseconds(900),
        "Retry-After: 1 was honoured"
    );
    let ids: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(h, _)| h["webhook-id"].to_str().unwrap().to_string())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "one webhook-id across attempts: {ids:?}"
    );
}

/// The destination once `ready` holds of it (statistics trail deliveries by a write cycle),
/// or as it is after 5 s.
async fn destination_once(
    server: &TestServer,
    dest: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, d) = server
            .call(
                Method::GET,
                &server.path(&format!("/destinations/{dest}")),
                None,
            )
            .await;
        if ready(&d) || Instant::now() >= deadline {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn dead_letters_are_kept_and_replayable(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (url, seen, script) = receiver().await;
    script.lock().unwrap().extend([(503, None), (503, None)]);
    let (dest, _) = destination_and_route(
        &server,
        &url,
        json!(["*"]),
        json!([]),
        json!({"retry_max_attempts": 2}),
    )
    .await;
    server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "x", "payload": {"a": 1}})),
        )
        .await;
    let failed = wait_status(&server, &dest, "failed").await;
    assert_eq!(failed["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(failed["attempt_count"], 2, "{failed}");
    assert!(failed["last_error"].as_str().is_some());
    assert_eq!(
        failed["next_attempt_at"],
        Value::Null,
        "an ended delivery is due never"
    );
    let (_, listed) = server
        .call(Method::GET, &server.path("/deliveries?status=failed"), None)
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["data"][0]["attempt_count"], 2, "{listed}");
    assert!(listed["data"][0].get("attempts").is_none(), "{listed}");
    // The destination counts the failed delivery and knows since when it fails.
    let d = destination_once(&server, &dest, |d| d["failed_count"] == 1).await;
    assert_eq!(d["failed_count"], 1, "{d}");
    assert!(d["failing_since"].is_string(), "{d}");
    let id = failed["id"].as_str().unwrap();
    let (status, _) = server
        .call(
            Method::POST,
            &server.path(&format!("/deliveries/{id}/retry")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let delivered = wait_status(&server, &dest, "delivered").await;
    assert_eq!(
        delivered["attempts"].as_array().unwrap().len(),
        3,
        "the log keeps every attempt"
    );
    assert_eq!(
        delivered["attempt_count"], 3,
        "retries count on: {delivered}"
    );
    // A success ends the failing spell; the count of failed deliveries stays.
    let d = destination_once(&server, &dest, |d| d["failing_since"].is_null()).await;
    assert_eq!(d["failed_count"], 1, "{d}");
    assert_eq!(
        delivered["last_error"],
        Value::Null,
        "delivered: {delivered}"
    );
    assert_eq!(delivered["next_attempt_at"], Value::Null);
    let (_, listed) = server
        .call(
            Method::GET,
            &server.path("/deliveries?status=delivered"),
            None,
        )
        .await;
    assert_eq!(listed["data"][0]["attempt_count"], 3, "{listed}");
    assert_eq!(seen.lock().unwrap().len(), 3);
    let (_, replayed) = server
        .call(
            Method::POST,
            &server.path("/deliveries/replay"),
            Some(json!({"destination_id": dest, "status": "delivered"})),
        )
        .await;
    assert_eq!(replayed["queued"], 1);
    eventually("the replay", || seen.lock().unwrap().len() == 4).await;
}

async fn a_410_disables_the_destination(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (url, _, script) = receiver().await;
    script.lock().unwrap().push_back((410, None));
    let (dest, _) = destination_and_route(&server, &url, json!(["*"]), json!([]), json!({})).await;
    server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "x", "payload": {}})),
        )
        .await;
    let failed = wait_status(&server, &dest, "failed").await;
    assert_eq!(
        failed["attempts"].as_array().unwrap().len(),
        1,
        "410 is not retried"
    );
    let (_, d) = server
        .call(
            Method::GET,
            &server.path(&format!("/destinations/{dest}")),
            None,
        )
        .await;
    assert_eq!(
        (d["status"].clone(), d["is_active"].clone()),
        (json!("disabled"), json!(false)),
        "{d}"
    );
    assert!(d["status_error"].as_str().unwrap().contains("410"));

    // Re-activating it clears the status, and deliveries flow again.
    let (status, d) = server
        .call(
            Method::PATCH,
            &server.path(&format!("/destinations/{dest}")),
            Some(json!({"is_active": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(
        (d["status"].clone(), d["status_error"].clone()),
        (json!("pending"), json!("")),
        "{d}"
    );
    let (_, accepted) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "y", "payload": {}})),
        )
        .await;
    let id = accepted["id"].clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d = delivery_of(&server, &dest).await;
        if d["event_id"] == id && d["status"] == "delivered" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not delivered after re-activation: {d}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_late_410_does_not_disable_a_destination_fixed_meanwhile(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (old_url, old_seen, script) = receiver().await;
    script.lock().unwrap().push_back((2, None));
    let (new_url, new_seen, _) = receiver().await;
    let (dest, _) =
        destination_and_route(&server, &old_url, json!(["*"]), json!([]), json!({})).await;
    server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "x", "payload": {}})),
        )
        .await;
    eventually("the slow attempt", || old_seen.lock().unwrap().len() == 1).await;
    // While the old endpoint takes its time to say 410, the destination is moved.
    let (status, d) = server
        .call(
            Method::PATCH,
            &server.path(&format!("/destinations/{dest}")),
            Some(json!({"config": {"url": new_url}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{d}");
    wait_status(&server, &dest, "failed").await;
    let (_, d) = server
        .call(
            Method::GET,
            &server.path(&format!("/destinations/{dest}")),
            None,
        )
        .await;
    assert_eq!(d["is_active"], true, "{d}");
    assert_ne!(d["status"], "disabled", "{d}");
    server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "y", "payload": {}})),
        )
        .await;
    eventually("delivery to the new endpoint", || {
        new_seen.lock().unwrap().len() == 1
    })
    .await;
}

async fn routes_are_validated_and_protect_their_destination(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (url, _, _) = receiver().await;
    let (dest, route) =
        destination_and_route(&server, &url, json!(["order.*"]), json!([]), json!({})).await;
    let (status, body) = server
        .call(
            Method::POST,
            &server.path("/routes"),
            Some(json!({"destination_id": "nope", "event_types": ["bad type", "ok.*"], "field_mapping": [{"source": "a"}], "colour": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let paths: Vec<&str> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    for p in [
        "/name",
        "/event_types/0",
        "/field_mapping/0/target",
        "/destination_id",
        "/colour",
    ] {
        assert!(paths.contains(&p), "{p} not in {paths:?}");
    }
    let (status, body) = server
        .call(
            Method::DELETE,
            &server.path(&format!("/destinations/{dest}")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"]["message"].as_str().unwrap().contains(&route),
        "{body}"
    );
    let (_, list) = server
        .call(
            Method::GET,
            &server.path("/destinations?include=route_usages"),
            None,
        )
        .await;
    assert_eq!(list["data"][0]["route_usages"]["count"], 1);
    assert_eq!(
        list["data"][0]["route_usages"]["routes"][0]["id"],
        json!(route)
    );
    // One destination read with its routes, as a delete dialog asks; without it, none.
    let (_, one) = server
        .call(
            Method::GET,
            &server.path(&format!("/destinations/{dest}?include=route_usages")),
            None,
        )
        .await;
    assert_eq!(
        one["route_usages"]["routes"][0]["id"],
        json!(route),
        "{one}"
    );
    assert_eq!(one["route_usages"]["routes"][0]["is_active"], true, "{one}");
    let (_, plain) = server
        .call(
            Method::GET,
            &server.path(&format!("/destinations/{dest}")),
            None,
        )
        .await;
    assert!(plain.get("route_usages").is_none(), "{plain}");
    let (status, _) = server
        .call(
            Method::DELETE,
            &server.path(&format!("/routes/{route}")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server
        .call(
            Method::DELETE,
            &server.path(&format!("/destinations/{dest}")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

/// Rows in `table` (read beside the server).
async fn rows(server: &TestServer, table: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&server.database_url).await.unwrap();
    let n = sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

async fn history_past_retention_is_pruned_but_live_deliveries_stay(backend: Backend) {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = support::config(dir.path(), &backend);
    // Half a second: the job runs every 250 ms.
    config.retention_days = 0.5 / 86_400.0;
    let server = TestServer::start_with(config, dir).await;
    let (url, seen, _) = receiver().await;
    let (fine, _) =
        destination_and_route(&server, &url, json!(["fine.*"]), json!([]), json!({})).await;
    // A destination that never answers: its delivery keeps retrying, so it stays live.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (status, d) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(json!({
                "name": "Stuck",
                "destination_type": "webhook",
                "config": {"url": format!("http://{closed}/x"), "allow_private_network": true},
                "retry_intervals": [600000],
                "retry_max_attempts": 10,
                "circuit_breaker_enabled": false,
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let stuck = d["id"].as_str().unwrap().to_string();
    let (status, r) = server
        .call(
            Method::POST,
            &server.path("/routes"),
            Some(json!({"name": "Stuck", "destination_id": stuck, "event_types": ["stuck.*"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    for kind in ["fine.a", "fine.b", "fine.c", "stuck.a", "nowhere.a"] {
        let (status, body) = server
            .call(
                Method::POST,
                &server.path("/events"),
                Some(json!({"type": kind, "payload": {"kind": kind}})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    eventually("the deliveries", || seen.lock().unwrap().len() == 3).await;
    wait_status(&server, &stuck, "retry_scheduled").await;
    // The three delivered ones, their attempts and events go, and so does the event no route
    // took; the retrying delivery keeps itself, its attempt and its event.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let counts = (
            rows(&server, "deliveries").await,
            rows(&server, "attempts").await,
            rows(&server, "events").await,
        );
        if counts == (1, 1, 1) {
            break;
        }
        assert!(Instant::now() < deadline, "not pruned: {counts:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, list) = server
        .call(
            Method::GET,
            &server.path(&format!("/deliveries?destination_id={fine}")),
            None,
        )
        .await;
    assert_eq!(list["data"], json!([]), "{list}");
    let kept = delivery_of(&server, &stuck).await;
    assert_eq!(kept["status"], "retry_scheduled", "{kept}");
    assert_eq!(kept["payload"], json!({"kind": "stuck.a"}), "{kept}");
}

/// Runs `sql` on the server's database beside it (to damage what it stored).
async fn write_beside(server: &TestServer, sql: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&server.database_url).await.unwrap();
    sqlx::query(sql).execute(&pool).await.unwrap();
    pool.close().await;
}

async fn unreadable_mappings_and_policies_hold_deliveries(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (url, seen, _) = receiver().await;
    let (dest, route) = destination_and_route(
        &server,
        &url,
        json!(["user.*"]),
        json!([{"source": "password", "drop": true}]),
        json!({}),
    )
    .await;
    // A mapping that no longer parses must not let the event out unmapped.
    write_beside(
        &server,
        &format!(
            "UPDATE routes SET field_mapping = '[{{\"source\":\"password\",\"drop\":\"yes\"}}]' WHERE id = '{route}'"
        ),
    )
    .await;
    let (status, body) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "user.created", "payload": {"id": 1, "password": "pw"}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let failed = wait_status(&server, &dest, "failed").await;
    assert!(
        failed["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("field_mapping")),
        "{failed}"
    );
    assert!(seen.lock().unwrap().is_empty(), "delivered unmapped");

    // A policy this server cannot read holds the delivery instead of sending it under defaults.
    let (url2, seen2, _) = receiver().await;
    let (status, d) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(json!({"name": "Held", "destination_type": "webhook",
                "config": {"url": url2, "allow_private_network": true}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let held = d["id"].as_str().unwrap().to_string();
    let (status, r) = server
        .call(
            Method::POST,
            &server.path("/routes"),
            Some(json!({"name": "Held", "destination_id": held, "event_types": ["held.*"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    write_beside(
        &server,
        &format!(
            "UPDATE destinations SET policy = '{{\"retry_max_attempts\":1,\"a_future_field\":true}}' WHERE id = '{held}'"
        ),
    )
    .await;
    let (status, _) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "held.x", "payload": {}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // The engine settles the delivery either way: it holds it and says why (`waiting_reason`),
    // or it attempts it (an attempt, a request at the receiver).
    let deadline = Instant::now() + Duration::from_secs(20);
    let waiting = loop {
        let d = delivery_of(&server, &held).await;
        if d["waiting_reason"].is_string()
            || d["attempt_count"] != 0
            || !seen2.lock().unwrap().is_empty()
        {
            break d;
        }
        assert!(
            Instant::now() < deadline,
            "the delivery was never held: {d}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        seen2.lock().unwrap().is_empty(),
        "sent under default policy"
    );
    assert!(
        ["pending", "in_flight"].contains(&waiting["status"].as_str().unwrap()),
        "{waiting}"
    );
    assert!(
        waiting["waiting_reason"]
            .as_str()
            .is_some_and(|r| r.contains("stored delivery policy"))
            && waiting["attempt_count"] == 0
            && waiting["held_by"] == "policy_unreadable",
        "held without an attempt, saying why: {waiting}"
    );
    assert!(
        server
            .logs
            .text()
            .contains("delivery policy cannot be read"),
        "the operator is told why"
    );
}

async fn batches_with_the_same_keys_in_opposite_orders_never_deadlock(backend: Backend) {
    let server = Arc::new(TestServer::start(&backend).await);
    let (url, _, _) = receiver().await;
    destination_and_route(&server, &url, json!(["*"]), json!([]), json!({})).await;
    for round in 0..8 {
        let keys: Vec<String> = (0..100).map(|i| format!("r{round}-k{i}")).collect();
        let batch = |keys: Vec<String>| {
            let server = server.clone();
            tokio::spawn(async move {
                let events: Vec<Value> = keys
                    .iter()
                    .map(|k| json!({"type": "t", "payload": {}, "idempotency_key": k}))
                    .collect();
                server
                    .call(
                        Method::POST,
                        &server.path("/events"),
                        Some(json!({"events": events})),
                    )
                    .await
            })
        };
        let mut reversed = keys.clone();
        reversed.reverse();
        let (a, b) = (batch(keys.clone()), batch(reversed));
        let ((sa, ba), (sb, bb)) = (a.await.unwrap(), b.await.unwrap());
        assert_eq!(
            (sa, sb),
            (StatusCode::ACCEPTED, StatusCode::ACCEPTED),
            "{} {}",
            ba["error"],
            bb["error"]
        );
        // Each key names one event, whichever batch stored it.
        let forward = ba["ids"].as_array().unwrap();
        let backward: Vec<&Value> = bb["ids"].as_array().unwrap().iter().rev().collect();
        for (i, id) in forward.iter().enumerate() {
            assert_eq!(id, backward[i], "key {}", keys[i]);
        }
    }
    assert!(
        !server.logs.text().contains("deadlock"),
        "a deadlock was detected"
    );
}

on_both_stores!(
    batches_with_the_same_keys_in_opposite_orders_never_deadlock,
    a_late_410_does_not_disable_a_destination_fixed_meanwhile,
    unreadable_mappings_and_policies_hold_deliveries,
    history_past_retention_is_pruned_but_live_deliveries_stay,
    mapped_events_reach_the_receiver_exactly,
    a_repeated_idempotency_key_delivers_once,
    failures_are_retried_honouring_retry_after_then_delivered,
    dead_letters_are_kept_and_replayable,
    a_410_disables_the_destination,
    routes_are_validated_and_protect_their_destination,
    timeouts_and_connection_resets_are_retried,
    the_circuit_breaker_opens_half_opens_and_closes,
    a_destination_failing_for_too_long_is_disabled,
    intake_and_delivery_progress_together,
);

/// Single events posted from several clients at once are delivered while intake goes on: by the
/// time the last event is posted, the first half of them have arrived (a worker starved by
/// intake would deliver them only once it stops).
async fn intake_and_delivery_progress_together(backend: Backend) {
    const CLIENTS: usize = 8;
    const EVENTS: usize = 800;
    let server = Arc::new(TestServer::start(&backend).await);
    let (url, seen, _) = receiver().await;
    destination_and_route(
        &server,
        &url,
        json!(["*"]),
        json!([]),
        json!({"max_concurrency": 16}),
    )
    .await;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // What had arrived when each event was posted.
    let arrived_at_post: Arc<Mutex<Vec<usize>>> = Arc::new(Mutex::new(vec![0; EVENTS]));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (server, next, seen, arrived_at_post) = (
                server.clone(),
                next.clone(),
                seen.clone(),
                arrived_at_post.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if n >= EVENTS {
                        return;
                    }
                    arrived_at_post.lock().unwrap()[n] = seen.lock().unwrap().len();
                    let (status, body) = server
                        .call(
                            Method::POST,
                            &server.path("/events"),
                            Some(json!({"type": "order.created", "payload": {"n": n}})),
                        )
                        .await;
                    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
    let at_last_post = *arrived_at_post.lock().unwrap().iter().max().unwrap();
    assert!(
        at_last_post >= EVENTS / 2,
        "only {at_last_post} of {EVENTS} events had arrived when the last one was posted"
    );
    eventually("every event", || seen.lock().unwrap().len() >= EVENTS).await;
    let mut numbers: Vec<u64> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, body)| body["n"].as_u64().unwrap())
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), EVENTS, "each event delivered");
}

/// A server that drops the first `resets` connections without answering, then answers 204.
async fn resetting_receiver(resets: usize) -> (String, Arc<Mutex<usize>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let answered = Arc::new(Mutex::new(0usize));
    let count = answered.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut seen = 0;
        while let Ok((mut socket, _)) = listener.accept().await {
            seen += 1;
            if seen <= resets {
                // Closed before any answer: the client sees the connection drop mid-request.
                drop(socket);
                continue;
            }
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                while let Ok(n) = socket.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    *count.lock().unwrap() += 1;
                    let _ = socket
                        .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                        .await;
                }
            });
        }
    });
    (url, answered)
}

async fn timeouts_and_connection_resets_are_retried(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (url, _, script) = receiver().await;
    script.lock().unwrap().push_back((1, None));
    let (dest, _) = destination_and_route(
        &server,
        &url,
        json!(["slow"]),
        json!([]),
        json!({"timeout_ms": 300}),
    )
    .await;
    server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "slow", "payload": {}})),
        )
        .await;
    let delivered = wait_status(&server, &dest, "delivered").await;
    let attempts = delivered["attempts"].as_array().unwrap();
    assert_eq!(attempts[0]["error_kind"], "timeout", "{delivered}");
    assert_eq!(attempts.len(), 2);

    let (reset_url, answered) = resetting_receiver(2).await;
    let mut body = json!({"name": "Resets", "destination_type": "webhook",
        "config": {"url": reset_url, "allow_private_network": true},
        "retry_intervals": [20], "retry_max_attempts": 5, "circuit_breaker_enabled": false});
    let (_, d) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(body.take()),
        )
        .await;
    let reset_dest = d["id"].as_str().unwrap().to_string();
    server
        .call(
            Method::POST,
            &server.path("/routes"),
            Some(json!({"name": "R", "destination_id": reset_dest, "event_types": ["reset"]})),
        )
        .await;
    server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "reset", "payload": {}})),
        )
        .await;
    let delivered = wait_status(&server, &reset_dest, "delivered").await;
    let attempts = delivered["attempts"].as_array().unwrap();
    assert!(attempts.len() >= 2, "{delivered}");
    assert!(
        attempts[..attempts.len() - 1]
            .iter()
            .all(|a| a["error_kind"] == "unavailable"),
        "{delivered}"
    );
    assert_eq!(*answered.lock().unwrap(), 1);
}

async fn the_circuit_breaker_opens_half_opens_and_closes(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (url, seen, script) = receiver().await;
    script.lock().unwrap().extend([(500, None), (500, None)]);
    let policy = json!({"circuit_breaker_enabled": true, "circuit_breaker_threshold": 2,
                        "circuit_breaker_reset_ms": 3000, "retry_intervals": [10], "retry_max_attempts": 10});
    let (dest, _) = destination_and_route(&server, &url, json!(["*"]), json!([]), policy).await;
    server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "x", "payload": {"n": 1}})),
        )
        .await;
    // While the circuit is open the delivery waits, and says why and until when.
    let deadline = Instant::now() + Duration::from_secs(10);
    let waiting = loop {
        let d = delivery_of(&server, &dest).await;
        if d["waiting_reason"].is_string() {
            break d;
        }
        assert!(Instant::now() < deadline, "never shown waiting: {d}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        waiting["waiting_reason"]
            .as_str()
            .unwrap()
            .contains("circuit breaker is open"),
        "{waiting}"
    );
    assert_eq!(waiting["held_by"], "circuit_open", "{waiting}");
    let due = time::OffsetDateTime::parse(
        waiting["next_attempt_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(
        due > time::OffsetDateTime::now_utc() - time::Duration::seconds(1),
        "{waiting}"
    );
    let delivered = wait_status(&server, &dest, "delivered").await;
    assert_eq!(delivered["waiting_reason"], Value::Null, "{delivered}");
    let attempts = delivered["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "{delivered}");
    let at = |i: usize| {
        time::OffsetDateTime::parse(
            attempts[i]["started_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    assert!(
        at(1) - at(0) < time::Duration::milliseconds(2500),
        "a closed circuit retries on the schedule"
    );
    assert!(
        at(2) - at(1) >= time::Duration::milliseconds(2900),
        "the open circuit held the probe back for its reset time"
    );
    // The probe succeeded, so the circuit is closed: the next event goes at once.
    let before = seen.lock().unwrap().len();
    let sent = Instant::now();
    server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "x", "payload": {"n": 2}})),
        )
        .await;
    eventually("the next event", || {
        seen.lock().unwrap().len() == before + 1
    })
    .await;
    // Well under the 3 s an open circuit would hold it back.
    assert!(
        sent.elapsed() < Duration::from_millis(2500),
        "{:?}",
        sent.elapsed()
    );
}

async fn a_destination_failing_for_too_long_is_disabled(backend: Backend) {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = support::config(dir.path(), &backend);
    config.disable_after_failing_ms = 1;
    let server = TestServer::start_with(config, dir).await;
    let (url, _, script) = receiver().await;
    script.lock().unwrap().extend([(503, None); 10]);
    let (dest, _) = destination_and_route(&server, &url, json!(["*"]), json!([]), json!({})).await;
    server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "x", "payload": {}})),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, d) = server
            .call(
                Method::GET,
                &server.path(&format!("/destinations/{dest}")),
                None,
            )
            .await;
        if d["status"] == "disabled" {
            assert!(
                d["status_error"]
                    .as_str()
                    .unwrap()
                    .starts_with("no successful delivery"),
                "{d}"
            );
            assert_eq!(d["is_active"], false);
            break;
        }
        assert!(Instant::now() < deadline, "never disabled: {d}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two replicas on one Postgres database share the queue: every event is delivered, and none
/// twice (each claim is taken under `FOR UPDATE SKIP LOCKED` and a lease).
#[tokio::test]
async fn two_replicas_on_one_postgres_deliver_each_event_once() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    // Replicas share the database and the encryption key; a replica with another key refuses
    // to start.
    let replica = || support::replica(&backend);
    let (config, dir) = replica();
    let a = TestServer::start_with(config, dir).await;
    let (config, dir) = replica();
    let b = TestServer::start_with(config, dir).await;
    let (mut config, _dir) = replica();
    config.encryption_key = None;
    let refused = courier_server::Server::bind(config, courier_catalog::Catalog::builtin())
        .await
        .unwrap_err();
    assert!(
        format!("{refused:#}").contains("COURIER_ENCRYPTION_KEY"),
        "{refused:#}"
    );
    let (url, seen, _) = receiver().await;
    destination_and_route(&a, &url, json!(["*"]), json!([]), json!({})).await;
    let events: Vec<Value> = (0..400)
        .map(|i| json!({"type": "load.test", "payload": {"i": i}}))
        .collect();
    for (server, chunk) in [(&a, &events[..200]), (&b, &events[200..])] {
        let (status, _) = server
            .call(
                Method::POST,
                &server.path("/events"),
                Some(json!({"events": chunk})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    // Every delivery ended in the store: neither replica has an attempt left to make.
    let listed = once_all_ended(&a).await;
    let by_status = by_status(&listed);
    assert_eq!(listed.len(), 400, "deliveries by status: {by_status:?}");
    assert!(
        seen.lock().unwrap().len() >= 400,
        "received {} of 400; deliveries by status: {by_status:?}; first: {}",
        seen.lock().unwrap().len(),
        listed[0]
    );
    let ids: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(h, _)| h["webhook-id"].to_str().unwrap().to_string())
        .collect();
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(
        (ids.len(), unique.len()),
        (400, 400),
        "each delivery exactly once"
    );
}

/// Shutting down lets an attempt in flight finish and records it: nothing is lost or left
/// claimed.
#[tokio::test]
async fn shutdown_lets_attempts_in_flight_finish() {
    let server = TestServer::start(&Backend::Sqlite).await;
    let (url, seen, script) = receiver().await;
    script.lock().unwrap().push_back((1, None)); // answers after 1.5 s
    let (dest, _) = destination_and_route(&server, &url, json!(["*"]), json!([]), json!({})).await;
    server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "slow", "payload": {}})),
        )
        .await;
    eventually("the attempt to start", || seen.lock().unwrap().len() == 1).await;
    let database_url = server.database_url.clone();
    let workspace = server.workspace.clone();
    let _dir = server.stop().await;
    let store = courier_server::store::Store::open(&database_url)
        .await
        .unwrap();
    let filter = courier_server::store::DeliveryFilter {
        destination_id: Some(dest.clone()),
        ..Default::default()
    };
    let listed = store
        .deliveries_page(&workspace, &filter, 10)
        .await
        .unwrap();
    assert_eq!(
        listed[0].status,
        courier_server::store::DeliveryStatus::Delivered,
        "{listed:?}"
    );
}

/// A minimal connector whose deliveries fail with `reauth_required`, as an OAuth destination's
/// do once the grant is revoked; or (type `panicky`) whose deliveries panic.
#[derive(Debug, Clone, Copy)]
struct Revoked {
    panics: bool,
}

static PANICKY: courier_core::ConnectorMeta = courier_core::ConnectorMeta {
    type_id: "panicky",
    label: "Panics",
    description: "Panics in every delivery.",
    ..REVOKED_META
};

static REVOKED: courier_core::ConnectorMeta = REVOKED_META;

const REVOKED_META: courier_core::ConnectorMeta = courier_core::ConnectorMeta {
    type_id: "revoked",
    label: "Revoked grant",
    description: "Fails every delivery with reauth_required.",
    category: courier_core::Category::Http,
    capabilities: courier_core::Capabilities {
        max_batch_records: None,
        max_payload_bytes: 1 << 20,
        signing: None,
        oauth: None,
        idempotent_redelivery: true,
        remote_fields: false,
        ambient_credentials: None,
        write_only_config: &[],
    },
    test_steps: &[],
    examples: &[],
    docs_url: None,
};

#[derive(Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct RevokedConfig {}

impl courier_core::ConfigSpec for RevokedConfig {}

#[courier_core::async_trait]
impl courier_core::Connector for Revoked {
    type Config = RevokedConfig;
    type Auth = courier_core::spec::NoAuth;
    type Client = ();

    fn metadata(&self) -> &'static courier_core::ConnectorMeta {
        if self.panics { &PANICKY } else { &REVOKED }
    }

    fn endpoints(&self, _: &Self::Config, _: &Self::Auth) -> Vec<courier_core::Endpoint> {
        Vec::new()
    }

    async fn connect(
        &self,
        _: Self::Config,
        _: Self::Auth,
        _: &courier_core::Env,
    ) -> Result<(), courier_core::ConnectorError> {
        Ok(())
    }

    async fn test(
        &self,
        _: &(),
        _: &mut courier_core::Probe,
    ) -> Result<(), courier_core::ConnectorError> {
        Ok(())
    }

    async fn describe_fields(
        &self,
        _: &(),
    ) -> Result<Vec<courier_core::Field>, courier_core::ConnectorError> {
        Ok(Vec::new())
    }

    async fn deliver(&self, _: &(), batch: &courier_core::Batch) -> courier_core::BatchOutcome {
        assert!(!self.panics, "a connector bug");
        let error = courier_core::ConnectorError::new(
            courier_core::ErrorKind::ReauthRequired,
            "the grant was revoked (invalid_grant)",
            "reconnect the destination",
        );
        courier_core::BatchOutcome::all_failed(batch, &error)
    }
}

#[tokio::test]
async fn a_revoked_grant_puts_the_destination_in_reauth_required() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut catalog = courier_catalog::Catalog::builtin();
    catalog.add(Revoked { panics: false });
    let server =
        TestServer::start_with_catalog(support::config(dir.path(), &Backend::Sqlite), dir, catalog)
            .await;
    let (status, d) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(json!({"name": "Drive", "destination_type": "revoked", "config": {}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let dest = d["id"].as_str().unwrap().to_string();
    server
        .call(
            Method::POST,
            &server.path("/routes"),
            Some(json!({"name": "R", "destination_id": dest, "event_types": ["*"]})),
        )
        .await;
    let post = |n: u32| {
        let server = &server;
        async move {
            server
                .call(
                    Method::POST,
                    &server.path("/events"),
                    Some(json!({"type": "x", "payload": {"n": n}})),
                )
                .await
        }
    };
    post(0).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let failed = loop {
        let (_, failed) = server
            .call(Method::GET, &server.path("/deliveries?status=failed"), None)
            .await;
        if let Some(first) = failed["data"].as_array().and_then(|d| d.first()) {
            break first.clone();
        }
        assert!(Instant::now() < deadline, "no delivery failed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let id = failed["id"].as_str().unwrap();
    let (_, failed) = server
        .call(
            Method::GET,
            &server.path(&format!("/deliveries/{id}")),
            None,
        )
        .await;
    assert_eq!(
        failed["attempts"][0]["error_kind"], "reauth_required",
        "{failed}"
    );
    let (_, d) = server
        .call(
            Method::GET,
            &server.path(&format!("/destinations/{dest}")),
            None,
        )
        .await;
    assert_eq!(d["status"], "reauth_required", "{d}");

    // While reauthorisation is required, a delivery queued afterwards waits instead of
    // failing: the engine holds it and says why (the signal waited on), without an attempt.
    post(1).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let held = loop {
        let (_, pending) = server
            .call(
                Method::GET,
                &server.path("/deliveries?status=pending"),
                None,
            )
            .await;
        let waiting = pending["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["waiting_reason"].is_string())
            .cloned();
        if let Some(held) = waiting {
            break held;
        }
        assert!(
            Instant::now() < deadline,
            "the second delivery was never held: {pending}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        held["waiting_reason"].as_str().unwrap().contains("reauth"),
        "{held}"
    );
    assert_eq!(held["held_by"], "reauth_required", "{held}");
    let (_, failed) = server
        .call(Method::GET, &server.path("/deliveries?status=failed"), None)
        .await;
    assert_eq!(failed["data"].as_array().unwrap().len(), 1, "{failed}");
    let id = held["id"].as_str().unwrap();
    let (_, held) = server
        .call(
            Method::GET,
            &server.path(&format!("/deliveries/{id}")),
            None,
        )
        .await;
    assert_eq!(held["attempts"].as_array().map(Vec::len), Some(0), "{held}");
}

#[tokio::test]
async fn an_attempt_that_panics_counts_as_a_failed_attempt() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut catalog = courier_catalog::Catalog::builtin();
    catalog.add(Revoked { panics: true });
    let mut config = support::config(dir.path(), &Backend::Sqlite);
    config.delivery_lease_ms = 1_000;
    let server = TestServer::start_with_catalog(config, dir, catalog).await;
    let (status, d) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(
                json!({"name": "Buggy", "destination_type": "panicky", "config": {},
                "circuit_breaker_enabled": false}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let dest = d["id"].as_str().unwrap().to_string();
    server
        .call(
            Method::POST,
            &server.path("/routes"),
            Some(json!({"name": "R", "destination_id": dest, "event_types": ["*"]})),
        )
        .await;
    server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "x", "payload": {}})),
        )
        .await;
    let failed = wait_status(&server, &dest, "failed").await;
    let attempts = failed["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{failed}");
    assert_eq!(attempts[0]["error_kind"], "internal", "{failed}");
    assert!(
        attempts[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("panicked")),
        "{failed}"
    );
}

/// Due times are on the database's clock, so replicas whose clocks disagree agree on them.
/// (Run in a process of its own, as nextest runs every test: the skew is process-wide.)
#[tokio::test]
async fn the_queue_runs_on_the_database_clock() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    // This machine's clock runs two minutes ahead.
    courier_server::clock::skew_local_clock_for_tests(120_000);
    let server = TestServer::start(&backend).await;
    let (url, _, script) = receiver().await;
    script.lock().unwrap().push_back((503, None));
    let (dest, _) = destination_and_route(
        &server,
        &url,
        json!(["*"]),
        json!([]),
        json!({"retry_intervals": [5000]}),
    )
    .await;
    server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "x", "payload": {}})),
        )
        .await;
    let scheduled = wait_status(&server, &dest, "retry_scheduled").await;
    let due = time::OffsetDateTime::parse(
        scheduled["next_attempt_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let ahead = (due - time::OffsetDateTime::now_utc()).whole_seconds();
    assert!(
        (-5..=30).contains(&ahead),
        "the retry is due {ahead} s from now by the database's clock (5 s expected, not 125)"
    );
    wait_status(&server, &dest, "delivered").await;
}

/// With the Standard Webhooks envelope a receiver gets `{"type", "timestamp", "data"}`: the
/// event's type, when it was accepted (the event's `created_at`) and the mapped payload.
#[tokio::test]
async fn a_standard_webhooks_envelope_carries_type_and_time() {
    let server = TestServer::start(&Backend::Sqlite).await;
    let (url, seen, _) = receiver().await;
    let (status, d) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(json!({
                "name": "Enveloped",
                "destination_type": "webhook",
                "config": {"url": url, "allow_private_network": true,
                           "envelope": {"format": "standard_webhooks"}},
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let (status, r) = server
        .call(
            Method::POST,
            &server.path("/routes"),
            Some(json!({"name": "All", "destination_id": d["id"], "event_types": ["*"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    let (status, accepted) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "invoice.paid", "payload": {"total": 42}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    eventually("the webhook", || seen.lock().unwrap().len() == 1).await;
    let (_, body) = seen.lock().unwrap()[0].clone();
    let (_, event) = server
        .call(
            Method::GET,
            &server.path(&format!("/events/{}", accepted["id"].as_str().unwrap())),
            None,
        )
        .await;
    assert_eq!(body["type"], "invoice.paid");
    assert_eq!(body["data"], json!({"total": 42}));
    let sent = time::OffsetDateTime::parse(
        body["timestamp"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let created = time::OffsetDateTime::parse(
        event["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(
        (sent - created).abs() < time::Duration::milliseconds(100),
        "timestamp {sent} vs created_at {created}"
    );
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
}

/// Events for a destination created inactive are kept (held, saying why) and can be discarded
/// explicitly: they end failed, name who discarded them, and replay once it is active.
async fn held_deliveries_can_be_discarded_and_replayed(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (url, seen, _) = receiver().await;
    let (status, d) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(json!({
                "name": "Later", "destination_type": "webhook", "is_active": false,
                "config": {"url": url, "allow_private_network": true},
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let dest = d["id"].as_str().unwrap().to_string();
    let (status, r) = server
        .call(
            Method::POST,
            &server.path("/routes"),
            Some(json!({"name": "All", "destination_id": dest, "event_types": ["*"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    let events: Vec<Value> = (0..3)
        .map(|i| json!({"type": "order.created", "payload": {"i": i}}))
        .collect();
    let (status, _) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"events": events})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let path = server.path(&format!("/deliveries?destination_id={dest}"));
    let list = async |server: &TestServer| server.call(Method::GET, &path, None).await.1;
    // Held: waiting, unattempted, saying why.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let l = list(&server).await;
        let data = l["data"].as_array().unwrap();
        if data.len() == 3 && data.iter().all(|d| d["held_by"] == "destination_inactive") {
            break;
        }
        assert!(Instant::now() < deadline, "not held: {l}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, discarded) = server
        .call(
            Method::POST,
            &server.path(&format!("/destinations/{dest}/discard-held")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{discarded}");
    assert_eq!(discarded["discarded"], 3);
    // Counted among the destination's failed deliveries, at once (the same transaction).
    let (_, d) = server
        .call(
            Method::GET,
            &server.path(&format!("/destinations/{dest}")),
            None,
        )
        .await;
    assert_eq!(d["failed_count"], 3, "{d}");
    let l = list(&server).await;
    for d in l["data"].as_array().unwrap() {
        assert_eq!(d["status"], "failed", "{d}");
        assert!(
            d["last_error"].as_str().unwrap().contains("discarded"),
            "{d}"
        );
    }
    // Nothing went out; once active, a replay delivers them.
    assert!(seen.lock().unwrap().is_empty());
    let (status, body) = server
        .call(
            Method::PATCH,
            &server.path(&format!("/destinations/{dest}")),
            Some(json!({"is_active": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, replayed) = server
        .call(
            Method::POST,
            &server.path("/deliveries/replay"),
            Some(json!({"destination_id": dest})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replayed}");
    assert_eq!(replayed["queued"], 3);
    eventually("the replayed deliveries", || {
        seen.lock().unwrap().len() == 3
    })
    .await;
    // An unknown destination is a 404.
    let (status, _) = server
        .call(
            Method::POST,
            &server.path("/destinations/nope/discard-held"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

on_both_stores!(held_deliveries_can_be_discarded_and_replayed);

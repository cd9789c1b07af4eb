//! Ordered lanes and rate limits, end to end on loopback against a receiver that fails some
//! first attempts at random: with `ordering: fifo` each key's deliveries arrive in accept
//! order, never two of a lane at once, across two replicas too; a 20/s limit holds over every
//! one-second window (on one replica and shared by two); a `Retry-After` pauses a limited
//! destination; mistakes in the fields are refused at their paths. On SQLite and PostgreSQL.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode as AxumStatus};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Backend, TestServer, eventually};

/// What the ordered receiver saw.
#[derive(Default)]
struct Lanes {
    /// Deliveries in flight per customer now, and the most ever at once.
    in_flight: HashMap<String, usize>,
    most_in_flight: usize,
    /// Successful deliveries per customer, in arrival order (their `seq`).
    delivered: HashMap<String, Vec<u64>>,
    /// Delivery ids that failed once already.
    failed_once: HashSet<String>,
    failures: usize,
}

/// A receiver of `{customer, seq}` events that fails about a third of first attempts (503),
/// chosen by a seeded generator (the seed is printed).
async fn ordered_receiver(seed: u64) -> (String, Arc<Mutex<Lanes>>) {
    let lanes: Arc<Mutex<Lanes>> = Arc::default();
    let rng = Arc::new(AtomicU64::new(seed | 1));
    let kept = lanes.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: axum::body::Bytes| {
        let (lanes, rng) = (kept.clone(), rng.clone());
        async move {
            let body: Value = serde_json::from_slice(&body).unwrap();
            let customer = body["customer"].as_str().unwrap().to_string();
            let id = headers["webhook-id"].to_str().unwrap().to_string();
            {
                let mut l = lanes.lock().unwrap();
                let now = l.in_flight.entry(customer.clone()).or_default();
                *now += 1;
                let now = *now;
                l.most_in_flight = l.most_in_flight.max(now);
            }
            // Long enough for a second delivery of the lane to overlap, were one started.
            tokio::time::sleep(Duration::from_millis(4)).await;
            let mut l = lanes.lock().unwrap();
            *l.in_flight.get_mut(&customer).unwrap() -= 1;
            // xorshift64
            let mut x = rng.load(Ordering::Relaxed);
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            rng.store(x, Ordering::Relaxed);
            if !l.failed_once.contains(&id) && x % 3 == 0 {
                l.failed_once.insert(id);
                l.failures += 1;
                return AxumStatus::SERVICE_UNAVAILABLE;
            }
            l.delivered
                .entry(customer)
                .or_default()
                .push(body["seq"].as_u64().unwrap());
            AxumStatus::NO_CONTENT
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, lanes)
}

/// A webhook destination with `policy` and a route of every event type to it.
async fn destination(server: &TestServer, url: &str, policy: Value) -> String {
    let mut body = json!({
        "name": "Receiver",
        "destination_type": "webhook",
        "config": {"url": url, "allow_private_network": true},
        "retry_intervals": [30],
        "retry_max_attempts": 10,
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
    let id = d["id"].as_str().unwrap().to_string();
    let (status, r) = server
        .call(
            Method::POST,
            &server.path("/routes"),
            Some(json!({"name": "All", "destination_id": id, "event_types": ["*"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    id
}

async fn post(server: &TestServer, payload: Value) {
    let (status, body) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "order.updated", "payload": payload})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

const CUSTOMERS: usize = 4;
const PER_CUSTOMER: u64 = 15;

/// Posts each customer's events one after another (so their accept order is `seq`), the
/// customers at once, alternating between `servers`; then waits until every event was
/// delivered and checks each lane's order and that no lane had two in flight.
async fn lanes_keep_accept_order(servers: &[&TestServer], lanes: Arc<Mutex<Lanes>>, seed: u64) {
    let mut posting = Vec::new();
    for c in 0..CUSTOMERS {
        let servers: Vec<&TestServer> = servers.to_vec();
        posting.push(async move {
            for seq in 0..PER_CUSTOMER {
                let server = servers[(c + seq as usize) % servers.len()];
                post(server, json!({"customer": format!("c{c}"), "seq": seq})).await;
            }
        });
    }
    futures::future::join_all(posting).await;
    eventually("every event delivered", || {
        let l = lanes.lock().unwrap();
        l.delivered.values().map(Vec::len).sum::<usize>() >= CUSTOMERS * PER_CUSTOMER as usize
    })
    .await;
    let l = lanes.lock().unwrap();
    for c in 0..CUSTOMERS {
        let got = &l.delivered[&format!("c{c}")];
        let want: Vec<u64> = (0..PER_CUSTOMER).collect();
        assert_eq!(
            got, &want,
            "customer c{c} out of accept order (seed {seed})"
        );
    }
    assert_eq!(
        l.most_in_flight, 1,
        "two deliveries of one lane were in flight at once (seed {seed})"
    );
    assert!(l.failures > 0, "no first attempt failed (seed {seed})");
    eprintln!(
        "seed {seed}: {} first attempts failed and were retried in place",
        l.failures
    );
}

fn seed() -> u64 {
    std::env::var("COURIER_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

async fn fifo_lanes_deliver_in_accept_order(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let seed = seed();
    let (url, lanes) = ordered_receiver(seed).await;
    destination(
        &server,
        &url,
        json!({"ordering": "fifo", "ordering_key": "{customer}"}),
    )
    .await;
    lanes_keep_accept_order(&[&server], lanes, seed).await;
}

on_both_stores!(fifo_lanes_deliver_in_accept_order);

/// Two replicas on one database: a lane's head is claimed by one of them at a time.
#[tokio::test]
async fn fifo_lanes_hold_across_two_replicas() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let (config, dir) = support::replica(&backend);
    let a = TestServer::start_with(config, dir).await;
    let (config, dir) = support::replica(&backend);
    let b = TestServer::start_with(config, dir).await;
    let seed = seed();
    let (url, lanes) = ordered_receiver(seed).await;
    destination(
        &a,
        &url,
        json!({"ordering": "fifo", "ordering_key": "customer"}),
    )
    .await;
    lanes_keep_accept_order(&[&a, &b], lanes, seed).await;
}

/// A receiver that notes when each request arrived; the first `throttle_first` requests are
/// answered 429 with `Retry-After: 1`.
async fn timing_receiver(throttle_first: usize) -> (String, Arc<Mutex<Vec<Instant>>>) {
    let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let kept = arrivals.clone();
    let app = axum::Router::new().fallback(move || {
        let kept = kept.clone();
        async move {
            let mut a = kept.lock().unwrap();
            a.push(Instant::now());
            if a.len() <= throttle_first {
                (AxumStatus::TOO_MANY_REQUESTS, [("retry-after", "1")])
            } else {
                (AxumStatus::NO_CONTENT, [("x-ok", "1")])
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, arrivals)
}

const EVENTS: usize = 70;

/// When each attempt to the destination started, as the attempt log says (what the limit
/// governs; arrivals at the receiver add the network's jitter).
async fn attempt_starts(server: &TestServer, destination: &str) -> Vec<time::OffsetDateTime> {
    let mut starts = Vec::new();
    let mut cursor = String::new();
    loop {
        let (_, page) = server
            .call(
                Method::GET,
                &server.path(&format!(
                    "/deliveries?destination_id={destination}&limit=100{cursor}"
                )),
                None,
            )
            .await;
        for d in page["data"].as_array().unwrap() {
            let (_, detail) = server
                .call(
                    Method::GET,
                    &server.path(&format!("/deliveries/{}", d["id"].as_str().unwrap())),
                    None,
                )
                .await;
            for a in detail["attempts"].as_array().unwrap() {
                starts.push(
                    time::OffsetDateTime::parse(
                        a["started_at"].as_str().unwrap(),
                        &time::format_description::well_known::Rfc3339,
                    )
                    .unwrap(),
                );
            }
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    starts.sort();
    starts
}

/// Posts [`EVENTS`] events in batches across `servers`, waits for them all, and checks that no
/// second held more than 20 attempt starts and that the limit did hold them back.
async fn twenty_per_second(
    servers: &[&TestServer],
    destination: &str,
    arrivals: Arc<Mutex<Vec<Instant>>>,
) {
    for (i, server) in servers.iter().enumerate() {
        let n = EVENTS / servers.len();
        let events: Vec<Value> = (0..n)
            .map(|j| json!({"type": "tick", "payload": {"i": i * n + j}}))
            .collect();
        let (status, body) = server
            .call(
                Method::POST,
                &server.path("/events"),
                Some(json!({"events": events})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    eventually("every event delivered", || {
        arrivals.lock().unwrap().len() >= EVENTS
    })
    .await;
    let starts = attempt_starts(servers[0], destination).await;
    assert_eq!(starts.len(), EVENTS);
    let most = (0..starts.len())
        .map(|i| {
            starts[i..]
                .iter()
                .take_while(|&&t| t - starts[i] <= time::Duration::seconds(1))
                .count()
        })
        .max()
        .unwrap_or(0);
    assert!(most <= 20, "{most} attempts started within one second");
    let span = *starts.last().unwrap() - starts[0];
    // 20 at once, then 20 a second: the other 50 take at least 2.5 s.
    assert!(
        span >= time::Duration::milliseconds(2_400),
        "{EVENTS} delivered in {span}"
    );
    eprintln!("{EVENTS} attempts over {span}, at most {most} in any second");
}

async fn a_rate_limit_holds_over_every_second(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (url, arrivals) = timing_receiver(0).await;
    let id = destination(&server, &url, json!({"rate_limit_per_second": 20})).await;
    twenty_per_second(&[&server], &id, arrivals).await;
}

on_both_stores!(a_rate_limit_holds_over_every_second);

/// Two replicas share one limit.
#[tokio::test]
async fn a_rate_limit_is_shared_by_two_replicas() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let (config, dir) = support::replica(&backend);
    let a = TestServer::start_with(config, dir).await;
    let (config, dir) = support::replica(&backend);
    let b = TestServer::start_with(config, dir).await;
    let (url, arrivals) = timing_receiver(0).await;
    let id = destination(&a, &url, json!({"rate_limit_per_second": 20})).await;
    twenty_per_second(&[&a, &b], &id, arrivals).await;
}

/// A 429 with `Retry-After: 1` holds the limited destination's next attempts for a second.
async fn retry_after_pauses_a_limited_destination(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (url, arrivals) = timing_receiver(1).await;
    // Two a second, one at a time: without the pause the next attempt would start about half
    // a second after the 429 (and the 429's answer is handled long before that).
    destination(
        &server,
        &url,
        json!({"rate_limit_per_second": 2, "rate_limit_burst": 1, "retry_after_max_ms": 5000}),
    )
    .await;
    let events: Vec<Value> = (0..3)
        .map(|n| json!({"type": "tick", "payload": {"n": n}}))
        .collect();
    let (status, body) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"events": events})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    eventually("every event delivered", || {
        arrivals.lock().unwrap().len() >= 4
    })
    .await;
    let got = arrivals.lock().unwrap().clone();
    let paused = got[1] - got[0];
    assert!(
        paused >= Duration::from_millis(950),
        "the next attempt came {paused:?} after the 429"
    );
}

on_both_stores!(retry_after_pauses_a_limited_destination);

/// Mistakes are refused where they are, and nothing is saved.
#[tokio::test]
async fn ordering_and_rate_fields_are_checked_at_their_paths() {
    let server = TestServer::start(&Backend::Sqlite).await;
    for (policy, path) in [
        (json!({"ordering_key": "{customer.id}"}), "/ordering_key"),
        (
            json!({"ordering": "fifo", "ordering_key": "{customer"}),
            "/ordering_key",
        ),
        (json!({"ordering": "lifo"}), "/ordering"),
        (
            json!({"rate_limit_per_second": 0}),
            "/rate_limit_per_second",
        ),
        (json!({"rate_limit_burst": 5}), "/rate_limit_burst"),
        (
            json!({"rate_limit_per_second": 5, "rate_limit_burst": 0}),
            "/rate_limit_burst",
        ),
    ] {
        let mut body = json!({
            "name": "Receiver",
            "destination_type": "webhook",
            "config": {"url": "https://example.com/hooks"},
        });
        for (k, v) in policy.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, answer) = server
            .call(Method::POST, &server.path("/destinations"), Some(body))
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{policy}: {answer}"
        );
        let paths: Vec<&str> = answer["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["path"].as_str().unwrap())
            .collect();
        assert_eq!(paths, [path], "{policy}: {answer}");
    }
    let (_, list) = server
        .call(Method::GET, &server.path("/destinations"), None)
        .await;
    assert_eq!(list["data"], json!([]));
    // A fraction is a rate.
    let (status, d) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(json!({
                "name": "Slow", "destination_type": "webhook",
                "config": {"url": "https://example.com/hooks"},
                "rate_limit_per_second": 0.5, "ordering": "fifo",
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    assert_eq!(d["rate_limit_per_second"], 0.5);
    assert_eq!(d["ordering"], "fifo");
}

//! Accepted-to-delivered webhook events per second through the durable queue on loopback, with
//! p50/p99 latency from acceptance to arrival at the receiver, side by side with a bare HTTP
//! client posting the same bodies to the same null receiver (64 in flight); prints the ratio.
//! SQLite in a temp dir, or Postgres when `COURIER_TEST_POSTGRES_URL` is set.
//!
//! Run: `cargo bench -p courier-server --bench delivery`.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use support::KEY;

const EVENTS: usize = 5000;
const BATCH: usize = 100;

/// A receiver answering 204 and noting when event `n` arrived (first time only).
async fn null_receiver(arrivals: Arc<Mutex<Vec<Option<Instant>>>>) -> String {
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let arrivals = arrivals.clone();
        async move {
            if let Ok(v) = serde_json::from_slice::<Value>(&body)
                && let Some(n) = v["n"].as_u64()
            {
                let mut a = arrivals.lock().unwrap();
                if let Some(slot) = a.get_mut(n as usize) {
                    slot.get_or_insert_with(Instant::now);
                }
            }
            axum::http::StatusCode::NO_CONTENT
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn body(n: usize) -> Value {
    json!({"n": n, "order": {"id": format!("ord_{n}"), "total": 4200, "currency": "EUR"}, "customer": {"email": format!("c{n}@example.com")}})
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = support::start("delivery", |c| c.allow_private_destinations = true).await;
        let (api, store_kind) = (server.api.clone(), server.store_kind);
        let http = reqwest::Client::new();

        // The bare client first: the same bodies, straight to the receiver.
        let bare_arrivals = Arc::new(Mutex::new(vec![None; EVENTS]));
        let bare_url = null_receiver(bare_arrivals.clone()).await;
        let started = Instant::now();
        futures::stream::iter(0..EVENTS)
            .map(|n| {
                let request = http.post(&bare_url).json(&body(n));
                async move { assert!(request.send().await.unwrap().status().is_success()) }
            })
            .buffer_unordered(64)
            .collect::<Vec<_>>()
            .await;
        let bare_rate = EVENTS as f64 / started.elapsed().as_secs_f64();

        let arrivals = Arc::new(Mutex::new(vec![None; EVENTS]));
        let hook = null_receiver(arrivals.clone()).await;
        let d: Value = http
            .post(format!("{api}/destinations"))
            .bearer_auth(KEY)
            .json(&json!({"name": "Null", "destination_type": "webhook", "max_concurrency": 64,
                          "config": {"url": hook, "allow_private_network": true}}))
            .send().await.unwrap().json().await.unwrap();
        let r = http
            .post(format!("{api}/routes"))
            .bearer_auth(KEY)
            .json(&json!({"name": "All", "destination_id": d["id"], "event_types": ["*"]}))
            .send().await.unwrap();
        assert_eq!(r.status(), 201);

        let accepted_at: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; EVENTS]));
        let started = Instant::now();
        futures::stream::iter((0..EVENTS).step_by(BATCH))
            .map(|first| {
                let events: Vec<Value> = (first..first + BATCH).map(|n| json!({"type": "order.created", "payload": body(n)})).collect();
                let request = http.post(format!("{api}/events")).bearer_auth(KEY).json(&json!({"events": events}));
                let accepted_at = accepted_at.clone();
                async move {
                    assert_eq!(request.send().await.unwrap().status(), 202);
                    let now = Instant::now();
                    let mut a = accepted_at.lock().unwrap();
                    for slot in &mut a[first..first + BATCH] {
                        *slot = Some(now);
                    }
                }
            })
            .buffer_unordered(4)
            .collect::<Vec<_>>()
            .await;
        let deadline = Instant::now() + Duration::from_secs(300);
        while arrivals.lock().unwrap().iter().any(Option::is_none) {
            assert!(Instant::now() < deadline, "not every event arrived");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let total = started.elapsed();
        let rate = EVENTS as f64 / total.as_secs_f64();
        let (arrived, accepted) = (arrivals.lock().unwrap(), accepted_at.lock().unwrap());
        let mut latencies: Vec<Duration> = arrived
            .iter()
            .zip(accepted.iter())
            .map(|(a, b)| a.unwrap().saturating_duration_since(b.unwrap()))
            .collect();
        latencies.sort();
        println!("Webhook events through the durable queue ({store_kind}) to a null receiver on loopback, {EVENTS} events");
        println!(
            "courier: {rate:>7.0} events/s accepted-to-delivered, accept->arrival p50 {:>7.1} ms p99 {:>7.1} ms | bare client: {bare_rate:>7.0} posts/s | ratio {:.2}",
            latencies[latencies.len() / 2].as_secs_f64() * 1000.0,
            latencies[latencies.len() * 99 / 100].as_secs_f64() * 1000.0,
            rate / bare_rate
        );
    });
}

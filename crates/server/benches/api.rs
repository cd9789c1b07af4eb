//! Destinations API throughput on loopback: create and get destination, catalog reads, under 32
//! concurrent clients (p50/p99 latency, requests per second), side by side with a bare axum
//! handler answering a body of the same size (the HTTP floor); then the memory and disk cost of
//! 10,000 stored destinations. SQLite in a temp dir; `COURIER_TEST_POSTGRES_URL` switches to
//! Postgres.
//!
//! Run: `cargo bench -p courier-server`.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use courier_benchkit::status_kib;
use futures::StreamExt;
use serde_json::{Value, json};
use support::KEY;

const CONCURRENCY: usize = 32;
const REQUESTS: usize = 2000;

struct Figures {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

/// Runs `REQUESTS` calls of `make(i)` with `CONCURRENCY` in flight.
async fn load<F, Fut>(make: F) -> Figures
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = reqwest::StatusCode>,
{
    let started = Instant::now();
    let mut latencies: Vec<Duration> = futures::stream::iter(0..REQUESTS)
        .map(|i| {
            let call = make(i);
            async move {
                let t = Instant::now();
                let status = call.await;
                assert!(status.is_success(), "{status}");
                t.elapsed()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let total = started.elapsed();
    latencies.sort();
    Figures {
        per_second: REQUESTS as f64 / total.as_secs_f64(),
        p50: latencies[latencies.len() / 2],
        p99: latencies[latencies.len() * 99 / 100],
    }
}

fn print(label: &str, ours: &Figures, bare: &Figures) {
    println!(
        "{label:<22} {:>7.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms | bare {:>7.0} req/s  p50 {:>6.2} ms | throughput ratio {:.2}",
        ours.per_second,
        ours.p50.as_secs_f64() * 1000.0,
        ours.p99.as_secs_f64() * 1000.0,
        bare.per_second,
        bare.p50.as_secs_f64() * 1000.0,
        ours.per_second / bare.per_second
    );
}

/// A bare axum server answering `body` to every GET and POST: what HTTP alone costs.
async fn bare_server(body: Value) -> String {
    let body = Arc::new(body);
    let app = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move { axum::Json((*body).clone()) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn destination(i: usize) -> Value {
    json!({
        "name": format!("Hook {i}"),
        "destination_type": "webhook",
        "config": {"url": format!("https://hooks.example.com/{i}"), "headers": {"X-Team": "growth"}},
        "auth_config": {"credentials": {"type": "bearer", "token": "bench-token"}},
    })
}

/// A new, empty database on the server `base` names, so every run starts clean.
fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = support::start("api", |_| {}).await;
        let (url, store_kind, dir) = (&server.url, server.store_kind, server.dir.path());
        let http = reqwest::Client::new();
        let list = format!("{}/destinations", server.api);
        println!(
            "Destinations API on loopback ({store_kind}), {REQUESTS} requests per figure, {CONCURRENCY} in flight"
        );

        let first: Value = http.post(&list).bearer_auth(KEY).json(&destination(usize::MAX)).send().await.unwrap().json().await.unwrap();
        let bare_create = bare_server(first.clone()).await;
        let created = load(|i| {
            let request = http.post(&list).bearer_auth(KEY).json(&destination(i));
            async move { request.send().await.unwrap().status() }
        })
        .await;
        let bare = load(|i| {
            let request = http.post(&bare_create).json(&destination(i));
            async move { request.send().await.unwrap().status() }
        })
        .await;
        print("create destination", &created, &bare);

        let one = format!("{list}/{}", first["id"].as_str().unwrap());
        let got = load(|_| {
            let request = http.get(&one).bearer_auth(KEY);
            async move { request.send().await.unwrap().status() }
        })
        .await;
        let bare = load(|_| {
            let request = http.get(&bare_create);
            async move { request.send().await.unwrap().status() }
        })
        .await;
        print("get destination", &got, &bare);

        let catalog_url = format!("{url}/api/v1/catalog/connectors");
        let document: Value = http.get(&catalog_url).bearer_auth(KEY).send().await.unwrap().json().await.unwrap();
        let bare_catalog = bare_server(document).await;
        let read = load(|_| {
            let request = http.get(&catalog_url).bearer_auth(KEY);
            async move { request.send().await.unwrap().status() }
        })
        .await;
        let bare = load(|_| {
            let request = http.get(&bare_catalog);
            async move { request.send().await.unwrap().status() }
        })
        .await;
        print("catalog read", &read, &bare);

        // 10,000 more destinations: what they cost in memory and on disk.
        let disk = |dir: &std::path::Path| -> u64 {
            std::fs::read_dir(dir).unwrap().flatten().map(|e| e.metadata().map(|m| m.len()).unwrap_or(0)).sum()
        };
        let (rss_before, disk_before) = (status_kib("VmRSS:"), disk(dir));
        let t = Instant::now();
        let stored = futures::stream::iter(0..10_000)
            .map(|i| {
                let request = http.post(&list).bearer_auth(KEY).json(&destination(100_000 + i));
                async move { request.send().await.unwrap().status().is_success() }
            })
            .buffer_unordered(CONCURRENCY)
            .filter(|ok| std::future::ready(*ok))
            .count()
            .await;
        assert_eq!(stored, 10_000);
        let rss_after = status_kib("VmRSS:");
        // Every page, as a client walks the list.
        let (mut listed, mut cursor, mut pages) = (0, None::<String>, 0);
        loop {
            let url = match &cursor {
                Some(c) => format!("{list}?limit=500&cursor={c}"),
                None => format!("{list}?limit=500"),
            };
            let page: Value = http.get(&url).bearer_auth(KEY).send().await.unwrap().json().await.unwrap();
            listed += page["data"].as_array().map_or(0, Vec::len);
            pages += 1;
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
        let on_disk = if store_kind == "SQLite" {
            format!("database files +{:.1} MiB", disk(dir).saturating_sub(disk_before) as f64 / 1048576.0)
        } else {
            "database files: in the Postgres cluster".to_string()
        };
        println!(
            "10,000 destinations stored in {:.1} s: process RSS (server and load client) +{:.1} MiB, {on_disk} ({listed} listed in {pages} pages of 500)",
            t.elapsed().as_secs_f64(),
            rss_after.saturating_sub(rss_before) as f64 / 1024.0,
        );
    });
}

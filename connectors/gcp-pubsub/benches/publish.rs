//! Pub/Sub: small records through the connector (batches of 1,000 handed to it, 4 at once,
//! each one publish request) against the emulator, side by side with a bare reqwest client
//! making the same publish calls (1,000 messages each, 4 in flight), each side to a topic
//! without subscriptions (the emulator keeps nothing: little work, alike for both). Both sides
//! go through one counting proxy on loopback, so their requests are counted on the wire alike.
//! Prints records per second for each side, the ratio, and requests per record.
//!
//! Run: `cargo bench -p courier-connector-gcp-pubsub` (COURIER_BENCH_RECORDS overrides 50000).
//! Uses the emulator `cargo xtask test` started (`COURIER_TEST_PUBSUB_ENDPOINT`), or starts the
//! machine image's copy.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use courier_benchkit::compare;
use courier_connector_gcp_pubsub::GcpPubsub;
use courier_core::{Batch, DestinationSpec, DynConnector, Record};
use courier_testbed::pubsub::PubsubEmulator;
use futures::StreamExt;
use serde_json::json;

const CONCURRENCY: usize = 4;
const PER_REQUEST: usize = 1000;
const ROUNDS: usize = 7;

/// A topic without subscriptions (the emulator keeps no messages for it), made over REST.
async fn bare_topic(emulator: &PubsubEmulator, label: &str) -> String {
    let topic = courier_testbed::fresh_name(label);
    let url = format!(
        "{}/v1/projects/{}/topics/{topic}",
        emulator.endpoint, emulator.project
    );
    let r = reqwest::Client::new().put(url).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    topic
}

/// Forwards every request to `target`, counting them.
async fn counting_proxy(target: String) -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let http = reqwest::Client::new();
    let app = Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (http, target, seen) = (http.clone(), target.clone(), seen.clone());
            async move {
                seen.fetch_add(1, Ordering::Relaxed);
                let mut request = http.request(method, format!("{target}{uri}")).body(body);
                if let Some(t) = headers.get("content-type") {
                    request = request.header("content-type", t.as_bytes());
                }
                match request.send().await {
                    Ok(r) => {
                        let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
                        (status, r.bytes().await.unwrap_or_default())
                    }
                    Err(_) => (StatusCode::BAD_GATEWAY, Bytes::new()),
                }
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, count)
}

fn main() {
    let total: usize = std::env::var("COURIER_BENCH_RECORDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50_000);
    let (emulator, _guard) = PubsubEmulator::from_env_or_started();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (proxy, requests) = counting_proxy(emulator.endpoint.clone()).await;
        let payloads: Arc<Vec<String>> = Arc::new(
            (0..total)
                .map(|i| format!(r#"{{"user":{{"id":"u{}"}},"n":{i}}}"#, i % 1000))
                .collect(),
        );

        // The connector, built as a host builds it.
        let ours_topic = bare_topic(&emulator, "bench-connector").await;
        let mut config = emulator.config(&ours_topic);
        config["endpoint"] = json!(proxy);
        let spec = DestinationSpec {
            destination_id: "bench".into(),
            config,
            auth_config: json!({}),
            allow_private_network: true,
            ..DestinationSpec::default()
        };
        let destination = GcpPubsub.build(&spec).await.unwrap();

        // The bare client: the same publish calls, the JSON built the same way.
        let bare_topic = bare_topic(&emulator, "bench-bare").await;
        let bare_url = format!(
            "{proxy}/v1/projects/{}/topics/{bare_topic}:publish",
            emulator.project
        );
        let http = reqwest::Client::new();

        let mut counted = [0usize; 2];
        let comparison = compare(
            &["connector", "bare reqwest"],
            ROUNDS,
            total,
            async |side, round| {
                let before = requests.load(Ordering::Relaxed);
                let starts: Vec<usize> = (0..total).step_by(PER_REQUEST).collect();
                if side == 0 {
                    let delivered: usize = futures::stream::iter(starts)
                        .map(|start| {
                            let destination = destination.clone();
                            let records = payloads[start..(start + PER_REQUEST).min(total)]
                                .iter()
                                .enumerate()
                                .map(|(i, p)| Record::new(format!("r{}", start + i), p.clone()))
                                .collect();
                            let batch = Batch::new(format!("b{round}-{start}"), records);
                            async move { destination.deliver(&batch).await.delivered_count() }
                        })
                        .buffer_unordered(CONCURRENCY)
                        .fold(0, async |sum, n| sum + n)
                        .await;
                    assert_eq!(delivered, total, "the connector delivered every record");
                } else {
                    let published: usize = futures::stream::iter(starts)
                        .map(|start| {
                            let messages: Vec<_> = payloads[start..(start + PER_REQUEST).min(total)]
                                .iter()
                                .map(|p| json!({ "data": BASE64.encode(p) }))
                                .collect();
                            let body = json!({ "messages": messages }).to_string();
                            let (http, url) = (http.clone(), bare_url.clone());
                            async move {
                                let r = http
                                    .post(url)
                                    .header("content-type", "application/json")
                                    .body(body)
                                    .send()
                                    .await
                                    .unwrap();
                                assert!(r.status().is_success(), "{}", r.status());
                                let answer: serde_json::Value =
                                    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
                                answer["messageIds"].as_array().map_or(0, Vec::len)
                            }
                        })
                        .buffer_unordered(CONCURRENCY)
                        .fold(0, async |sum, n| sum + n)
                        .await;
                    assert_eq!(published, total, "the bare client published every record");
                }
                counted[side] = requests.load(Ordering::Relaxed) - before;
            },
        )
        .await;

        println!(
            "{total} records of about {} bytes, batches of {PER_REQUEST}, {CONCURRENCY} in flight, against the Pub/Sub emulator, {ROUNDS} rounds (order alternating):",
            payloads[0].len()
        );
        let [ratio, low, high] = comparison.ratio(0);
        for (side, name) in ["connector", "bare reqwest"].iter().enumerate() {
            println!(
                "  {name:<13} {:>8.0} records/s, {:>5} requests a round ({:.4} per record)",
                comparison.rate(side),
                counted[side],
                counted[side] as f64 / total as f64
            );
        }
        println!("  ratio {ratio:.2} (quartiles {low:.2}-{high:.2})");
    });
}

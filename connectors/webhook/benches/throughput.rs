//! Deliveries per second through the webhook connector against a local null receiver, side by
//! side with a bare hyper client posting identical signed bodies at the same concurrency, plus
//! the cost of signing one delivery against a bare HMAC. Prints figures and ratios.
//!
//! Run: `cargo bench -p courier-connector-webhook`

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use courier_connector_webhook::Webhook;
use courier_connector_webhook::signing::SigningKey;
use courier_core::{Batch, Destination, DestinationSpec, DynConnector, Record, Secret};
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha2::Sha256;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const CONCURRENCY: usize = 16;
const ROUNDS: usize = 5;

async fn null_receiver() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        // Read the whole body, as a real receiver must before answering.
                        let _ = req.into_body().collect().await;
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// Runs `total` operations on `CONCURRENCY` workers; returns operations per second.
async fn drive<F, Fut>(total: usize, op: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (op, next) = (op.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    op(i).await;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

fn bare_sign(key: &[u8], id: &str, ts: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn connector_run(dest: Arc<dyn Destination>, body: Bytes, total: usize) -> f64 {
    drive(total, move |i| {
        let (dest, body) = (dest.clone(), body.clone());
        async move {
            let batch = Batch::new(format!("b{i}"), vec![Record::new(format!("msg_{i}"), body)]);
            let out = dest.deliver(&batch).await;
            assert!(out.records[0].is_delivered(), "{:?}", out.records[0]);
        }
    })
    .await
}

async fn bare_run(addr: SocketAddr, body: Bytes, total: usize) -> f64 {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let key = Arc::new(STANDARD.decode(&SECRET[6..]).unwrap());
    let uri: hyper::Uri = format!("http://{addr}/hook").parse().unwrap();
    drive(total, move |i| {
        let (client, key, body, uri) = (client.clone(), key.clone(), body.clone(), uri.clone());
        async move {
            let id = format!("msg_{i}");
            let ts = now();
            let req = Request::post(uri)
                .header("content-type", "application/json")
                .header("webhook-id", &id)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", bare_sign(&key, &id, ts, &body))
                .body(Full::new(body))
                .unwrap();
            let resp = client.request(req).await.unwrap();
            assert!(resp.status().is_success());
            let _ = resp.into_body().collect().await;
        }
    })
    .await
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn signing_cost() {
    let key = SigningKey::parse(&Secret::new(SECRET)).unwrap();
    let raw = STANDARD.decode(&SECRET[6..]).unwrap();
    let body = vec![b'x'; 1024];
    let n = 100_000;
    let mut sink = 0usize;
    let mut measure = |f: &dyn Fn(usize) -> String| {
        let t = Instant::now();
        for i in 0..n {
            sink = sink.wrapping_add(f(i).len());
        }
        t.elapsed().as_nanos() as f64 / n as f64
    };
    let ours = measure(&|i| {
        key.sign(
            "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
            1_700_000_000 + i as i64,
            &body,
        )
    });
    let bare = measure(&|i| {
        bare_sign(
            &raw,
            "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
            1_700_000_000 + i as i64,
            &body,
        )
    });
    println!(
        "signing one 1 KiB delivery: connector {ours:.0} ns, bare HMAC {bare:.0} ns, ratio {:.2} (sink {sink})",
        ours / bare
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let addr = null_receiver().await;
        let spec = DestinationSpec {
            destination_id: "bench".into(),
            config: serde_json::json!({"url": format!("http://{addr}/hook"), "allow_private_network": true}),
            auth_config: serde_json::json!({"signing_secret": SECRET}),
            payload_cap_bytes: None,
            token_store: None,
            allow_private_network: true,
        };
        let dest = Webhook.build(&spec).await.unwrap();
        println!("webhook delivery throughput, {CONCURRENCY} in flight, median of {ROUNDS} rounds (order alternating)");
        for (label, size, total) in [("1 KiB", 1024usize, 8_000usize), ("64 KiB", 64 * 1024, 2_000)] {
            let mut payload = format!("{{\"data\":\"{}", "x".repeat(size - 12));
            payload.push_str("\"}");
            let body = Bytes::from(payload);
            // Warm both clients' connection pools.
            connector_run(dest.clone(), body.clone(), 200).await;
            bare_run(addr, body.clone(), 200).await;
            // COURIER_BENCH_ONLY=connector|bare runs one side alone (for a profiler).
            let only = std::env::var("COURIER_BENCH_ONLY").unwrap_or_default();
            let (mut ours, mut bare) = (Vec::new(), Vec::new());
            for round in 0..ROUNDS {
                // Alternate which side goes first, so neither always runs on a warmer machine.
                for side in if round % 2 == 0 { ["connector", "bare"] } else { ["bare", "connector"] } {
                    if only.is_empty() || only == side {
                        match side {
                            "connector" => ours.push(connector_run(dest.clone(), body.clone(), total).await),
                            _ => bare.push(bare_run(addr, body.clone(), total).await),
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if !only.is_empty() {
                let figures = if ours.is_empty() { bare } else { ours };
                println!("{label:>6} bodies: {only} alone {:>8.0}/s", median(figures));
                continue;
            }
            let (o, b) = (median(ours), median(bare));
            println!(
                "{label:>6} bodies: connector {o:>8.0} deliveries/s, bare hyper {b:>8.0} requests/s, ratio {:.2}",
                o / b
            );
        }
    });
    signing_cost();
}

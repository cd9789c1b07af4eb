//! The fairness scenario (`--scenario fairness`): a light tenant posts fresh single events at a
//! steady rate while a heavy tenant's backlog drains to slow destinations (one in another
//! workspace, one beside the light destination in its own workspace); prints the light
//! tenant's accept→delivery latency beside the same light load on an idle server, in one run.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::load::{self, Pace, Target};
use crate::server::{self, Courier};
use crate::timeline::{Timeline, quantile_ms};
use crate::{Args, Store};

/// How long the slow destinations take to answer each delivery.
const SLOW_ANSWER: Duration = Duration::from_millis(250);
/// Events per backlog request.
const BACKLOG_BATCH: usize = 500;

/// A receiver answering 204 after [`SLOW_ANSWER`], counting what it served.
async fn slow_receiver() -> Result<(SocketAddr, Arc<AtomicUsize>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let count = count.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let count = count.clone();
                    async move {
                        request.into_body().collect().await?;
                        tokio::time::sleep(SLOW_ANSWER).await;
                        count.fetch_add(1, Ordering::Relaxed);
                        let mut response = Response::new(Empty::<Bytes>::new());
                        *response.status_mut() = StatusCode::NO_CONTENT;
                        Ok::<_, hyper::Error>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((addr, served))
}

/// Posts `count` events of `event_type` to `api` in batches, waiting out 429s.
async fn post_backlog(courier: &Courier, api: &str, event_type: &str, count: usize) -> Result<()> {
    let mut posted = 0;
    while posted < count {
        let n = BACKLOG_BATCH.min(count - posted);
        let events: Vec<Value> = (0..n)
            .map(|i| json!({"type": event_type, "payload": {"backlog": posted + i, "pad": "x".repeat(900)}}))
            .collect();
        let (status, body) = courier
            .call(
                "POST",
                &format!("{api}/events"),
                Some(json!({"events": events})),
            )
            .await?;
        match status {
            202 => posted += n,
            429 => tokio::time::sleep(Duration::from_millis(200)).await,
            _ => bail!("posting the backlog answered {status}: {body}"),
        }
    }
    Ok(())
}

/// A second workspace for the heavy tenant; its API base path.
async fn heavy_workspace(courier: &Courier) -> Result<String> {
    let (status, ws) = courier
        .call(
            "POST",
            "/api/v1/workspaces",
            Some(json!({"name": "Heavy tenant"})),
        )
        .await?;
    let id = ws["id"]
        .as_str()
        .with_context(|| format!("creating a workspace answered {status}: {ws}"))?;
    Ok(format!("/api/v1/workspaces/{id}"))
}

/// What one round measured of the light tenant.
struct Light {
    accepted: usize,
    delivered: usize,
    from_accept: Vec<Duration>,
    heavy_served: usize,
}

async fn round(args: &Args, binary: &Path, with_backlog: bool, name: &str) -> Result<Light> {
    let database_url = match args.store {
        Store::Sqlite => None,
        Store::Postgres => {
            let base = args
                .database_url
                .as_deref()
                .context("--store postgres needs --database-url (or COURIER_TEST_POSTGRES_URL)")?;
            let db = format!("courier_fairness_{name}_{}", std::process::id());
            Some(server::fresh_postgres(base, &db).await?)
        }
    };
    let courier = Courier::start(binary, database_url.as_deref(), None).await?;
    let light_api = courier.workspace_api().await?;
    let (slow, served) = slow_receiver().await?;
    if with_backlog {
        // The other workspace's backlog, and one beside the light destination in its own.
        let heavy_api = heavy_workspace(&courier).await?;
        courier
            .route_to(&heavy_api, slow, "heavy.backlog", 8)
            .await?;
        courier.route_to(&light_api, slow, "heavy.local", 8).await?;
        post_backlog(&courier, &heavy_api, "heavy.backlog", args.backlog).await?;
        post_backlog(&courier, &light_api, "heavy.local", args.backlog / 4).await?;
    }
    let seconds = Duration::from_secs(args.seconds);
    let pace = Pace::Open {
        per_second: args.rate,
    };
    let timeline = Arc::new(Timeline::new(
        (args.seconds as f64 * args.rate) as usize + 1000,
    ));
    let fast = crate::receiver::start(timeline.clone()).await?;
    courier
        .route_to(&light_api, fast, "light.fresh", args.max_concurrency)
        .await?;
    let served_before = served.load(Ordering::Relaxed);
    let target = Target {
        addrs: vec![courier.addr],
        path: format!("{light_api}/events"),
        bearer: Some(server::KEY.into()),
        as_event: Some("light.fresh".into()),
    };
    let load = load::run(
        target,
        pace,
        seconds,
        8,
        args.payload_bytes,
        timeline.clone(),
    )
    .await;
    let drain = tokio::time::Instant::now() + Duration::from_secs(30);
    while timeline.missing(load.numbers) > 0 && tokio::time::Instant::now() < drain {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let heavy_served = served.load(Ordering::Relaxed) - served_before;
    let (_, mut from_accept) = timeline.latencies(load.numbers);
    let missing = timeline.missing(load.numbers);
    // An event not delivered within the drain counts as the slowest there is, so the
    // quantiles cannot look good by leaving out what never arrived.
    from_accept.extend(std::iter::repeat_n(Duration::MAX, missing));
    let accepted = load.sent - load.refused.values().sum::<usize>();
    Ok(Light {
        accepted,
        delivered: accepted.saturating_sub(missing),
        from_accept,
        heavy_served,
    })
}

/// Runs the light load on an idle server, then beside the backlogs, `args.rounds` times each,
/// and prints the light tenant's latency for both.
pub async fn run(args: &Args, binary: &Path) -> Result<()> {
    println!(
        "fairness: light tenant {} events/s for {} s; heavy backlog {} events (+{} in the light workspace) to destinations answering in {} ms with max_concurrency 8",
        args.rate,
        args.seconds,
        args.backlog,
        args.backlog / 4,
        SLOW_ANSWER.as_millis()
    );
    println!(
        "{:<22} {:>9} {:>9} {:>9} {:>9} {:>9} {:>14}",
        "light tenant", "accepted", "delivered", "p50 ms", "p95 ms", "p99 ms", "heavy drained"
    );
    let mut p99 = (Vec::new(), Vec::new());
    for r in 1..=args.rounds.max(1) {
        for (label, with_backlog) in [("idle server", false), ("beside the backlog", true)] {
            let light = round(args, binary, with_backlog, &format!("{r}{with_backlog}")).await?;
            let q = |x| {
                let ms = quantile_ms(&light.from_accept, x);
                if ms > 1e12 { f64::INFINITY } else { ms }
            };
            println!(
                "{:<22} {:>9} {:>9} {:>9.1} {:>9.1} {:>9.1} {:>14}",
                format!("{label} {r}"),
                light.accepted,
                light.delivered,
                q(0.5),
                q(0.95),
                q(0.99),
                if with_backlog {
                    light.heavy_served.to_string()
                } else {
                    "-".into()
                }
            );
            if with_backlog {
                p99.1.push(q(0.99));
            } else {
                p99.0.push(q(0.99));
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (idle, busy) = (median(&mut p99.0), median(&mut p99.1));
    println!(
        "light tenant p99 accept→delivery: {busy:.1} ms beside the backlog, {idle:.1} ms on an idle server (ratio {:.2}; target under 1,000 ms; inf: some events not delivered within 30 s)",
        busy / idle
    );
    Ok(())
}

//! Service Bus: small records through the connector (batches of 100 handed to it, 8 at once,
//! each sent as one Send Message Batch) against the local Service Bus fake, side by side with
//! bare reqwest making the same batched sends (the same JSON array, a SAS token signed once)
//! at the same concurrency. Sides take turns after one untimed warm-up each, the order
//! reversed every other round; prints each side's median records per second, the ratio of the
//! medians, and requests per record (counted by the fake).
//!
//! Run: `cargo bench -p courier-connector-azure-service-bus` (COURIER_BENCH_RECORDS overrides
//! 20000 records a round, COURIER_BENCH_ROUNDS 5 rounds). Needs nothing installed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use courier_connector_azure_service_bus::{AzureServiceBus, BATCH_CONTENT_TYPE};
use courier_core::{Batch, Destination, DestinationSpec, DynConnector, Record};
use courier_fakes::ServiceBusFake;
use courier_fakes::service_bus::{EntityOptions, Rights, sas_token};
use futures::StreamExt;
use serde_json::json;

const CONCURRENCY: usize = 8;
const PER_BATCH: usize = 100;
const KEY: &str = "YmVuY2gta2V5LWZvci1zZXJ2aWNlLWJ1cw==";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

fn payloads(total: usize) -> Vec<String> {
    (0..total)
        .map(|i| {
            format!(
                r#"{{"user":{{"id":"u{}","email":"user{i}@example.com"}},"type":"order.created","n":{i},"total":{}.5}}"#,
                i % 1000,
                i % 97
            )
        })
        .collect()
}

/// One round through the connector: every record delivered, and the time it took.
async fn connector_round(
    destination: &Arc<dyn Destination>,
    payloads: &[String],
    round: usize,
) -> Duration {
    let batches: Vec<Batch> = payloads
        .chunks(PER_BATCH)
        .enumerate()
        .map(|(b, chunk)| {
            let records = chunk
                .iter()
                .enumerate()
                .map(|(i, p)| Record::new(format!("c{round}-{b}-{i}"), p.clone()))
                .collect();
            Batch::new(format!("b{round}-{b}"), records)
        })
        .collect();
    let started = Instant::now();
    let outcomes: Vec<courier_core::BatchOutcome> = futures::stream::iter(batches)
        .map(|batch| {
            let destination = destination.clone();
            async move { destination.deliver(&batch).await }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let took = started.elapsed();
    let delivered: usize = outcomes.iter().map(|o| o.delivered_count()).sum();
    let first_failure = outcomes
        .iter()
        .flat_map(|o| &o.records)
        .find_map(|r| r.error().map(|e| format!("{}: {}", r.record_id, e.message)));
    assert_eq!(
        delivered,
        payloads.len(),
        "first failure: {first_failure:?}"
    );
    took
}

/// One round through bare reqwest: the same batch bodies, POSTed with a token signed once.
async fn bare_round(
    http: &reqwest::Client,
    url: &str,
    authorization: &str,
    payloads: &Arc<Vec<String>>,
    round: usize,
) -> Duration {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (http, next, payloads) = (http.clone(), next.clone(), payloads.clone());
            let (url, authorization) = (url.to_string(), authorization.to_string());
            tokio::spawn(async move {
                loop {
                    let start = next.fetch_add(PER_BATCH, Ordering::Relaxed);
                    if start >= payloads.len() {
                        break;
                    }
                    let end = (start + PER_BATCH).min(payloads.len());
                    let messages: Vec<serde_json::Value> = (start..end)
                        .map(|i| {
                            json!({"Body": payloads[i],
                                   "BrokerProperties": {"MessageId": format!("r{round}-{i}")}})
                        })
                        .collect();
                    let answer = http
                        .post(&url)
                        .header("authorization", &authorization)
                        .header("content-type", BATCH_CONTENT_TYPE)
                        .body(serde_json::to_vec(&messages).unwrap())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(answer.status().as_u16(), 201);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    started.elapsed()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() {
    let total = env_number("COURIER_BENCH_RECORDS", 20_000);
    let rounds = env_number("COURIER_BENCH_ROUNDS", 5).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let fake = ServiceBusFake::start().await;
        fake.add_entity("bench", EntityOptions::default());
        fake.add_entity("bare", EntityOptions::default());
        fake.add_key("bench", KEY, Rights::SEND);
        let spec = DestinationSpec {
            destination_id: "bench".into(),
            config: json!({"endpoint": fake.url(), "entity_path": "bench"}),
            auth_config: json!({"sas_key_name": "bench", "sas_key": KEY}),
            allow_private_network: true,
            ..DestinationSpec::default()
        };
        let destination = AzureServiceBus.build(&spec).await.unwrap();
        let http = reqwest::Client::new();
        let url = format!("{}/bare/messages", fake.url());
        let expiry = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600;
        let authorization = sas_token(&format!("{}/bare", fake.url()), "bench", KEY, expiry);
        let payloads = Arc::new(payloads(total));

        // Untimed warm-up of each side: connections, allocations, the signed token.
        connector_round(&destination, &payloads[..PER_BATCH * CONCURRENCY], 0).await;
        bare_round(&http, &url, &authorization, &Arc::new(payloads[..PER_BATCH * CONCURRENCY].to_vec()), 0).await;

        let (mut ours, mut bare, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        let (mut our_requests, mut bare_requests) = (0, 0);
        for round in 1..=rounds {
            let mut times = [Duration::ZERO; 2];
            for side in if round % 2 == 0 { [1, 0] } else { [0, 1] } {
                let before = fake.send_requests();
                times[side] = if side == 0 {
                    connector_round(&destination, &payloads, round).await
                } else {
                    bare_round(&http, &url, &authorization, &payloads, round).await
                };
                let sent = fake.send_requests() - before;
                if side == 0 {
                    our_requests += sent;
                } else {
                    bare_requests += sent;
                }
            }
            let (o, b) = (
                total as f64 / times[0].as_secs_f64(),
                total as f64 / times[1].as_secs_f64(),
            );
            ours.push(o);
            bare.push(b);
            ratios.push(o / b);
        }
        let per_record = |requests: usize| requests as f64 / (total * rounds) as f64;
        println!(
            "{total} records a round, {rounds} rounds, batches of {PER_BATCH}, {CONCURRENCY} in flight, against the local Service Bus fake:"
        );
        println!(
            "  connector:    {:>9.0} records/s (median), {:.4} requests per record",
            median(ours.clone()),
            per_record(our_requests)
        );
        println!(
            "  bare reqwest: {:>9.0} records/s (median), {:.4} requests per record",
            median(bare.clone()),
            per_record(bare_requests)
        );
        let mut sorted = ratios.clone();
        sorted.sort_by(|a, b| a.total_cmp(b));
        println!(
            "  ratio connector/bare: {:.2} (median of rounds; range {:.2}-{:.2})",
            median(ratios),
            sorted[0],
            sorted[sorted.len() - 1]
        );
        assert_eq!(fake.messages("bench").len(), total * rounds + PER_BATCH * CONCURRENCY);
    });
}

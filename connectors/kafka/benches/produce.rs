//! Kafka: small records through the connector (batches of 100 handed to it, 8 at once, as the
//! runtime's lanes do) against a tansu broker of the bench's own, side by side with a bare
//! librdkafka producer sending the same records with the same settings (idempotent, acks=all,
//! the same linger) and the same concurrency, in alternating order. Prints records per second,
//! the ratio, and the resident memory before and after a longer run (flat: nothing retained).
//!
//! Run: `cargo bench -p courier-connector-kafka` (COURIER_BENCH_RECORDS overrides 20,000 per
//! round; COURIER_BENCH_ROUNDS overrides 5).

use std::sync::Arc;
use std::time::Duration;

use courier_benchkit::{compare, status_kib};
use courier_connector_kafka::Kafka;
use courier_core::{Batch, DynConnector, Record};
use courier_testbed::brokers::kafka;
use futures::StreamExt;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;

const CONCURRENCY: usize = 8;
const BATCH: usize = 100;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let total = env_or("COURIER_BENCH_RECORDS", 20_000);
    let rounds = env_or("COURIER_BENCH_ROUNDS", 5);
    let broker = kafka::own();
    let bootstrap = kafka::bootstrap(broker.port());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let topic = "bench";
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()
            .unwrap();
        admin
            .create_topics(
                [&NewTopic::new(topic, 3, TopicReplication::Fixed(1))],
                &AdminOptions::new(),
            )
            .await
            .unwrap();
        let payloads: Vec<String> = (0..total)
            .map(|i| format!(r#"{{"user":{{"id":"u{}"}},"n":{i}}}"#, i % 1000))
            .collect();
        let batches: Vec<Batch> = payloads
            .chunks(BATCH)
            .enumerate()
            .map(|(b, chunk)| {
                let records = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, p)| Record::new(format!("r{b}-{i}"), p.clone()))
                    .collect();
                Batch::new(format!("b{b}"), records)
            })
            .collect();

        let spec = courier_core::DestinationSpec {
            destination_id: "bench".into(),
            config: json!({"bootstrap_servers": [bootstrap], "topic": topic, "key_template": "user.id"}),
            auth_config: json!({"security_protocol": "plaintext"}),
            allow_private_network: true,
            ..Default::default()
        };
        let destination = Arc::new(Kafka.build(&spec).await.unwrap());
        let bare: Arc<FutureProducer> = Arc::new(
            ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("acks", "all")
                .set("enable.idempotence", "true")
                .set("linger.ms", "5")
                .set("partitioner", "murmur2_random")
                .create()
                .unwrap(),
        );
        let keyed: Arc<Vec<(String, String, String)>> = Arc::new(
            payloads
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let id = format!("r{}-{}", i / BATCH, i % BATCH);
                    (format!("u{}", i % 1000), id, p.clone())
                })
                .collect(),
        );

        let connector_round = async || {
            let outcomes: Vec<courier_core::BatchOutcome> = futures::stream::iter(batches.iter())
                .map(|batch| {
                    let destination = destination.clone();
                    async move { destination.deliver(batch).await }
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            let delivered: usize = outcomes.iter().map(|o| o.delivered_count()).sum();
            assert_eq!(delivered, total, "{:?}", outcomes.iter().flat_map(|o| &o.records).find_map(|r| r.error()));
        };
        let bare_round = async || {
            futures::stream::iter(keyed.chunks(BATCH))
                .map(|chunk| {
                    let bare = bare.clone();
                    async move {
                        let pending: Vec<_> = chunk
                            .iter()
                            .map(|(key, id, p)| {
                                // The same header the connector puts on every message.
                                let headers = OwnedHeaders::new().insert(Header {
                                    key: "courier_record_id",
                                    value: Some(id.as_str()),
                                });
                                bare.send_result(
                                    FutureRecord::to(topic).payload(p).key(key).headers(headers),
                                )
                                    .map_err(|(e, _)| e)
                                    .unwrap()
                            })
                            .collect();
                        for d in futures::future::join_all(pending).await {
                            d.unwrap().unwrap();
                        }
                    }
                })
                .buffer_unordered(CONCURRENCY)
                .collect::<Vec<()>>()
                .await;
        };

        let comparison = compare(&["connector", "bare librdkafka"], rounds, total, async |side, _| {
            if side == 0 {
                connector_round().await
            } else {
                bare_round().await
            }
        })
        .await;
        let [ratio, lo, hi] = comparison.ratio(0);
        println!(
            "{total} records a round ({BATCH} a batch, {CONCURRENCY} batches in flight), acks=all, idempotent, against tansu:"
        );
        println!("  connector:       {:>8.0} records/s", comparison.rate(0));
        println!("  bare librdkafka: {:>8.0} records/s", comparison.rate(1));
        println!("  ratio {ratio:.2} (quartiles {lo:.2}-{hi:.2})");

        // Memory over a longer run: the connector alone, RSS sampled between rounds.
        let before = status_kib("VmRSS:");
        let mut samples = Vec::new();
        for _ in 0..env_or("COURIER_BENCH_SOAK_ROUNDS", 10) {
            connector_round().await;
            samples.push(status_kib("VmRSS:") / 1024);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        println!(
            "  memory: RSS {} MiB before {} more rounds, then {:?} MiB",
            before / 1024,
            samples.len(),
            samples
        );
    });
    drop(broker);
}

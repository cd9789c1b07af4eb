//! MQTT: small records through the connector (MQTT 5, QoS 1: each record delivered when its
//! PUBACK arrives; batches of 100 handed to it, 8 at once, as the runtime does) against a
//! mosquitto of the benchmark's own, side by side with bare rumqttc publishing the same
//! messages at QoS 1 on one connection with the same in-flight limit and counting PUBACKs. Both
//! put the same packets on the wire: topic, payload, and the `courier_record_id` user property
//! the connector adds to every message (the records carry no event, so no event properties).
//! Rounds alternate the order. Prints records per second of both, the ratio, and the resident
//! memory before and after all rounds (flat when nothing is kept per record).
//!
//! Run: `cargo bench -p courier-connector-mqtt` (COURIER_BENCH_RECORDS overrides 20000 records
//! a round, COURIER_BENCH_ROUNDS 5 rounds).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use courier_benchkit::compare;
use courier_benchkit::status_kib;
use courier_connector_mqtt::{Mqtt, RECORD_ID_PROPERTY};
use courier_core::{Batch, DestinationSpec, DynConnector, Record};
use courier_testbed::brokers::{PASSWORD, USERNAME, mqtt};
use futures::StreamExt;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use serde_json::json;

const BATCH: usize = 100;
const CONCURRENCY: usize = 8;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// Bare rumqttc: one connection, the event loop polled in the background, counting PUBACKs.
struct Bare {
    client: AsyncClient,
    acks: Arc<AtomicU64>,
    acked: Arc<tokio::sync::Notify>,
}

impl Bare {
    async fn connect(port: u16) -> Bare {
        let mut options = MqttOptions::new("bench-bare", "127.0.0.1", port);
        options
            .set_credentials(USERNAME, PASSWORD)
            .set_outgoing_inflight_upper_limit(100)
            .set_request_channel_capacity(1024);
        let (client, mut event_loop) = AsyncClient::new(options, 1024);
        let acks = Arc::new(AtomicU64::new(0));
        let acked = Arc::new(tokio::sync::Notify::new());
        let (count, notify) = (acks.clone(), acked.clone());
        tokio::spawn(async move {
            loop {
                match event_loop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        count.fetch_add(1, Ordering::Relaxed);
                        notify.notify_one();
                    }
                    Ok(_) => {}
                    Err(e) => panic!("bare rumqttc lost its connection: {e}"),
                }
            }
        });
        Bare {
            client,
            acks,
            acked,
        }
    }

    /// Publishes every payload at QoS 1, each with its record id as the connector sends it,
    /// and waits for all their PUBACKs.
    async fn publish_all(&self, topics: &[String], payloads: &[Bytes], ids: &[String]) {
        let target = self.acks.load(Ordering::Relaxed) + payloads.len() as u64;
        for ((topic, payload), id) in topics.iter().zip(payloads).zip(ids) {
            let properties = PublishProperties {
                user_properties: vec![(RECORD_ID_PROPERTY.to_string(), id.clone())],
                ..PublishProperties::default()
            };
            self.client
                .publish_with_properties(
                    topic.clone(),
                    QoS::AtLeastOnce,
                    false,
                    payload.clone(),
                    properties,
                )
                .await
                .unwrap();
        }
        while self.acks.load(Ordering::Relaxed) < target {
            let _ = tokio::time::timeout(Duration::from_millis(50), self.acked.notified()).await;
        }
    }
}

fn main() {
    let total = env_or("COURIER_BENCH_RECORDS", 20_000);
    let rounds = env_or("COURIER_BENCH_ROUNDS", 5);
    let broker = mqtt::own();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let payloads: Vec<Bytes> = (0..total)
            .map(|i| Bytes::from(format!(r#"{{"user":{{"id":"u{}"}},"n":{i},"kind":"bench"}}"#, i % 16)))
            .collect();
        let topics: Vec<String> = (0..total).map(|i| format!("bench/u{}", i % 16)).collect();
        let ids: Vec<String> = (0..total).map(|n| format!("r{}-{}", n / BATCH, n % BATCH)).collect();
        let bytes: usize = payloads.iter().map(Bytes::len).sum();
        let batches: Vec<Batch> = payloads
            .chunks(BATCH)
            .zip(ids.chunks(BATCH))
            .enumerate()
            .map(|(b, (chunk, chunk_ids))| {
                let records = chunk
                    .iter()
                    .zip(chunk_ids)
                    .map(|(p, id)| Record::new(id.clone(), p.clone()))
                    .collect();
                Batch::new(format!("b{b}"), records)
            })
            .collect();

        let destination = Mqtt
            .build(&DestinationSpec {
                destination_id: "bench".into(),
                config: json!({"broker_url": mqtt::url(broker.port()), "topic_template": "bench/{user.id}"}),
                auth_config: json!({"username": USERNAME, "password": PASSWORD}),
                allow_private_network: true,
                ..DestinationSpec::default()
            })
            .await
            .unwrap();
        let bare = Bare::connect(broker.port()).await;

        let before = status_kib("VmRSS:");
        let comparison = compare(
            &["connector", "bare rumqttc"],
            rounds,
            bytes,
            async |side, _round| {
                if side == 1 {
                    bare.publish_all(&topics, &payloads, &ids).await;
                    return;
                }
                let delivered: usize = futures::stream::iter(batches.iter())
                    .map(|batch| {
                        let destination = destination.clone();
                        async move { destination.deliver(batch).await.delivered_count() }
                    })
                    .buffer_unordered(CONCURRENCY)
                    .fold(0, |sum, n| async move { sum + n })
                    .await;
                assert_eq!(delivered, total, "every record is acknowledged");
            },
        )
        .await;
        let after = status_kib("VmRSS:");

        let per_second = |side: usize| comparison.rate(side) * total as f64 / bytes as f64;
        let [ratio, low, high] = comparison.ratio(0);
        println!(
            "{total} records of {} bytes, MQTT 5 QoS 1 (acknowledged), {rounds} rounds alternating, against mosquitto on loopback:",
            bytes / total
        );
        println!(
            "  connector (batches of {BATCH}, {CONCURRENCY} at once): {:>9.0} records/s",
            per_second(0)
        );
        println!("  bare rumqttc (one connection):       {:>9.0} records/s", per_second(1));
        println!("  ratio {ratio:.2} (quartiles {low:.2}-{high:.2}; target >= 0.9)");
        println!(
            "  RSS before the rounds {:.1} MiB, after {:.1} MiB",
            before as f64 / 1024.0,
            after as f64 / 1024.0
        );
    });
}

//! RabbitMQ: small records through the connector (batches of 500 handed to it as the runtime
//! does, 4 at once, every message confirmed) against a broker of the bench's own, side by side
//! with bare lapin doing the same: the same messages and properties, published `mandatory` on 4
//! confirm channels, 500 a time, every confirm awaited. Prints records per second of both and
//! the ratio (rounds alternate the order), then the connector's RSS before and after a longer
//! run, which should stay flat.
//!
//! Run: `cargo bench -p courier-connector-rabbitmq` (about 40 s). `COURIER_BENCH_RECORDS`
//! overrides the 20,000 records of a round, `COURIER_BENCH_ROUNDS` the 5 rounds and
//! `COURIER_BENCH_SOAK` the 10 runs of the memory check.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use courier_benchkit::{compare, status_kib};
use courier_connector_rabbitmq::Rabbitmq;
use courier_core::{Batch, Destination, DestinationSpec, DynConnector, Record};
use courier_testbed::brokers::rabbitmq;
use courier_testbed::brokers::{PASSWORD, USERNAME};
use futures::StreamExt;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use serde_json::json;

const BATCH: usize = 500;
const CONCURRENCY: usize = 4;
const QUEUE: &str = "courier-bench";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let total = env_number("COURIER_BENCH_RECORDS", 20_000);
    let rounds = env_number("COURIER_BENCH_ROUNDS", 5);
    let soak = env_number("COURIER_BENCH_SOAK", 10);
    let broker = rabbitmq::own();
    let url = rabbitmq::url(broker.port());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let bare = Arc::new(Connection::connect(&url, ConnectionProperties::default()).await.unwrap());
        // The queue keeps the newest 50,000 messages, so the broker's memory stays level.
        let setup = bare.create_channel().await.unwrap();
        let mut arguments = FieldTable::default();
        arguments.insert("x-max-length".into(), AMQPValue::LongInt(50_000));
        setup
            .queue_declare(QUEUE.into(), QueueDeclareOptions::durable(), arguments)
            .await
            .unwrap();
        let mut bare_channels = Vec::new();
        for _ in 0..CONCURRENCY {
            let channel = bare.create_channel().await.unwrap();
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .unwrap();
            bare_channels.push(channel);
        }

        let spec = DestinationSpec {
            destination_id: "bench".into(),
            config: json!({
                "url": format!("amqp://127.0.0.1:{}/%2f", broker.port()),
                "routing_key": QUEUE,
                "persistent": false,
            }),
            auth_config: json!({"username": USERNAME, "password": PASSWORD}),
            allow_private_network: true,
            ..DestinationSpec::default()
        };
        let destination = Rabbitmq.build(&spec).await.unwrap();

        let records: Vec<Record> = (0..total)
            .map(|i| {
                Record::new(
                    format!("rec-{i}"),
                    format!(r#"{{"user":{{"id":"u{}"}},"n":{i},"type":"order.created"}}"#, i % 1000),
                )
                .with_event("order.created", format!("evt_{i}"))
            })
            .collect();
        let bytes: usize = records.iter().map(|r| r.payload.len()).sum();
        let per_record = bytes as f64 / total as f64;

        let comparison = compare(&["connector", "bare lapin"], rounds, bytes, async |side, round| {
            match side {
                0 => through_connector(&destination, &records, round).await,
                _ => through_lapin(&bare_channels, &records).await,
            }
        })
        .await;
        let (ours, theirs) = (comparison.rate(0) / per_record, comparison.rate(1) / per_record);
        let [ratio, low, high] = comparison.ratio(0);
        println!(
            "{total} records of {per_record:.0} bytes, batches of {BATCH}, {CONCURRENCY} in flight, publisher confirms, {rounds} rounds:"
        );
        println!("    connector   {ours:>9.0} records/s");
        println!("    bare lapin  {theirs:>9.0} records/s (baseline)");
        println!("    ratio {ratio:.2} (quartiles {low:.2}-{high:.2}; target >= 0.90)");

        let before = status_kib("VmRSS:");
        let started = Instant::now();
        for run in 0..soak {
            through_connector(&destination, &records, 1000 + run).await;
        }
        let after = status_kib("VmRSS:");
        println!(
            "memory: RSS {:.1} MiB before and {:.1} MiB after {} more records through the connector ({:.1} s)",
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            soak * total,
            started.elapsed().as_secs_f64()
        );
    });
    drop(broker);
}

/// Every record through the connector, `BATCH` a batch, `CONCURRENCY` batches at once.
async fn through_connector(destination: &Arc<dyn Destination>, records: &[Record], round: usize) {
    let outcomes: Vec<_> = futures::stream::iter(records.chunks(BATCH).enumerate())
        .map(|(n, chunk)| {
            let destination = destination.clone();
            let batch = Batch::new(format!("r{round}-b{n}"), chunk.to_vec());
            async move { destination.deliver(&batch).await }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let delivered: usize = outcomes.iter().map(|o| o.delivered_count()).sum();
    assert_eq!(delivered, records.len(), "the connector failed records");
}

/// Every record through bare lapin: the same messages, `BATCH` on one confirm channel at a
/// time, `CONCURRENCY` channels at once.
async fn through_lapin(channels: &[Channel], records: &[Record]) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let chunks: Vec<&[Record]> = records.chunks(BATCH).collect();
    let workers = channels.iter().map(|channel| {
        let (next, chunks) = (next.clone(), &chunks);
        async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(chunk) = chunks.get(n) else { break };
                let mut confirms = Vec::with_capacity(chunk.len());
                for record in chunk.iter() {
                    let confirm = channel
                        .basic_publish(
                            "".into(),
                            QUEUE.into(),
                            BasicPublishOptions {
                                mandatory: true,
                                immediate: false,
                            },
                            &record.payload,
                            properties(record),
                        )
                        .await
                        .unwrap();
                    confirms.push(confirm);
                }
                for confirm in confirms {
                    assert!(matches!(confirm.await.unwrap(), Confirmation::Ack(None)));
                }
            }
        }
    });
    futures::future::join_all(workers).await;
}

/// The properties the connector sets, built the plain way.
fn properties(record: &Record) -> BasicProperties {
    let mut headers = FieldTable::default();
    if let Some(event) = &record.event {
        headers.insert(
            "courier_event_type".into(),
            AMQPValue::LongString(LongString::from(event.event_type.as_str())),
        );
        headers.insert(
            "courier_event_id".into(),
            AMQPValue::LongString(LongString::from(event.event_id.as_str())),
        );
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    BasicProperties::default()
        .with_message_id(ShortString::from(record.id.as_str()))
        .with_content_type("application/json".into())
        .with_delivery_mode(1)
        .with_timestamp(now)
        .with_headers(headers)
}

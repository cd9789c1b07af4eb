//! NATS JetStream: small records through the connector (batches of 500 handed to it, 4 at
//! once, each record acknowledged by the stream) side by side with bare async-nats publishing
//! the same messages with the same headers, 500 at a time and 4 at once, awaiting every
//! acknowledgement. Prints records per second of both, the ratio, and the memory before and
//! after a longer run of the connector.
//!
//! Run: `cargo bench -p courier-connector-nats` (COURIER_BENCH_RECORDS overrides 20000,
//! COURIER_BENCH_ROUNDS the 9 timed rounds, COURIER_BENCH_LONG_ROUNDS the 5 rounds of the
//! memory run). Starts a nats-server of its own (JetStream on disk).

use std::sync::Arc;
use std::time::Instant;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use courier_connector_nats::Nats;
use courier_core::{Batch, DynConnector, Record};
use courier_testbed::brokers::{PASSWORD, USERNAME, nats};
use futures::StreamExt;
use serde_json::json;

const CONCURRENCY: usize = 4;
const BATCH: usize = 500;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// The headers the connector puts on a record with id `id` and event `event_id` (no headers
/// configured): the bare side sends exactly these.
fn bare_headers(id: &str, event_id: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", id);
    headers.insert("courier_event_type", "order.created");
    headers.insert("courier_event_id", event_id);
    headers
}

/// One message of each side, read back from the stream: both sides must put the same message
/// on the wire (subject, body, header names and values but the record id), or the ratio
/// compares different work.
async fn check_same_messages(
    js: &jetstream::Context,
    destination: &Arc<dyn courier_core::Destination>,
    payload: &Bytes,
) {
    let record = Record::new("wire-check-c", payload.clone()).with_event("order.created", "evt-w");
    let out = destination
        .deliver(&Batch::new("wire-check", vec![record]))
        .await;
    assert_eq!(out.delivered_count(), 1, "{out:?}");
    js.publish_with_headers(
        "bench.records",
        bare_headers("wire-check-b", "evt-w"),
        payload.clone(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let stream = js.get_stream("BENCH").await.unwrap();
    let connector = stream.get_raw_message(1).await.unwrap();
    let bare = stream.get_raw_message(2).await.unwrap();
    let headers = |m: &jetstream::message::StreamMessage| {
        let mut h: Vec<(String, Vec<String>)> = m
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.iter().map(|v| v.to_string()).collect()))
            .collect();
        h.sort();
        h
    };
    let without_id = |m: &jetstream::message::StreamMessage| {
        headers(m)
            .into_iter()
            .map(|(n, v)| {
                if n == "Nats-Msg-Id" {
                    (n, Vec::new())
                } else {
                    (n, v)
                }
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(connector.subject, bare.subject);
    assert_eq!(connector.payload, bare.payload);
    assert_eq!(
        without_id(&connector),
        without_id(&bare),
        "{:?}",
        headers(&connector)
    );
    assert_eq!(
        connector.headers.get("Nats-Msg-Id").map(|v| v.as_str()),
        Some("wire-check-c")
    );
}

fn main() {
    let total = env_or("COURIER_BENCH_RECORDS", 20_000);
    let rounds = env_or("COURIER_BENCH_ROUNDS", 9);
    let long_rounds = env_or("COURIER_BENCH_LONG_ROUNDS", 5);
    let broker = nats::own();
    let port = broker.port();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = async_nats::ConnectOptions::with_user_and_password(
            USERNAME.into(),
            PASSWORD.into(),
        )
        .connect(nats::url(port))
        .await
        .unwrap();
        let js = jetstream::new(client);
        js.create_stream(stream::Config {
            name: "BENCH".into(),
            subjects: vec!["bench.>".into()],
            storage: stream::StorageType::File,
            // Old messages go: the stream stays the same size over many rounds.
            max_messages: 200_000,
            ..Default::default()
        })
        .await
        .unwrap();

        let payloads: Vec<Bytes> = (0..total)
            .map(|i| {
                Bytes::from(format!(
                    r#"{{"user":{{"id":"u{}"}},"n":{i},"type":"order.created"}}"#,
                    i % 1000
                ))
            })
            .collect();
        let bytes: usize = payloads.iter().map(Bytes::len).sum();
        let record_bytes = bytes as f64 / total as f64;

        let spec = courier_core::DestinationSpec {
            destination_id: "bench".into(),
            config: json!({ "servers": [nats::url(port)], "subject_template": "bench.records" }),
            auth_config: json!({ "username": USERNAME, "password": PASSWORD }),
            allow_private_network: true,
            ..Default::default()
        };
        let destination = Nats.build(&spec).await.unwrap();
        check_same_messages(&js, &destination, &payloads[0]).await;
        let payloads = Arc::new(payloads);

        // Every run sends fresh record ids: the stream would drop repeated ones as duplicates.
        let connector_run = |tag: String| {
            let (destination, payloads) = (destination.clone(), payloads.clone());
            async move {
                let batches: Vec<Batch> = payloads
                    .chunks(BATCH)
                    .enumerate()
                    .map(|(b, chunk)| {
                        let records = chunk
                            .iter()
                            .enumerate()
                            .map(|(i, p)| {
                                Record::new(format!("{tag}-{b}-{i}"), p.clone())
                                    .with_event("order.created", format!("evt-{b}-{i}"))
                            })
                            .collect();
                        Batch::new(format!("{tag}-{b}"), records)
                    })
                    .collect();
                let delivered: usize = futures::stream::iter(batches)
                    .map(|batch| {
                        let destination = destination.clone();
                        async move { destination.deliver(&batch).await.delivered_count() }
                    })
                    .buffer_unordered(CONCURRENCY)
                    .fold(0, |sum, n| async move { sum + n })
                    .await;
                assert_eq!(delivered, payloads.len(), "every record is acknowledged");
            }
        };
        let bare_run = |tag: String| {
            let (js, payloads) = (js.clone(), payloads.clone());
            async move {
                let chunks: Vec<(usize, Vec<Bytes>)> = payloads
                    .chunks(BATCH)
                    .map(<[Bytes]>::to_vec)
                    .enumerate()
                    .collect();
                let acked: usize = futures::stream::iter(chunks)
                    .map(|(b, chunk)| {
                        let (js, tag) = (js.clone(), tag.clone());
                        async move {
                            let mut acks = Vec::with_capacity(chunk.len());
                            for (i, payload) in chunk.into_iter().enumerate() {
                                let headers = bare_headers(
                                    &format!("{tag}-{b}-{i}"),
                                    &format!("evt-{b}-{i}"),
                                );
                                acks.push(
                                    js.publish_with_headers("bench.records", headers, payload)
                                        .await
                                        .unwrap(),
                                );
                            }
                            futures::future::join_all(acks.into_iter().map(|a| a.into_future()))
                                .await
                                .into_iter()
                                .filter(Result::is_ok)
                                .count()
                        }
                    })
                    .buffer_unordered(CONCURRENCY)
                    .fold(0, |sum, n| async move { sum + n })
                    .await;
                assert_eq!(acked, payloads.len(), "every message is acknowledged");
            }
        };

        let comparison = courier_benchkit::compare(
            &["connector", "bare async-nats"],
            rounds,
            bytes,
            async |side, round| {
                let tag = format!("s{side}r{round}");
                if side == 0 {
                    connector_run(tag).await
                } else {
                    bare_run(tag).await
                }
            },
        )
        .await;
        comparison.print(&format!(
            "NATS JetStream, {total} records of {record_bytes:.0} bytes, batches of {BATCH}, {CONCURRENCY} at once, every record acknowledged"
        ));
        let (ours, bare) = (
            comparison.rate(0) / record_bytes,
            comparison.rate(1) / record_bytes,
        );
        let [ratio, low, high] = comparison.ratio(0);
        println!(
            "    connector {ours:.0} records/s, bare async-nats {bare:.0} records/s, ratio {ratio:.2} (quartiles {low:.2}-{high:.2}; target >= 0.9)"
        );

        // Memory over a longer run of the connector: it should stay flat.
        let before = courier_benchkit::status_kib("VmRSS:");
        let started = Instant::now();
        for round in 0..long_rounds {
            connector_run(format!("long{round}")).await;
        }
        let after = courier_benchkit::status_kib("VmRSS:");
        println!(
            "    memory: RSS {:.1} MiB before, {:.1} MiB after {} more records through the connector ({:.1} s)",
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            long_rounds * total,
            started.elapsed().as_secs_f64()
        );
    });
    drop(broker);
}

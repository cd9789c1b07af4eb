//! Kinesis: 100k small records through the connector (PutRecords, up to 500 a request) against
//! moto, side by side with one PutRecord per record at the same concurrency. Prints requests
//! made, records per second, and the ratio.
//!
//! Run: `cargo bench -p courier-connector-kinesis` (COURIER_BENCH_RECORDS overrides 100000).
//! Uses the moto that `cargo xtask test` started, or starts the one it installed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use aws_sdk_kinesis::primitives::Blob;
use courier_connector_kinesis::Kinesis;
use courier_core::{Batch, DestinationSpec, DynConnector, Record};
use courier_runtime::{Deliverer, DeliveryPolicy};
use courier_testbed::moto::Moto;

const CONCURRENCY: usize = 8;

fn main() {
    let total: usize = std::env::var("COURIER_BENCH_RECORDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let (moto, _guard) = Moto::from_env_or_started();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sdk = moto.kinesis();
        let stream = courier_testbed::fresh_name("courier-bench");
        sdk.create_stream()
            .stream_name(&stream)
            .shard_count(4)
            .send()
            .await
            .unwrap();
        let payloads: Vec<String> = (0..total)
            .map(|i| format!(r#"{{"user":{{"id":"u{}"}},"n":{i}}}"#, i % 1000))
            .collect();

        // The connector, through the delivery policy: batches of 500 records.
        let spec = DestinationSpec {
            destination_id: "bench".into(),
            config: moto.kinesis_config(&stream),
            auth_config: moto.auth(),
            payload_cap_bytes: None,
            token_store: None,
            allow_private_network: true,
        };
        let deliverer = Deliverer::new(
            Kinesis.build(&spec).await.unwrap(),
            DeliveryPolicy {
                max_concurrency: CONCURRENCY as u32,
                ..DeliveryPolicy::default()
            },
        );
        let batches: Vec<Batch> = payloads
            .chunks(500)
            .enumerate()
            .map(|(b, chunk)| {
                Batch::new(
                    format!("b{b}"),
                    chunk
                        .iter()
                        .enumerate()
                        .map(|(i, p)| Record::new(format!("r{b}-{i}"), p.clone()))
                        .collect(),
                )
            })
            .collect();
        let requests = batches.len();
        let t = Instant::now();
        let outcomes = deliverer.deliver_all(batches).await;
        let ours = t.elapsed();
        let delivered: usize = outcomes.iter().map(|o| o.delivered_count()).sum();
        assert_eq!(delivered, total);

        // The bare SDK: one PutRecord per record, same concurrency.
        let next = Arc::new(AtomicUsize::new(0));
        let payloads = Arc::new(payloads);
        let t = Instant::now();
        let workers: Vec<_> = (0..CONCURRENCY)
            .map(|_| {
                let (sdk, next, payloads, stream) =
                    (sdk.clone(), next.clone(), payloads.clone(), stream.clone());
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= payloads.len() {
                            break;
                        }
                        sdk.put_record()
                            .stream_name(&stream)
                            .partition_key(format!("u{}", i % 1000))
                            .data(Blob::new(payloads[i].clone()))
                            .send()
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
        let bare = t.elapsed();
        let (ours_rate, bare_rate) = (
            total as f64 / ours.as_secs_f64(),
            total as f64 / bare.as_secs_f64(),
        );
        println!("{total} records, {CONCURRENCY} requests in flight, against moto:");
        println!("  connector (PutRecords):  {requests:>6} requests, {ours_rate:>8.0} records/s");
        println!("  bare SDK (PutRecord):    {total:>6} requests, {bare_rate:>8.0} records/s");
        println!("  ratio {:.2}", ours_rate / bare_rate);
    });
}

//! Redis Streams: small records through the connector (batches of 100 handed to it, 8 at once,
//! each batch one pipeline of guarded appends) against a redis-server of its own (appendonly,
//! fsync on every write), side by side with the bare redis client sending the same entries in
//! the same pipelines at the same concurrency: once as the same guarded script calls, once as
//! plain XADDs (the baseline). Rounds alternate their order. Prints records per second, the
//! ratios, and the process's memory before and after a longer run through the connector.
//!
//! Run: `cargo bench -p courier-connector-redis-streams` (COURIER_BENCH_RECORDS overrides
//! 20000 records a round, COURIER_BENCH_SOAK_ROUNDS the 10 rounds of the memory run).

use std::sync::Arc;
use std::time::Instant;

use courier_benchkit::{compare, status_kib};
use courier_connector_redis_streams::RedisStreams;
use courier_connector_redis_streams::script::{CODE, guard_key};
use courier_core::{Batch, DynConnector, Record};
use courier_testbed::brokers::{self, PASSWORD, USERNAME};
use futures::StreamExt;
use redis::aio::MultiplexedConnection;
use serde_json::json;

const BATCH: usize = 100;
const CONCURRENCY: usize = 8;
const ROUNDS: usize = 5;
const STREAM: &str = "bench";
const TTL_SECONDS: u64 = 86_400;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// Batches of `total` small records with events, their ids unique to `tag`.
fn batches(tag: &str, total: usize) -> Vec<Batch> {
    let records: Vec<Record> = (0..total)
        .map(|i| {
            Record::new(
                format!("{tag}-{i}"),
                format!(
                    r#"{{"user":{{"id":"u{}"}},"n":{i},"type":"order.created"}}"#,
                    i % 1000
                ),
            )
            .with_event("order.created", format!("evt_{tag}_{i}"))
        })
        .collect();
    records
        .chunks(BATCH)
        .enumerate()
        .map(|(b, chunk)| Batch::new(format!("{tag}-b{b}"), chunk.to_vec()))
        .collect()
}

/// The fields the connector writes for `record` (payload layout, no extra fields).
fn fields(record: &Record) -> Vec<(&'static str, &[u8])> {
    let event = record.event.as_ref().expect("bench records carry events");
    vec![
        ("payload", &record.payload[..]),
        ("courier_event_type", event.event_type.as_bytes()),
        ("courier_event_id", event.event_id.as_bytes()),
        ("courier_record_id", record.id.as_bytes()),
    ]
}

/// The bare client's pipeline for one batch: plain XADDs, or the connector's script.
fn bare_pipeline(batch: &Batch, guarded: bool, script: &redis::Script) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    for record in &batch.records {
        let mut cmd = if guarded {
            let mut c = redis::cmd("EVALSHA");
            c.arg(script.get_hash())
                .arg(2)
                .arg(STREAM)
                .arg(guard_key(STREAM, &record.id))
                .arg(TTL_SECONDS)
                .arg(0);
            c
        } else {
            let mut c = redis::cmd("XADD");
            c.arg(STREAM).arg("*");
            c
        };
        for (name, value) in fields(record) {
            cmd.arg(name).arg(value);
        }
        pipe.add_command(cmd);
    }
    pipe
}

async fn bare(
    connection: &MultiplexedConnection,
    batches: &[Batch],
    guarded: bool,
    script: &redis::Script,
) {
    futures::stream::iter(batches)
        .map(|batch| {
            let mut connection = connection.clone();
            let pipe = bare_pipeline(batch, guarded, script);
            async move {
                let answers: Vec<redis::Value> = pipe.query_async(&mut connection).await.unwrap();
                assert_eq!(answers.len(), batch.records.len());
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
}

async fn connector(destination: &Arc<dyn courier_core::Destination>, batches: &[Batch]) {
    let delivered: usize = futures::stream::iter(batches)
        .map(|batch| {
            let destination = destination.clone();
            async move { destination.deliver(batch).await.delivered_count() }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<usize>>()
        .await
        .into_iter()
        .sum();
    let expected: usize = batches.iter().map(|b| b.records.len()).sum();
    assert_eq!(delivered, expected, "every record is delivered");
}

fn main() {
    let total = env_number("COURIER_BENCH_RECORDS", 20_000);
    let soak_rounds = env_number("COURIER_BENCH_SOAK_ROUNDS", 10).max(2);
    let broker = brokers::redis::own();
    let port = broker.port();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let spec = courier_core::DestinationSpec {
            destination_id: "bench".into(),
            config: json!({"url": brokers::redis::url(port), "stream_key_template": STREAM}),
            auth_config: json!({"username": USERNAME, "password": PASSWORD}),
            allow_private_network: true,
            ..courier_core::DestinationSpec::default()
        };
        let destination = RedisStreams.build(&spec).await.unwrap();
        let client = redis::Client::open(format!("redis://{USERNAME}:{PASSWORD}@127.0.0.1:{port}/0")).unwrap();
        let connection = client.get_multiplexed_async_connection().await.unwrap();
        let script = redis::Script::new(CODE);
        let _: String = script.prepare_invoke().load_async(&mut connection.clone()).await.unwrap();

        let sides = ["connector (guarded)", "bare client, same script", "bare client, plain XADD"];
        // Fresh record ids for every side and round (the warm-up is round ROUNDS), so no guard
        // answers for an earlier round.
        let inputs: Vec<Vec<Vec<Batch>>> = (0..sides.len())
            .map(|side| (0..=ROUNDS).map(|round| batches(&format!("s{side}r{round}"), total)).collect())
            .collect();
        let comparison = compare(&sides, ROUNDS, total, async |side, round| {
            let input = &inputs[side][round];
            match side {
                0 => connector(&destination, input).await,
                1 => bare(&connection, input, true, &script).await,
                _ => bare(&connection, input, false, &script).await,
            }
        })
        .await;
        println!(
            "{total} records a round (~{} bytes each), batches of {BATCH}, {CONCURRENCY} pipelines in flight on one connection, redis-server with appendfsync always; {ROUNDS} rounds, order alternating:",
            inputs[0][0][0].records[0].payload.len()
        );
        for (i, side) in sides.iter().enumerate() {
            let rate = comparison.rate(i);
            if i + 1 == sides.len() {
                println!("    {side:<26} {rate:>9.0} records/s (baseline)");
            } else {
                let [m, lo, hi] = comparison.ratio(i);
                println!("    {side:<26} {rate:>9.0} records/s, ratio {m:.2} (quartiles {lo:.2}-{hi:.2})");
            }
        }
        println!(
            "    connector vs the same script on the bare client: {:.2}",
            comparison.rate(0) / comparison.rate(1)
        );

        // Memory over a longer run through the connector: flat, not growing with records (the
        // first half warms the allocator up; the second must not add to it).
        drop(inputs);
        let before = status_kib("VmRSS:");
        let started = Instant::now();
        let mut readings = Vec::new();
        for round in 0..soak_rounds {
            connector(&destination, &batches(&format!("soak{round}"), total)).await;
            if round + 1 == soak_rounds / 2 || round + 1 == soak_rounds {
                readings.push(status_kib("VmRSS:"));
            }
        }
        let mib = |kib: u64| kib as f64 / 1024.0;
        println!(
            "memory: RSS {:.1} MiB before, {:.1} MiB halfway and {:.1} MiB after {} more records through the connector ({:.1} s)",
            mib(before),
            mib(readings[0]),
            mib(*readings.last().unwrap()),
            soak_rounds * total,
            started.elapsed().as_secs_f64()
        );
    });
    drop(broker);
}

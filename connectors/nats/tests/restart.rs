//! The server killed (SIGKILL) and started again in the middle of a delivery: records fail as
//! retryable while it is down, the connection comes back by itself, records delivered again
//! until every one is delivered, and the stream (on disk) holds every record ever reported
//! delivered; copies carry the same record id as `Nats-Msg-Id`.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use courier_connector_nats::Nats;
use courier_core::{Batch, DynConnector, Record};

const RECORDS: usize = 4000;
const BATCH: usize = 2000;
const STREAM: &str = "RESTART";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_restart_mid_delivery_loses_nothing_confirmed() {
    let broker = common::broker();
    let port = broker.port();
    common::create_stream(port, STREAM, &["restart.>"], None).await;
    let broker = Arc::new(Mutex::new(broker));
    let destination = Nats
        .build(&common::spec(
            common::config(port, "restart.{region}"),
            common::auth(),
        ))
        .await
        .unwrap();
    let records = common::records("rs", RECORDS);
    let payloads: HashMap<String, bytes::Bytes> = records
        .iter()
        .map(|r| (r.id.clone(), r.payload.clone()))
        .collect();

    // Kill the server once the stream holds a few hundred messages of the first batch (so in
    // the middle of it), and start it again shortly after.
    let killer = {
        let broker = broker.clone();
        tokio::spawn(async move {
            while common::stream_count(port, STREAM).await < 300 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            tokio::runtime::Handle::current()
                .spawn_blocking(move || {
                    broker.lock().unwrap().kill();
                    std::thread::sleep(Duration::from_millis(500));
                    broker.lock().unwrap().start_again();
                })
                .await
                .unwrap();
        })
    };

    let mut ever_delivered: HashSet<String> = HashSet::new();
    let mut pending: Vec<Record> = Vec::new();
    let mut failures = 0;
    let mut split_batches = 0;
    for (n, chunk) in records.chunks(BATCH).enumerate() {
        let out = destination
            .deliver(&Batch::new(format!("b{n}"), chunk.to_vec()))
            .await;
        for (record, outcome) in chunk.iter().zip(&out.records) {
            match outcome.error() {
                None => {
                    ever_delivered.insert(record.id.clone());
                }
                Some(e) => {
                    assert!(e.is_retryable(), "a restart is transient: {e:?}");
                    failures += 1;
                    pending.push(record.clone());
                }
            }
        }
        let delivered = out.delivered_count();
        if delivered > 0 && delivered < chunk.len() {
            split_batches += 1;
        }
    }
    killer.await.unwrap();
    assert!(
        failures > 0,
        "nothing failed: the server was not killed during the delivery"
    );

    // Redeliver what failed, as the runtime would, until everything is delivered.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut round = 0;
    while !pending.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} records still failing after 60 s",
            pending.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        round += 1;
        let out = destination
            .deliver(&Batch::new(format!("retry{round}"), pending.clone()))
            .await;
        let mut still = Vec::new();
        for (record, outcome) in pending.iter().zip(&out.records) {
            match outcome.error() {
                None => {
                    ever_delivered.insert(record.id.clone());
                }
                Some(e) => {
                    assert!(e.is_retryable(), "{e:?}");
                    still.push(record.clone());
                }
            }
        }
        pending = still;
    }

    // Read back with a plain client: every record present, body intact; copies only of a
    // record, under its id.
    let stored = common::read_stream(port, STREAM).await;
    let mut copies: HashMap<String, usize> = HashMap::new();
    for message in &stored {
        let id = message
            .header("Nats-Msg-Id")
            .expect("every message carries its record id");
        assert_eq!(
            message.payload, payloads[id],
            "message {id} is its record's payload byte for byte"
        );
        *copies.entry(id.to_string()).or_default() += 1;
    }
    for id in &ever_delivered {
        assert!(
            copies.contains_key(id),
            "record {id} was reported delivered but is lost"
        );
    }
    assert_eq!(copies.len(), RECORDS, "every record is stored in the end");
    let duplicated = copies.values().filter(|&&n| n > 1).count();
    println!(
        "{failures} records failed during the restart ({split_batches} batches partly delivered), {round} redelivery rounds, {} messages stored, {duplicated} records stored twice",
        stored.len()
    );
    drop(broker);
}

//! A broker restart in the middle of a batch (tansu keeping topics on disk, killed with
//! SIGKILL and started again): nothing the connector reported delivered is lost, the records
//! that were not acknowledged fail as retryable and are delivered when sent again, and any
//! duplicate carries the record's id.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use courier_connector_kafka::Kafka;
use courier_core::{Batch, DynConnector, Record};
use serde_json::json;
use support::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_confirmed_is_lost_when_the_broker_restarts_mid_batch() {
    let cluster = Arc::new(Cluster::durable());
    let topic = cluster.new_topic(3).await;
    let mut config = cluster.config(&topic);
    config["key_template"] = json!("customer");
    let destination = Kafka.build(&cluster.spec(config)).await.unwrap();
    let records: Vec<Record> = (0..3000)
        .map(|i| {
            Record::new(
                format!("r{i}"),
                format!(r#"{{"n":{i},"customer":"c{}"}}"#, i % 7),
            )
        })
        .collect();

    // Kill the broker while the second batch is in flight; start it again a second later.
    let first_done = Arc::new(AtomicBool::new(false));
    // Whether a delivery had started and not returned: true at the kill proves the kill came
    // in the middle of a batch (librdkafka may then retry within its message timeout, or the
    // records fail and are sent again below; either way nothing confirmed may be lost).
    let in_flight = Arc::new(AtomicBool::new(false));
    let killer = {
        let (cluster, first_done, in_flight) =
            (cluster.clone(), first_done.clone(), in_flight.clone());
        std::thread::spawn(move || {
            while !first_done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(2));
            }
            std::thread::sleep(Duration::from_millis(20));
            let mut broker = cluster.broker.lock().unwrap();
            broker.kill();
            let mid_batch = in_flight.load(Ordering::SeqCst);
            std::thread::sleep(Duration::from_secs(1));
            broker.start_again();
            mid_batch
        })
    };

    let mut reported: BTreeSet<String> = BTreeSet::new();
    let mut pending = records.clone();
    let mut failures = 0;
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut round = 0;
    while !pending.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} records still undelivered",
            pending.len()
        );
        let mut failed = Vec::new();
        for (b, chunk) in pending.chunks(500).enumerate() {
            in_flight.store(true, Ordering::SeqCst);
            let outcome = destination
                .deliver(&Batch::new(format!("b{round}-{b}"), chunk.to_vec()))
                .await;
            in_flight.store(false, Ordering::SeqCst);
            for (r, o) in chunk.iter().zip(&outcome.records) {
                match o.error() {
                    None => {
                        reported.insert(r.id.clone());
                    }
                    Some(e) => {
                        assert!(e.is_retryable(), "a restart is transient: {e:?}");
                        failures += 1;
                        failed.push(r.clone());
                    }
                }
            }
            first_done.store(true, Ordering::SeqCst);
        }
        pending = failed;
        round += 1;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    assert!(
        killer.join().unwrap(),
        "the broker was killed while a batch was being delivered"
    );
    assert_eq!(reported.len(), records.len());

    let found = cluster
        .read(&topic, records.len(), Duration::from_secs(60))
        .await;
    let mut copies: BTreeMap<&str, usize> = BTreeMap::new();
    for m in &found {
        let id = m
            .header("courier_record_id")
            .expect("every message names its record");
        let record = records.iter().find(|r| r.id == id).expect("a known record");
        assert_eq!(
            m.payload,
            record.payload.to_vec(),
            "a duplicate is the same message"
        );
        *copies.entry(id).or_default() += 1;
    }
    let missing: Vec<&String> = reported
        .iter()
        .filter(|id| !copies.contains_key(id.as_str()))
        .collect();
    assert!(missing.is_empty(), "confirmed records lost: {missing:?}");
    let duplicated = copies.values().filter(|&&n| n > 1).count();
    println!(
        "{} records, {failures} failed attempts over {round} rounds, {duplicated} written twice",
        records.len()
    );
}

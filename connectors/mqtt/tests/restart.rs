//! The broker killed (SIGKILL) and started again in the middle of a large delivery: records
//! whose acknowledgement did not come fail (retryably) and are delivered again, as the runtime
//! would; a subscriber with a persistent session reads everything back after the restart.
//! Every record reported delivered is there, every record is there at the end, and copies of a
//! record carry its id (the `courier_record_id` user property).

mod support;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use courier_connector_mqtt::Mqtt;
use courier_core::{Batch, DynConnector, Record};
use courier_testbed::brokers::mqtt;
use support::{Subscriber, auth, config, spec};

const RECORDS: usize = 3_000;
const BATCH: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_restart_mid_delivery_loses_nothing_confirmed() {
    let mut broker = mqtt::own();
    let port = broker.port();
    // A persistent session: mosquitto keeps (and saves) messages for it while it is away.
    let subscriber = Subscriber::start(port, "restart/#", Some("restart-reader")).await;
    let destination = Mqtt
        .build(&spec(config(port, "restart/{shard}"), auth()))
        .await
        .unwrap();
    let records: Vec<Record> = (0..RECORDS)
        .map(|i| {
            Record::new(
                format!("r{i}"),
                format!(r#"{{"n":{i},"shard":"s{}"}}"#, i % 4),
            )
            .with_event("order.created", format!("evt_{i}"))
        })
        .collect();

    // Kill the broker once a third of the records are acknowledged, start it again shortly after.
    let (third_tx, third) = tokio::sync::oneshot::channel::<()>();
    let restarter = tokio::task::spawn_blocking(move || {
        let _ = third.blocking_recv();
        broker.kill();
        std::thread::sleep(Duration::from_millis(500));
        broker.start_again();
        broker
    });

    let mut confirmed: HashSet<String> = HashSet::new();
    let mut pending: Vec<Record> = records.clone();
    let mut third_tx = Some(third_tx);
    let mut failures = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pending.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} records still undelivered",
            pending.len()
        );
        let mut failed = Vec::new();
        for chunk in pending.chunks(BATCH) {
            let out = destination
                .deliver(&Batch::new("restart", chunk.to_vec()))
                .await;
            for (record, outcome) in chunk.iter().zip(&out.records) {
                match outcome.error() {
                    None => {
                        confirmed.insert(record.id.clone());
                    }
                    Some(e) => {
                        assert!(e.is_retryable(), "{e:?}");
                        failures += 1;
                        failed.push(record.clone());
                    }
                }
            }
            if confirmed.len() >= RECORDS / 3
                && let Some(tx) = third_tx.take()
            {
                let _ = tx.send(());
            }
        }
        if !failed.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        pending = failed;
    }
    let _broker = restarter.await.unwrap();
    assert!(
        failures > 0,
        "the restart failed no record: it came too late"
    );

    let all_there = subscriber
        .wait_until(Duration::from_secs(30), |got| {
            let ids: HashSet<&str> = got
                .iter()
                .filter_map(|m| m.property("courier_record_id"))
                .collect();
            ids.len() >= RECORDS
        })
        .await;
    let got = subscriber.received();
    let mut copies: HashMap<&str, Vec<&[u8]>> = HashMap::new();
    for m in &got {
        let id = m
            .property("courier_record_id")
            .expect("every message names its record");
        copies.entry(id).or_default().push(&m.payload);
    }
    let missing: Vec<&Record> = records
        .iter()
        .filter(|r| !copies.contains_key(r.id.as_str()))
        .collect();
    assert!(
        all_there && missing.is_empty(),
        "{} records missing, {} of them reported delivered: {:?}",
        missing.len(),
        missing.iter().filter(|r| confirmed.contains(&r.id)).count(),
        missing.iter().take(10).map(|r| &r.id).collect::<Vec<_>>()
    );
    // Copies are copies: every message under a record's id carries that record's payload and
    // event.
    for record in &records {
        for payload in &copies[record.id.as_str()] {
            assert_eq!(*payload, &record.payload[..], "record {}", record.id);
        }
    }
    for m in &got {
        let id = m.property("courier_record_id").unwrap();
        let n = id.strip_prefix('r').unwrap();
        assert_eq!(
            m.property("courier_event_id"),
            Some(format!("evt_{n}").as_str())
        );
    }
    let duplicates = got.len() - RECORDS;
    println!("{failures} failed attempts retried; {duplicates} duplicate messages");
}

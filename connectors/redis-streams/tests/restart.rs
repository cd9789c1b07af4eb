//! A broker killed (SIGKILL) in the middle of a large delivery and started again: the
//! connection is opened anew, what failed is delivered again as the runtime would, and in the
//! end every record is in the stream exactly once: redis-server fsyncs every write before it
//! answers (appendfsync always), so nothing acknowledged is lost, and the guard keys are
//! written in the same script as their entries, so they survive with them and a redelivery of
//! a record whose answer was lost in the kill appends nothing.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use courier_core::{Batch, Outcome, Record};
use futures::StreamExt;
use serde_json::json;

const RECORDS: usize = 10_000;
const BATCH: usize = 100;
const CONCURRENCY: usize = 8;
/// The kill comes once this many records are confirmed.
const KILL_AFTER: usize = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_killed_mid_delivery_loses_nothing_confirmed_and_duplicates_nothing() {
    let broker = Arc::new(Mutex::new(common::broker()));
    let port = broker.lock().unwrap().port();
    let destination = common::destination(common::config(port, "orders", json!({}))).await;
    let records: Vec<Record> = (0..RECORDS)
        .map(|i| {
            Record::new(
                format!("r{i}"),
                format!(r#"{{"n":{i},"pad":"{}"}}"#, "x".repeat(200)),
            )
            .with_event("order.created", format!("evt_{i}"))
        })
        .collect();

    // Kill the broker once enough is confirmed, and start it again half a second later.
    let confirmed = Arc::new(AtomicUsize::new(0));
    let killer = {
        let (broker, confirmed) = (broker.clone(), confirmed.clone());
        tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while confirmed.load(Ordering::SeqCst) < KILL_AFTER && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            let killed_at = confirmed.load(Ordering::SeqCst);
            broker.lock().unwrap().kill();
            std::thread::sleep(Duration::from_millis(500));
            broker.lock().unwrap().start_again();
            killed_at
        })
    };

    // Deliver as the runtime would: batches side by side; what failed goes again, after a
    // pause, until everything is confirmed.
    let mut pending: Vec<Record> = records.clone();
    let mut references: HashMap<String, String> = HashMap::new();
    let mut failures = 0usize;
    // Records whose append ran before the kill but whose answer was lost: redelivered, the
    // guard answers with their first entry.
    let mut answered_by_guard = 0usize;
    let mut round = 0usize;
    let deadline = Instant::now() + Duration::from_secs(90);
    while !pending.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} records still failing",
            pending.len()
        );
        let batches: Vec<Batch> = pending
            .chunks(BATCH)
            .enumerate()
            .map(|(i, chunk)| Batch::new(format!("b{round}-{i}"), chunk.to_vec()))
            .collect();
        let outcomes: Vec<_> = futures::stream::iter(batches)
            .map(|batch| {
                let (destination, confirmed) = (destination.clone(), confirmed.clone());
                async move {
                    let out = destination.deliver(&batch).await;
                    confirmed.fetch_add(out.delivered_count(), Ordering::SeqCst);
                    (batch, out)
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        pending.clear();
        for (batch, out) in outcomes {
            for (record, outcome) in batch.records.into_iter().zip(out.records) {
                match outcome.outcome {
                    Outcome::Delivered(d) => {
                        answered_by_guard += usize::from(d.response_body.is_some());
                        references.insert(record.id.clone(), d.reference);
                    }
                    Outcome::Failed { error, .. } => {
                        assert!(error.is_retryable(), "{error:?}");
                        failures += 1;
                        pending.push(record);
                    }
                }
            }
        }
        round += 1;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let killed_at = killer.await.unwrap();
    assert!(
        killed_at < RECORDS && failures > 0,
        "the kill must land mid-delivery (at {killed_at} confirmed, {failures} failures)"
    );

    let mut reader = common::reader(port).await;
    let found = common::entries(&mut reader, "orders").await;
    let by_id: HashMap<&str, &common::ReadEntry> =
        found.iter().map(|e| (e.id.as_str(), e)).collect();
    // Every confirmed entry is there, holding its record.
    for (record_id, reference) in &references {
        let entry_id = reference.strip_prefix("orders/").unwrap();
        let entry = by_id
            .get(entry_id)
            .unwrap_or_else(|| panic!("{record_id}'s confirmed entry {entry_id} was lost"));
        assert_eq!(&entry.record_id(), record_id);
    }
    // Every record exactly once, byte for byte.
    let copies = common::copies(&found);
    let duplicated: Vec<_> = copies.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "duplicates: {duplicated:?}");
    let payloads: HashMap<String, &[u8]> = found
        .iter()
        .map(|e| (e.record_id(), e.field("payload").unwrap()))
        .collect();
    for record in &records {
        assert_eq!(
            payloads.get(&record.id).copied(),
            Some(&record.payload[..]),
            "{}",
            record.id
        );
    }
    assert_eq!(found.len(), RECORDS);
    let distinct: HashSet<&String> = references.values().collect();
    assert_eq!(distinct.len(), RECORDS);
    println!(
        "killed at {killed_at} confirmed; {failures} failed attempts redelivered over {round} rounds; {answered_by_guard} answered by the guard"
    );
}

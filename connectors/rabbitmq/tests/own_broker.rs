//! RabbitMQ started by the test itself: killed and started again in the middle of a large
//! delivery (nothing confirmed is lost, everything arrives at last, duplicates carry their
//! record's id), and run with a small `max_message_size` the connector is not told about (the
//! oversized record fails alone, and the limit is learned); a user without write permission is
//! stopped by the connection test's rolled-back publish.

mod support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use courier_conformance::helpers::test_report;
use courier_connector_rabbitmq::Rabbitmq;
use courier_core::{Batch, DynConnector, ErrorKind, Record, StepStatus};
use courier_testbed::brokers::rabbitmq::{self, RABBITMQ};
use courier_testbed::brokers::{OwnBroker, Recipe};
use serde_json::json;
use support::{Reader, auth, spec, without_user};

/// The broker's own limit in the oversized test: 1 MiB.
const SMALL_MAX_MESSAGE: usize = 1024 * 1024;

/// RabbitMQ as the suite starts it, with `max_message_size` lowered to 1 MiB.
fn small_limit_command(dir: &Path, port: u16) -> Command {
    let command = rabbitmq::command(dir, port);
    let conf = dir.join("rabbitmq.conf");
    let mut text = std::fs::read_to_string(&conf).expect("the recipe wrote rabbitmq.conf");
    text.push_str(&format!("max_message_size = {SMALL_MAX_MESSAGE}\n"));
    std::fs::write(&conf, text).expect("cannot write rabbitmq.conf");
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_restart_mid_delivery_loses_nothing_confirmed() {
    let broker = tokio::task::spawn_blocking(rabbitmq::own).await.unwrap();
    let url = rabbitmq::url(broker.port());
    let queue = "courier-restart";
    let reader = Reader::connect(&url).await;
    reader.queue(queue).await;
    drop(reader);
    // The queue's definition on disk, as on a broker that declared it long ago: Mnesia
    // writes a new definition to its table files only every few minutes, and a kill before
    // that can lose the queue (and with it what it held).
    let broker = tokio::task::spawn_blocking(move || {
        rabbitmqctl(&broker, &["eval", "mnesia:dump_log()."]);
        broker
    })
    .await
    .unwrap();

    let config = json!({"url": without_user(&url), "routing_key": queue});
    let destination = Rabbitmq.build(&spec(config, auth())).await.unwrap();
    let total = 10_000;
    let records: Vec<Record> = (0..total)
        .map(|i| {
            Record::new(
                format!("r{i}"),
                format!(r#"{{"n":{i},"pad":"{}"}}"#, "x".repeat(200)),
            )
        })
        .collect();

    // Kills the broker once a fifth of the records are confirmed, and starts it again.
    let confirmed_count = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let restarted = Arc::new(AtomicBool::new(false));
    let broker = Arc::new(Mutex::new(broker));
    let killer = {
        let (confirmed_count, killed, restarted, broker) = (
            confirmed_count.clone(),
            killed.clone(),
            restarted.clone(),
            broker.clone(),
        );
        tokio::task::spawn_blocking(move || {
            while confirmed_count.load(Ordering::Relaxed) < total / 5 {
                std::thread::sleep(Duration::from_millis(1));
            }
            // Into the next request, while its messages are on the wire.
            std::thread::sleep(Duration::from_millis(20));
            let mut broker = broker.lock().unwrap();
            let down = Instant::now();
            killed.store(true, Ordering::Relaxed);
            broker.kill();
            std::thread::sleep(Duration::from_millis(500));
            broker.start_again();
            println!("the broker was down for {:?}", down.elapsed());
            restarted.store(true, Ordering::Relaxed);
        })
    };

    // Delivers as the runtime would: whatever failed (retryably) goes again, until everything
    // is delivered or the time is up.
    let mut confirmed: HashSet<String> = HashSet::new();
    let mut pending = records.clone();
    let mut retried: HashSet<String> = HashSet::new();
    let started = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut attempt = 0;
    while !pending.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} records still undelivered",
            pending.len()
        );
        attempt += 1;
        let mut failed = Vec::new();
        for (n, chunk) in pending.chunks(500).enumerate() {
            let batch = Batch::new(format!("a{attempt}-b{n}"), chunk.to_vec());
            let outcome = destination.deliver(&batch).await;
            for (record, o) in chunk.iter().zip(&outcome.records) {
                match o.error() {
                    None => {
                        confirmed.insert(record.id.clone());
                    }
                    Some(e) => {
                        // RabbitMQ takes connections again before it has recovered its
                        // durable queues; a publish then comes back NO_ROUTE, the permanent
                        // refusal the connector reports it as. Sent again here, as an
                        // operator would replay it.
                        let recovering = killed.load(Ordering::Relaxed)
                            && e.kind == courier_core::ErrorKind::Rejected
                            && e.message.contains("NO_ROUTE");
                        assert!(e.is_retryable() || recovering, "{}: {e:?}", record.id);
                        failed.push(record.clone());
                    }
                }
            }
            confirmed_count.store(confirmed.len(), Ordering::Relaxed);
        }
        retried.extend(failed.iter().map(|r| r.id.clone()));
        if !failed.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        pending = failed;
    }
    killer.await.unwrap();
    assert!(restarted.load(Ordering::Relaxed));
    assert!(
        !retried.is_empty(),
        "the broker went down while records were in flight"
    );
    assert_eq!(confirmed.len(), total);

    let reader = Reader::connect(&url).await;
    let messages = reader.drain(queue).await;
    let mut bodies: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for m in messages {
        let id = m.message_id().expect("every message carries its record id");
        bodies.entry(id).or_default().push(m.body);
    }
    for record in &records {
        let copies = bodies
            .get(&record.id)
            .unwrap_or_else(|| panic!("record {} was confirmed but is missing", record.id));
        for body in copies {
            assert_eq!(
                body,
                &record.payload.to_vec(),
                "a copy of {} differs",
                record.id
            );
        }
    }
    let duplicates: usize = bodies.values().map(|c| c.len() - 1).sum();
    let took = started.elapsed();
    println!(
        "{total} records in {took:?} ({attempt} rounds), {} retried over the restart, {duplicates} delivered twice (same message id)",
        retried.len()
    );
    assert!(
        bodies.len() == total,
        "only the batch's records are in the queue"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_brokers_limit_fails_alone() {
    let recipe = Recipe {
        command: small_limit_command,
        ..RABBITMQ
    };
    let broker = tokio::task::spawn_blocking(move || OwnBroker::start(recipe))
        .await
        .unwrap();
    let url = rabbitmq::url(broker.port());
    let queue = "courier-oversized";
    let reader = Reader::connect(&url).await;
    reader.queue(queue).await;

    // The config does not know the broker's limit: the broker refuses the big message.
    let config = json!({"url": without_user(&url), "routing_key": queue});
    let destination = Rabbitmq.build(&spec(config, auth())).await.unwrap();
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(2 * SMALL_MAX_MESSAGE));
    let records: Vec<Record> = (0..10)
        .map(|i| match i {
            5 => Record::new("big", big.clone()),
            _ => Record::new(format!("s{i}"), format!(r#"{{"n":{i}}}"#)),
        })
        .collect();
    let first = destination
        .deliver(&Batch::new("b1", records.clone()))
        .await;
    let error = first.records[5].error().expect("the big record fails");
    assert_eq!(error.kind, ErrorKind::PayloadTooLarge, "{error:?}");
    assert!(error.message.contains("1 MiB"), "{}", error.message);
    let again: Vec<Record> = records
        .iter()
        .zip(&first.records)
        .filter(|(_, o)| o.error().is_some_and(|e| e.is_retryable()))
        .map(|(r, _)| r.clone())
        .collect();
    let second = destination.deliver(&Batch::new("b2", again.clone())).await;
    assert_eq!(second.delivered_count(), again.len(), "{second:?}");
    assert_eq!(
        first.delivered_count() + second.delivered_count(),
        9,
        "all but the big record are delivered"
    );

    // The limit is learned: now the big record fails before it is sent, the rest at once.
    let third = destination.deliver(&Batch::new("b3", records)).await;
    assert_eq!(third.delivered_count(), 9, "{third:?}");
    let error = third.records[5].error().expect("still too big");
    assert_eq!(error.kind, ErrorKind::PayloadTooLarge);
    // Each small record is there (those published before the big one may be there twice:
    // the broker had taken them when it closed the channel, before confirming them), the big
    // one never.
    let ids: Vec<String> = reader
        .drain(queue)
        .await
        .iter()
        .filter_map(|m| m.message_id())
        .collect();
    assert!(ids.len() >= 18, "{ids:?}");
    for i in (0..10).filter(|i| *i != 5) {
        let id = format!("s{i}");
        assert!(ids.contains(&id), "{id} is missing: {ids:?}");
    }
    assert!(!ids.contains(&"big".to_string()));
    drop(broker);
}

/// Runs `rabbitmqctl` against the broker of the test's own (its node, epmd port and cookie).
fn rabbitmqctl(broker: &OwnBroker, args: &[&str]) {
    let ports = std::fs::read_to_string(broker.dir().join("ports")).expect("the recipe's ports");
    let epmd = ports.split_whitespace().nth(1).expect("the epmd port");
    let output = Command::new("/usr/lib/rabbitmq/bin/rabbitmqctl")
        .arg("-n")
        .arg(format!("courier{}@localhost", broker.port()))
        .args(args)
        .env("HOME", broker.dir().join("home"))
        .env("ERL_EPMD_PORT", epmd)
        .env("ERL_EPMD_ADDRESS", "127.0.0.1")
        .env(
            "RABBITMQ_CONF_ENV_FILE",
            broker.dir().join("rabbitmq-env.conf"),
        )
        .output()
        .expect("rabbitmqctl runs");
    assert!(
        output.status.success(),
        "rabbitmqctl {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_write_permission_fails_at_write_permission() {
    let broker = tokio::task::spawn_blocking(rabbitmq::own).await.unwrap();
    let reader_password = "reader-only-3d9a";
    let broker = tokio::task::spawn_blocking(move || {
        rabbitmqctl(&broker, &["add_user", "reader", reader_password]);
        // May configure and read everything, write nothing.
        rabbitmqctl(
            &broker,
            &["set_permissions", "-p", "/", "reader", ".*", "", ".*"],
        );
        broker
    })
    .await
    .unwrap();
    let url = rabbitmq::url(broker.port());
    let queue = "courier-read-only";
    let reader = Reader::connect(&url).await;
    reader.queue(queue).await;

    let config = json!({"url": without_user(&url), "routing_key": queue});
    let read_only = json!({"username": "reader", "password": reader_password});
    let report = test_report(&Rabbitmq, &spec(config.clone(), read_only.clone())).await;
    for passed in ["connection", "authentication", "exchange"] {
        let step = report.steps.iter().find(|s| s.name == passed).unwrap();
        assert_eq!(step.status, StepStatus::Passed, "{step:#?}");
    }
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "write_permission", "{failed:#?}");
    assert_eq!(failed.error_kind, Some(ErrorKind::Forbidden));
    assert!(
        failed
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("write permission"))
    );

    let destination = Rabbitmq.build(&spec(config, read_only)).await.unwrap();
    let outcome = destination
        .deliver(&Batch::new("b1", vec![Record::new("r1", "{}")]))
        .await;
    let error = outcome.records[0].error().expect("refused");
    assert_eq!(error.kind, ErrorKind::Forbidden, "{error:?}");
    assert_eq!(reader.count(queue).await, 0);
    drop(broker);
}

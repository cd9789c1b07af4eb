//! Kafka against tansu: messages read back byte for byte with key and headers, one partition
//! per key (the Java client's) in order; a record over the topic's limit fails alone; a missing topic fails the
//! connection test at its own step; the broker guard refuses private brokers.

mod support;

use std::time::Duration;

use courier_connector_kafka::Kafka;
use courier_core::{Batch, DynConnector, ErrorKind, Record, StepStatus, TestReport};
use serde_json::json;
use support::Cluster;

fn record(i: usize, customer: &str) -> Record {
    // Non-ASCII text, spacing and key order as a sender wrote them: kept byte for byte.
    Record::new(
        format!("r{i}"),
        format!(
            r#"{{ "n":{i}, "customer":{{"id":"{customer}"}}, "account":{{"id":"acct-{customer}"}}, "note":"grüße — ✓" }}"#
        ),
    )
    .with_event("order.created", format!("evt_{i}"))
}

#[tokio::test]
async fn messages_read_back_byte_for_byte_with_key_and_headers() {
    let cluster = Cluster::open();
    let topic = cluster.new_topic(3).await;
    let mut config = cluster.config(&topic);
    config["key_template"] = json!("customer.id");
    config["headers"] = json!({"tenant": "account.id"});
    config["compression"] = json!("zstd");
    let destination = Kafka.build(&cluster.spec(config)).await.unwrap();
    let records: Vec<Record> = (0..40)
        .map(|i| record(i, ["alice", "bob", "carol"][i % 3]))
        .collect();
    let outcome = destination
        .deliver(&Batch::new("b1", records.clone()))
        .await;
    assert_eq!(outcome.delivered_count(), 40, "{outcome:?}");

    let found = cluster.read(&topic, 40, Duration::from_secs(20)).await;
    assert_eq!(found.len(), 40, "each record once");
    for r in &records {
        let m = found
            .iter()
            .find(|m| m.header("courier_record_id") == Some(r.id.as_str()))
            .unwrap_or_else(|| panic!("{} not found", r.id));
        assert_eq!(m.payload, r.payload.to_vec(), "payload byte for byte");
        let payload: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
        let customer = payload["customer"]["id"].as_str().unwrap();
        assert_eq!(m.key.as_deref(), Some(customer.as_bytes()));
        assert_eq!(m.header("courier_event_type"), Some("order.created"));
        let event = &r.event.as_ref().unwrap().event_id;
        assert_eq!(m.header("courier_event_id"), Some(event.as_str()));
        assert_eq!(
            m.header("tenant"),
            Some(format!("acct-{customer}").as_str())
        );
    }
    // One key, one partition, in record order.
    for customer in ["alice", "bob", "carol"] {
        let of: Vec<&support::Read> = found
            .iter()
            .filter(|m| m.key.as_deref() == Some(customer.as_bytes()))
            .collect();
        assert!(
            of.iter().all(|m| m.partition == of[0].partition),
            "{customer}"
        );
        assert_eq!(
            of[0].partition,
            support::java_partition(customer.as_bytes(), 3),
            "{customer}'s partition is the one Java producers pick for the key"
        );
        let mut by_offset = of.clone();
        by_offset.sort_by_key(|m| m.offset);
        let order: Vec<u64> = by_offset
            .iter()
            .map(|m| {
                serde_json::from_slice::<serde_json::Value>(&m.payload).unwrap()["n"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(order, sorted, "{customer}'s records in order");
    }
}

#[tokio::test]
async fn a_record_over_the_limit_fails_alone() {
    let cluster = Cluster::open();
    let topic = cluster.new_topic(1).await;
    let mut config = cluster.config(&topic);
    config["max_message_bytes"] = json!(10_000);
    let destination = Kafka.build(&cluster.spec(config)).await.unwrap();
    let mut records: Vec<Record> = (0..5).map(|i| record(i, "alice")).collect();
    records[2] = Record::new("big", format!(r#"{{"pad":"{}"}}"#, "x".repeat(20_000)));
    let outcome = destination.deliver(&Batch::new("b1", records)).await;
    assert_eq!(outcome.delivered_count(), 4, "{outcome:?}");
    let error = outcome.records[2].error().expect("the large record fails");
    assert_eq!(error.kind, ErrorKind::PayloadTooLarge, "{error:?}");
    let found = cluster.read(&topic, 4, Duration::from_secs(20)).await;
    assert_eq!(found.len(), 4);
    assert!(
        found
            .iter()
            .all(|m| m.header("courier_record_id") != Some("big"))
    );
}

async fn test_report(spec: &courier_core::DestinationSpec) -> TestReport {
    let (events, _received) = tokio::sync::mpsc::unbounded_channel();
    courier_runtime::run_test(&Kafka, spec, Duration::from_secs(60), &events).await
}

#[tokio::test]
async fn a_missing_topic_fails_the_test_at_its_own_step() {
    let cluster = Cluster::open();
    let report = test_report(&cluster.spec(cluster.config("no-such-topic"))).await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "metadata", "{report:#?}");
    assert_eq!(failed.error_kind, Some(ErrorKind::NotFound), "{failed:?}");
    assert!(
        report
            .steps
            .iter()
            .any(|s| s.name == "authentication" && s.status == StepStatus::Passed)
    );
    // Delivery to it fails too, as not_found, and creates no topic.
    let destination = Kafka
        .build(&cluster.spec(cluster.config("no-such-topic")))
        .await
        .unwrap();
    let outcome = destination
        .deliver(&Batch::new("b1", vec![record(0, "alice")]))
        .await;
    let error = outcome.records[0].error().expect("no topic, no delivery");
    assert_eq!(error.kind, ErrorKind::NotFound, "{error:?}");
}

#[tokio::test]
async fn a_broker_on_a_private_address_is_refused_unless_allowed() {
    let cluster = Cluster::open();
    let topic = cluster.new_topic(1).await;
    let mut spec = cluster.spec(cluster.config(&topic));
    spec.allow_private_network = false;
    let report = test_report(&spec).await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "bootstrap", "{report:#?}");
    assert_eq!(
        failed.error_kind,
        Some(ErrorKind::InvalidConfig),
        "{failed:?}"
    );
    let destination = Kafka.build(&spec).await.unwrap();
    let outcome = destination
        .deliver(&Batch::new("b1", vec![record(0, "alice")]))
        .await;
    let error = outcome.records[0].error().expect("refused");
    assert_eq!(error.kind, ErrorKind::InvalidConfig, "{error:?}");
    assert!(
        cluster
            .read(&topic, 1, Duration::from_secs(2))
            .await
            .is_empty()
    );
}

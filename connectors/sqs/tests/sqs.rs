//! SQS against moto: FIFO groups, attributes and deduplication through a retried batch; records
//! that cannot be sent fail alone; a missing queue fails the connection test at its own step.

use courier_connector_sqs::Sqs;
use courier_core::{Batch, DestinationSpec, DynConnector, ErrorKind, Record, StepStatus};
use courier_testbed::moto;
use serde_json::{Value, json};

fn spec(config: Value, auth: Value) -> DestinationSpec {
    DestinationSpec {
        destination_id: "dest_sqs".into(),
        config,
        auth_config: auth,
        allow_private_network: true,
        ..DestinationSpec::default()
    }
}

fn record(i: usize, customer: &str) -> Record {
    Record::new(
        format!("r{i}"),
        format!(r#"{{"n":{i},"type":"order.created","customer":{{"id":"{customer}"}}}}"#),
    )
    .with_event("order.created", format!("evt_{i}"))
}

#[tokio::test]
async fn fifo_groups_attributes_and_deduplication_through_a_retried_batch() {
    let moto = moto::moto();
    let queue = moto.new_queue(true).await;
    let mut config = moto.sqs_config(&queue);
    config["message_group_id_template"] = json!("customer.id");
    config["message_attributes"] = json!({"event_type": "type"});
    let destination = Sqs.build(&spec(config, moto.auth())).await.unwrap();
    // 12 records: two SendMessageBatch requests of at most 10.
    let records: Vec<Record> = (0..12)
        .map(|i| record(i, if i % 2 == 0 { "even" } else { "odd" }))
        .collect();
    let batch = Batch::new("b1", records);
    let first = destination.deliver(&batch).await;
    assert_eq!(first.delivered_count(), 12, "{first:?}");
    // The same batch again, as a retry would send it: SQS drops the copies.
    let again = destination.deliver(&batch).await;
    assert_eq!(again.delivered_count(), 12, "{again:?}");

    let messages = moto.messages(&queue).await;
    assert_eq!(messages.len(), 12, "each record once");
    for group in ["even", "odd"] {
        let order: Vec<u64> = messages
            .iter()
            .filter(|m| m.group_id.as_deref() == Some(group))
            .map(|m| {
                serde_json::from_str::<Value>(&m.body).unwrap()["n"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(order.len(), 6, "{group}");
        assert_eq!(order, sorted, "group {group} keeps its order");
    }
    assert!(
        messages
            .iter()
            .all(|m| m.attributes.get("event_type").map(String::as_str) == Some("order.created"))
    );
    // Every message names its event, apart from the user's own attributes.
    for m in &messages {
        let n = serde_json::from_str::<Value>(&m.body).unwrap()["n"].clone();
        assert_eq!(m.attributes["courier_event_type"], "order.created");
        assert_eq!(m.attributes["courier_event_id"], format!("evt_{n}"));
    }
}

#[tokio::test]
async fn records_that_cannot_be_sent_fail_alone() {
    let moto = moto::moto();
    let queue = moto.new_queue(true).await;
    let mut config = moto.sqs_config(&queue);
    config["message_group_id_template"] = json!("customer.id");
    let destination = Sqs.build(&spec(config, moto.auth())).await.unwrap();
    let big = format!(
        r#"{{"customer":{{"id":"c"}},"pad":"{}"}}"#,
        "x".repeat(1024 * 1024)
    );
    let records = vec![
        record(0, "c"),
        Record::new("no-group", r#"{"n":1}"#),
        Record::new("not-utf8", vec![0xff, 0xfe, b'{', b'}']),
        Record::new("big", big),
        record(4, "c"),
    ];
    let out = destination.deliver(&Batch::new("b2", records)).await;
    let kinds: Vec<Option<ErrorKind>> = out
        .records
        .iter()
        .map(|r| r.error().map(|e| e.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            None,
            Some(ErrorKind::Rejected),
            Some(ErrorKind::Rejected),
            Some(ErrorKind::PayloadTooLarge),
            None
        ],
        "{out:?}"
    );
    assert!(
        out.records[1]
            .error()
            .unwrap()
            .message
            .contains("customer.id")
    );
    assert_eq!(moto.messages(&queue).await.len(), 2);
}

#[tokio::test]
async fn a_missing_queue_fails_the_test_at_its_own_step() {
    let moto = moto::moto();
    let queue = moto.new_queue(false).await;
    let missing = format!("{}-gone", queue);
    let connector = test_report(&moto, &missing).await;
    let failed = connector.failed_step().expect("a failed step");
    assert_eq!(failed.name, "queue", "{connector:#?}");
    assert_eq!(failed.error_kind, Some(ErrorKind::NotFound), "{failed:?}");
    assert!(
        connector
            .steps
            .iter()
            .any(|s| s.name == "authentication" && s.status == StepStatus::Passed)
    );
}

/// Runs the connection test of an SQS destination on `queue_url`.
async fn test_report(moto: &moto::Moto, queue_url: &str) -> courier_core::TestReport {
    let (events, _received) = tokio::sync::mpsc::unbounded_channel();
    courier_runtime::run_test(
        &Sqs,
        &spec(moto.sqs_config(queue_url), moto.auth()),
        std::time::Duration::from_secs(30),
        &events,
    )
    .await
}

#[tokio::test]
async fn messages_may_be_as_large_as_the_queue_allows() {
    use aws_sdk_sqs::types::QueueAttributeName;
    let moto = moto::moto();
    // A queue of today's default (1 MiB) takes a 600 KiB record.
    let big = moto.new_queue(false).await;
    let destination = Sqs
        .build(&spec(moto.sqs_config(&big), moto.auth()))
        .await
        .unwrap();
    let large = format!(r#"{{"pad":"{}"}}"#, "x".repeat(600 * 1024));
    let out = destination
        .deliver(&Batch::new(
            "b",
            vec![Record::new("r-large", large.clone())],
        ))
        .await;
    assert_eq!(out.delivered_count(), 1, "{:?}", out.records[0].error());
    assert_eq!(moto.messages(&big).await[0].body.len(), large.len());

    // A queue kept at 256 KiB refuses it alone; a small record beside it goes.
    let small_queue = moto
        .sqs()
        .create_queue()
        .queue_name(courier_testbed::fresh_name("courier-small"))
        .attributes(QueueAttributeName::MaximumMessageSize, "262144")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let destination = Sqs
        .build(&spec(moto.sqs_config(&small_queue), moto.auth()))
        .await
        .unwrap();
    let middling = format!(r#"{{"pad":"{}"}}"#, "x".repeat(300 * 1024));
    let out = destination
        .deliver(&Batch::new(
            "b",
            vec![
                Record::new("r-300k", middling),
                Record::new("r-small", "{}"),
            ],
        ))
        .await;
    assert_eq!(
        out.records[0].error().map(|e| e.kind),
        Some(ErrorKind::PayloadTooLarge),
        "{out:?}"
    );
    assert!(out.records[1].is_delivered(), "{out:?}");
}

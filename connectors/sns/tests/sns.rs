//! SNS against moto, read back through SQS queues subscribed to the topic: bodies, subjects and
//! attributes (the event's type and id among them) arrive; FIFO groups keep their order and a
//! retried batch is deduplicated; records that cannot be sent fail alone; a missing topic and
//! bad credentials fail the connection test at their own steps.

use courier_connector_sns::Sns;
use courier_core::{Batch, DestinationSpec, DynConnector, ErrorKind, Record, StepStatus};
use courier_testbed::moto;
use serde_json::{Value, json};

fn spec(config: Value, auth: Value) -> DestinationSpec {
    DestinationSpec {
        destination_id: "dest_sns".into(),
        config,
        auth_config: auth,
        allow_private_network: true,
        ..DestinationSpec::default()
    }
}

fn record(i: usize, customer: &str) -> Record {
    Record::new(
        format!("r{i}"),
        format!(
            r#"{{"n":{i},"type":"order.created","status":"paid","customer":{{"id":"{customer}"}}}}"#
        ),
    )
    .with_event("order.created", format!("evt_{i}"))
}

fn n_of(body: &str) -> u64 {
    serde_json::from_str::<Value>(body).unwrap()["n"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn messages_arrive_with_their_subject_attributes_and_event() {
    let moto = moto::moto();
    let topic = moto.new_topic(false).await;
    // A second subscriber without raw delivery sees SNS's envelope, with the subject.
    let envelopes = moto.subscribe_queue(&topic.topic_arn, false, false).await;
    let mut config = moto.sns_config(&topic.topic_arn);
    config["subject_template"] = json!("Order {n} ({customer.id})");
    config["message_attributes"] = json!({"status": "status"});
    let destination = Sns.build(&spec(config, moto.auth())).await.unwrap();
    // 13 records: two PublishBatch requests of at most 10.
    let records: Vec<Record> = (0..13).map(|i| record(i, "c1")).collect();
    let out = destination
        .deliver(&Batch::new("b1", records.clone()))
        .await;
    assert_eq!(out.delivered_count(), 13, "{out:?}");

    let messages = moto.published(&topic).await;
    assert_eq!(messages.len(), 13);
    for m in &messages {
        let n = n_of(&m.body);
        assert_eq!(m.body.as_bytes(), &records[n as usize].payload[..]);
        assert_eq!(m.attributes["status"], "paid");
        assert_eq!(m.attributes["courier_event_type"], "order.created");
        assert_eq!(m.attributes["courier_event_id"], format!("evt_{n}"));
    }
    let envelopes = moto.every_message(&envelopes).await;
    assert_eq!(envelopes.len(), 13);
    for e in envelopes {
        let envelope: Value = serde_json::from_str(&e.body).unwrap();
        let n = n_of(envelope["Message"].as_str().unwrap());
        assert_eq!(envelope["Subject"], format!("Order {n} (c1)"), "{envelope}");
        assert_eq!(
            envelope["MessageAttributes"]["courier_event_id"]["Value"],
            format!("evt_{n}")
        );
    }
}

#[tokio::test]
async fn fifo_groups_keep_their_order_and_a_retried_batch_is_deduplicated() {
    let moto = moto::moto();
    let topic = moto.new_topic(true).await;
    let mut config = moto.sns_config(&topic.topic_arn);
    config["message_group_id_template"] = json!("customer.id");
    let destination = Sns.build(&spec(config, moto.auth())).await.unwrap();
    let records: Vec<Record> = (0..12)
        .map(|i| record(i, if i % 2 == 0 { "even" } else { "odd" }))
        .collect();
    let batch = Batch::new("b1", records);
    let first = destination.deliver(&batch).await;
    assert_eq!(first.delivered_count(), 12, "{first:?}");
    // The same batch again, as a retry would send it: the record ids deduplicate it.
    let again = destination.deliver(&batch).await;
    assert_eq!(again.delivered_count(), 12, "{again:?}");

    let messages = moto.published(&topic).await;
    assert_eq!(messages.len(), 12, "each record once");
    for group in ["even", "odd"] {
        let order: Vec<u64> = messages
            .iter()
            .filter(|m| m.group_id.as_deref() == Some(group))
            .map(|m| n_of(&m.body))
            .collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(order.len(), 6, "{group}: {messages:?}");
        assert_eq!(order, sorted, "group {group} keeps its order");
    }
    assert!(
        messages
            .iter()
            .all(|m| m.attributes["courier_event_type"] == "order.created")
    );
}

#[tokio::test]
async fn records_that_cannot_be_sent_fail_alone() {
    let moto = moto::moto();
    let topic = moto.new_topic(true).await;
    let mut config = moto.sns_config(&topic.topic_arn);
    config["message_group_id_template"] = json!("customer.id");
    config["subject_template"] = json!("subject");
    let destination = Sns.build(&spec(config, moto.auth())).await.unwrap();
    let with_subject = |id: &str, subject: &str| {
        Record::new(
            id,
            json!({"customer": {"id": "c"}, "subject": subject}).to_string(),
        )
    };
    let big = format!(
        r#"{{"customer":{{"id":"c"}},"subject":"s","pad":"{}"}}"#,
        "x".repeat(300 * 1024)
    );
    let records = vec![
        with_subject("ok-0", "Order created"),
        Record::new("no-group", r#"{"subject":"s"}"#),
        Record::new("not-utf8", vec![0xff, 0xfe, b'{', b'}']),
        Record::new("big", big),
        with_subject("line-break", "two\nlines"),
        with_subject("not-ascii", "Zoë"),
        with_subject("long", &"x".repeat(101)),
        with_subject("ok-7", &"y".repeat(100)),
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
            Some(ErrorKind::Rejected),
            Some(ErrorKind::Rejected),
            Some(ErrorKind::Rejected),
            None
        ],
        "{out:?}"
    );
    let message = |i: usize| out.records[i].error().unwrap().message.clone();
    assert!(message(1).contains("customer.id"), "{}", message(1));
    assert!(message(4).contains("line break"), "{}", message(4));
    assert!(message(5).contains("ASCII"), "{}", message(5));
    assert!(message(6).contains("100 characters"), "{}", message(6));
    assert_eq!(moto.published(&topic).await.len(), 2);
}

#[tokio::test]
async fn a_missing_topic_fails_the_test_at_its_own_step() {
    let moto = moto::moto();
    let topic = moto.new_topic(false).await;
    let missing = format!("{}-gone", topic.topic_arn);
    let report = test_report(moto.sns_config(&missing), moto.auth()).await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "topic", "{report:#?}");
    assert_eq!(failed.error_kind, Some(ErrorKind::NotFound), "{failed:?}");
    assert!(
        failed
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("topic_arn")),
        "{failed:?}"
    );
    assert!(
        report
            .steps
            .iter()
            .any(|s| s.name == "authentication" && s.status == StepStatus::Passed)
    );
}

#[tokio::test]
async fn bad_credentials_fail_the_test_at_authentication_and_a_good_test_publishes_once() {
    let moto = moto::moto();
    let topic = moto.new_topic(false).await;
    let mut bad = moto.auth();
    bad["secret_access_key"] = json!("not-the-secret");
    let report = test_report(moto.sns_config(&topic.topic_arn), bad).await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "authentication", "{report:#?}");
    assert_eq!(failed.error_kind, Some(ErrorKind::Unauthenticated));

    let report = test_report(moto.sns_config(&topic.topic_arn), moto.auth()).await;
    assert!(report.success, "{report:#?}");
    let messages = moto.published(&topic).await;
    assert_eq!(messages.len(), 1, "one test message");
    assert_eq!(
        messages[0].attributes["courier_event_type"],
        "courier.connection_test"
    );
}

/// Runs the connection test of an SNS destination.
async fn test_report(config: Value, auth: Value) -> courier_core::TestReport {
    let (events, _received) = tokio::sync::mpsc::unbounded_channel();
    courier_runtime::run_test(
        &Sns,
        &spec(config, auth),
        std::time::Duration::from_secs(30),
        &events,
    )
    .await
}

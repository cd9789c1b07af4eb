//! MQTT against mosquitto: messages read back byte for byte with their user properties (MQTT 5
//! and 3.1.1, QoS 0, 1 and 2), wrong credentials failing the test at `authentication`, a topic
//! the user may not publish to failing at `publish_permission` and alone in a delivery, and
//! records too large or with unusable topics failing alone.

mod support;

use std::time::Duration;

use courier_connector_mqtt::Mqtt;
use courier_core::{Batch, DynConnector, ErrorKind, Record, StepStatus, TestReport};
use courier_testbed::brokers::mqtt;
use serde_json::{Value, json};
use support::{Subscriber, auth, config, spec};

fn order(i: usize, customer: &str) -> Record {
    Record::new(
        format!("r{i}"),
        format!(
            r#"{{"n":{i},"customer":{{"id":"{customer}"}},"region":"eu-{i}","name":"Zoë ✓ \"q\""}}"#
        ),
    )
    .with_event("order.created", format!("evt_{i}"))
}

fn kinds(out: &courier_core::BatchOutcome) -> Vec<Option<ErrorKind>> {
    out.records
        .iter()
        .map(|r| r.error().map(|e| e.kind))
        .collect()
}

async fn test_report(config: Value, auth: Value) -> TestReport {
    let (events, _received) = tokio::sync::mpsc::unbounded_channel();
    courier_runtime::run_test(&Mqtt, &spec(config, auth), Duration::from_secs(30), &events).await
}

/// Delivers `records` with `config` and checks what the subscriber got: the payload byte for
/// byte on the rendered topic, and the user properties `expect_properties` says.
async fn round_trip(config: Value, expect_properties: bool) {
    let with_headers = config.get("headers").is_some();
    let broker = mqtt::own();
    let subscriber = Subscriber::start(broker.port(), "orders/#", None).await;
    let mut config = config;
    config["broker_url"] = json!(mqtt::url(broker.port()));
    let destination = Mqtt.build(&spec(config.clone(), auth())).await.unwrap();
    let mut records: Vec<Record> = (0..20).map(|i| order(i, ["a", "b"][i % 2])).collect();
    records.push(Record::new(
        "plain",
        r#"{"customer":{"id":"c"},"region":"x"}"#,
    ));
    let out = destination
        .deliver(&Batch::new("b1", records.clone()))
        .await;
    assert_eq!(out.delivered_count(), records.len(), "{out:?}");
    assert!(
        subscriber
            .wait_until(Duration::from_secs(5), |got| got.len() >= records.len())
            .await,
        "{} of {} arrived with {config}: {:?}",
        subscriber.received().len(),
        records.len(),
        records
            .iter()
            .filter(|r| !subscriber.received().iter().any(|m| m.payload == r.payload))
            .map(|r| r.id.clone())
            .collect::<Vec<_>>(),
    );
    let got = subscriber.received();
    assert_eq!(got.len(), records.len(), "each record once");
    for record in &records {
        let m = got
            .iter()
            .find(|m| m.payload == record.payload)
            .unwrap_or_else(|| panic!("record {} did not arrive intact", record.id));
        let payload: Value = serde_json::from_slice(&record.payload).unwrap();
        assert_eq!(
            m.topic,
            format!("orders/{}", payload["customer"]["id"].as_str().unwrap())
        );
        if expect_properties {
            assert_eq!(m.property("courier_record_id"), Some(record.id.as_str()));
        } else {
            assert!(m.properties.is_empty(), "{m:?}");
        }
        match (&record.event, expect_properties) {
            (Some(event), true) => {
                assert_eq!(m.property("courier_event_type"), Some("order.created"));
                assert_eq!(
                    m.property("courier_event_id"),
                    Some(event.event_id.as_str())
                );
                if with_headers {
                    assert_eq!(m.property("region"), payload["region"].as_str());
                }
            }
            _ => assert!(m.property("courier_event_id").is_none(), "{m:?}"),
        }
    }
}

#[tokio::test]
async fn mqtt5_messages_arrive_byte_for_byte_with_their_user_properties() {
    let mut c = config(0, "orders/{customer.id}");
    c["headers"] = json!({"region": "region"});
    round_trip(c, true).await;
}

#[tokio::test]
async fn every_qos_and_mqtt_3_1_1_deliver_the_same_bytes() {
    for qos in [0, 2] {
        let mut c = config(0, "orders/{customer.id}");
        c["qos"] = json!(qos);
        round_trip(c, true).await;
    }
    let mut c = config(0, "orders/{customer.id}");
    c["protocol"] = json!("v3.1.1");
    round_trip(c.clone(), false).await;
    c["qos"] = json!(2);
    round_trip(c, false).await;
}

#[tokio::test]
async fn wrong_credentials_fail_at_authentication() {
    let broker = mqtt::own();
    for protocol in ["v5", "v3.1.1"] {
        let mut c = config(broker.port(), "orders/x");
        c["protocol"] = json!(protocol);
        let report = test_report(c, json!({"username": "courier", "password": "wrong"})).await;
        let failed = report.failed_step().expect("a failed step");
        assert_eq!(failed.name, "authentication", "{report:#?}");
        assert_eq!(
            failed.error_kind,
            Some(ErrorKind::Unauthenticated),
            "{failed:?}"
        );
        assert!(
            report
                .steps
                .iter()
                .any(|s| s.name == "connection" && s.status == StepStatus::Passed)
        );
    }
}

/// A broker whose access rules let the test user publish under `allowed/` only.
fn broker_with_acl() -> courier_testbed::brokers::OwnBroker {
    let dir = std::env::temp_dir().join(courier_testbed::fresh_name("courier-mqtt-acl"));
    std::fs::create_dir_all(&dir).unwrap();
    let acl = dir.join("acl");
    std::fs::write(&acl, "user courier\ntopic write allowed/#\ntopic read #\n").unwrap();
    mqtt::own_with(&format!("acl_file {}", acl.display()))
}

#[tokio::test]
async fn a_topic_the_user_may_not_publish_to_fails_at_its_own_step_and_alone() {
    let broker = broker_with_acl();
    let port = broker.port();
    // MQTT 5: the broker answers the test message with 0x87 Not authorized.
    let report = test_report(config(port, "denied/{customer.id}"), auth()).await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "publish_permission", "{report:#?}");
    assert_eq!(failed.error_kind, Some(ErrorKind::Forbidden), "{failed:?}");
    assert!(
        report
            .steps
            .iter()
            .any(|s| s.name == "authentication" && s.status == StepStatus::Passed)
    );
    let report = test_report(config(port, "allowed/{customer.id}"), auth()).await;
    assert!(report.success, "{report:#?}");

    // In a delivery, the refused message fails alone, the others are delivered.
    let destination = Mqtt
        .build(&spec(config(port, "{zone}/{customer.id}"), auth()))
        .await
        .unwrap();
    let records = vec![
        Record::new("ok1", r#"{"zone":"allowed","customer":{"id":"a"}}"#),
        Record::new("no", r#"{"zone":"denied","customer":{"id":"a"}}"#),
        Record::new("ok2", r#"{"zone":"allowed","customer":{"id":"b"}}"#),
    ];
    let out = destination.deliver(&Batch::new("b", records)).await;
    assert_eq!(
        kinds(&out),
        [None, Some(ErrorKind::Forbidden), None],
        "{out:?}"
    );

    // MQTT 3.1.1 cannot say so: the test passes and says what it did not prove.
    let mut c = config(port, "denied/{customer.id}");
    c["protocol"] = json!("v3.1.1");
    let report = test_report(c, auth()).await;
    assert!(report.success, "{report:#?}");
    let step = report
        .steps
        .iter()
        .find(|s| s.name == "publish_permission")
        .unwrap();
    assert!(step.message.contains("only protocol v5 proves"), "{step:?}");
}

#[tokio::test]
async fn a_record_over_the_configured_size_fails_alone() {
    let broker = mqtt::own();
    let subscriber = Subscriber::start(broker.port(), "sized/#", None).await;
    let mut c = config(broker.port(), "sized/{id}");
    c["max_message_bytes"] = json!(1024);
    let destination = Mqtt.build(&spec(c, auth())).await.unwrap();
    let big = format!(r#"{{"id":"big","pad":"{}"}}"#, "x".repeat(2000));
    // The record id travels as a user property and counts in the size: a small payload with
    // a long id is over too.
    let long_id = "i".repeat(1100);
    let records = vec![
        Record::new("a", r#"{"id":"a"}"#),
        Record::new("big", big),
        Record::new(long_id, r#"{"id":"c"}"#),
        Record::new("b", r#"{"id":"b"}"#),
    ];
    let out = destination.deliver(&Batch::new("b", records)).await;
    assert_eq!(
        kinds(&out),
        [
            None,
            Some(ErrorKind::PayloadTooLarge),
            Some(ErrorKind::PayloadTooLarge),
            None
        ],
        "{out:?}"
    );
    assert!(
        subscriber
            .wait_until(Duration::from_secs(5), |g| g.len() == 2)
            .await
    );
}

#[tokio::test]
async fn a_record_over_the_brokers_maximum_packet_size_fails_alone() {
    // mosquitto says its maximum packet size in the MQTT 5 CONNACK.
    let broker = mqtt::own_with("max_packet_size 4096");
    let subscriber = Subscriber::start(broker.port(), "sized/#", None).await;
    let destination = Mqtt
        .build(&spec(config(broker.port(), "sized/{id}"), auth()))
        .await
        .unwrap();
    let big = format!(r#"{{"id":"big","pad":"{}"}}"#, "x".repeat(8000));
    let records = vec![
        Record::new("a", r#"{"id":"a"}"#),
        Record::new("big", big),
        Record::new("b", r#"{"id":"b"}"#),
    ];
    let out = destination.deliver(&Batch::new("b", records.clone())).await;
    assert_eq!(
        kinds(&out),
        [None, Some(ErrorKind::PayloadTooLarge), None],
        "{out:?}"
    );
    let message = &out.records[1].error().unwrap().message;
    assert!(message.contains("4 KiB"), "{message}");
    // The connection was not broken by it: the next delivery goes out on it.
    let out = destination
        .deliver(&Batch::new("b2", vec![records[0].clone()]))
        .await;
    assert_eq!(out.delivered_count(), 1, "{out:?}");
    assert!(
        subscriber
            .wait_until(Duration::from_secs(5), |g| g.len() == 3)
            .await
    );
}

#[tokio::test]
async fn records_without_a_usable_topic_fail_alone() {
    let broker = mqtt::own();
    let destination = Mqtt
        .build(&spec(config(broker.port(), "t/{name}"), auth()))
        .await
        .unwrap();
    let records = vec![
        Record::new("ok", r#"{"name":"x"}"#),
        Record::new("wild", r#"{"name":"a/+"}"#),
        Record::new("missing", r#"{"other":1}"#),
        Record::new("not-json", "plain"),
        Record::new("ok2", r#"{"name":"y"}"#),
    ];
    let out = destination.deliver(&Batch::new("b", records)).await;
    assert_eq!(
        kinds(&out),
        [
            None,
            Some(ErrorKind::Rejected),
            Some(ErrorKind::Rejected),
            Some(ErrorKind::Rejected),
            None
        ],
        "{out:?}"
    );
    assert!(
        out.records[1]
            .error()
            .unwrap()
            .message
            .contains("wildcards")
    );
}

#[tokio::test]
async fn text_brokers_refuse_fails_its_record_alone_and_keeps_the_connection() {
    let broker = mqtt::own();
    let subscriber = Subscriber::start(broker.port(), "t/#", None).await;
    let mut c = config(broker.port(), "t/{name}");
    c["headers"] = json!({"note": "note"});
    let destination = Mqtt.build(&spec(c, auth())).await.unwrap();
    // JSON escapes render as the characters themselves: a control character, a C1 control
    // character and a non-character in the topic, one in a user property's value, and one in
    // the record id (which every MQTT 5 message carries).
    let records = vec![
        Record::new("ok1", r#"{"name":"a","note":"fine"}"#),
        Record::new("bell", r#"{"name":"a\u0007b","note":"fine"}"#),
        Record::new("c1", r#"{"name":"a\u0085b","note":"fine"}"#),
        Record::new("nonchar", r#"{"name":"a\uffffb","note":"fine"}"#),
        Record::new("note", r#"{"name":"a","note":"line\nbreak"}"#),
        Record::new("id\u{1b}", r#"{"name":"a","note":"fine"}"#),
        Record::new("ok2", r#"{"name":"b","note":"tab-free ✓"}"#),
    ];
    let out = destination.deliver(&Batch::new("b", records)).await;
    let rejected = Some(ErrorKind::Rejected);
    assert_eq!(
        kinds(&out),
        [None, rejected, rejected, rejected, rejected, rejected, None],
        "{out:?}"
    );
    for (i, field) in [
        (1, "topic"),
        (2, "topic"),
        (3, "topic"),
        (4, "note"),
        (5, "courier_record_id"),
    ] {
        let error = out.records[i].error().unwrap();
        assert!(!error.kind.is_retryable(), "{error:?}");
        assert!(error.message.contains(field), "{error:?}");
    }
    // The connection stayed up: the next delivery goes out on it, and the broker dropped no
    // client for a malformed packet.
    let out = destination
        .deliver(&Batch::new(
            "b2",
            vec![Record::new("ok3", r#"{"name":"c","note":"x"}"#)],
        ))
        .await;
    assert_eq!(out.delivered_count(), 1, "{out:?}");
    assert!(
        subscriber
            .wait_until(Duration::from_secs(5), |g| g.len() == 3)
            .await
    );
    let log = broker.log();
    assert!(!log.contains("malformed"), "{log}");
    assert!(!log.contains("disconnected"), "{log}");
}

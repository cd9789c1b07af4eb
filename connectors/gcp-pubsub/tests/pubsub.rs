//! Pub/Sub against Google's emulator, read back by pulling from an ordered subscription: data
//! byte for byte with its attributes (the event's type and id among them) and ordering key; a
//! key's order kept across batches; records that cannot be sent fail alone (over the cap, over
//! a publish request, without their key's field); a missing topic fails the connection test at
//! its own step; hostile attribute names are refused when the destination is saved.

use courier_conformance::helpers::{self, test_report};
use courier_connector_gcp_pubsub::{GcpPubsub, MAX_PAYLOAD_BYTES};
use courier_core::{Batch, DestinationSpec, DynConnector, ErrorKind, Record, StepStatus};
use courier_testbed::pubsub::{self, PulledMessage};
use serde_json::{Value, json};

fn spec(config: Value, auth: Value) -> DestinationSpec {
    helpers::spec("dest_pubsub", config, auth)
}

fn order(i: usize, customer: &str) -> Record {
    Record::new(
        format!("r{i}"),
        format!(r#"{{"n":{i},"type":"order.created","customer":{{"id":"{customer}"}}}}"#),
    )
    .with_event("order.created", format!("evt_{i}"))
}

fn n_of(m: &PulledMessage) -> u64 {
    serde_json::from_slice::<Value>(&m.data).unwrap()["n"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn messages_read_back_with_their_data_attributes_and_ordering_key() {
    let emulator = pubsub::pubsub();
    let topic = emulator.new_topic().await;
    let mut config = emulator.config(&topic);
    config["ordering_key_template"] = json!("customer.id");
    config["attributes"] = json!({"event_type": "type", "customer": "customer.id"});
    let (auth, _) = emulator.service_account();
    let destination = GcpPubsub.build(&spec(config, auth)).await.unwrap();
    let records = vec![order(0, "c-1"), order(1, "c-2"), order(2, "c-1")];
    let out = destination
        .deliver(&Batch::new("b1", records.clone()))
        .await;
    assert_eq!(out.delivered_count(), 3, "{out:?}");

    let messages = emulator.pull_at_least(&topic, 3).await;
    assert_eq!(messages.len(), 3, "{messages:?}");
    for record in &records {
        let m = messages
            .iter()
            .find(|m| m.data == record.payload[..])
            .unwrap_or_else(|| panic!("{} not found, byte for byte", record.id));
        let payload: Value = serde_json::from_slice(&record.payload).unwrap();
        let customer = payload["customer"]["id"].as_str().unwrap();
        assert_eq!(m.ordering_key.as_deref(), Some(customer));
        let event = record.event.as_ref().unwrap();
        let expected: Vec<(&str, &str)> = vec![
            ("courier_event_id", &event.event_id),
            ("courier_event_type", "order.created"),
            ("customer", customer),
            ("event_type", "order.created"),
        ];
        let got: Vec<(&str, &str)> = m
            .attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(got, expected, "{}", record.id);
    }
    // The reference of each delivered record is the message id Pub/Sub gave it.
    let ids: Vec<String> = out
        .records
        .iter()
        .map(|r| match &r.outcome {
            courier_core::Outcome::Delivered(d) => d.reference.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    for m in &messages {
        assert!(ids.contains(&m.message_id), "{ids:?} {m:?}");
    }
}

#[tokio::test]
async fn bytes_arrive_as_sent_and_records_without_an_event_carry_no_event_attributes() {
    let emulator = pubsub::pubsub();
    let topic = emulator.new_topic().await;
    let destination = GcpPubsub
        .build(&spec(emulator.config(&topic), json!({})))
        .await
        .unwrap();
    let binary: Vec<u8> = (0..=255u8).rev().collect();
    let records = vec![
        Record::new("bin", binary.clone()),
        Record::new("text", "plain text, not JSON ✓"),
    ];
    let out = destination.deliver(&Batch::new("b2", records)).await;
    assert_eq!(out.delivered_count(), 2, "{out:?}");
    let messages = emulator.pull_at_least(&topic, 2).await;
    let bin = messages.iter().find(|m| m.data == binary).expect("binary");
    assert!(bin.attributes.is_empty(), "{bin:?}");
    assert_eq!(bin.ordering_key, None);
    assert!(
        messages
            .iter()
            .any(|m| m.data == "plain text, not JSON ✓".as_bytes())
    );
}

#[tokio::test]
async fn a_keys_order_is_kept_across_batches() {
    let emulator = pubsub::pubsub();
    let topic = emulator.new_topic().await;
    let mut config = emulator.config(&topic);
    config["ordering_key_template"] = json!("customer.id");
    let destination = GcpPubsub.build(&spec(config, json!({}))).await.unwrap();
    // Five batches, delivered one after another; two keys interleaved in each.
    let mut n = 0;
    for b in 0..5 {
        let records: Vec<Record> = (0..8)
            .map(|_| {
                n += 1;
                order(n, if n % 3 == 0 { "c-2" } else { "c-1" })
            })
            .collect();
        let out = destination
            .deliver(&Batch::new(format!("batch-{b}"), records))
            .await;
        assert_eq!(out.delivered_count(), 8, "{out:?}");
    }
    let messages = emulator.pull_at_least(&topic, n).await;
    assert_eq!(messages.len(), n);
    for key in ["c-1", "c-2"] {
        let seen: Vec<u64> = messages
            .iter()
            .filter(|m| m.ordering_key.as_deref() == Some(key))
            .map(n_of)
            .collect();
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        assert!(seen.len() > 5, "{key}: {seen:?}");
        assert_eq!(seen, sorted, "key {key} keeps the order of its records");
    }
}

#[tokio::test]
async fn records_that_cannot_be_sent_fail_alone() {
    let emulator = pubsub::pubsub();
    let topic = emulator.new_topic().await;
    let mut config = emulator.config(&topic);
    config["ordering_key_template"] = json!("customer.id");
    // 98 attributes (the most a user may set), each reading a value JSON must escape.
    let attributes: serde_json::Map<String, Value> =
        (0..98).map(|i| (format!("a{i}"), json!("v"))).collect();
    config["attributes"] = json!(attributes);
    let mut capped = spec(config, json!({}));
    capped.payload_cap_bytes = Some(MAX_PAYLOAD_BYTES);
    let destination = GcpPubsub.build(&capped).await.unwrap();

    let small = |id: &str| Record::new(id, r#"{"customer":{"id":"c"},"v":"ok","n":1}"#.to_string());
    // Exactly at the cap, but its message (the payload in base64 and 98 attributes of 1,024
    // escaped control characters) is over what one publish request may hold.
    let escaped = "\\u0001".repeat(1024);
    let head = format!(r#"{{"customer":{{"id":"c"}},"v":"{escaped}","pad":""#);
    let pad = "x".repeat(MAX_PAYLOAD_BYTES as usize - head.len() - 2);
    let huge = format!("{head}{pad}\"}}");
    assert_eq!(huge.len() as u64, MAX_PAYLOAD_BYTES);
    let over_cap = format!(
        r#"{{"customer":{{"id":"c"}},"v":"x","pad":"{}"}}"#,
        "x".repeat(MAX_PAYLOAD_BYTES as usize)
    );
    let records = vec![
        small("first"),
        Record::new("no-key", r#"{"v":"x"}"#),
        Record::new("not-json", "plain"),
        Record::new("over-request", huge),
        Record::new("over-cap", over_cap),
        small("last"),
    ];
    let out = destination.deliver(&Batch::new("b3", records)).await;
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
            Some(ErrorKind::PayloadTooLarge),
            None
        ],
        "{out:?}"
    );
    let over_request = out.records[3].error().unwrap();
    assert!(
        over_request.message.contains("per record"),
        "refused by the publish limit, not the cap: {over_request:?}"
    );
    assert!(
        out.records[1]
            .error()
            .unwrap()
            .message
            .contains("customer.id")
    );
    let messages = emulator.pull_at_least(&topic, 2).await;
    assert_eq!(messages.len(), 2, "only the two small records arrived");
}

#[tokio::test]
async fn an_empty_record_without_attributes_fails_alone() {
    let emulator = pubsub::pubsub();
    let topic = emulator.new_topic().await;
    let destination = GcpPubsub
        .build(&spec(emulator.config(&topic), json!({})))
        .await
        .unwrap();
    let records = vec![
        Record::new("empty", ""),
        Record::new("empty-with-event", "").with_event("order.created", "evt_1"),
    ];
    let out = destination.deliver(&Batch::new("b4", records)).await;
    assert_eq!(
        out.records[0].error().map(|e| e.kind),
        Some(ErrorKind::Rejected)
    );
    assert!(
        out.records[1].is_delivered(),
        "its event attributes make it a message: {out:?}"
    );
}

#[tokio::test]
async fn a_missing_topic_fails_the_test_at_its_own_step_with_a_hint() {
    let emulator = pubsub::pubsub();
    let (auth, _) = emulator.service_account();
    let report = test_report(&GcpPubsub, &spec(emulator.config("never-created"), auth)).await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "topic", "{report:#?}");
    assert_eq!(failed.error_kind, Some(ErrorKind::NotFound), "{failed:?}");
    let hint = failed.hint.as_deref().unwrap_or_default();
    assert!(
        hint.contains("create topic never-created in project courier-tests"),
        "{hint}"
    );
    for step in ["credentials", "authentication"] {
        assert!(
            report
                .steps
                .iter()
                .any(|s| s.name == step && s.status == StepStatus::Passed),
            "{step}: {report:#?}"
        );
    }
}

#[tokio::test]
async fn without_credentials_the_emulator_test_skips_the_credential_steps_and_publishes() {
    let emulator = pubsub::pubsub();
    let topic = emulator.new_topic().await;
    let report = test_report(&GcpPubsub, &spec(emulator.config(&topic), json!({}))).await;
    assert!(report.success, "{report:#?}");
    let status = |name: &str| {
        report
            .steps
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.status)
    };
    assert_eq!(status("credentials"), Some(StepStatus::Skipped));
    assert_eq!(status("authentication"), Some(StepStatus::Skipped));
    assert_eq!(status("topic"), Some(StepStatus::Passed));
    assert_eq!(status("write_permission"), Some(StepStatus::Passed));
    let messages = emulator.pull_at_least(&topic, 1).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].attributes["courier_event_type"],
        "courier.connection_test"
    );
}

#[test]
fn hostile_attribute_names_are_refused_when_saved_at_their_paths() {
    let config = json!({
        "project_id": "my-project",
        "topic": "orders",
        "attributes": {
            "googclient_x": "type",
            "courier_event_type": "type",
            "": "type",
            "goog/a": "type",
            "n".repeat(300): "type",
            "fine": "type",
        },
    });
    let errors = GcpPubsub.validate(&spec(config, json!({})));
    let mut paths: Vec<String> = errors.iter().map(|e| e.path.clone()).collect();
    paths.sort();
    let mut expected = vec![
        "/config/attributes/".to_string(),
        "/config/attributes/goog~1a".into(),
        "/config/attributes/courier_event_type".into(),
        "/config/attributes/googclient_x".into(),
        format!("/config/attributes/{}", "n".repeat(300)),
    ];
    expected.sort();
    assert_eq!(paths, expected, "{errors:?}");
}

#[tokio::test]
async fn without_an_endpoint_a_service_account_key_is_required() {
    let no_key = spec(
        json!({"project_id": "my-project", "topic": "orders"}),
        json!({}),
    );
    match GcpPubsub.build(&no_key).await {
        Err(courier_core::BuildError::Connect(e)) => {
            assert_eq!(e.kind, ErrorKind::InvalidConfig);
            assert!(e.message.contains("service_account_json"), "{e:?}");
        }
        other => panic!("{other:?}"),
    }
}

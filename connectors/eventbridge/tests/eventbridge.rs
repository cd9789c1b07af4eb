//! EventBridge against moto, read back through an SQS queue that a rule on the bus sends every
//! event to: each record arrives as an event's detail, with the configured source and the
//! event's type (or the template's value, or `courier.event`) as detail-type; a bus named by
//! ARN works; records that cannot be events fail alone; a missing bus and bad credentials fail
//! the connection test at their own steps.

use courier_connector_eventbridge::Eventbridge;
use courier_core::{Batch, DestinationSpec, DynConnector, ErrorKind, Record, StepStatus};
use courier_testbed::moto;
use serde_json::{Value, json};

const SOURCE: &str = "com.acme.orders";

fn spec(config: Value, auth: Value) -> DestinationSpec {
    DestinationSpec {
        destination_id: "dest_eventbridge".into(),
        config,
        auth_config: auth,
        allow_private_network: true,
        ..DestinationSpec::default()
    }
}

fn record(i: usize) -> Record {
    Record::new(
        format!("r{i}"),
        format!(r#"{{"n":{i},"status":"paid","customer":{{"id":"c{i}"}}}}"#),
    )
    .with_event("order.created", format!("evt_{i}"))
}

/// The events on the bus, by their detail's `n`.
async fn events_by_n(moto: &moto::Moto, bus: &moto::EventBus) -> Vec<(u64, Value)> {
    let mut events: Vec<(u64, Value)> = moto
        .events(bus)
        .await
        .into_iter()
        .map(|e| (e["detail"]["n"].as_u64().unwrap(), e))
        .collect();
    events.sort_by_key(|(n, _)| *n);
    events
}

#[tokio::test]
async fn records_arrive_as_events_with_the_source_and_the_event_type() {
    let moto = moto::moto();
    let bus = moto.new_bus().await;
    let config = moto.eventbridge_config(&bus.name, SOURCE);
    let destination = Eventbridge.build(&spec(config, moto.auth())).await.unwrap();
    // 13 records, the last without an event: two PutEvents requests of at most 10.
    let mut records: Vec<Record> = (0..12).map(record).collect();
    records.push(Record::new("r12", r#"{"n":12}"#));
    let out = destination
        .deliver(&Batch::new("b1", records.clone()))
        .await;
    assert_eq!(out.delivered_count(), 13, "{out:?}");

    let events = events_by_n(&moto, &bus).await;
    assert_eq!(events.len(), 13);
    for (n, event) in &events {
        let payload: Value = serde_json::from_slice(&records[*n as usize].payload).unwrap();
        assert_eq!(event["detail"], payload, "{event}");
        assert_eq!(event["source"], SOURCE);
        let expected = if *n < 12 {
            "order.created"
        } else {
            "courier.event"
        };
        assert_eq!(event["detail-type"], expected, "{event}");
    }
    // The delivery reference is EventBridge's own event id.
    let reference = out.records[0].outcome.clone();
    let ids: Vec<&str> = events
        .iter()
        .filter_map(|(_, e)| e["id"].as_str())
        .collect();
    match reference {
        courier_core::Outcome::Delivered(d) => assert!(ids.contains(&d.reference.as_str())),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_detail_type_template_falls_back_to_the_event_type_and_a_bus_arn_works() {
    let moto = moto::moto();
    let bus = moto.new_bus().await;
    let mut config = moto.eventbridge_config(&bus.arn, SOURCE);
    config["detail_type_template"] = json!("order.{status}");
    let destination = Eventbridge.build(&spec(config, moto.auth())).await.unwrap();
    let records = vec![
        record(0),
        Record::new("r1", r#"{"n":1}"#).with_event("order.updated", "evt_1"),
        Record::new("r2", r#"{"n":2}"#),
    ];
    let out = destination.deliver(&Batch::new("b1", records)).await;
    assert_eq!(out.delivered_count(), 3, "{out:?}");
    let types: Vec<Value> = events_by_n(&moto, &bus)
        .await
        .into_iter()
        .map(|(_, e)| e["detail-type"].clone())
        .collect();
    assert_eq!(
        types,
        [
            json!("order.paid"),
            json!("order.updated"),
            json!("courier.event")
        ]
    );
}

#[tokio::test]
async fn records_that_cannot_be_events_fail_alone() {
    let moto = moto::moto();
    let bus = moto.new_bus().await;
    let config = moto.eventbridge_config(&bus.name, SOURCE);
    let destination = Eventbridge.build(&spec(config, moto.auth())).await.unwrap();
    let big = format!(r#"{{"n":9,"pad":"{}"}}"#, "x".repeat(300 * 1024));
    let records = vec![
        record(0),
        Record::new("array", "[1,2]"),
        Record::new("not-json", "hello"),
        Record::new("not-utf8", vec![0xff, 0xfe, b'{', b'}']),
        Record::new("big", big),
        Record::new("long-type", r#"{"n":5}"#).with_event("x".repeat(129), "evt_5"),
        record(6),
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
            Some(ErrorKind::Rejected),
            Some(ErrorKind::PayloadTooLarge),
            Some(ErrorKind::Rejected),
            None
        ],
        "{out:?}"
    );
    let message = |i: usize| out.records[i].error().unwrap().message.clone();
    assert!(message(1).contains("not a JSON object"), "{}", message(1));
    assert!(message(5).contains("128 characters"), "{}", message(5));
    assert_eq!(moto.events(&bus).await.len(), 2);
}

#[tokio::test]
async fn a_missing_bus_fails_the_test_at_its_own_step() {
    let moto = moto::moto();
    let bus = moto.new_bus().await;
    let missing = format!("{}-gone", bus.name);
    let report = test_report(moto.eventbridge_config(&missing, SOURCE), moto.auth()).await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "event_bus", "{report:#?}");
    assert_eq!(failed.error_kind, Some(ErrorKind::NotFound), "{failed:?}");
    assert!(
        failed
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("event_bus_name")),
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
async fn bad_credentials_fail_the_test_at_authentication_and_a_good_test_puts_one_event() {
    let moto = moto::moto();
    let bus = moto.new_bus().await;
    let mut bad = moto.auth();
    bad["secret_access_key"] = json!("not-the-secret");
    let report = test_report(moto.eventbridge_config(&bus.name, SOURCE), bad).await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "authentication", "{report:#?}");
    assert_eq!(failed.error_kind, Some(ErrorKind::Unauthenticated));

    let report = test_report(moto.eventbridge_config(&bus.arn, SOURCE), moto.auth()).await;
    assert!(report.success, "{report:#?}");
    let events = moto.events(&bus).await;
    assert_eq!(events.len(), 1, "one test event");
    assert_eq!(events[0]["detail-type"], "courier.connection_test");
    assert_eq!(events[0]["source"], SOURCE);
}

/// Runs the connection test of an EventBridge destination.
async fn test_report(config: Value, auth: Value) -> courier_core::TestReport {
    let (events, _received) = tokio::sync::mpsc::unbounded_channel();
    courier_runtime::run_test(
        &Eventbridge,
        &spec(config, auth),
        std::time::Duration::from_secs(30),
        &events,
    )
    .await
}

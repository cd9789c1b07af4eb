//! RabbitMQ against the suite's shared broker: messages read back byte for byte with their
//! properties and headers; unroutable messages fail alone, naming their routing key; records
//! over the configured limit fail alone; wrong credentials, a missing exchange or queue and a
//! private address each fail the connection test at their own step.

mod support;

use courier_conformance::helpers::test_report;
use courier_connector_rabbitmq::Rabbitmq;
use courier_core::{Batch, DynConnector, ErrorKind, Record, StepStatus, TestReport};
use courier_testbed::fresh_name;
use serde_json::json;
use support::{Reader, auth, bad_auth, broker_url, spec};

fn step<'a>(report: &'a TestReport, name: &str) -> &'a courier_core::StepReport {
    report
        .steps
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no step {name}: {report:#?}"))
}

#[tokio::test]
async fn messages_arrive_byte_for_byte_with_properties_and_headers() {
    let reader = Reader::shared().await;
    let prefix = fresh_name("courier-rt");
    let (eu, us) = (format!("{prefix}-eu"), format!("{prefix}-us"));
    reader.queue(&eu).await;
    reader.queue(&us).await;
    // The default exchange: each record's routing key names its queue.
    let config = json!({
        "url": broker_url(),
        "routing_key_template": format!("{prefix}-{{region}}"),
        "headers": {"customer": "customer.id", "kind": "{type}/v1"},
    });
    let destination = Rabbitmq.build(&spec(config, auth())).await.unwrap();
    let records = vec![
        Record::new(
            "rec-1",
            r#"{"region":"eu","type":"order","customer":{"id":"c-1"},"note":"Zoë ✓ \"q\""}"#,
        )
        .with_event("order.created", "evt_1"),
        Record::new(
            "rec-2",
            "{ \"region\" : \"us\", \"type\":\"order\",\"customer\":{\"id\":7} }\n",
        )
        .with_event("order.updated", "evt_2"),
    ];
    let outcome = destination
        .deliver(&Batch::new("b1", records.clone()))
        .await;
    assert_eq!(outcome.delivered_count(), 2, "{outcome:?}");

    for (queue, record, event) in [
        (&eu, &records[0], ("order.created", "evt_1", "c-1")),
        (&us, &records[1], ("order.updated", "evt_2", "7")),
    ] {
        let found = reader.peek(queue).await;
        assert_eq!(found.len(), 1, "{queue}: {found:?}");
        let m = &found[0];
        assert_eq!(
            m.body,
            record.payload.to_vec(),
            "the body is the payload byte for byte"
        );
        assert_eq!(&m.routing_key, queue);
        assert_eq!(m.message_id().as_deref(), Some(record.id.as_str()));
        assert_eq!(m.header("courier_event_type").as_deref(), Some(event.0));
        assert_eq!(m.header("courier_event_id").as_deref(), Some(event.1));
        assert_eq!(m.header("customer").as_deref(), Some(event.2));
        assert_eq!(m.header("kind").as_deref(), Some("order/v1"));
        let p = &m.properties;
        assert_eq!(
            p.content_type().as_ref().map(|s| s.as_str()),
            Some("application/json")
        );
        assert_eq!(*p.delivery_mode(), Some(2), "persistent by default");
        assert!(p.timestamp().is_some_and(|t| t > 1_700_000_000));
    }
}

#[tokio::test]
async fn text_payloads_and_transient_messages() {
    let reader = Reader::shared().await;
    let queue = fresh_name("courier-text");
    reader.queue(&queue).await;
    let config = json!({"url": broker_url(), "routing_key": queue, "persistent": false});
    let destination = Rabbitmq.build(&spec(config, auth())).await.unwrap();
    let payload = b"not json \x00\xff bytes".to_vec();
    let outcome = destination
        .deliver(&Batch::new("b1", vec![Record::new("t1", payload.clone())]))
        .await;
    assert_eq!(outcome.delivered_count(), 1, "{outcome:?}");
    let found = reader.peek(&queue).await;
    assert_eq!(found[0].body, payload);
    assert_eq!(
        *found[0].properties.content_type(),
        None,
        "not JSON: no content type"
    );
    assert_eq!(*found[0].properties.delivery_mode(), Some(1));
    assert_eq!(
        found[0].header("courier_event_type"),
        None,
        "no event, no event headers"
    );
}

#[tokio::test]
async fn an_unroutable_message_fails_alone_naming_its_routing_key() {
    let reader = Reader::shared().await;
    let exchange = fresh_name("courier-routes");
    let queue = format!("{exchange}-q");
    reader.exchange_with_queue(&exchange, &queue, "known").await;
    let config = json!({"url": broker_url(), "exchange": exchange, "routing_key_template": "key"});
    let destination = Rabbitmq.build(&spec(config, auth())).await.unwrap();
    let records: Vec<Record> = (0..20)
        .map(|i| {
            let key = if i == 7 { "nowhere" } else { "known" };
            Record::new(format!("r{i}"), format!(r#"{{"key":"{key}","n":{i}}}"#))
        })
        .collect();
    let outcome = destination.deliver(&Batch::new("b1", records)).await;
    assert_eq!(outcome.delivered_count(), 19, "{outcome:?}");
    let error = outcome.records[7].error().expect("r7 has no route");
    assert_eq!(error.kind, ErrorKind::Rejected, "{error:?}");
    assert!(!error.is_retryable());
    assert!(error.message.contains("`nowhere`"), "{}", error.message);
    assert_eq!(reader.count(&queue).await, 19);

    // The default exchange: a queue that does not exist.
    let config = json!({"url": broker_url(), "routing_key": fresh_name("courier-no-queue")});
    let destination = Rabbitmq.build(&spec(config, auth())).await.unwrap();
    let outcome = destination
        .deliver(&Batch::new("b2", vec![Record::new("x", "{}")]))
        .await;
    let error = outcome.records[0].error().expect("no queue, no route");
    assert_eq!(error.kind, ErrorKind::Rejected, "{error:?}");
    assert!(
        error.message.contains("no queue named"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn records_over_the_configured_limit_fail_alone_before_sending() {
    let reader = Reader::shared().await;
    let queue = fresh_name("courier-limit");
    reader.queue(&queue).await;
    let config = json!({"url": broker_url(), "routing_key": queue, "max_message_bytes": 1024});
    let destination = Rabbitmq.build(&spec(config, auth())).await.unwrap();
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(2000));
    let records = vec![
        Record::new("small-1", "{}"),
        Record::new("big", big),
        Record::new("small-2", "[]"),
    ];
    let outcome = destination.deliver(&Batch::new("b1", records)).await;
    assert_eq!(outcome.delivered_count(), 2, "{outcome:?}");
    let error = outcome.records[1].error().expect("the big record fails");
    assert_eq!(error.kind, ErrorKind::PayloadTooLarge, "{error:?}");
    assert!(
        error.message.contains("max_message_size"),
        "{}",
        error.message
    );
    assert_eq!(reader.count(&queue).await, 2);
}

#[tokio::test]
async fn wrong_credentials_fail_at_authentication() {
    let config = json!({"url": broker_url(), "routing_key": "anything"});
    let report = test_report(&Rabbitmq, &spec(config.clone(), bad_auth())).await;
    assert!(!report.success);
    assert_eq!(step(&report, "connection").status, StepStatus::Passed);
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "authentication", "{failed:#?}");
    assert_eq!(failed.error_kind, Some(ErrorKind::Unauthenticated));
    assert!(
        failed
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("password"))
    );
    assert_eq!(step(&report, "exchange").status, StepStatus::Skipped);

    let destination = Rabbitmq.build(&spec(config, bad_auth())).await.unwrap();
    let outcome = destination
        .deliver(&Batch::new("b1", vec![Record::new("r", "{}")]))
        .await;
    let error = outcome.records[0].error().expect("refused");
    assert_eq!(error.kind, ErrorKind::Unauthenticated, "{error:?}");
}

#[tokio::test]
async fn a_missing_exchange_or_queue_fails_at_the_exchange_step() {
    let missing = fresh_name("courier-missing");
    let config = json!({"url": broker_url(), "exchange": missing, "routing_key": "k"});
    let report = test_report(&Rabbitmq, &spec(config.clone(), auth())).await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "exchange", "{failed:#?}");
    assert_eq!(failed.error_kind, Some(ErrorKind::NotFound));
    assert!(failed.message.contains(&missing), "{}", failed.message);
    assert!(
        failed
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("config.exchange"))
    );
    assert_eq!(step(&report, "authentication").status, StepStatus::Passed);
    assert_eq!(
        step(&report, "write_permission").status,
        StepStatus::Skipped
    );

    // Delivery to the missing exchange fails for good too: the broker closes the channel.
    let destination = Rabbitmq.build(&spec(config, auth())).await.unwrap();
    let outcome = destination
        .deliver(&Batch::new("b1", vec![Record::new("r", "{}")]))
        .await;
    let error = outcome.records[0].error().expect("no exchange");
    assert_eq!(error.kind, ErrorKind::NotFound, "{error:?}");

    // The default exchange with a fixed routing key: the queue must exist.
    let config = json!({"url": broker_url(), "routing_key": missing});
    let report = test_report(&Rabbitmq, &spec(config, auth())).await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "exchange", "{failed:#?}");
    assert!(failed.message.contains("queue"), "{}", failed.message);
}

#[tokio::test]
async fn the_test_passes_and_publishes_nothing() {
    let reader = Reader::shared().await;
    let queue = fresh_name("courier-probe");
    reader.queue(&queue).await;
    let config = json!({"url": broker_url(), "routing_key": queue});
    let report = test_report(&Rabbitmq, &spec(config, auth())).await;
    assert!(report.success, "{report:#?}");
    let write = step(&report, "write_permission");
    assert!(write.message.contains("rolled back"), "{}", write.message);
    assert!(step(&report, "exchange").message.contains(&queue));
    assert_eq!(reader.count(&queue).await, 0, "the probe delivered nothing");
}

#[tokio::test]
async fn a_private_address_is_refused_unless_allowed() {
    let config = json!({"url": broker_url(), "routing_key": "q"});
    let mut guarded = spec(config, auth());
    guarded.allow_private_network = false;
    let report = test_report(&Rabbitmq, &guarded).await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "connection", "{failed:#?}");
    assert_eq!(failed.error_kind, Some(ErrorKind::InvalidConfig));
    let destination = Rabbitmq.build(&guarded).await.unwrap();
    let outcome = destination
        .deliver(&Batch::new("b1", vec![Record::new("r", "{}")]))
        .await;
    let error = outcome.records[0].error().expect("refused");
    assert_eq!(error.kind, ErrorKind::InvalidConfig, "{error:?}");
}

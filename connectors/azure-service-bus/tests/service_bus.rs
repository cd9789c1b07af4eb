//! Service Bus against the fake, read back from the fake's store (the independent client):
//! bodies byte for byte, MessageId, SessionId, application and event properties, for a shared
//! access key and a connection string; wrong keys, Send-only keys, a missing entity, a session
//! queue without a session, duplicates, Server Busy with Retry-After, records over the size
//! limit (counted as the JSON sent) failing alone, and hostile connection strings. The service
//! principal's path is in `tests/entra.rs`.

use std::time::{Duration, Instant};

use courier_conformance::helpers::{spec, test_report};
use courier_connector_azure_service_bus::{AzureServiceBus, MAX_REQUEST_BYTES};
use courier_core::{Batch, DynConnector, ErrorKind, Record, StepStatus};
use courier_fakes::ServiceBusFake;
use courier_fakes::service_bus::{EntityOptions, Rights, SendFault};
use courier_runtime::{Deliverer, DeliveryPolicy};
use serde_json::{Value, json};

const KEY: &str = "c2VjcmV0LWtleS1mb3ItdGVzdHM=";

async fn fake(options: EntityOptions) -> ServiceBusFake {
    let fake = ServiceBusFake::start().await;
    fake.add_entity("orders", options);
    fake.add_key("root", KEY, Rights::MANAGE);
    fake.add_key("send-only", KEY, Rights::SEND);
    fake
}

fn config(fake: &ServiceBusFake) -> Value {
    json!({"endpoint": fake.url(), "entity_path": "orders"})
}

fn key(name: &str) -> Value {
    json!({"sas_key_name": name, "sas_key": KEY})
}

fn record(i: usize, customer: &str) -> Record {
    Record::new(
        format!("dlv_{i}"),
        format!(
            r#"{{"n":{i},"type":"order.created","customer":{{"id":"{customer}","region":"eu"}},"note":"Zoë \"Q\" — ✓"}}"#
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

#[tokio::test]
async fn messages_arrive_with_their_ids_sessions_and_properties_and_duplicates_are_dropped() {
    let fake = fake(EntityOptions {
        requires_session: true,
        duplicate_detection: true,
        ..EntityOptions::default()
    })
    .await;
    let mut config = config(&fake);
    config["session_id_template"] = json!("customer.id");
    config["application_properties"] =
        json!({"event_type": "type", "where": "{customer.region}-{n}"});
    let destination = AzureServiceBus
        .build(&spec("dest_sb", config, key("root")))
        .await
        .unwrap();
    let records: Vec<Record> = (0..12)
        .map(|i| record(i, if i % 2 == 0 { "even" } else { "odd" }))
        .collect();
    let batch = Batch::new("b1", records.clone());
    let first = destination.deliver(&batch).await;
    assert_eq!(first.delivered_count(), 12, "{first:?}");
    assert_eq!(
        fake.send_requests(),
        1,
        "one Send Message Batch for 12 small records"
    );
    // The same batch again, as a retry sends it: duplicate detection drops every copy.
    let again = destination.deliver(&batch).await;
    assert_eq!(again.delivered_count(), 12, "{again:?}");

    let stored = fake.messages("orders");
    assert_eq!(stored.len(), 12, "each record once");
    for (m, r) in stored.iter().zip(&records) {
        assert_eq!(m.body, r.payload.to_vec(), "the body byte for byte");
        assert_eq!(m.message_id, r.id);
        let payload: Value = serde_json::from_slice(&r.payload).unwrap();
        assert_eq!(
            m.session_id.as_deref(),
            payload["customer"]["id"].as_str(),
            "SessionId from the template"
        );
        let n = payload["n"].as_u64().unwrap();
        let expected: Vec<(String, String)> = [
            ("courier_event_id", format!("evt_{n}")),
            ("courier_event_type", "order.created".to_string()),
            ("event_type", "order.created".to_string()),
            ("where", format!("eu-{n}")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(
            m.user_properties.clone().into_iter().collect::<Vec<_>>(),
            expected
        );
    }
    // A record without the session's field fails alone, before anything is sent.
    let out = destination
        .deliver(&Batch::new(
            "b2",
            vec![Record::new("no-session", r#"{"n":1}"#), record(20, "c")],
        ))
        .await;
    assert_eq!(kinds(&out), [Some(ErrorKind::Rejected), None], "{out:?}");
    assert!(
        out.records[0]
            .error()
            .unwrap()
            .message
            .contains("customer.id")
    );
}

#[tokio::test]
async fn a_connection_string_signs_and_must_match_the_config() {
    let fake = fake(EntityOptions::default()).await;
    let auth = json!({"connection_string": fake.connection_string("root")});
    let report = test_report(
        &AzureServiceBus,
        &spec("dest_cs", config(&fake), auth.clone()),
    )
    .await;
    assert!(report.success, "{report:#?}");
    let destination = AzureServiceBus
        .build(&spec("dest_cs", config(&fake), auth))
        .await
        .unwrap();
    let out = destination
        .deliver(&Batch::new("b", vec![record(1, "c")]))
        .await;
    assert_eq!(out.delivered_count(), 1, "{out:?}");
    let bodies: Vec<Vec<u8>> = fake
        .messages("orders")
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert!(bodies.contains(&record(1, "c").payload.to_vec()));

    // An entity policy's EntityPath must be the config's entity.
    let scoped = json!({"connection_string": format!("{};EntityPath=invoices", fake.connection_string("root"))});
    let refused = AzureServiceBus
        .build(&spec("dest_cs", config(&fake), scoped))
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("invoices"), "{refused}");
    assert!(!refused.contains(KEY));
}

#[tokio::test]
async fn a_wrong_key_fails_at_authentication_and_is_permanent() {
    let fake = fake(EntityOptions::default()).await;
    let wrong = json!({"sas_key_name": "root", "sas_key": "bm90LXRoZS1rZXk="});
    let report = test_report(
        &AzureServiceBus,
        &spec("dest_w", config(&fake), wrong.clone()),
    )
    .await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "authentication", "{report:#?}");
    assert_eq!(failed.error_kind, Some(ErrorKind::Unauthenticated));
    assert!(failed.hint.as_deref().unwrap().contains("sas_key"));
    let destination = AzureServiceBus
        .build(&spec("dest_w", config(&fake), wrong))
        .await
        .unwrap();
    let out = destination
        .deliver(&Batch::new("b", vec![record(1, "c")]))
        .await;
    let error = out.records[0].error().expect("refused");
    assert_eq!(error.kind, ErrorKind::Unauthenticated, "{error:?}");
    assert!(!error.is_retryable());
    assert!(fake.messages("orders").is_empty());
}

#[tokio::test]
async fn a_send_only_key_passes_without_claiming_the_entity_exists() {
    let fake = fake(EntityOptions::default()).await;
    let report = test_report(
        &AzureServiceBus,
        &spec("dest_s", config(&fake), key("send-only")),
    )
    .await;
    assert!(report.success, "{report:#?}");
    let entity = report.steps.iter().find(|s| s.name == "entity").unwrap();
    assert_eq!(entity.status, StepStatus::Skipped, "{entity:?}");
    assert!(
        entity.message.contains("may not read"),
        "{}",
        entity.message
    );
    let write = report
        .steps
        .iter()
        .find(|s| s.name == "write_permission")
        .unwrap();
    assert_eq!(write.status, StepStatus::Passed);
    // The test message is marked as one, sent with the single-message form.
    let sent = fake.messages("orders");
    assert_eq!(sent.len(), 1);
    assert!(String::from_utf8_lossy(&sent[0].body).contains("courier.connection_test"));
    assert_eq!(
        sent[0].user_properties["courier_event_type"],
        "courier.connection_test"
    );
    assert!(sent[0].message_id.starts_with("courier-connection-test-"));
}

#[tokio::test]
async fn a_missing_entity_fails_at_its_own_step_with_a_hint_naming_it() {
    let fake = fake(EntityOptions::default()).await;
    let mut missing = config(&fake);
    missing["entity_path"] = json!("invoices");
    let report = test_report(
        &AzureServiceBus,
        &spec("dest_m", missing.clone(), key("root")),
    )
    .await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "entity", "{report:#?}");
    assert_eq!(failed.error_kind, Some(ErrorKind::NotFound));
    assert!(
        failed.hint.as_deref().unwrap().contains("invoices"),
        "{failed:?}"
    );
    assert!(
        report
            .steps
            .iter()
            .any(|s| s.name == "authentication" && s.status == StepStatus::Passed)
    );
    // Sending there is not_found too (Service Bus answers 410 to a send).
    let destination = AzureServiceBus
        .build(&spec("dest_m", missing, key("send-only")))
        .await
        .unwrap();
    let out = destination
        .deliver(&Batch::new("b", vec![record(1, "c")]))
        .await;
    assert_eq!(kinds(&out), [Some(ErrorKind::NotFound)]);
}

#[tokio::test]
async fn a_session_queue_without_a_session_template_is_named_as_such() {
    let fake = fake(EntityOptions {
        requires_session: true,
        ..EntityOptions::default()
    })
    .await;
    let report = test_report(
        &AzureServiceBus,
        &spec("dest_q", config(&fake), key("root")),
    )
    .await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "entity", "{report:#?}");
    assert!(
        failed
            .hint
            .as_deref()
            .unwrap()
            .contains("session_id_template")
    );
    let destination = AzureServiceBus
        .build(&spec("dest_q", config(&fake), key("root")))
        .await
        .unwrap();
    let out = destination
        .deliver(&Batch::new("b", vec![record(1, "c")]))
        .await;
    let error = out.records[0].error().expect("refused");
    assert_eq!(error.kind, ErrorKind::Rejected);
    assert!(error.hint.contains("session_id_template"), "{error:?}");
}

#[tokio::test]
async fn server_busy_is_rate_limited_and_retried_after_the_wait_asked_for() {
    let fake = fake(EntityOptions::default()).await;
    let destination = AzureServiceBus
        .build(&spec("dest_b", config(&fake), key("root")))
        .await
        .unwrap();
    fake.fail_next_sends(1, SendFault::server_busy(Some(1)));
    let once = destination
        .deliver(&Batch::new("b1", vec![record(1, "c")]))
        .await;
    let error = once.records[0].error().expect("busy");
    assert_eq!(error.kind, ErrorKind::RateLimited, "{error:?}");
    assert!(error.is_retryable());
    assert_eq!(error.retry_after, Some(Duration::from_secs(1)));

    fake.fail_next_sends(
        1,
        SendFault {
            status: 429,
            retry_after: Some(1),
            detail: "Throttled",
        },
    );
    let policy = DeliveryPolicy {
        retry_base_ms: 10,
        retry_max_delay_ms: 50,
        ..DeliveryPolicy::default()
    };
    let started = Instant::now();
    let out = Deliverer::new(destination, policy)
        .deliver(Batch::new("b2", vec![record(2, "c")]))
        .await;
    assert_eq!(out.delivered_count(), 1, "{out:?}");
    assert_eq!(out.records[0].attempts, 2);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "the retry waited for Retry-After, not the 10 ms backoff: {:?}",
        started.elapsed()
    );
    assert_eq!(fake.messages("orders").len(), 1);
}

#[tokio::test]
async fn oversized_records_fail_alone_counted_as_the_json_sent() {
    let fake = fake(EntityOptions::default()).await;
    let destination = AzureServiceBus
        .build(&spec("dest_o", config(&fake), key("root")))
        .await
        .unwrap();
    // 200 KiB of payload, but every `\"` in it is four bytes once it is a JSON string.
    let quotes = format!(r#"{{"q":"{}"}}"#, r#"\""#.repeat(100 * 1024));
    assert!(quotes.len() < MAX_REQUEST_BYTES);
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(MAX_REQUEST_BYTES));
    let records = vec![
        record(0, "c"),
        Record::new("quotes", quotes),
        Record::new("big", big),
        Record::new("not-utf8", vec![0xff, 0xfe, b'{', b'}']),
        record(4, "c"),
    ];
    let out = destination.deliver(&Batch::new("b", records)).await;
    assert_eq!(
        kinds(&out),
        [
            None,
            Some(ErrorKind::PayloadTooLarge),
            Some(ErrorKind::PayloadTooLarge),
            Some(ErrorKind::Rejected),
            None
        ],
        "{out:?}"
    );
    assert_eq!(fake.messages("orders").len(), 2);
    assert_eq!(
        fake.send_requests(),
        1,
        "the others in one request, never over the limit"
    );
}

#[tokio::test]
async fn a_failed_request_fails_only_its_own_records() {
    let fake = fake(EntityOptions::default()).await;
    let destination = AzureServiceBus
        .build(&spec("dest_p", config(&fake), key("root")))
        .await
        .unwrap();
    // Three records of 100 KiB: two fit in one 256 KiB request, the third goes in a second.
    let records: Vec<Record> = (0..3)
        .map(|i| {
            Record::new(
                format!("r{i}"),
                format!(r#"{{"n":{i},"pad":"{}"}}"#, "x".repeat(100 * 1024)),
            )
        })
        .collect();
    fake.fail_next_sends(1, SendFault::server_busy(None));
    let out = destination.deliver(&Batch::new("b", records)).await;
    assert_eq!(
        kinds(&out),
        [
            Some(ErrorKind::RateLimited),
            Some(ErrorKind::RateLimited),
            None
        ],
        "{out:?}"
    );
    assert_eq!(fake.send_requests(), 2);
    let stored = fake.messages("orders");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].message_id, "r2");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 96, ..Default::default() })]

    /// Hostile connection strings, through validation, endpoints and building: nothing
    /// panics, and the key never shows in an error.
    #[test]
    fn hostile_connection_strings_never_panic_nor_leak_the_key(
        noise in "\\PC{0,80}",
        glue in proptest::sample::select(vec![";", "=", ";;", " ; ", "\u{0}", "sb://", "/"]),
        host in "[a-z0-9.:\\[\\]-]{0,24}",
    ) {
        const SENTINEL: &str = "S3ntinelKey0+/q9x=";
        let config = json!({"namespace": "acme-prod", "entity_path": "orders"});
        for text in [
            format!("{noise}{glue}SharedAccessKey={SENTINEL}"),
            format!("Endpoint=sb://{host}/;SharedAccessKeyName={noise};SharedAccessKey={SENTINEL}"),
            format!("Endpoint={noise}{glue}SharedAccessKeyName=n;SharedAccessKey={SENTINEL}{glue}EntityPath={noise}"),
            format!("Endpoint=sb://acme-prod.servicebus.windows.net/;SharedAccessKeyName=n;SharedAccessKey={SENTINEL};EntityPath={noise}"),
        ] {
            let spec = spec("dest_h", config.clone(), json!({"connection_string": text}));
            let errors = AzureServiceBus.validate(&spec);
            for e in &errors {
                proptest::prop_assert!(!e.to_string().contains(SENTINEL), "{e}");
            }
            let _ = AzureServiceBus.endpoints(&spec);
            if errors.is_empty() {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                let shown = match runtime.block_on(AzureServiceBus.build(&spec)) {
                    Ok(destination) => format!("{destination:?}"),
                    Err(e) => format!("{e} {e:?}"),
                };
                proptest::prop_assert!(!shown.contains(SENTINEL), "{shown}");
            }
        }
    }
}

#[tokio::test]
async fn a_partitioned_entity_refusing_mixed_batches_gets_one_message_at_a_time() {
    let fake = fake(EntityOptions {
        duplicate_detection: true,
        partitioned: true,
        ..EntityOptions::default()
    })
    .await;
    let mut config = config(&fake);
    config["session_id_template"] = json!("customer.id");
    let destination = AzureServiceBus
        .build(&spec("dest_sb", config, key("root")))
        .await
        .unwrap();
    let records: Vec<Record> = (0..4).map(|i| record(i, "c")).collect();
    let out = destination.deliver(&Batch::new("b", records.clone())).await;
    assert_eq!(out.delivered_count(), 4, "{out:?}");
    // One refused batch, then each message alone, in order.
    assert_eq!(fake.send_requests(), 5);
    let ids: Vec<String> = fake
        .messages("orders")
        .into_iter()
        .map(|m| m.message_id)
        .collect();
    assert_eq!(ids, ["dlv_0", "dlv_1", "dlv_2", "dlv_3"]);
}

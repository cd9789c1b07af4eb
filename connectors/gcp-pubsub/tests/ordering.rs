//! Ordering keys and partial failure, against a stand-in for the REST API that fails one
//! key's publish: each publish request holds one ordering key, so a failed key fails only its
//! own records; the later records of that key in the same delivery (here in a second request
//! of the shape, past 1,000 records) fail with it without being sent, so none overtakes a
//! failed one; through the delivery policy the failed key's records are all sent again, in
//! order, and every record arrives once.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::StatusCode;
use courier_conformance::helpers;
use courier_connector_gcp_pubsub::GcpPubsub;
use courier_core::{Batch, DynConnector, ErrorKind, Record};
use courier_runtime::{Deliverer, DeliveryPolicy};
use serde_json::{Value, json};
use support::{FakePubsub, Sent, error_body};

/// 1,004 records whose ordering key alternates between `a` and `b`.
fn batch() -> Batch {
    let records = (0..1004)
        .map(|i| {
            let key = if i % 2 == 0 { "a" } else { "b" };
            Record::new(format!("r{i}"), format!(r#"{{"n":{i},"key":"{key}"}}"#))
        })
        .collect();
    Batch::new("ordered", records)
}

/// A stand-in that fails the first publish of key `b` with 503 UNAVAILABLE.
async fn failing_b_once() -> FakePubsub {
    let failed = AtomicBool::new(false);
    FakePubsub::start(Box::new(move |_, messages: &[Sent]| {
        let is_b = messages[0].ordering_key.as_deref() == Some("b");
        (is_b && !failed.swap(true, Ordering::SeqCst)).then(|| {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                error_body(503, "UNAVAILABLE", "The service is currently unavailable."),
            )
        })
    }))
    .await
}

fn config(fake: &FakePubsub) -> Value {
    let mut config = fake.config();
    config["ordering_key_template"] = json!("key");
    config
}

fn numbers(messages: &[Sent]) -> Vec<u64> {
    messages
        .iter()
        .map(|m| {
            serde_json::from_str::<Value>(&m.data).unwrap()["n"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

#[tokio::test]
async fn a_failed_key_fails_only_its_records_and_its_later_records_are_not_sent() {
    let fake = failing_b_once().await;
    let spec = helpers::spec("dest_pubsub", config(&fake), json!({}));
    let destination = GcpPubsub.build(&spec).await.unwrap();
    let out = destination.deliver(&batch()).await;

    for (i, r) in out.records.iter().enumerate() {
        if i % 2 == 0 {
            assert!(
                r.is_delivered(),
                "{} of key a: {:?}",
                r.record_id,
                r.error()
            );
        } else {
            let e = r.error().expect("key b failed");
            assert_eq!(e.kind, ErrorKind::Unavailable, "{e:?}");
        }
    }
    let late = out.records[1003].error().unwrap();
    assert!(
        late.message
            .contains("was not sent: an earlier message with its ordering key failed"),
        "{late:?}"
    );

    let requests = fake.requests.lock().unwrap().clone();
    for request in &requests {
        let keys: Vec<_> = request.iter().map(|m| m.ordering_key.clone()).collect();
        assert!(
            keys.windows(2).all(|w| w[0] == w[1]),
            "one ordering key a request"
        );
    }
    // 1,000 records (the limit of one request of the shape) as one publish per key, then the
    // last four: key a's two are published, key b's two are held back.
    // The two keys' publishes of one request of the shape go out side by side.
    let mut sizes: Vec<(Option<String>, usize)> = requests
        .iter()
        .map(|r| (r[0].ordering_key.clone(), r.len()))
        .collect();
    sizes[..2].sort();
    let key = |k: &str| Some(k.to_string());
    assert_eq!(sizes, [(key("a"), 500), (key("b"), 500), (key("a"), 2)]);
}

#[tokio::test]
async fn through_the_delivery_policy_the_failed_key_is_sent_again_in_order() {
    let fake = failing_b_once().await;
    let spec = helpers::spec("dest_pubsub", config(&fake), json!({}));
    let destination = GcpPubsub.build(&spec).await.unwrap();
    let policy = DeliveryPolicy {
        retry_base_ms: 10,
        retry_max_delay_ms: 50,
        ..DeliveryPolicy::default()
    };
    let out = Deliverer::new(destination, policy).deliver(batch()).await;
    assert_eq!(
        out.delivered_count(),
        1004,
        "{:?}",
        out.records.iter().find_map(|r| r.error())
    );
    let accepted = fake.accepted.lock().unwrap().clone();
    for key in ["a", "b"] {
        let seen: Vec<u64> = accepted
            .iter()
            .filter(|r| r[0].ordering_key.as_deref() == Some(key))
            .flat_map(|r| numbers(r))
            .collect();
        let start = if key == "a" { 0 } else { 1 };
        let expected: Vec<u64> = (start..1004).step_by(2).collect();
        assert_eq!(seen, expected, "key {key}: each record once, in order");
    }
}

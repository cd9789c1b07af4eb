//! Throttling and other failed answers, from a stand-in for the REST API (the emulator never
//! throttles): `429 RESOURCE_EXHAUSTED` fails each record as `rate_limited` with the answer's
//! `Retry-After`, which the delivery policy retries with backoff until Pub/Sub accepts;
//! denied and unauthenticated answers are permanent and name what to change; credentials that
//! may publish but not read the topic skip the connection test's topic step, saying why.

mod support;

use axum::http::StatusCode;
use courier_conformance::helpers;
use courier_connector_gcp_pubsub::GcpPubsub;
use courier_core::{Batch, DestinationSpec, DynConnector, ErrorKind, Record};
use courier_runtime::{Deliverer, DeliveryPolicy};
use serde_json::json;
use support::{FakePubsub, error_body};

fn spec(fake: &FakePubsub) -> DestinationSpec {
    helpers::spec("dest_pubsub", fake.config(), json!({}))
}

fn batch() -> Batch {
    Batch::new(
        "b1",
        (0..3)
            .map(|i| Record::new(format!("r{i}"), format!(r#"{{"n":{i}}}"#)))
            .collect(),
    )
}

/// A stand-in that throttles the first `throttled` publishes.
async fn throttling(throttled: usize) -> FakePubsub {
    FakePubsub::start(Box::new(move |n, _| {
        (n < throttled).then(|| {
            (
                StatusCode::TOO_MANY_REQUESTS,
                error_body(429, "RESOURCE_EXHAUSTED", "Publish quota exceeded"),
            )
        })
    }))
    .await
}

#[tokio::test]
async fn a_throttled_publish_fails_each_record_as_rate_limited() {
    let fake = throttling(usize::MAX).await;
    let destination = GcpPubsub.build(&spec(&fake)).await.unwrap();
    let out = destination.deliver(&batch()).await;
    for r in &out.records {
        let error = r.error().expect("failed");
        assert_eq!(error.kind, ErrorKind::RateLimited, "{error:?}");
        assert!(error.is_retryable());
        assert_eq!(error.retry_after, Some(std::time::Duration::from_secs(1)));
        assert!(error.message.contains("topic events"), "{error:?}");
    }
    assert_eq!(
        fake.requests.lock().unwrap().len(),
        1,
        "one request, not retried inside the connector"
    );
}

#[tokio::test]
async fn throttled_records_are_retried_with_backoff_until_accepted() {
    let fake = throttling(2).await;
    let destination = GcpPubsub.build(&spec(&fake)).await.unwrap();
    let policy = DeliveryPolicy {
        retry_base_ms: 20,
        retry_max_delay_ms: 100,
        // The stand-in's Retry-After (1 s) is honoured up to this.
        retry_after_max_ms: 50,
        ..DeliveryPolicy::default()
    };
    let out = Deliverer::new(destination, policy).deliver(batch()).await;
    assert_eq!(out.delivered_count(), 3, "{out:?}");
    assert!(out.records.iter().all(|r| r.attempts == 3), "{out:?}");
    assert_eq!(fake.requests.lock().unwrap().len(), 3);
    assert_eq!(fake.accepted.lock().unwrap().len(), 1, "accepted once");
}

#[tokio::test]
async fn denied_unauthenticated_and_missing_are_permanent_and_unavailable_is_not() {
    let cases = [
        (
            StatusCode::FORBIDDEN,
            error_body(
                403,
                "PERMISSION_DENIED",
                "User not authorized to perform this action.",
            ),
            ErrorKind::Forbidden,
            "pubsub.topics.publish",
        ),
        (
            StatusCode::UNAUTHORIZED,
            error_body(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
            ),
            ErrorKind::Unauthenticated,
            "service_account_json",
        ),
        (
            StatusCode::NOT_FOUND,
            error_body(404, "NOT_FOUND", "Resource not found (resource=events)."),
            ErrorKind::NotFound,
            "create topic events in project fake-project",
        ),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            error_body(503, "UNAVAILABLE", "The service is currently unavailable."),
            ErrorKind::Unavailable,
            "retried",
        ),
    ];
    for (status, body, kind, hint) in cases {
        let fake = FakePubsub::start(Box::new(move |_, _| Some((status, body.clone())))).await;
        let destination = GcpPubsub.build(&spec(&fake)).await.unwrap();
        let out = destination.deliver(&batch()).await;
        let error = out.records[0].error().expect("failed");
        assert_eq!(error.kind, kind, "{status}: {error:?}");
        assert_eq!(error.is_retryable(), kind == ErrorKind::Unavailable);
        assert!(error.hint.contains(hint), "{status}: {error:?}");
    }
}

#[tokio::test]
async fn credentials_that_may_only_publish_skip_the_topic_step_and_pass() {
    let fake = FakePubsub::start_with(Box::new(|_, _| None), false).await;
    let report = helpers::test_report(&GcpPubsub, &spec(&fake)).await;
    assert!(report.success, "{report:#?}");
    let topic = report.steps.iter().find(|s| s.name == "topic").unwrap();
    assert_eq!(topic.status, courier_core::StepStatus::Skipped, "{topic:?}");
    assert!(topic.message.contains("pubsub.topics.get"), "{topic:?}");
    assert_eq!(fake.accepted.lock().unwrap().len(), 1, "the test message");
}

//! Throttling: an SNS endpoint that answers every PublishBatch with `Throttled` (as SNS does
//! past an account's publish rate; moto never throttles) fails each record as `rate_limited`,
//! which the delivery policy retries with backoff; once the endpoint accepts again, the records
//! are delivered.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use courier_connector_sns::Sns;
use courier_core::{Batch, DestinationSpec, DynConnector, ErrorKind, Record};
use courier_runtime::{Deliverer, DeliveryPolicy};
use serde_json::json;

const XMLNS: &str = "http://sns.amazonaws.com/doc/2010-03-31/";

/// Answers the first `throttled` requests with SNS's throttling error, then accepts.
async fn endpoint(throttled: usize) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let app = Router::new().route(
        "/",
        post(move |body: String| {
            let seen = seen.clone();
            async move {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                assert!(body.contains("Action=PublishBatch"), "{body}");
                if n < throttled {
                    return (
                        StatusCode::BAD_REQUEST,
                        [("content-type", "text/xml")],
                        format!(
                            r#"<ErrorResponse xmlns="{XMLNS}"><Error><Type>Sender</Type><Code>Throttled</Code><Message>Rate exceeded</Message></Error><RequestId>r{n}</RequestId></ErrorResponse>"#
                        ),
                    );
                }
                let members: String = body
                    .split('&')
                    .filter_map(|pair| pair.split_once('='))
                    .filter(|(k, _)| {
                        k.starts_with("PublishBatchRequestEntries.member.") && k.ends_with(".Id")
                    })
                    .map(|(_, id)| {
                        format!("<member><Id>{id}</Id><MessageId>m-{id}</MessageId></member>")
                    })
                    .collect();
                (
                    StatusCode::OK,
                    [("content-type", "text/xml")],
                    format!(
                        r#"<PublishBatchResponse xmlns="{XMLNS}"><PublishBatchResult><Successful>{members}</Successful><Failed/></PublishBatchResult><ResponseMetadata><RequestId>r{n}</RequestId></ResponseMetadata></PublishBatchResponse>"#
                    ),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, calls)
}

fn spec(endpoint: &str) -> DestinationSpec {
    DestinationSpec {
        destination_id: "dest_sns".into(),
        config: json!({
            "topic_arn": "arn:aws:sns:us-east-1:123456789012:events",
            "region": "us-east-1",
            "endpoint_url": endpoint,
        }),
        auth_config: json!({"access_key_id": "AKIDEXAMPLE", "secret_access_key": "test"}),
        allow_private_network: true,
        ..DestinationSpec::default()
    }
}

fn batch() -> Batch {
    Batch::new(
        "b1",
        (0..3)
            .map(|i| Record::new(format!("r{i}"), format!(r#"{{"n":{i}}}"#)))
            .collect(),
    )
}

#[tokio::test]
async fn a_throttled_batch_fails_each_record_as_rate_limited() {
    let (url, calls) = endpoint(usize::MAX).await;
    let destination = Sns.build(&spec(&url)).await.unwrap();
    let out = destination.deliver(&batch()).await;
    for r in &out.records {
        let error = r.error().expect("failed");
        assert_eq!(error.kind, ErrorKind::RateLimited, "{error:?}");
        assert!(error.kind.is_retryable());
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one request, not retried inside the SDK"
    );
}

#[tokio::test]
async fn throttled_records_are_retried_with_backoff_until_accepted() {
    let (url, calls) = endpoint(2).await;
    let destination = Sns.build(&spec(&url)).await.unwrap();
    let policy = DeliveryPolicy {
        retry_base_ms: 20,
        retry_max_delay_ms: 100,
        ..DeliveryPolicy::default()
    };
    let out = Deliverer::new(destination, policy).deliver(batch()).await;
    assert_eq!(out.delivered_count(), 3, "{out:?}");
    assert!(out.records.iter().all(|r| r.attempts == 3), "{out:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

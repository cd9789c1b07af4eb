//! Throttling: an SQS endpoint that answers every SendMessageBatch with `ThrottlingException`
//! (as SQS does past a queue's or an account's request rate; moto never throttles) fails each
//! record as `rate_limited`, which the delivery policy retries with backoff; once the endpoint
//! accepts again, the records are delivered.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use courier_connector_sqs::Sqs;
use courier_core::{Batch, DestinationSpec, DynConnector, ErrorKind, Record};
use courier_runtime::{Deliverer, DeliveryPolicy};
use serde_json::{Value, json};

/// Answers the first `throttled` batch requests with SQS's throttling error, then accepts.
async fn endpoint(throttled: usize) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let app = Router::new().route(
        "/",
        post(move |headers: HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                let target = headers
                    .get("x-amz-target")
                    .and_then(|t| t.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                // The queue's maximum message size is read once, before the first batch.
                if target.ends_with("GetQueueAttributes") {
                    return (
                        StatusCode::OK,
                        [("content-type", "application/x-amz-json-1.0")],
                        json!({"Attributes": {"MaximumMessageSize": "262144"}}).to_string(),
                    );
                }
                let n = seen.fetch_add(1, Ordering::SeqCst);
                assert!(target.ends_with("SendMessageBatch"), "{target}");
                if n < throttled {
                    return (
                        StatusCode::BAD_REQUEST,
                        [("content-type", "application/x-amz-json-1.0")],
                        json!({"__type": "com.amazonaws.sqs#ThrottlingException", "message": "Rate exceeded"}).to_string(),
                    );
                }
                let request: Value = serde_json::from_str(&body).unwrap();
                let successful: Vec<Value> = request["Entries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| json!({"Id": e["Id"], "MessageId": format!("m-{}", e["Id"].as_str().unwrap()), "MD5OfMessageBody": ""}))
                    .collect();
                (
                    StatusCode::OK,
                    [("content-type", "application/x-amz-json-1.0")],
                    json!({"Successful": successful, "Failed": []}).to_string(),
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
        destination_id: "dest_sqs".into(),
        config: json!({
            "queue_url": format!("{endpoint}/123456789012/events"),
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
    let destination = Sqs.build(&spec(&url)).await.unwrap();
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
    let destination = Sqs.build(&spec(&url)).await.unwrap();
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

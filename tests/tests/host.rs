//! A host's view, end to end: the example host service (`examples/host`, linking the webhook
//! and S3 connectors by cargo feature) checks destinations from JSON, streams their connection
//! tests and delivers through the delivery policy, to a real local receiver and to moto. This
//! is the flow the README shows.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use courier_core::{DestinationSpec, Record, StepStatus};
use serde_json::json;

/// A local receiver that keeps every body it is sent.
async fn receiver() -> (String, Arc<Mutex<Vec<Bytes>>>) {
    let got: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let app = Router::new()
        .fallback(
            |State(got): State<Arc<Mutex<Vec<Bytes>>>>, body: Bytes| async move {
                got.lock().unwrap().push(body);
                StatusCode::NO_CONTENT
            },
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hooks"), got)
}

fn spec(config: serde_json::Value, auth_config: serde_json::Value) -> DestinationSpec {
    DestinationSpec {
        destination_id: "dest_123".into(),
        config,
        auth_config,
        // The servers are on loopback: the host allows private addresses for them.
        allow_private_network: true,
        ..DestinationSpec::default()
    }
}

#[tokio::test]
async fn one_host_checks_tests_and_delivers_to_two_linked_connectors() {
    let catalog = courier_example_host::catalog();
    let records = || {
        vec![
            Record::new("rec_1", r#"{"email":"ada@example.com"}"#),
            Record::new("rec_2", r#"{"email":"grace@example.com"}"#),
        ]
    };

    // A webhook on a local receiver.
    let (url, got) = receiver().await;
    let webhook = spec(
        json!({"url": url}),
        json!({"signing_secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"}),
    );
    courier_example_host::check(&catalog, "webhook", &webhook).unwrap();
    let mut steps = Vec::new();
    let report = courier_example_host::test(&catalog, "webhook", &webhook, |s| {
        steps.push((s.name.clone(), s.status))
    })
    .await
    .unwrap();
    assert!(report.success, "{report:#?}");
    // Streamed step by step: TLS is skipped on plain HTTP, nothing fails, the target answered.
    assert!(
        steps
            .iter()
            .all(|(_, status)| *status != StepStatus::Failed)
            && steps.contains(&("authentication".to_string(), StepStatus::Passed)),
        "{steps:?}"
    );
    let outcome = courier_example_host::send(&catalog, "webhook", &webhook, records())
        .await
        .unwrap();
    assert_eq!(outcome.delivered_count(), 2, "{outcome:?}");
    let bodies = got.lock().unwrap().clone();
    assert!(
        bodies
            .iter()
            .any(|b| b.as_ref() == br#"{"email":"grace@example.com"}"#)
    );

    // An S3 bucket on moto, through the same catalog.
    let moto = courier_testbed::moto::moto();
    let bucket = moto.new_bucket().await;
    let s3 = spec(moto.s3_config(&bucket), moto.auth());
    courier_example_host::check(&catalog, "s3", &s3).unwrap();
    let report = courier_example_host::test(&catalog, "s3", &s3, |_| {})
        .await
        .unwrap();
    assert!(report.success, "{report:#?}");
    let outcome = courier_example_host::send(&catalog, "s3", &s3, records())
        .await
        .unwrap();
    assert_eq!(outcome.delivered_count(), 2, "{outcome:?}");
    let objects = moto.objects(&bucket, "exports/").await;
    assert_eq!(objects.len(), 1, "one file for the batch");
    let lines: Vec<&[u8]> = objects[0]
        .1
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        lines,
        [
            &br#"{"email":"ada@example.com"}"#[..],
            br#"{"email":"grace@example.com"}"#
        ]
    );

    // Every problem at its JSON path, and a type this host does not link, named as such.
    let broken = spec(json!({"url": "not a url"}), json!({}));
    let problems = courier_example_host::check(&catalog, "webhook", &broken).unwrap_err();
    assert!(problems.contains("/config/url"), "{problems}");
    let document = serde_json::to_value(catalog.document()).unwrap();
    let listed: Vec<&str> = document["connectors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["type"].as_str())
        .collect();
    assert!(
        listed.contains(&"webhook") && listed.contains(&"s3"),
        "{listed:?}"
    );
}

//! A host's view, end to end: build a destination from JSON through the catalog, stream its
//! connection test, and deliver through the delivery policy to a real local receiver. This is
//! the flow the README shows.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use courier_catalog::Catalog;
use courier_core::{Batch, DestinationSpec, Record, TestEvent};
use courier_runtime::{Deliverer, DeliveryPolicy};
use futures::StreamExt;
use serde_json::json;

#[tokio::test]
async fn host_builds_tests_and_delivers_through_the_catalog() {
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

    let catalog = Catalog::builtin();
    let spec = DestinationSpec {
        destination_id: "dest_123".into(),
        config: json!({"url": format!("http://{addr}/hooks"), "allow_private_network": true}),
        auth_config: json!({"signing_secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"}),
        payload_cap_bytes: None,
        token_store: None,
        allow_private_network: true,
    };
    assert!(catalog.validate("webhook", &spec).is_empty());

    let connector = catalog.get("webhook").unwrap();
    let events: Vec<TestEvent> =
        courier_runtime::test_events(connector, spec.clone(), Duration::from_secs(30))
            .collect()
            .await;
    let Some(TestEvent::Done(report)) = events.last() else {
        panic!("no done event")
    };
    assert!(report.success, "{report:#?}");

    let destination = catalog.build("webhook", &spec).await.unwrap();
    let deliverer = Deliverer::new(destination, DeliveryPolicy::default());
    let batch = Batch::new(
        "batch_1",
        vec![Record::new("rec_1", r#"{"email":"ada@example.com"}"#)],
    );
    let outcome = deliverer.deliver(batch).await;
    assert_eq!(outcome.delivered_count(), 1);
    let bodies = got.lock().unwrap().clone();
    assert_eq!(
        bodies.last().unwrap().as_ref(),
        br#"{"email":"ada@example.com"}"#
    );

    let catalog_json = serde_json::to_value(catalog.document()).unwrap();
    assert!(
        catalog_json["connectors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "webhook")
    );
}

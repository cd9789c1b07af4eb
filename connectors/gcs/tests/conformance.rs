//! Runs the shared conformance suite against fake-gcs-server (a GCS JSON API implementation on
//! loopback).

mod support;

use std::sync::Arc;

use courier_conformance::ndjson::find_lines;
use courier_conformance::{Fixture, suite};
use courier_connector_gcs::Gcs;
use futures::FutureExt;
use serde_json::json;

async fn fixture() -> Fixture {
    let gcs = support::fake_gcs();
    let bucket = gcs.new_bucket().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut unreachable = gcs.config(&bucket);
    unreachable["endpoint"] = json!(format!("http://127.0.0.1:{closed}"));
    let (auth, sentinel) = gcs.service_account();
    let bad = gcs.broken_service_account();
    let (rb, rb_bucket) = (Arc::new(gcs), bucket.clone());
    let (count, count_bucket) = (rb.clone(), bucket.clone());
    Fixture {
        connector: Arc::new(Gcs),
        config: rb.config(&bucket),
        // A real key the client signs with; the emulator checks no signatures.
        auth_config: auth,
        bad_auth_config: Some(bad),
        unreachable_config: Some(unreachable),
        secret_sentinel: Some(sentinel),
        read_back: Some(Arc::new(move |records| {
            let (gcs, bucket) = (rb.clone(), rb_bucket.clone());
            async move {
                let files: Vec<Vec<u8>> = gcs
                    .objects(&bucket, "exports/")
                    .await
                    .into_iter()
                    .map(|o| o.bytes)
                    .collect();
                find_lines(&records, &files)
            }
            .boxed()
        })),
        stored_count: Some(Arc::new(move || {
            let (gcs, bucket) = (count.clone(), count_bucket.clone());
            async move { gcs.list(&bucket, "exports/").await.len() }.boxed()
        })),
    }
}

suite!(Gcs, fixture);

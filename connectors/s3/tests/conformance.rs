//! Runs the shared conformance suite against moto (a real S3 implementation on loopback).

use std::sync::Arc;

use courier_conformance::ndjson::find_lines;
use courier_conformance::{Fixture, suite};
use courier_connector_s3::S3;
use courier_testbed::moto as support;
use futures::FutureExt;
use serde_json::json;

async fn fixture() -> Fixture {
    let moto = support::moto();
    let bucket = moto.new_bucket().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut unreachable = moto.s3_config(&bucket);
    unreachable["endpoint_url"] = json!(format!("http://127.0.0.1:{closed}"));
    let mut bad = moto.auth();
    bad["secret_access_key"] = json!("not-the-secret");
    let (rb_moto, rb_bucket) = (Arc::new(moto), bucket.clone());
    let (count_moto, count_bucket) = (rb_moto.clone(), bucket.clone());
    Fixture {
        connector: Arc::new(S3),
        config: rb_moto.s3_config(&bucket),
        auth_config: rb_moto.auth(),
        bad_auth_config: Some(bad),
        unreachable_config: Some(unreachable),
        secret_sentinel: Some(rb_moto.secret.clone()),
        read_back: Some(Arc::new(move |records| {
            let (moto, bucket) = (rb_moto.clone(), rb_bucket.clone());
            async move {
                let files: Vec<Vec<u8>> = moto
                    .objects(&bucket, "exports/")
                    .await
                    .into_iter()
                    .map(|(_, body, _, _)| body)
                    .collect();
                find_lines(&records, &files)
            }
            .boxed()
        })),
        stored_count: Some(Arc::new(move || {
            let (moto, bucket) = (count_moto.clone(), count_bucket.clone());
            async move { moto.objects(&bucket, "exports/").await.len() }.boxed()
        })),
    }
}

suite!(S3, fixture);

//! Runs the shared conformance suite against moto's Kinesis (a real implementation on loopback).

use std::sync::Arc;

use bytes::Bytes;
use courier_conformance::{Fixture, suite};
use courier_connector_kinesis::Kinesis;
use courier_testbed::moto as support;
use futures::FutureExt;
use serde_json::json;

async fn fixture() -> Fixture {
    let moto = Arc::new(support::moto());
    let stream = moto.new_stream(1).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The suite's sample records have an `id` field; key by it.
    let mut config = moto.kinesis_config(&stream);
    config["partition_key_template"] = json!("id");
    let mut unreachable = config.clone();
    unreachable["endpoint_url"] = json!(format!("http://127.0.0.1:{closed}"));
    let mut bad = moto.auth();
    bad["secret_access_key"] = json!("not-the-secret");
    let (rb, rb_stream) = (moto.clone(), stream.clone());
    let (count, count_stream) = (moto.clone(), stream.clone());
    Fixture {
        connector: Arc::new(Kinesis),
        config,
        auth_config: moto.auth(),
        bad_auth_config: Some(bad),
        unreachable_config: Some(unreachable),
        secret_sentinel: Some(moto.secret.clone()),
        read_back: Some(Arc::new(move |records| {
            let (moto, stream) = (rb.clone(), rb_stream.clone());
            async move {
                let stored = moto.records(&stream).await;
                records
                    .iter()
                    .map(|r| {
                        stored
                            .iter()
                            .find(|(_, d)| d[..] == r.payload[..])
                            .map(|(_, d)| Bytes::from(d.clone()))
                    })
                    .collect()
            }
            .boxed()
        })),
        stored_count: Some(Arc::new(move || {
            let (moto, stream) = (count.clone(), count_stream.clone());
            async move { moto.records(&stream).await.len() }.boxed()
        })),
    }
}

suite!(Kinesis, fixture);

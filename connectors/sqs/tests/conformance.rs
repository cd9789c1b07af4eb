//! Runs the shared conformance suite against moto (a real SQS implementation on loopback),
//! reading messages back without consuming them.

use std::sync::Arc;

use courier_conformance::{Fixture, suite};
use courier_connector_sqs::Sqs;
use courier_testbed::moto;
use futures::FutureExt;
use serde_json::json;

async fn fixture() -> Fixture {
    let moto = Arc::new(moto::moto());
    let queue = moto.new_queue(false).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut unreachable = moto.sqs_config(&queue);
    unreachable["endpoint_url"] = json!(format!("http://127.0.0.1:{closed}"));
    let mut bad = moto.auth();
    bad["secret_access_key"] = json!("not-the-secret");
    let (read_moto, read_queue) = (moto.clone(), queue.clone());
    let (count_moto, count_queue) = (moto.clone(), queue.clone());
    Fixture {
        connector: Arc::new(Sqs),
        config: moto.sqs_config(&queue),
        auth_config: moto.auth(),
        bad_auth_config: Some(bad),
        unreachable_config: Some(unreachable),
        secret_sentinel: Some(moto.secret.clone()),
        read_back: Some(Arc::new(move |records| {
            let (moto, queue) = (read_moto.clone(), read_queue.clone());
            async move {
                let bodies: Vec<String> = moto
                    .messages(&queue)
                    .await
                    .into_iter()
                    .map(|m| m.body)
                    .collect();
                records
                    .iter()
                    .map(|r| {
                        bodies
                            .iter()
                            .find(|b| b.as_bytes() == &r.payload[..])
                            .map(|b| bytes_of(b))
                    })
                    .collect()
            }
            .boxed()
        })),
        stored_count: Some(Arc::new(move || {
            let (moto, queue) = (count_moto.clone(), count_queue.clone());
            async move { moto.messages(&queue).await.len() }.boxed()
        })),
    }
}

fn bytes_of(body: &str) -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(body.as_bytes())
}

suite!(Sqs, fixture);

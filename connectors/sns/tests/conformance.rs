//! Runs the shared conformance suite against moto (a real SNS implementation on loopback),
//! reading messages back from an SQS queue subscribed to the topic with raw message delivery.

use std::sync::Arc;

use courier_conformance::{Fixture, suite};
use courier_connector_sns::Sns;
use courier_testbed::moto;
use futures::FutureExt;
use serde_json::json;

async fn fixture() -> Fixture {
    let moto = Arc::new(moto::moto());
    let topic = moto.new_topic(false).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut unreachable = moto.sns_config(&topic.topic_arn);
    unreachable["endpoint_url"] = json!(format!("http://127.0.0.1:{closed}"));
    let mut bad = moto.auth();
    bad["secret_access_key"] = json!("not-the-secret");
    let (read_moto, read_topic) = (moto.clone(), topic.clone());
    let (count_moto, count_topic) = (moto.clone(), topic.clone());
    Fixture {
        connector: Arc::new(Sns),
        config: moto.sns_config(&topic.topic_arn),
        auth_config: moto.auth(),
        bad_auth_config: Some(bad),
        unreachable_config: Some(unreachable),
        secret_sentinel: Some(moto.secret.clone()),
        read_back: Some(Arc::new(move |records| {
            let (moto, topic) = (read_moto.clone(), read_topic.clone());
            async move {
                let bodies: Vec<String> = moto
                    .published(&topic)
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
                            .map(|b| bytes::Bytes::copy_from_slice(b.as_bytes()))
                    })
                    .collect()
            }
            .boxed()
        })),
        stored_count: Some(Arc::new(move || {
            let (moto, topic) = (count_moto.clone(), count_topic.clone());
            async move { moto.published(&topic).await.len() }.boxed()
        })),
    }
}

suite!(Sns, fixture);

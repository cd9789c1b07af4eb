//! Runs the shared conformance suite against a redis-server of its own (appendonly, fsync on
//! every write, the test user only), reading entries back with the plain redis client.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use courier_conformance::{Fixture, suite};
use courier_connector_redis_streams::RedisStreams;
use courier_testbed::brokers::{PASSWORD, redis};
use futures::FutureExt;
use serde_json::json;

async fn fixture() -> Fixture {
    let broker = Arc::new(common::broker());
    let port = broker.port();
    let stream = courier_testbed::fresh_name("courier-conformance");
    let mut bad = common::auth();
    bad["password"] = json!(format!("{PASSWORD}-not"));
    let (read_broker, read_stream) = (broker.clone(), stream.clone());
    let (count_broker, count_stream) = (broker.clone(), stream.clone());
    Fixture {
        connector: Arc::new(RedisStreams),
        config: common::config(port, &stream, json!({"headers": {"email": "email"}})),
        auth_config: common::auth(),
        bad_auth_config: Some(bad),
        unreachable_config: Some(json!({
            "url": redis::url(common::closed_port()),
            "stream_key_template": stream,
        })),
        secret_sentinel: Some(PASSWORD.into()),
        read_back: Some(Arc::new(move |records| {
            let (broker, stream) = (read_broker.clone(), read_stream.clone());
            async move {
                let mut reader = common::reader(broker.port()).await;
                let found = common::entries(&mut reader, &stream).await;
                records
                    .iter()
                    .map(|r| {
                        found
                            .iter()
                            .rev()
                            .find(|e| e.record_id() == r.id)
                            .and_then(|e| e.field("payload"))
                            .map(Bytes::copy_from_slice)
                    })
                    .collect()
            }
            .boxed()
        })),
        stored_count: Some(Arc::new(move || {
            let (broker, stream) = (count_broker.clone(), count_stream.clone());
            async move {
                let mut reader = common::reader(broker.port()).await;
                common::entries(&mut reader, &stream).await.len()
            }
            .boxed()
        })),
    }
}

suite!(RedisStreams, fixture);

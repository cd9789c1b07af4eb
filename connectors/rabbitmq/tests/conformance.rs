//! Runs the shared conformance suite against the suite's RabbitMQ (`COURIER_TEST_AMQP_URL`):
//! each fixture gets a fresh exchange and a queue bound to it, read back by an independent
//! client (lapin used directly) that leaves the messages in place.

mod support;

use std::sync::Arc;

use bytes::Bytes;
use courier_conformance::{Fixture, suite};
use courier_connector_rabbitmq::Rabbitmq;
use courier_testbed::brokers::PASSWORD;
use courier_testbed::fresh_name;
use futures::FutureExt;
use serde_json::json;
use support::{Reader, auth, bad_auth, broker_url, closed_port};

async fn fixture() -> Fixture {
    let exchange = fresh_name("courier-conformance");
    let queue = format!("{exchange}-q");
    let reader = Arc::new(Reader::shared().await);
    reader
        .exchange_with_queue(&exchange, &queue, "records")
        .await;
    let config = json!({
        "url": broker_url(),
        "exchange": exchange,
        "routing_key": "records",
    });
    let unreachable = json!({
        "url": format!("amqp://127.0.0.1:{}/%2f", closed_port()),
        "exchange": exchange,
        "routing_key": "records",
    });
    let (read_reader, read_queue) = (reader.clone(), queue.clone());
    Fixture {
        connector: Arc::new(Rabbitmq),
        config,
        auth_config: auth(),
        bad_auth_config: Some(bad_auth()),
        unreachable_config: Some(unreachable),
        secret_sentinel: Some(PASSWORD.into()),
        read_back: Some(Arc::new(move |records| {
            let (reader, queue) = (read_reader.clone(), read_queue.clone());
            async move {
                let messages = reader.peek(&queue).await;
                records
                    .iter()
                    .map(|r| {
                        messages
                            .iter()
                            .find(|m| m.message_id().as_deref() == Some(r.id.as_str()))
                            .map(|m| Bytes::from(m.body.clone()))
                    })
                    .collect()
            }
            .boxed()
        })),
        stored_count: Some(Arc::new(move || {
            let (reader, queue) = (reader.clone(), queue.clone());
            async move { reader.count(&queue).await }.boxed()
        })),
    }
}

suite!(Rabbitmq, fixture);

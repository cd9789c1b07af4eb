//! Runs the shared conformance suite against a mosquitto of the fixture's own (MQTT 5, the test
//! user in a password file), reading messages back with an independent subscriber that was
//! listening on every topic before anything was delivered.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use courier_conformance::{Fixture, suite};
use courier_connector_mqtt::Mqtt;
use courier_core::Record;
use courier_testbed::brokers::{PASSWORD, mqtt};
use futures::FutureExt;
use serde_json::json;
use support::Subscriber;

/// Messages the connection test publishes, which are not deliveries.
fn is_delivery(payload: &[u8]) -> bool {
    !String::from_utf8_lossy(payload).contains("courier.connection_test")
}

async fn fixture() -> Fixture {
    let broker = Arc::new(Mutex::new(mqtt::own()));
    let port = broker.lock().unwrap().port();
    let subscriber = Arc::new(Subscriber::start(port, "#", None).await);
    let closed = courier_testbed::brokers::free_port();
    let mut bad = support::auth();
    bad["password"] = json!("not-the-password");
    let (read, count) = (subscriber.clone(), subscriber.clone());
    let keep_broker = broker.clone();
    Fixture {
        connector: Arc::new(Mqtt),
        config: support::config(port, "conformance/{id}"),
        auth_config: support::auth(),
        bad_auth_config: Some(bad),
        unreachable_config: Some(support::config(closed, "conformance/{id}")),
        secret_sentinel: Some(PASSWORD.into()),
        read_back: Some(Arc::new(move |records: Vec<Record>| {
            let subscriber = read.clone();
            let _broker = keep_broker.clone();
            async move {
                // Messages reach the subscriber shortly after their acknowledgement.
                subscriber
                    .wait_until(Duration::from_secs(5), |got| {
                        records
                            .iter()
                            .all(|r| got.iter().any(|m| m.payload == r.payload))
                    })
                    .await;
                let got = subscriber.received();
                records
                    .iter()
                    .map(|r| {
                        got.iter()
                            .find(|m| m.payload == r.payload)
                            .map(|m| m.payload.clone())
                    })
                    .collect()
            }
            .boxed()
        })),
        stored_count: Some(Arc::new(move || {
            let subscriber = count.clone();
            let _broker = broker.clone();
            async move {
                // Everything the broker took before the marker reaches the subscriber before it.
                let marker = support::publish_marker(port, "conformance-marker").await;
                subscriber
                    .before_marker(&marker, Duration::from_secs(10))
                    .await
                    .iter()
                    .filter(|m| is_delivery(&m.payload))
                    .count()
            }
            .boxed()
        })),
    }
}

suite!(Mqtt, fixture);

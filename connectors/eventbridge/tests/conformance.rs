//! Runs the shared conformance suite against moto (a real EventBridge implementation on
//! loopback), reading events back from an SQS queue that a rule on the bus sends every event to.
//! EventBridge hands the detail on as JSON, not byte for byte: a record arrived intact when an
//! event's `detail` is its payload as JSON.

use std::sync::Arc;

use courier_conformance::{Fixture, suite};
use courier_connector_eventbridge::Eventbridge;
use courier_testbed::moto;
use futures::FutureExt;
use serde_json::{Value, json};

async fn fixture() -> Fixture {
    let moto = Arc::new(moto::moto());
    let bus = moto.new_bus().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = moto.eventbridge_config(&bus.name, "com.acme.conformance");
    let mut unreachable = config.clone();
    unreachable["endpoint_url"] = json!(format!("http://127.0.0.1:{closed}"));
    let mut bad = moto.auth();
    bad["secret_access_key"] = json!("not-the-secret");
    let (read_moto, read_bus) = (moto.clone(), bus.clone());
    let (count_moto, count_bus) = (moto.clone(), bus.clone());
    Fixture {
        connector: Arc::new(Eventbridge),
        config,
        auth_config: moto.auth(),
        bad_auth_config: Some(bad),
        unreachable_config: Some(unreachable),
        secret_sentinel: Some(moto.secret.clone()),
        read_back: Some(Arc::new(move |records| {
            let (moto, bus) = (read_moto.clone(), read_bus.clone());
            async move {
                let details: Vec<Value> = moto
                    .events(&bus)
                    .await
                    .into_iter()
                    .map(|e| e["detail"].clone())
                    .collect();
                records
                    .iter()
                    .map(|r| {
                        let payload: Value = serde_json::from_slice(&r.payload).ok()?;
                        details.contains(&payload).then(|| r.payload.clone())
                    })
                    .collect()
            }
            .boxed()
        })),
        stored_count: Some(Arc::new(move || {
            let (moto, bus) = (count_moto.clone(), count_bus.clone());
            async move { moto.events(&bus).await.len() }.boxed()
        })),
    }
}

suite!(Eventbridge, fixture);

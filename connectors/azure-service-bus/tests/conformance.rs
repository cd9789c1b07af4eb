//! Runs the shared conformance suite against the Service Bus fake (`courier_fakes`: no emulator
//! installs without Docker), signing with a shared access key and reading messages back from
//! the fake's store.

use std::sync::Arc;

use courier_conformance::{Fixture, suite};
use courier_connector_azure_service_bus::AzureServiceBus;
use courier_fakes::ServiceBusFake;
use courier_fakes::service_bus::{EntityOptions, Rights};
use futures::FutureExt;
use serde_json::json;

/// The policy's key, watched for in every output.
const KEY: &str = "sb-key-sentinel-5e1f0c93";

async fn fixture() -> Fixture {
    let fake = Arc::new(ServiceBusFake::start().await);
    fake.add_entity("orders", EntityOptions::default());
    fake.add_key("courier", KEY, Rights::MANAGE);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = json!({"endpoint": fake.url(), "entity_path": "orders"});
    let (read, count) = (fake.clone(), fake.clone());
    Fixture {
        connector: Arc::new(AzureServiceBus),
        config,
        auth_config: json!({"sas_key_name": "courier", "sas_key": KEY}),
        bad_auth_config: Some(json!({"sas_key_name": "courier", "sas_key": format!("{KEY}-not")})),
        unreachable_config: Some(
            json!({"endpoint": format!("http://127.0.0.1:{closed}"), "entity_path": "orders"}),
        ),
        secret_sentinel: Some(KEY.to_string()),
        read_back: Some(Arc::new(move |records| {
            let stored = read.messages("orders");
            async move {
                records
                    .iter()
                    .map(|r| {
                        stored
                            .iter()
                            .find(|m| m.body == r.payload[..])
                            .map(|m| bytes::Bytes::from(m.body.clone()))
                    })
                    .collect()
            }
            .boxed()
        })),
        stored_count: Some(Arc::new(move || {
            let n = count.messages("orders").len();
            async move { n }.boxed()
        })),
    }
}

suite!(AzureServiceBus, fixture);

//! Runs the shared conformance suite against a real local HTTP receiver.

mod support;

use std::sync::Arc;

use courier_conformance::{Fixture, suite};
use courier_connector_webhook::Webhook;
use serde_json::json;
use support::{Receiver, SECRET, TOKEN};

async fn fixture() -> Fixture {
    let receiver = Receiver::start().await;
    let closed = support::closed_port().await;
    let auth = |token: &str| json!({"signing_secret": SECRET, "credentials": {"type": "bearer", "token": token}});
    let rb = receiver.clone();
    let rc = receiver.clone();
    Fixture {
        connector: Arc::new(Webhook),
        config: json!({"url": receiver.url("/auth"), "allow_private_network": true, "timeout_ms": 5000}),
        auth_config: auth(TOKEN),
        bad_auth_config: Some(auth("wrong-token")),
        unreachable_config: Some(
            json!({"url": format!("http://127.0.0.1:{closed}/auth"), "allow_private_network": true, "timeout_ms": 2000}),
        ),
        secret_sentinel: Some(TOKEN.to_string()),
        read_back: Some(Arc::new(move |records| {
            let r = rb.clone();
            Box::pin(async move { records.iter().map(|rec| r.accepted(&rec.id)).collect() })
        })),
        stored_count: Some(Arc::new(move || {
            let r = rc.clone();
            Box::pin(async move { r.accepted_count() })
        })),
    }
}

suite!(Webhook, fixture);

//! Runs the shared conformance suite against Google's Pub/Sub emulator, reading messages back
//! by pulling from the subscription made with each topic (every message pulled is kept, so a
//! message is found however many reads there are).

use std::sync::{Arc, Mutex};

use courier_conformance::{Fixture, suite};
use courier_connector_gcp_pubsub::GcpPubsub;
use courier_testbed::pubsub::{self, PubsubEmulator, PulledMessage};
use futures::FutureExt;
use serde_json::json;

/// Everything pulled from one topic so far.
#[derive(Debug, Clone)]
struct Pulled {
    emulator: Arc<PubsubEmulator>,
    topic: String,
    seen: Arc<Mutex<Vec<PulledMessage>>>,
}

impl Pulled {
    /// Pulls what is new (at least `n` messages in all, or what came within the deadline).
    async fn all(&self, n: usize) -> Vec<PulledMessage> {
        let have = self.seen.lock().unwrap().len();
        let new = self
            .emulator
            .pull_at_least(&self.topic, n.saturating_sub(have))
            .await;
        let mut seen = self.seen.lock().unwrap();
        seen.extend(new);
        seen.clone()
    }
}

async fn fixture() -> Fixture {
    let emulator = Arc::new(pubsub::pubsub());
    let topic = emulator.new_topic().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut unreachable = emulator.config(&topic);
    unreachable["endpoint"] = json!(format!("http://127.0.0.1:{closed}"));
    // A real key the connector signs with; the emulator checks no tokens.
    let (auth, sentinel) = emulator.service_account();
    let pulled = Pulled {
        emulator: emulator.clone(),
        topic: topic.clone(),
        seen: Arc::default(),
    };
    let counted = pulled.clone();
    Fixture {
        connector: Arc::new(GcpPubsub),
        config: emulator.config(&topic),
        auth_config: auth,
        bad_auth_config: Some(emulator.broken_service_account()),
        unreachable_config: Some(unreachable),
        secret_sentinel: Some(sentinel),
        read_back: Some(Arc::new(move |records| {
            let pulled = pulled.clone();
            async move {
                let messages = pulled.all(records.len()).await;
                records
                    .iter()
                    .map(|r| {
                        messages
                            .iter()
                            .find(|m| m.data == r.payload[..])
                            .map(|m| bytes::Bytes::from(m.data.clone()))
                    })
                    .collect()
            }
            .boxed()
        })),
        stored_count: Some(Arc::new(move || {
            let pulled = counted.clone();
            async move { pulled.all(0).await.len() }.boxed()
        })),
    }
}

suite!(GcpPubsub, fixture);

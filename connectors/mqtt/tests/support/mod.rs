//! What the MQTT tests share: configs for a mosquitto of their own, an independent MQTT 5
//! subscriber (rumqttc used directly, not the connector) that collects what the broker delivers,
//! and marker messages that tell when everything published before them has arrived.

#![allow(dead_code)] // each test target uses its own part of it

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use courier_testbed::brokers::{PASSWORD, USERNAME, mqtt};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use serde_json::{Value, json};

/// A working config for the broker on `port`.
pub fn config(port: u16, topic_template: &str) -> Value {
    json!({"broker_url": mqtt::url(port), "topic_template": topic_template})
}

/// The test user's credentials.
pub fn auth() -> Value {
    json!({"username": USERNAME, "password": PASSWORD})
}

/// A spec for a destination on the loopback broker.
pub fn spec(config: Value, auth: Value) -> courier_core::DestinationSpec {
    courier_core::DestinationSpec {
        destination_id: "dest_mqtt".into(),
        config,
        auth_config: auth,
        allow_private_network: true,
        ..courier_core::DestinationSpec::default()
    }
}

/// One message as the subscriber received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    pub payload: Bytes,
    pub properties: Vec<(String, String)>,
}

/// How marker messages' payloads begin.
const MARKER_PREFIX: &[u8] = b"courier-test-marker-";

impl Received {
    /// Whether this is a marker message ([`publish_marker`]), not a delivery.
    pub fn is_marker(&self) -> bool {
        self.payload.starts_with(MARKER_PREFIX)
    }

    /// The value of user property `name`, if the message has it.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A subscriber on `filter`, collecting every message; reconnects on its own (with its
/// session, when persistent) after the broker restarts.
pub struct Subscriber {
    pub messages: Arc<Mutex<Vec<Received>>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Subscriber {
    /// Subscribes at QoS 1 and returns once the broker confirmed the subscription. With a
    /// `persistent_id`, the session outlives connections (clean start off, an hour's expiry),
    /// so the broker keeps messages for it while it is away.
    pub async fn start(port: u16, filter: &str, persistent_id: Option<&str>) -> Subscriber {
        let id = persistent_id
            .map(str::to_string)
            .unwrap_or_else(|| format!("reader-{}", courier_testbed::fresh_name("")));
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options
            .set_credentials(USERNAME, PASSWORD)
            .set_max_packet_size(Some(300 * 1024 * 1024))
            .set_receive_maximum(Some(10_000))
            .set_request_channel_capacity(100)
            .set_keep_alive(Duration::from_secs(30));
        if persistent_id.is_some() {
            options
                .set_clean_start(false)
                .set_session_expiry_interval(Some(3600));
        }
        Subscriber::start_with(options, filter).await
    }

    /// Subscribes at QoS 1 with `options` (a TLS transport, say) and returns once the broker
    /// confirmed the subscription.
    pub async fn start_with(options: MqttOptions, filter: &str) -> Subscriber {
        let (client, mut event_loop) = AsyncClient::new(options, 100);
        client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
        let collected = messages.clone();
        let reader = tokio::spawn(async move {
            let _client = client;
            let mut subscribed_tx = Some(subscribed_tx);
            loop {
                match event_loop.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(tx) = subscribed_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        collected.lock().unwrap().push(Received {
                            topic: String::from_utf8_lossy(&p.topic).into_owned(),
                            payload: p.payload,
                            properties: p
                                .properties
                                .map(|props| props.user_properties)
                                .unwrap_or_default(),
                        });
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), subscribed)
            .await
            .expect("the broker did not confirm the subscription")
            .unwrap();
        Subscriber { messages, reader }
    }

    /// What arrived so far.
    pub fn received(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }

    /// What arrived before `marker` (without marker messages), once the marker arrived. A
    /// broker forwards messages to a subscriber in the order it took them, so this is
    /// everything the broker had taken when the marker was published; panics if the marker
    /// does not come within `wait`.
    pub async fn before_marker(&self, marker: &Bytes, wait: Duration) -> Vec<Received> {
        assert!(
            self.wait_until(wait, |got| got.iter().any(|m| m.payload == *marker))
                .await,
            "the marker message did not arrive within {wait:?}"
        );
        self.received()
            .into_iter()
            .take_while(|m| m.payload != *marker)
            .filter(|m| !m.is_marker())
            .collect()
    }

    /// Waits until `done` holds for what arrived (or `wait` passes); answers whether it held.
    pub async fn wait_until(&self, wait: Duration, done: impl Fn(&[Received]) -> bool) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            if done(&self.messages.lock().unwrap()) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Publishes a marker message (a payload of its own) to `topic` at QoS 1 with a plain client
/// of its own on the broker's plain listener at `port`, and returns its payload once the broker
/// acknowledged it: a subscriber to `topic` gets it after every message the broker took before.
pub async fn publish_marker(port: u16, topic: &str) -> Bytes {
    let mut payload = MARKER_PREFIX.to_vec();
    payload.extend_from_slice(courier_testbed::fresh_name("").as_bytes());
    let payload = Bytes::from(payload);
    let id = format!("marker-{}", courier_testbed::fresh_name(""));
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_credentials(USERNAME, PASSWORD);
    let (client, mut event_loop) = AsyncClient::new(options, 10);
    client
        .publish(topic, QoS::AtLeastOnce, false, payload.clone())
        .await
        .unwrap();
    let acknowledged = async {
        loop {
            match event_loop.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => return,
                Ok(_) => {}
                Err(e) => panic!("the marker's connection failed: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), acknowledged)
        .await
        .expect("the broker did not acknowledge the marker message");
    let _ = client.try_disconnect();
    let _ = tokio::time::timeout(Duration::from_secs(1), event_loop.poll()).await;
    payload
}

//! What the NATS tests share: a nats-server of the test's own, streams made and read back with
//! a plain async-nats client (not the connector's code), destination specs and records.

#![allow(dead_code)] // each test target uses its own part

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use courier_connector_nats::Nats;
use courier_core::{DestinationSpec, Record, TestReport};
use courier_testbed::brokers::{self, OwnBroker, PASSWORD, USERNAME, nats};
use futures::StreamExt;
use serde_json::{Value, json};

/// A nats-server of the test's own, with JetStream on disk and the test user.
pub fn broker() -> OwnBroker {
    nats::own()
}

/// The test user's auth_config.
pub fn auth() -> Value {
    json!({ "username": USERNAME, "password": PASSWORD })
}

/// A config publishing to `subject_template` on the server at `port`.
pub fn config(port: u16, subject_template: &str) -> Value {
    json!({ "servers": [nats::url(port)], "subject_template": subject_template })
}

/// A destination spec as a host would build it (private networks allowed: the server is on
/// loopback).
pub fn spec(config: Value, auth: Value) -> DestinationSpec {
    DestinationSpec {
        destination_id: "dest_nats".into(),
        config,
        auth_config: auth,
        allow_private_network: true,
        ..DestinationSpec::default()
    }
}

/// The connection test of a destination with `config` and `auth`, as the runtime runs it.
pub async fn test_report(config: Value, auth: Value) -> TestReport {
    let (events, _received) = tokio::sync::mpsc::unbounded_channel();
    courier_runtime::run_test(&Nats, &spec(config, auth), Duration::from_secs(30), &events).await
}

/// A plain client of the test user.
pub async fn client(port: u16) -> async_nats::Client {
    async_nats::ConnectOptions::with_user_and_password(USERNAME.into(), PASSWORD.into())
        .connect(nats::url(port))
        .await
        .expect("the test client cannot connect")
}

/// Creates stream `name` capturing `subjects` (file storage), with `max_msg_size` when given.
pub async fn create_stream(port: u16, name: &str, subjects: &[&str], max_msg_size: Option<i32>) {
    let js = jetstream::new(client(port).await);
    js.create_stream(stream::Config {
        name: name.to_string(),
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        max_message_size: max_msg_size.unwrap_or(-1),
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("cannot create stream {name}: {e}"));
}

/// One message as the stream holds it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub subject: String,
    pub payload: Bytes,
    pub headers: async_nats::HeaderMap,
}

impl Stored {
    /// A header's value, if the message has it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.as_str())
    }
}

/// Every message stream `name` holds, in order, read by sequence number.
pub async fn read_stream(port: u16, name: &str) -> Vec<Stored> {
    let js = jetstream::new(client(port).await);
    let mut stream = js.get_stream(name).await.expect("the stream exists");
    let state = stream.info().await.expect("stream info").state.clone();
    let stream = &stream;
    futures::stream::iter(state.first_sequence.max(1)..=state.last_sequence)
        .map(|seq| async move {
            let mut tries = 0;
            loop {
                match stream.get_raw_message(seq).await {
                    Ok(m) => {
                        return Some(Stored {
                            subject: m.subject.to_string(),
                            payload: m.payload,
                            headers: m.headers,
                        });
                    }
                    Err(_) if tries < 3 => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    // A sequence the stream skipped (a message it did not keep).
                    Err(_) => return None,
                }
            }
        })
        .buffered(64)
        .filter_map(|m| async move { m })
        .collect()
        .await
}

/// How many messages stream `name` holds.
pub async fn stream_count(port: u16, name: &str) -> usize {
    let js = jetstream::new(client(port).await);
    let mut stream = js.get_stream(name).await.expect("the stream exists");
    stream.info().await.expect("stream info").state.messages as usize
}

/// `n` records carrying events, their payload naming a region (for subject templates).
pub fn records(prefix: &str, n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            Record::new(
                format!("{prefix}-{i}"),
                format!(
                    r#"{{"n":{i},"region":"{}","customer":{{"id":"c{i}"}},"name":"Zoë \"Q\" — ✓"}}"#,
                    if i.is_multiple_of(2) { "eu" } else { "us" }
                ),
            )
            .with_event("order.created", format!("evt_{prefix}_{i}"))
        })
        .collect()
}

/// A closed loopback port.
pub fn closed_port() -> u16 {
    brokers::free_port()
}

//! What the tests share: a broker of their own, destinations built on it, and an independent
//! reader (the plain redis client, none of the connector's code) for what was appended.

#![allow(dead_code)] // each test binary uses a part

use std::collections::HashMap;
use std::sync::Arc;

use courier_connector_redis_streams::RedisStreams;
use courier_core::{Destination, DestinationSpec, DynConnector};
use courier_testbed::brokers::{self, OwnBroker, PASSWORD, USERNAME};
use serde_json::{Value, json};

/// One stream entry as read back: its id and its fields in order.
#[derive(Debug, Clone)]
pub struct ReadEntry {
    pub id: String,
    pub fields: Vec<(String, Vec<u8>)>,
}

impl ReadEntry {
    /// The value of field `name`, if the entry has it.
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The record the entry is for.
    pub fn record_id(&self) -> String {
        String::from_utf8(self.field("courier_record_id").unwrap_or_default().to_vec()).unwrap()
    }
}

/// A redis-server of the test's own.
pub fn broker() -> OwnBroker {
    brokers::redis::own()
}

/// A config appending to `stream` on the broker at `port`, with `extra` fields.
pub fn config(port: u16, stream: &str, extra: Value) -> Value {
    let mut c = json!({"url": brokers::redis::url(port), "stream_key_template": stream});
    for (k, v) in extra.as_object().into_iter().flatten() {
        c[k] = v.clone();
    }
    c
}

/// The test user's credentials.
pub fn auth() -> Value {
    json!({"username": USERNAME, "password": PASSWORD})
}

pub fn spec(config: Value, auth: Value) -> DestinationSpec {
    DestinationSpec {
        destination_id: "dest_redis".into(),
        config,
        auth_config: auth,
        allow_private_network: true,
        ..DestinationSpec::default()
    }
}

/// A destination for `config`, with the test user's credentials.
pub async fn destination(config: Value) -> Arc<dyn Destination> {
    RedisStreams
        .build(&spec(config, auth()))
        .await
        .unwrap_or_else(|e| panic!("cannot build the destination: {e}"))
}

/// The plain client, as the test user.
pub async fn reader(port: u16) -> redis::aio::MultiplexedConnection {
    let client =
        redis::Client::open(format!("redis://{USERNAME}:{PASSWORD}@127.0.0.1:{port}/0")).unwrap();
    // Reading back a large stream takes longer than the client's default 500 ms.
    let settings = redis::AsyncConnectionConfig::new()
        .set_response_timeout(Some(std::time::Duration::from_secs(30)));
    client
        .get_multiplexed_async_connection_with_config(&settings)
        .await
        .unwrap()
}

/// Every entry of `stream`, oldest first (XRANGE - +).
pub async fn entries(
    connection: &mut redis::aio::MultiplexedConnection,
    stream: &str,
) -> Vec<ReadEntry> {
    let raw: Vec<(String, Vec<Vec<u8>>)> = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query_async(connection)
        .await
        .unwrap();
    raw.into_iter()
        .map(|(id, flat)| ReadEntry {
            id,
            fields: flat
                .chunks(2)
                .map(|p| (String::from_utf8(p[0].clone()).unwrap(), p[1].clone()))
                .collect(),
        })
        .collect()
}

/// How many entries of `stream` each record has.
pub fn copies(entries: &[ReadEntry]) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for e in entries {
        *seen.entry(e.record_id()).or_insert(0) += 1;
    }
    seen
}

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    brokers::free_port()
}

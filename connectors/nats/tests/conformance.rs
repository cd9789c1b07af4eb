//! Runs the shared conformance suite against the `nats` connector and a nats-server of each
//! case's own, reading messages back from the stream with a plain async-nats client.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use courier_conformance::{Fixture, suite};
use courier_connector_nats::Nats;
use courier_core::Record;
use courier_testbed::brokers::{PASSWORD, USERNAME};
use futures::FutureExt;
use serde_json::json;

const STREAM: &str = "CONFORMANCE";

/// A fresh server with a stream capturing `conformance.>`, and the ways to read it back.
async fn fixture() -> Fixture {
    let broker = Arc::new(common::broker());
    let port = broker.port();
    common::create_stream(port, STREAM, &["conformance.>"], None).await;
    // The closures own the server, so it is stopped once the suite drops the fixture.
    let counted = broker.clone();
    Fixture {
        connector: Arc::new(Nats),
        config: common::config(port, "conformance.events"),
        auth_config: common::auth(),
        bad_auth_config: Some(json!({ "username": USERNAME, "password": "not-the-password" })),
        unreachable_config: Some(common::config(common::closed_port(), "conformance.events")),
        secret_sentinel: Some(PASSWORD.into()),
        read_back: Some(Arc::new(move |records: Vec<Record>| {
            let broker = broker.clone();
            async move { read_back(broker.port(), &records).await }.boxed()
        })),
        stored_count: Some(Arc::new(move || {
            let broker = counted.clone();
            async move { common::stream_count(broker.port(), STREAM).await }.boxed()
        })),
    }
}

/// For each record, the body of the newest message carrying its id as `Nats-Msg-Id`.
async fn read_back(port: u16, records: &[Record]) -> Vec<Option<Bytes>> {
    let by_id: HashMap<String, Bytes> = common::read_stream(port, STREAM)
        .await
        .into_iter()
        .filter_map(|m| Some((m.header("Nats-Msg-Id")?.to_string(), m.payload)))
        .collect();
    records.iter().map(|r| by_id.get(&r.id).cloned()).collect()
}

suite!(Nats, fixture);

//! Runs the shared conformance suite against tansu (a Kafka-protocol broker on loopback, with
//! SASL/SCRAM required), reading messages back with a plain librdkafka consumer.

mod support;

use std::sync::Arc;

use courier_conformance::{Fixture, suite};
use courier_connector_kafka::Kafka;
use courier_testbed::brokers::PASSWORD;
use futures::FutureExt;
use support::Cluster;

async fn fixture() -> Fixture {
    let cluster = Arc::new(Cluster::authenticated());
    let topic = cluster.new_topic(3).await;
    let closed = courier_testbed::brokers::free_port();
    let mut unreachable = cluster.config(&topic);
    unreachable["bootstrap_servers"] = serde_json::json!([format!("127.0.0.1:{closed}")]);
    let (read_cluster, read_topic) = (cluster.clone(), topic.clone());
    let (count_cluster, count_topic) = (cluster.clone(), topic.clone());
    Fixture {
        connector: Arc::new(Kafka),
        config: cluster.config(&topic),
        auth_config: cluster.auth(),
        bad_auth_config: Some(cluster.bad_auth()),
        unreachable_config: Some(unreachable),
        secret_sentinel: Some(PASSWORD.into()),
        read_back: Some(Arc::new(move |records| {
            let (cluster, topic) = (read_cluster.clone(), read_topic.clone());
            async move {
                let found = cluster
                    .read(&topic, records.len(), std::time::Duration::from_secs(5))
                    .await;
                records
                    .iter()
                    .map(|r| {
                        // The newest message of the record (a redelivery appends another).
                        found
                            .iter()
                            .rev()
                            .find(|m| m.header("courier_record_id") == Some(r.id.as_str()))
                            .map(|m| bytes::Bytes::from(m.payload.clone()))
                    })
                    .collect()
            }
            .boxed()
        })),
        stored_count: Some(Arc::new(move || {
            let (cluster, topic) = (count_cluster.clone(), count_topic.clone());
            async move {
                let found = cluster
                    .read(&topic, usize::MAX, std::time::Duration::from_secs(3))
                    .await;
                let mut ids: Vec<String> = found
                    .iter()
                    .filter_map(|m| m.header("courier_record_id").map(str::to_string))
                    .collect();
                ids.sort();
                ids.dedup();
                ids.len()
            }
            .boxed()
        })),
    }
}

suite!(Kafka, fixture);

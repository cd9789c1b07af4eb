//! Kinesis on moto: streams, the Kinesis connector's config, and every record read back with
//! the plain SDK.

use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::types::ShardIteratorType;
use serde_json::{Value, json};

use super::{Moto, REGION};

impl Moto {
    /// A plain Kinesis client for moto.
    pub fn kinesis(&self) -> aws_sdk_kinesis::Client {
        let conf = aws_sdk_kinesis::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(
                &self.key_id,
                &self.secret,
                None,
                None,
                "tests",
            ))
            .endpoint_url(&self.url)
            .build();
        aws_sdk_kinesis::Client::from_conf(conf)
    }

    /// Creates a stream of `shards` shards with a fresh name and returns the name.
    pub async fn new_stream(&self, shards: i32) -> String {
        let name = crate::fresh_name("courier");
        self.kinesis()
            .create_stream()
            .stream_name(&name)
            .shard_count(shards)
            .send()
            .await
            .unwrap();
        name
    }

    /// The Kinesis connector's `config` JSON for `stream` on moto, partition keys from
    /// `user.id`.
    pub fn kinesis_config(&self, stream: &str) -> Value {
        json!({"stream_name": stream, "region": REGION, "endpoint_url": self.url, "partition_key_template": "user.id"})
    }

    /// Every record in the stream, shard by shard: (partition key, data).
    pub async fn records(&self, stream: &str) -> Vec<(String, Vec<u8>)> {
        let k = self.kinesis();
        let shards = k.list_shards().stream_name(stream).send().await.unwrap();
        let mut out = Vec::new();
        for shard in shards.shards() {
            let mut iterator = k
                .get_shard_iterator()
                .stream_name(stream)
                .shard_id(shard.shard_id())
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .unwrap()
                .shard_iterator()
                .map(str::to_string);
            while let Some(it) = iterator {
                let got = k
                    .get_records()
                    .shard_iterator(it)
                    .limit(10_000)
                    .send()
                    .await
                    .unwrap();
                if got.records().is_empty() {
                    break;
                }
                for r in got.records() {
                    out.push((
                        r.partition_key().unwrap_or_default().to_string(),
                        r.data().as_ref().to_vec(),
                    ));
                }
                iterator = got.next_shard_iterator().map(str::to_string);
            }
        }
        out
    }
}

//! The moto server `cargo xtask test` starts (IAM mode, test keys in the environment), and
//! helpers to create streams and read every record back with the plain SDK.

#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::types::ShardIteratorType;
use serde_json::{Value, json};

pub struct Moto {
    pub url: String,
    pub key_id: String,
    pub secret: String,
}

pub fn moto() -> Moto {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: the Kinesis tests need moto, which `cargo xtask test` installs and starts")
        })
    };
    Moto {
        url: var("COURIER_TEST_MOTO_URL"),
        key_id: var("COURIER_TEST_AWS_ACCESS_KEY_ID"),
        secret: var("COURIER_TEST_AWS_SECRET_ACCESS_KEY"),
    }
}

impl Moto {
    pub fn sdk(&self) -> aws_sdk_kinesis::Client {
        let conf = aws_sdk_kinesis::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
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

    pub async fn new_stream(&self, shards: i32) -> String {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("courier-{nanos}");
        self.sdk()
            .create_stream()
            .stream_name(&name)
            .shard_count(shards)
            .send()
            .await
            .unwrap();
        name
    }

    pub fn config(&self, stream: &str) -> Value {
        json!({"stream_name": stream, "region": "us-east-1", "endpoint_url": self.url, "partition_key_template": "user.id"})
    }

    pub fn auth(&self) -> Value {
        json!({"access_key_id": self.key_id, "secret_access_key": self.secret})
    }

    /// Every record in the stream: (partition key, data).
    pub async fn records(&self, stream: &str) -> Vec<(String, Vec<u8>)> {
        let k = self.sdk();
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

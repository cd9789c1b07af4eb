//! The moto server `cargo xtask test` starts (in IAM mode, with a test user's keys in the
//! environment), and helpers to create buckets and read objects back with the plain SDK.

#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use serde_json::{Value, json};

pub struct Moto {
    pub url: String,
    pub key_id: String,
    pub secret: String,
}

/// The running moto, or a clear instruction to start it.
pub fn moto() -> Moto {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: the S3 tests need moto, which `cargo xtask test` installs and starts")
        })
    };
    Moto {
        url: var("COURIER_TEST_MOTO_URL"),
        key_id: var("COURIER_TEST_AWS_ACCESS_KEY_ID"),
        secret: var("COURIER_TEST_AWS_SECRET_ACCESS_KEY"),
    }
}

impl Moto {
    pub fn sdk(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::new()
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
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    pub async fn new_bucket(&self) -> String {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("courier-{nanos}");
        self.sdk()
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .unwrap();
        name
    }

    pub fn config(&self, bucket: &str) -> Value {
        json!({
            "bucket": bucket, "region": "us-east-1", "endpoint_url": self.url,
            "force_path_style": true, "prefix": "exports/",
            "key_template": "{destination_id}/{batch_id}.{ext}"
        })
    }

    pub fn auth(&self) -> Value {
        json!({"access_key_id": self.key_id, "secret_access_key": self.secret})
    }

    /// Every object under `prefix`: (key, bytes, content type, content encoding).
    pub async fn objects(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Vec<(String, Vec<u8>, Option<String>, Option<String>)> {
        let s3 = self.sdk();
        let listed = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .send()
            .await
            .unwrap();
        let mut out = Vec::new();
        for obj in listed.contents() {
            let key = obj.key().unwrap().to_string();
            let got = s3
                .get_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .unwrap();
            let (ct, ce) = (
                got.content_type().map(str::to_string),
                got.content_encoding().map(str::to_string),
            );
            let bytes = got.body.collect().await.unwrap().into_bytes().to_vec();
            out.push((key, bytes, ct, ce));
        }
        out
    }

    pub async fn pending_uploads(&self, bucket: &str) -> usize {
        let listed = self
            .sdk()
            .list_multipart_uploads()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        listed.uploads().len()
    }
}

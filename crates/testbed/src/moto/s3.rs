//! S3 on moto: buckets, the S3 connector's config, and objects read back with the plain SDK.

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use serde_json::{Value, json};

use super::{Moto, REGION};

impl Moto {
    /// A plain S3 client for moto (path-style addressing).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::new()
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
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// Creates a bucket with a fresh name and returns the name.
    pub async fn new_bucket(&self) -> String {
        let name = crate::fresh_name("courier");
        self.s3()
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .unwrap();
        name
    }

    /// The S3 connector's `config` JSON for `bucket` on moto: prefix `exports/`, keys
    /// `{destination_id}/{batch_id}.{ext}`.
    pub fn s3_config(&self, bucket: &str) -> Value {
        json!({
            "bucket": bucket, "region": REGION, "endpoint_url": self.url,
            "force_path_style": true, "prefix": "exports/",
            "key_template": "{destination_id}/{batch_id}.{ext}"
        })
    }

    /// Every object under `prefix`: (key, bytes, content type, content encoding).
    pub async fn objects(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Vec<(String, Vec<u8>, Option<String>, Option<String>)> {
        let s3 = self.s3();
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

    /// How many multipart uploads in `bucket` were started and neither completed nor aborted.
    pub async fn pending_uploads(&self, bucket: &str) -> usize {
        let listed = self
            .s3()
            .list_multipart_uploads()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        listed.uploads().len()
    }
}

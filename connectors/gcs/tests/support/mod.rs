//! The fake-gcs-server `cargo xtask test` starts (anonymous, in memory, on port 80 when free so
//! resumable uploads work), and helpers that create buckets and read objects back through its
//! JSON API.

#![allow(dead_code)]

pub mod recorder;

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

pub struct FakeGcs {
    pub url: String,
    http: reqwest::Client,
}

/// An object read back: name, bytes, and its metadata as the JSON API reports it.
#[derive(Debug)]
pub struct StoredObject {
    pub name: String,
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub storage_class: Option<String>,
}

/// The running emulator, or a clear instruction to start it.
pub fn fake_gcs() -> FakeGcs {
    let url = std::env::var("COURIER_TEST_FAKE_GCS_URL").unwrap_or_else(|_| {
        panic!("COURIER_TEST_FAKE_GCS_URL is not set: the GCS tests need fake-gcs-server, which `cargo xtask test` (or `cargo xtask services`) installs and starts")
    });
    FakeGcs {
        url,
        http: reqwest::Client::new(),
    }
}

impl FakeGcs {
    pub async fn new_bucket(&self) -> String {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("courier-{nanos}");
        let r = self
            .http
            .post(format!("{}/storage/v1/b?project=courier", self.url))
            .body(json!({"name": name}).to_string())
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{r:?}");
        name
    }

    pub async fn storage(&self) -> google_cloud_storage::client::Storage {
        google_cloud_storage::client::Storage::builder()
            .with_endpoint(&self.url)
            .with_credentials(google_cloud_auth::credentials::anonymous::Builder::new().build())
            .build()
            .await
            .unwrap()
    }

    /// A service account key with a real RSA key made for these tests (the emulator checks no
    /// signatures, but the client signs every request with it), and a piece of the private key
    /// to scan output for.
    pub fn service_account(&self) -> (Value, String) {
        let pem = include_str!("../fixtures/test-service-account.pem");
        let sentinel = pem.lines().nth(2).unwrap().to_string();
        let key = json!({
            "type": "service_account", "project_id": "courier-tests", "private_key_id": "test-key-1",
            "client_email": "courier-tests@courier-tests.iam.gserviceaccount.com",
            "private_key": pem,
        });
        (json!({"service_account_json": key.to_string()}), sentinel)
    }

    /// A key file whose private key is not a key: signing fails before any request.
    pub fn broken_service_account(&self) -> Value {
        let key = json!({
            "type": "service_account", "project_id": "courier-tests", "private_key_id": "test-key-2",
            "client_email": "courier-tests@courier-tests.iam.gserviceaccount.com",
            "private_key": "-----BEGIN PRIVATE KEY-----\nbm90LWEta2V5\n-----END PRIVATE KEY-----\n",
        });
        json!({"service_account_json": key.to_string()})
    }

    pub fn config(&self, bucket: &str) -> Value {
        json!({
            "bucket": bucket, "endpoint": self.url, "prefix": "exports/",
            "key_template": "{destination_id}/{batch_id}.{ext}"
        })
    }

    /// Object metadata under `prefix`, as the JSON API lists it.
    pub async fn list(&self, bucket: &str, prefix: &str) -> Vec<Value> {
        let r = self
            .http
            .get(format!("{}/storage/v1/b/{bucket}/o", self.url))
            .query(&[("prefix", prefix)])
            .send()
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        body["items"].as_array().cloned().unwrap_or_default()
    }

    /// Every object under `prefix`, read back byte for byte (no transcoding).
    pub async fn objects(&self, bucket: &str, prefix: &str) -> Vec<StoredObject> {
        let mut out = Vec::new();
        for item in self.list(bucket, prefix).await {
            let name = item["name"].as_str().unwrap().to_string();
            // Through Google's client, which reads the stored bytes (no decompressive
            // transcoding), as a consumer of the bucket would.
            let mut read = self
                .storage()
                .await
                .read_object(format!("projects/_/buckets/{bucket}"), &name)
                .send()
                .await
                .unwrap();
            let mut bytes = Vec::new();
            while let Some(chunk) = read.next().await.transpose().unwrap() {
                bytes.extend_from_slice(&chunk);
            }
            let text = |k: &str| item[k].as_str().map(str::to_string);
            out.push(StoredObject {
                content_type: text("contentType"),
                content_encoding: text("contentEncoding"),
                storage_class: text("storageClass"),
                name,
                bytes,
            });
        }
        out
    }
}

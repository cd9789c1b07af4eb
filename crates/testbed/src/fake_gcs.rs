//! fake-gcs-server, the GCS emulator `cargo xtask test` starts (anonymous, in memory, on port 80
//! when free so resumable uploads work; `COURIER_TEST_FAKE_GCS_URL`): buckets, the GCS
//! connector's config and service account keys, and objects read back through its JSON API and
//! Google's own client.

use serde_json::{Value, json};

/// The running fake-gcs-server.
#[derive(Debug, Clone)]
pub struct FakeGcs {
    /// The server's base URL, the connector's `endpoint`.
    pub url: String,
    http: reqwest::Client,
}

/// An object read back: name, bytes, and its metadata as the JSON API reports it.
#[derive(Debug)]
pub struct StoredObject {
    /// The object's name within its bucket.
    pub name: String,
    /// The object's bytes as stored (no decompressive transcoding).
    pub bytes: Vec<u8>,
    /// Its `contentType`.
    pub content_type: Option<String>,
    /// Its `contentEncoding`.
    pub content_encoding: Option<String>,
    /// Its `storageClass`.
    pub storage_class: Option<String>,
}

/// The running emulator, or a panic naming the missing variable and how to start it.
pub fn fake_gcs() -> FakeGcs {
    FakeGcs::new(crate::required_var(
        "COURIER_TEST_FAKE_GCS_URL",
        "fake-gcs-server",
    ))
}

impl FakeGcs {
    /// The emulator at `url`.
    pub fn new(url: String) -> FakeGcs {
        FakeGcs {
            url,
            http: reqwest::Client::new(),
        }
    }

    /// The emulator the environment names, or `None` when `COURIER_TEST_FAKE_GCS_URL` is unset
    /// (a benchmark then starts one of its own).
    pub fn from_env() -> Option<FakeGcs> {
        std::env::var("COURIER_TEST_FAKE_GCS_URL")
            .ok()
            .map(FakeGcs::new)
    }

    /// Creates a bucket with a fresh name and returns the name.
    pub async fn new_bucket(&self) -> String {
        let name = crate::fresh_name("courier");
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

    /// Google's own storage client for the emulator, with anonymous credentials.
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
        let pem = include_str!("../fixtures/gcs-service-account.pem");
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

    /// The GCS connector's `config` JSON for `bucket` on the emulator: prefix `exports/`, keys
    /// `{destination_id}/{batch_id}.{ext}`.
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

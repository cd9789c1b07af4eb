//! Google's Pub/Sub emulator, which `cargo xtask test` starts (any project, no credentials,
//! REST and gRPC on one port; `COURIER_TEST_PUBSUB_ENDPOINT`): fresh topics, each with an
//! ordered subscription, the connector's config and service account keys, and messages read
//! back by pulling and acknowledging over the REST API with a plain HTTP client, apart from the
//! connector under test.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

/// The variable naming the emulator's base URL.
pub const ENDPOINT_VAR: &str = "COURIER_TEST_PUBSUB_ENDPOINT";
/// Where the machine image keeps the emulator (Google Cloud CLI's pubsub-emulator component).
pub const EMULATOR: &str =
    "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator";
/// The project every topic is made in (the emulator takes any).
pub const PROJECT: &str = "courier-tests";

/// The running emulator.
#[derive(Debug, Clone)]
pub struct PubsubEmulator {
    /// Its base URL, the connector's `endpoint`.
    pub endpoint: String,
    /// The project topics are made in.
    pub project: String,
    http: reqwest::Client,
}

/// A message read back from a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledMessage {
    /// The message's data, decoded.
    pub data: Vec<u8>,
    /// Its attributes.
    pub attributes: BTreeMap<String, String>,
    /// Its ordering key, when it has one.
    pub ordering_key: Option<String>,
    /// The id Pub/Sub gave it.
    pub message_id: String,
}

/// The running emulator, or a panic naming the missing variable and how to start it.
pub fn pubsub() -> PubsubEmulator {
    PubsubEmulator::new(crate::required_var(ENDPOINT_VAR, "the Pub/Sub emulator"))
}

impl PubsubEmulator {
    /// The emulator at `endpoint`.
    pub fn new(endpoint: String) -> PubsubEmulator {
        PubsubEmulator {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            project: PROJECT.to_string(),
            http: reqwest::Client::new(),
        }
    }

    /// The emulator the environment names, or `None` when `COURIER_TEST_PUBSUB_ENDPOINT` is
    /// unset (a benchmark then starts one of its own).
    pub fn from_env() -> Option<PubsubEmulator> {
        std::env::var(ENDPOINT_VAR).ok().map(PubsubEmulator::new)
    }

    /// The emulator the environment names, or one started here from the machine image's copy
    /// on a free loopback port, stopped when the guard drops. For benchmarks, which may run
    /// without the test services.
    #[cfg(feature = "start")]
    pub fn from_env_or_started() -> (PubsubEmulator, Option<courier_benchkit::ChildGuard>) {
        use courier_benchkit::{free_port, start_emulator};
        if let Some(emulator) = PubsubEmulator::from_env() {
            return (emulator, None);
        }
        assert!(
            std::path::Path::new(EMULATOR).exists(),
            "{ENDPOINT_VAR} is not set and the Pub/Sub emulator is not at {EMULATOR} (it comes with the Google Cloud CLI's pubsub-emulator component)"
        );
        let port = free_port();
        let mut command = std::process::Command::new(EMULATOR);
        command.args(["--host=127.0.0.1", &format!("--port={port}")]);
        let guard = start_emulator(command, port, "the Pub/Sub emulator");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !says_ok(port) {
            assert!(
                Instant::now() < deadline,
                "the Pub/Sub emulator did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        (
            PubsubEmulator::new(format!("http://127.0.0.1:{port}")),
            Some(guard),
        )
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1/projects/{}/{path}", self.endpoint, self.project)
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let r = self
            .http
            .request(method, self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("the Pub/Sub emulator at {}: {e}", self.endpoint));
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert!(status.is_success(), "{path}: HTTP {status}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Creates a topic with a fresh name and its subscription (message ordering enabled), and
    /// returns the topic's id.
    pub async fn new_topic(&self) -> String {
        let topic = crate::fresh_name("courier");
        self.call(reqwest::Method::PUT, &format!("topics/{topic}"), json!({}))
            .await;
        let subscription = json!({
            "topic": format!("projects/{}/topics/{topic}", self.project),
            "enableMessageOrdering": true,
            "ackDeadlineSeconds": 60,
        });
        self.call(
            reqwest::Method::PUT,
            &format!("subscriptions/{topic}-sub"),
            subscription,
        )
        .await;
        topic
    }

    /// The connector's `config` JSON for `topic` on the emulator.
    pub fn config(&self, topic: &str) -> Value {
        json!({"project_id": self.project, "topic": topic, "endpoint": self.endpoint})
    }

    /// A service account key with a real RSA key made for these tests (the emulator checks no
    /// tokens, but the connector signs every request with it), and a piece of the private key
    /// to scan output for.
    pub fn service_account(&self) -> (Value, String) {
        let pem = include_str!("../fixtures/gcs-service-account.pem");
        let sentinel = pem.lines().nth(2).unwrap().to_string();
        let key = json!({
            "type": "service_account", "project_id": self.project, "private_key_id": "test-key-1",
            "client_email": "courier-tests@courier-tests.iam.gserviceaccount.com",
            "private_key": pem,
        });
        (json!({"service_account_json": key.to_string()}), sentinel)
    }

    /// A key file whose private key is not a key: no token can be signed with it.
    pub fn broken_service_account(&self) -> Value {
        let key = json!({
            "type": "service_account", "project_id": self.project, "private_key_id": "test-key-2",
            "client_email": "courier-tests@courier-tests.iam.gserviceaccount.com",
            "private_key": "-----BEGIN PRIVATE KEY-----\nbm90LWEta2V5\n-----END PRIVATE KEY-----\n",
        });
        json!({"service_account_json": key.to_string()})
    }

    /// Every message `topic`'s subscription holds now, in the order pulled (a key's messages
    /// in their order), each acknowledged so it is read once.
    pub async fn pull(&self, topic: &str) -> Vec<PulledMessage> {
        let mut out = Vec::new();
        loop {
            let answer = self
                .call(
                    reqwest::Method::POST,
                    &format!("subscriptions/{topic}-sub:pull"),
                    json!({"maxMessages": 1000, "returnImmediately": true}),
                )
                .await;
            let received = answer["receivedMessages"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if received.is_empty() {
                return out;
            }
            let ack_ids: Vec<Value> = received.iter().map(|m| m["ackId"].clone()).collect();
            self.call(
                reqwest::Method::POST,
                &format!("subscriptions/{topic}-sub:acknowledge"),
                json!({ "ackIds": ack_ids }),
            )
            .await;
            out.extend(received.iter().map(|m| read_message(&m["message"])));
        }
    }

    /// Messages of `topic` pulled until at least `n` arrived or 10 seconds passed.
    pub async fn pull_at_least(&self, topic: &str, n: usize) -> Vec<PulledMessage> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut out = self.pull(topic).await;
        while out.len() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            out.extend(self.pull(topic).await);
        }
        out
    }
}

fn read_message(m: &Value) -> PulledMessage {
    let text = |k: &str| m[k].as_str().map(str::to_string);
    PulledMessage {
        data: text("data")
            .map(|d| BASE64.decode(d).expect("data is base64"))
            .unwrap_or_default(),
        attributes: m["attributes"]
            .as_object()
            .map(|a| {
                a.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default(),
        ordering_key: text("orderingKey").filter(|k| !k.is_empty()),
        message_id: text("messageId").unwrap_or_default(),
    }
}

/// Whether the emulator on `port` answers `GET /` with `Ok` (its readiness answer).
#[cfg(feature = "start")]
fn says_ok(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET / HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if s.write_all(request.as_bytes()).is_err() {
        return false;
    }
    // The emulator keeps the connection open after answering: read until the answer is in.
    let mut answer = Vec::new();
    let mut chunk = [0u8; 256];
    while !answer.ends_with(b"\r\n\r\nOk\n") && answer.len() < 4096 {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
        }
    }
    answer.starts_with(b"HTTP/1.")
        && answer.windows(5).any(|w| w == b" 200 ")
        && answer.ends_with(b"\r\n\r\nOk\n")
}

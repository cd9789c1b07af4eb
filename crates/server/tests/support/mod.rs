//! Starts the real server on a loopback port (SQLite in a temp dir, or Postgres when
//! `COURIER_TEST_POSTGRES_URL` is set), with its logs captured so tests can scan them, and a
//! small client for the API.

#![allow(dead_code)]

pub mod postgres;
pub mod receiver;

use std::io::Write;
use std::sync::{Arc, Mutex};

use courier_catalog::Catalog;
use courier_server::{Server, ServerConfig};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;

/// Everything the server logged, for secret scans.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct TestServer {
    pub url: String,
    /// The store's URL, to open it beside the server.
    pub database_url: String,
    pub key: String,
    pub workspace: String,
    pub dir: Arc<tempfile::TempDir>,
    pub logs: Logs,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
}

pub const ADMIN_KEY: &str = "ck_test_admin_key_0123456789abcdefghijklmnopqrstuv";

/// Which store a test runs against.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A SQLite file in the test's data directory (the default).
    Sqlite,
    /// A fresh database of its own on the test PostgreSQL.
    Postgres(String),
}

impl Backend {
    /// A new, empty database on the server `COURIER_TEST_POSTGRES_URL` names (`cargo xtask
    /// test` starts one). Without it the test fails, unless `COURIER_TEST_SKIP_POSTGRES=1`
    /// says on purpose that the Postgres variants are not to run: then `None`, and the test
    /// prints that it did not run.
    pub async fn postgres() -> Option<Backend> {
        let Ok(base) = std::env::var("COURIER_TEST_POSTGRES_URL") else {
            let opted_out = std::env::var("COURIER_TEST_SKIP_POSTGRES").is_ok_and(|v| v == "1");
            assert!(
                opted_out && std::env::var("CI").is_err(),
                "COURIER_TEST_POSTGRES_URL is not set: run `cargo xtask test` (it starts PostgreSQL), \
                 or set COURIER_TEST_SKIP_POSTGRES=1 to leave the Postgres variants out (not in CI)"
            );
            eprintln!("NOT RUN: the Postgres variant (COURIER_TEST_SKIP_POSTGRES=1)");
            return None;
        };
        let name = format!("courier_test_{}", uuid::Uuid::now_v7().simple());
        Some(Backend::Postgres(
            postgres::fresh_database(&base, &name).await,
        ))
    }
}

pub fn config(dir: &std::path::Path, backend: &Backend) -> ServerConfig {
    let mut config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        allow_private_destinations: true,
        ..ServerConfig::default()
    };
    config.bootstrap_api_key = Some(courier_core::Secret::new(ADMIN_KEY));
    if let Backend::Postgres(url) = backend {
        config.database_url = Some(url.clone());
    }
    config
}

/// The encryption key replicas in tests share (a replica with another key refuses to start).
pub const REPLICA_KEY: &str = "q83vEjRWeJ6rze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";

/// The config of one replica on `backend` (sharing [`REPLICA_KEY`]), with its own data
/// directory.
pub fn replica(backend: &Backend) -> (ServerConfig, Arc<tempfile::TempDir>) {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = config(dir.path(), backend);
    config.encryption_key = Some(courier_core::Secret::new(REPLICA_KEY));
    (config, dir)
}

/// Runs a scenario `async fn name(backend: Backend)` twice: on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::support::Backend::Sqlite).await
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(backend) = super::support::Backend::postgres().await {
                    super::$name(backend).await
                }
            }
        }
    )*};
}

fn capture_logs() -> Logs {
    let logs = Logs::default();
    let writer = logs.clone();
    // One subscriber per test process (nextest runs each test in its own process).
    let _ = tracing_subscriber::fmt()
        .with_env_filter("debug,sqlx=warn,hyper=warn")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .try_init();
    logs
}

impl TestServer {
    pub async fn start(backend: &Backend) -> TestServer {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        Self::start_with(config(dir.path(), backend), dir).await
    }

    pub async fn start_with(config: ServerConfig, dir: Arc<tempfile::TempDir>) -> TestServer {
        Self::start_with_catalog(config, dir, Catalog::builtin()).await
    }

    /// A server whose catalog the test chooses (to add connectors of its own).
    pub async fn start_with_catalog(
        config: ServerConfig,
        dir: Arc<tempfile::TempDir>,
        catalog: Catalog,
    ) -> TestServer {
        let logs = capture_logs();
        let database_url = config.database_url();
        let server = Server::bind(config, catalog).await.unwrap();
        let url = format!("http://{}", server.addr);
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(async move {
            server
                .serve(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        let http = reqwest::Client::new();
        let workspaces: Value = http
            .get(format!("{url}/api/v1/workspaces"))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let workspace = workspaces["data"][0]["id"]
            .as_str()
            .expect("a workspace")
            .to_string();
        TestServer {
            url,
            database_url,
            key: ADMIN_KEY.into(),
            workspace,
            dir,
            logs,
            http,
            stop: Some(stop),
            done: Some(done),
        }
    }

    /// Stops the server and waits until it has.
    pub async fn stop(mut self) -> Arc<tempfile::TempDir> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
        self.dir.clone()
    }

    pub fn path(&self, rest: &str) -> String {
        format!("{}/api/v1/workspaces/{}{rest}", self.url, self.workspace)
    }

    pub async fn call_as(
        &self,
        key: Option<&str>,
        method: Method,
        url: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut request = self.http.request(method, url);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value, headers)
    }

    pub async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, value, _) = self.call_as(Some(&self.key), method, url, body).await;
        (status, value)
    }

    /// A request with a body sent as written, under `content_type` (for bodies serde would
    /// not write: keys given twice, other media types).
    pub async fn raw(
        &self,
        method: Method,
        url: &str,
        content_type: &str,
        body: &str,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let response = self
            .http
            .request(method, url)
            .bearer_auth(&self.key)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value, headers)
    }

    /// The raw text of a response (for SSE streams).
    pub async fn text(
        &self,
        method: Method,
        url: &str,
        body: Option<Value>,
    ) -> (StatusCode, String) {
        let mut request = self.http.request(method, url).bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }
}

/// Parses an SSE stream into (event, data) pairs.
pub fn sse_events(text: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut event = None;
        let mut data = String::new();
        for line in block.lines() {
            if let Some(e) = line.strip_prefix("event:") {
                event = Some(e.trim().to_string());
            } else if let Some(d) = line.strip_prefix("data:") {
                data.push_str(d.trim_start());
            }
        }
        if let Some(event) = event {
            out.push((event, serde_json::from_str(&data).unwrap_or(Value::Null)));
        }
    }
    out
}

/// Waits until `check` holds (deliveries are asynchronous), up to 20 s.
pub async fn eventually<F: FnMut() -> bool>(what: &str, mut check: F) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

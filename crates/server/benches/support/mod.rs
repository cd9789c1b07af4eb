//! What the server benches share: the server started in-process with an admin key (SQLite in a
//! temp dir, or a fresh Postgres database when `COURIER_TEST_POSTGRES_URL` is set).

// Each bench uses a part of this.
#![allow(dead_code)]

#[path = "../../tests/support/postgres.rs"]
mod postgres;

use courier_catalog::Catalog;
use courier_server::{Server, ServerConfig};
use serde_json::Value;

pub const KEY: &str = "ck_bench_admin_key_0123456789abcdefghijklmnopqrs";

/// A running server.
pub struct BenchServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The workspace's API base, `.../api/v1/workspaces/{id}`.
    pub api: String,
    /// `SQLite` or `Postgres`.
    pub store_kind: &'static str,
    /// The data directory (SQLite files live here).
    pub dir: tempfile::TempDir,
}

/// Starts the server with rate limiting out of the way; `tune` adjusts the settings.
pub async fn start(name: &str, tune: impl FnOnce(&mut ServerConfig)) -> BenchServer {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        rate_limit_per_second: 1_000_000,
        ..ServerConfig::default()
    };
    config.bootstrap_api_key = Some(courier_core::Secret::new(KEY));
    if let Ok(base) = std::env::var("COURIER_TEST_POSTGRES_URL") {
        let database = format!("courier_bench_{name}_{}", std::process::id());
        config.database_url = Some(postgres::fresh_database(&base, &database).await);
    }
    tune(&mut config);
    let store_kind = if config.database_url.is_some() {
        "Postgres"
    } else {
        "SQLite"
    };
    let server = Server::bind(config, Catalog::builtin()).await.unwrap();
    let url = format!("http://{}", server.addr);
    tokio::spawn(server.serve(std::future::pending()));
    let ws: Value = reqwest::Client::new()
        .get(format!("{url}/api/v1/workspaces"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api = format!(
        "{url}/api/v1/workspaces/{}",
        ws["data"][0]["id"].as_str().unwrap()
    );
    BenchServer {
        url,
        api,
        store_kind,
        dir,
    }
}

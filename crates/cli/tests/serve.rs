//! `courier serve` as a binary: an empty data directory gets a workspace and an admin key
//! printed once (or the key from COURIER_BOOTSTRAP_API_KEY, never printed), `/readyz` answers,
//! and a restart keeps the data and the key; killed with SIGKILL again and again while it
//! delivers, it still delivers every accepted event.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Starts `courier serve` on a free port; returns the process, its base URL and what it
/// printed before listening.
async fn serve(data_dir: &std::path::Path, bootstrap_key: Option<&str>) -> (Child, String, String) {
    serve_with(data_dir, bootstrap_key, &[], &[]).await
}

async fn serve_with(
    data_dir: &std::path::Path,
    bootstrap_key: Option<&str>,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Child, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_courier"));
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .envs(env.iter().copied())
        .env_remove("COURIER_BOOTSTRAP_API_KEY")
        .env_remove("COURIER_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(key) = bootstrap_key {
        command.env("COURIER_BOOTSTRAP_API_KEY", key);
    }
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("Courier is listening on ") {
                return url.to_string();
            }
            printed.push_str(&line);
            printed.push('\n');
        }
        panic!("courier serve exited: {printed}");
    })
    .await
    .expect("courier serve did not start in time");
    (child, url, printed)
}

async fn get(url: &str, key: &str) -> reqwest::StatusCode {
    reqwest::Client::new()
        .get(url)
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn an_empty_data_dir_gets_a_workspace_and_a_key_that_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url, printed) = serve(dir.path(), None).await;
    assert!(printed.contains("Created workspace"), "{printed}");
    let key = printed
        .split_whitespace()
        .find(|w| w.starts_with("ck_"))
        .expect("the admin key is printed once")
        .to_string();
    assert_eq!(get(&format!("{url}/readyz"), "").await, 200);
    assert_eq!(get(&format!("{url}/api/v1/workspaces"), &key).await, 200);
    assert_eq!(
        get(&format!("{url}/api/v1/workspaces"), "ck_nope").await,
        401
    );
    child.kill().await.unwrap();

    let (mut child, url, printed) = serve(dir.path(), None).await;
    assert!(!printed.contains("ck_"), "no new key on restart: {printed}");
    assert_eq!(
        get(&format!("{url}/api/v1/catalog/connectors"), &key).await,
        200
    );
    child.kill().await.unwrap();
    let key_file = dir.path().join("encryption.key");
    assert!(key_file.exists());
}

#[tokio::test]
async fn the_bootstrap_key_comes_from_the_environment_and_is_not_printed() {
    let dir = tempfile::tempdir().unwrap();
    let key = "ck_from_automation_0123456789abcdefghijklmnop";
    let (mut child, url, printed) = serve(dir.path(), Some(key)).await;
    assert!(
        printed.contains("COURIER_BOOTSTRAP_API_KEY") && !printed.contains(key),
        "{printed}"
    );
    assert_eq!(get(&format!("{url}/api/v1/workspaces"), key).await, 200);
    child.kill().await.unwrap();
}

/// A webhook receiver counting requests per `webhook-id`.
async fn counting_receiver() -> (String, Arc<Mutex<HashMap<String, usize>>>) {
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let kept = seen.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let kept = kept.clone();
        async move {
            // A little latency keeps deliveries in flight when the server is killed.
            tokio::time::sleep(Duration::from_millis(2)).await;
            if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
                *kept.lock().unwrap().entry(id.to_string()).or_insert(0) += 1;
            }
            axum::http::StatusCode::NO_CONTENT
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test]
async fn sigkill_while_delivering_loses_no_accepted_event() {
    const EVENTS: usize = 2000;
    let dir = tempfile::tempdir().unwrap();
    let key = "ck_crash_test_0123456789abcdefghijklmnopqrstuvw";
    let start = || {
        serve_with(
            dir.path(),
            Some(key),
            &["--allow-private-destinations"],
            &[("COURIER_DELIVERY_LEASE_MS", "2000")],
        )
    };
    let (mut child, url, _) = start().await;
    let (hook, seen) = counting_receiver().await;
    let http = reqwest::Client::new();
    let ws: serde_json::Value = http
        .get(format!("{url}/api/v1/workspaces"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ws = ws["data"][0]["id"].as_str().unwrap().to_string();
    let api = |url: &str, path: &str| format!("{url}/api/v1/workspaces/{ws}{path}");
    let destination: serde_json::Value = http
        .post(api(&url, "/destinations"))
        .bearer_auth(key)
        .json(
            &serde_json::json!({"name": "Crash", "destination_type": "webhook",
            "config": {"url": hook, "allow_private_network": true},
            "retry_intervals": [100], "retry_max_attempts": 50, "circuit_breaker_enabled": false}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let route = http
        .post(api(&url, "/routes"))
        .bearer_auth(key)
        .json(&serde_json::json!({"name": "All", "destination_id": destination["id"], "event_types": ["*"]}))
        .send().await.unwrap();
    assert_eq!(route.status(), 201);
    let mut accepted = 0;
    for chunk in 0..(EVENTS / 500) {
        let events: Vec<serde_json::Value> = (0..500)
            .map(|i| serde_json::json!({"type": "crash.test", "payload": {"n": chunk * 500 + i}}))
            .collect();
        let r = http
            .post(api(&url, "/events"))
            .bearer_auth(key)
            .json(&serde_json::json!({"events": events}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        accepted += 500;
    }
    let mut url = url;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        child.kill().await.unwrap();
        let (next, next_url, _) = start().await;
        (child, url) = (next, next_url);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while seen.lock().unwrap().len() < accepted {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {accepted} events arrived",
            seen.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let duplicates: usize = seen.lock().unwrap().values().map(|n| n - 1).sum();
    eprintln!(
        "{accepted} events delivered through 4 SIGKILLs; {duplicates} redelivered with the same webhook-id"
    );
    let failed: serde_json::Value = http
        .get(api(&url, "/deliveries?status=failed"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(failed["data"], serde_json::json!([]));
    child.kill().await.unwrap();
}

/// Logs written anywhere but a terminal (a file, a pipe, a collector) are plain text.
#[tokio::test]
async fn logs_to_a_file_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("courier.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("COURIER_LOG", "debug")
        .env_remove("COURIER_BOOTSTRAP_API_KEY")
        .env_remove("COURIER_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with("Courier is listening on ") {
                return;
            }
        }
    })
    .await
    .expect("courier serve did not start in time");
    child.kill().await.unwrap();
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(written.contains("DEBUG"), "nothing was logged: {written}");
    assert!(!written.contains('\u{1b}'), "colour codes in a log file");
}

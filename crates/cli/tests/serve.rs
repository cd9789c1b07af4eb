//! `courier serve` as a binary: an empty data directory gets a workspace and an admin key
//! printed once (or the key from COURIER_BOOTSTRAP_API_KEY, never printed), `/readyz` answers,
//! and a restart keeps the data and the key.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Starts `courier serve` on a free port; returns the process, its base URL and what it
/// printed before listening.
async fn serve(data_dir: &std::path::Path, bootstrap_key: Option<&str>) -> (Child, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_courier"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
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

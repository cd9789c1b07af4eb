//! `courier oauth` end to end against the local OAuth provider fake: the printed URL is
//! followed as a browser would, the redirect reaches the CLI's loopback port, the code is
//! exchanged with PKCE, and the printed auth_config connects a real (fake-backed) destination.

use std::process::Stdio;
use std::time::Duration;

use courier_conformance::helpers::{records, reference, spec};
use courier_connector_onedrive::OneDrive;
use courier_core::{Batch, DynConnector};
use courier_fakes::{CLIENT_ID, CLIENT_SECRET, GraphFake};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Runs `courier oauth` with `extra` args, plays the browser (optionally tampering with the
/// redirect), and returns (exit code, stdout, stderr).
async fn flow(fake: &GraphFake, extra: &[&str], tamper: bool) -> (i32, String, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_courier"))
        .args([
            "oauth",
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
            "--timeout-secs",
            "30",
        ])
        .arg("--authorization-url")
        .arg(format!("{}/authorize", fake.url()))
        .arg("--token-url")
        .arg(format!("{}/token", fake.url()))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let url = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the CLI prints the URL")
            .unwrap()
            .expect("stderr open");
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("http") {
            break line;
        }
    };
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let approved = browser.get(&url).send().await.unwrap();
    assert_eq!(approved.status(), 302);
    let callback = approved.headers()["location"].to_str().unwrap().to_string();
    if tamper {
        // A redirect with another state is refused and ignored; the flow keeps waiting.
        let forged = callback.replace("state=cli.", "state=cli.x");
        assert_eq!(browser.get(&forged).send().await.unwrap().status(), 400);
    }
    let page = browser.get(&callback).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("received the authorization")
    );
    let out = child.wait_with_output().await.unwrap();
    while let Ok(Some(line)) = lines.next_line().await {
        seen.push_str(&line);
        seen.push('\n');
    }
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        seen,
    )
}

#[tokio::test]
async fn the_printed_auth_config_connects_the_destination() {
    let fake = GraphFake::start().await;
    fake.add_folder("Exports");
    let (code, stdout, stderr) = flow(
        &fake,
        &["--type", "onedrive", "--tenant", "contoso.example"],
        false,
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let auth: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(auth["client_id"], CLIENT_ID);
    assert_eq!(auth["tenant"], "contoso.example");
    assert!(auth["refresh_token"].as_str().unwrap().starts_with("rt-"));
    assert!(
        !stderr.contains(auth["refresh_token"].as_str().unwrap()),
        "tokens go to stdout only"
    );
    let config = json!({"folder_path": "Exports", "graph_base_url": fake.url()});
    let dest = OneDrive.build(&spec("d", config, auth)).await.unwrap();
    reference(&dest.deliver(&Batch::new("oauth-1", records(1))).await);
}

#[tokio::test]
async fn output_goes_to_a_0600_file_when_asked() {
    let fake = GraphFake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.json");
    std::fs::write(&path, "old").unwrap();
    let (code, stdout, stderr) = flow(
        &fake,
        &["--type", "google_drive", "--output", path.to_str().unwrap()],
        false,
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let auth: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(auth["refresh_token"].is_string() && auth.get("tenant").is_none());
}

#[tokio::test]
async fn a_redirect_with_another_state_is_ignored() {
    let fake = GraphFake::start().await;
    let (code, stdout, stderr) = flow(&fake, &["--type", "onedrive"], true).await;
    assert_eq!(code, 0, "{stderr}");
    let auth: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        auth["authorization_url"],
        format!("{}/authorize", fake.url())
    );
}

#[tokio::test]
async fn a_type_without_oauth_is_bad_input() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["oauth", "--type", "webhook", "--client-id", "x"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("use google_drive or onedrive"));
}

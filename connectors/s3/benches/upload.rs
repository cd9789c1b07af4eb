//! S3 upload throughput through the connector against moto, side by side with the bare SDK
//! uploading the same bytes (a single PUT for small files, a multipart upload for large ones),
//! and the peak memory of delivering one 256 MiB file. Prints figures and ratios.
//! The connector runs twice: as `courier serve` calls it (the host vouches that the payloads
//! are JSON, so none is parsed again) and as `courier deliver` does (every payload parsed).
//!
//! Run: `cargo bench -p courier-connector-s3`. Uses the moto that `cargo xtask test` started
//! (COURIER_TEST_MOTO_URL and keys), or starts the one `cargo xtask test` installed.

use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use courier_benchkit::{batch, compare_file_uploads, print_peak, reset_peak, status_kib};
use courier_connector_s3::S3;
use courier_core::{Destination, DestinationSpec, DynConnector};
use courier_testbed::moto::Moto;
use serde_json::json;

async fn bare_upload(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8], part: usize) {
    if body.len() <= part {
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .unwrap();
        return;
    }
    let id = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    let mut parts = Vec::new();
    for (i, chunk) in body.chunks(part).enumerate() {
        let n = i as i32 + 1;
        let sent = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .set_e_tag(sent.e_tag().map(str::to_string))
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

async fn destination(m: &Moto, bucket: &str, cap: u64) -> std::sync::Arc<dyn Destination> {
    let spec = DestinationSpec {
        destination_id: "bench".into(),
        config: json!({"bucket": bucket, "region": "us-east-1", "endpoint_url": m.url, "force_path_style": true,
                       "key_template": "{batch_id}.{ext}"}),
        auth_config: m.auth(),
        payload_cap_bytes: Some(cap),
        token_store: None,
        allow_private_network: true,
    };
    S3.build(&spec).await.unwrap()
}

fn main() {
    let (m, _guard) = Moto::from_env_or_started();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s3 = m.s3();
        let bucket = courier_testbed::fresh_name("courier-bench");
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
        let part = 8 * 1024 * 1024;
        let dest = destination(&m, &bucket, 512 << 20).await;
        // Memory first, in a fresh process, so earlier rounds' allocations do not raise the baseline.
        // 64 KiB records: the peak then shows what the file's size costs, not per-record
        // bookkeeping (outcomes and ids grow with the record count, whatever the file size).
        let big = batch("b-256mib", 256 << 20, 64 << 10);
        let before = status_kib("VmRSS:");
        reset_peak();
        let t = Instant::now();
        let out = dest.deliver(&big).await;
        assert_eq!(out.failed_count(), 0, "{:?}", out.records[0]);
        print_peak("one 256 MiB file", t.elapsed(), before, 64);
        compare_file_uploads(
            "S3 upload (moto)",
            &dest,
            part,
            async |label, round, body| {
                bare_upload(&s3, &bucket, &format!("bare-{label}-{round}"), body, part).await;
            },
        )
        .await;
    });
}

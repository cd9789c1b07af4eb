//! GCS behaviour against fake-gcs-server: objects read back byte for byte with their content
//! headers and class, retries that replace, the cap, resumable uploads of large files, and
//! clear connection-test failures.

mod support;

use std::io::Read;
use std::time::Duration;

use courier_conformance::helpers::{self, records, reference};
use courier_connector_gcs::Gcs;
use courier_core::{
    Batch, DestinationSpec, DynConnector, ErrorKind, Record, StepStatus, TestReport,
};
use serde_json::{Value, json};

fn spec(config: Value, auth: Value, cap: Option<u64>) -> DestinationSpec {
    helpers::spec_capped("dest_gcs", config, auth, cap)
}

async fn test_report(config: Value, auth: Value) -> TestReport {
    helpers::test_report(&Gcs, &spec(config, auth, None)).await
}

#[tokio::test]
async fn csv_gzip_object_reads_back_with_its_headers_and_class() {
    let gcs = support::fake_gcs();
    let bucket = gcs.new_bucket().await;
    // Through a recording proxy: the emulator does not keep a multipart upload's contentType,
    // so the test checks what was sent.
    let authority = gcs.url.trim_start_matches("http://").to_string();
    let (port, sent) = support::recorder::record(authority).await;
    let mut config = gcs.config(&bucket);
    config["endpoint"] = json!(format!("http://127.0.0.1:{port}"));
    config["format"] = json!("csv");
    config["columns"] = json!(["id", "email", "name"]);
    config["compression"] = json!("gzip");
    config["storage_class"] = json!("NEARLINE");
    let dest = Gcs.build(&spec(config, json!({}), None)).await.unwrap();
    let out = dest.deliver(&Batch::new("batch-csv", records(3))).await;
    assert_eq!(out.delivered_count(), 3, "{out:?}");
    assert_eq!(
        reference(&out),
        format!("gs://{bucket}/exports/dest_gcs/batch-csv.csv.gz")
    );
    let request = String::from_utf8_lossy(&sent.lock().unwrap()).to_string();
    assert!(
        request.contains(r#""contentType":"text/csv; charset=utf-8""#),
        "{request:.2000}"
    );
    let objects = gcs.objects(&bucket, "exports/").await;
    assert_eq!(objects.len(), 1);
    let o = &objects[0];
    assert_eq!(o.name, "exports/dest_gcs/batch-csv.csv.gz");
    assert_eq!(o.content_encoding.as_deref(), Some("gzip"));
    assert_eq!(o.storage_class.as_deref(), Some("NEARLINE"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(&o.bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(
        text,
        "id,email,name\r\n0,u0@example.com,\"N, \"\"0\"\"\"\r\n1,u1@example.com,\"N, \"\"1\"\"\"\r\n2,u2@example.com,\"N, \"\"2\"\"\"\r\n"
    );
}

#[tokio::test]
async fn a_retried_batch_replaces_its_object_and_create_only_keeps_the_first() {
    let gcs = support::fake_gcs();
    let bucket = gcs.new_bucket().await;
    let batch = Batch::new("batch-retry", records(2));
    for create_only in [false, true] {
        let mut config = gcs.config(&bucket);
        config["create_only"] = json!(create_only);
        let dest = Gcs.build(&spec(config, json!({}), None)).await.unwrap();
        for attempt in 0..2 {
            let out = dest.deliver(&batch).await;
            assert_eq!(out.delivered_count(), 2, "{out:?}");
            if create_only && attempt == 1 {
                assert!(
                    reference(&out).ends_with("(already present)"),
                    "{}",
                    reference(&out)
                );
            }
        }
    }
    assert_eq!(gcs.list(&bucket, "").await.len(), 1);
}

#[tokio::test]
async fn over_cap_batches_upload_nothing_or_split() {
    let gcs = support::fake_gcs();
    let bucket = gcs.new_bucket().await;
    let dest = Gcs
        .build(&spec(gcs.config(&bucket), json!({}), Some(200)))
        .await
        .unwrap();
    let out = dest.deliver(&Batch::new("batch-big", records(10))).await;
    assert!(out.records.iter().all(|r| {
        r.error()
            .is_some_and(|e| e.kind == ErrorKind::PayloadTooLarge)
    }));
    assert!(
        gcs.list(&bucket, "").await.is_empty(),
        "nothing may be uploaded"
    );

    let mut config = gcs.config(&bucket);
    config["split_oversized"] = json!(true);
    config["payload_cap_bytes"] = json!(200);
    let dest = Gcs.build(&spec(config, json!({}), None)).await.unwrap();
    let out = dest.deliver(&Batch::new("batch-big", records(10))).await;
    assert_eq!(out.delivered_count(), 10);
    let objects = gcs.objects(&bucket, "exports/").await;
    assert!(objects.len() > 1);
    assert!(
        objects
            .iter()
            .all(|o| o.name.contains("batch-big-part-") && o.bytes.len() <= 200)
    );
}

#[tokio::test]
async fn large_files_go_up_as_resumable_uploads_in_order() {
    let gcs = support::fake_gcs();
    assert!(
        gcs.url.ends_with(":80") || !gcs.url.contains(":8"),
        "resumable uploads need fake-gcs-server on port 80 (the Google client drops the port from Host); it is at {}",
        gcs.url
    );
    let bucket = gcs.new_bucket().await;
    let mut config = gcs.config(&bucket);
    config["chunk_size_bytes"] = json!(256 * 1024);
    let dest = Gcs
        .build(&spec(config, json!({}), Some(64 << 20)))
        .await
        .unwrap();
    let pad = "z".repeat(1000);
    let batch = Batch::new(
        "batch-resumable",
        (0..3000)
            .map(|i| Record::new(format!("r{i}"), format!(r#"{{"i":{i},"p":"{pad}"}}"#)))
            .collect(),
    );
    let out = tokio::time::timeout(Duration::from_secs(60), dest.deliver(&batch))
        .await
        .expect("the resumable upload finishes");
    assert_eq!(out.delivered_count(), 3000, "{:?}", out.records[0]);
    assert!(
        reference(&out).ends_with("(resumable)"),
        "{}",
        reference(&out)
    );
    let objects = gcs.objects(&bucket, "exports/").await;
    assert_eq!(objects.len(), 1);
    let expected: Vec<u8> = batch
        .records
        .iter()
        .flat_map(|r| [&r.payload[..], b"\n"].concat())
        .collect();
    assert_eq!(objects[0].bytes.len(), expected.len());
    assert!(
        objects[0].bytes == expected,
        "the object must be the records, in order"
    );
}

#[tokio::test]
async fn the_connection_test_touches_the_bucket_and_names_what_is_wrong() {
    let gcs = support::fake_gcs();
    let bucket = gcs.new_bucket().await;
    let report = test_report(gcs.config(&bucket), json!({})).await;
    assert!(report.success, "{report:#?}");
    let steps: Vec<&str> = report.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        steps,
        [
            "validate",
            "build",
            "credentials",
            "authentication",
            "bucket",
            "write_permission"
        ]
    );
    assert!(
        gcs.list(&bucket, "").await.is_empty(),
        "the probe object is removed"
    );

    let report = test_report(gcs.config("no-such-bucket-here"), json!({})).await;
    let failed = report.failed_step().unwrap();
    assert_eq!(
        (failed.name.as_str(), failed.error_kind),
        ("bucket", Some(ErrorKind::NotFound))
    );
    assert!(failed.message.contains("no-such-bucket-here"), "{failed:?}");

    // A real key signs (the emulator does not check it); a broken one fails at authentication.
    let (auth, sentinel) = gcs.service_account();
    let report = test_report(gcs.config(&bucket), auth).await;
    assert!(report.success, "{report:#?}");
    assert!(
        !format!("{report:?}").contains(&sentinel),
        "the key must not be quoted"
    );
    let auth = gcs.broken_service_account();
    let report = test_report(gcs.config(&bucket), auth).await;
    let failed = report.failed_step().unwrap();
    assert_eq!(
        failed.error_kind,
        Some(ErrorKind::Unauthenticated),
        "{failed:?}"
    );
    assert!(
        failed.name == "credentials" || failed.name == "authentication",
        "{failed:?}"
    );
    assert!(
        failed
            .hint
            .as_deref()
            .unwrap()
            .contains("service_account_json"),
        "{failed:?}"
    );
    assert!(
        report
            .steps
            .iter()
            .skip_while(|s| s.name != failed.name)
            .skip(1)
            .all(|s| s.status == StepStatus::Skipped)
    );
}

#[tokio::test]
async fn config_problems_are_named() {
    let s = spec(
        json!({"bucket": "Bad Bucket", "prefix": "/abs/../x", "endpoint": "ftp://x/path",
               "storage_class": "WARM", "chunk_size_bytes": 300000, "format": "csv", "nope": 1}),
        json!({"service_account_json": "{\"type\":\"service_account\",\"private_key\":\"c2VjcmV0LXNlbnRpbmVs\"}"}),
        None,
    );
    let errors: Vec<String> = Gcs.validate(&s).iter().map(|e| e.to_string()).collect();
    for path in [
        "/config/nope",
        "/config/bucket",
        "/config/prefix",
        "/config/endpoint",
        "/config/storage_class",
        "/config/chunk_size_bytes",
        "/config/columns",
        "/auth_config/service_account_json",
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(&format!("{path}:"))),
            "{path} missing from {errors:#?}"
        );
    }
    assert!(!format!("{errors:?}").contains("c2VjcmV0LXNlbnRpbmVs"));

    // Anonymous requests need an endpoint (an emulator).
    let built = Gcs
        .build(&spec(json!({"bucket": "abc"}), json!({}), None))
        .await;
    let message = format!("{:?}", built.err().unwrap());
    assert!(
        message.contains("service_account_json is required"),
        "{message}"
    );
}

/// A connection cut in the middle of a resumable upload. fake-gcs-server builds the session
/// URL from the Host header without its port, so the proxy listens on port 80 of another
/// loopback address (127.0.0.2) and the whole upload, session included, goes through it.
#[tokio::test]
async fn a_resumable_upload_cut_mid_way_leaves_no_partial_object() {
    let gcs = support::fake_gcs();
    let target = gcs
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let target = if target.contains(':') {
        target
    } else {
        format!("{target}:80")
    };
    let proxy = courier_fakes::proxy::cut_once_after("127.0.0.2:80", target, 700 * 1024).await;
    let bucket = gcs.new_bucket().await;
    let mut config = gcs.config(&bucket);
    config["endpoint"] = json!("http://127.0.0.2");
    config["chunk_size_bytes"] = json!(256 * 1024);
    let dest = Gcs
        .build(&spec(config, json!({}), Some(64 << 20)))
        .await
        .unwrap();
    let pad = "q".repeat(1000);
    let batch = Batch::new(
        "batch-cut",
        (0..2000)
            .map(|i| Record::new(format!("r{i}"), format!(r#"{{"i":{i},"p":"{pad}"}}"#)))
            .collect(),
    );
    let expected: Vec<u8> = batch
        .records
        .iter()
        .flat_map(|r| [&r.payload[..], b"\n"].concat())
        .collect();
    let first = tokio::time::timeout(Duration::from_secs(60), dest.deliver(&batch))
        .await
        .expect("the first attempt ends");
    assert!(proxy.was_cut(), "the upload went through the proxy");
    let objects = gcs.objects(&bucket, "exports/").await;
    // The connector does not resume in place: the attempt fails, transiently, and the
    // unfinished session leaves nothing behind.
    let error = first.records[0].error().expect("the cut attempt fails");
    assert!(
        error.is_retryable(),
        "a cut connection is transient: {error:?}"
    );
    assert!(
        objects.is_empty(),
        "no partial object: {:?}",
        objects.iter().map(|o| o.bytes.len()).collect::<Vec<_>>()
    );
    // The retry the runtime would make completes it, once.
    let again = tokio::time::timeout(Duration::from_secs(60), dest.deliver(&batch))
        .await
        .expect("the retry ends");
    assert_eq!(again.delivered_count(), 2000, "{:?}", again.records[0]);
    let objects = gcs.objects(&bucket, "exports/").await;
    assert_eq!(objects.len(), 1);
    assert!(objects[0].bytes == expected);
}

/// An endpoint that answers with an endless body cannot make the destination read it all:
/// answers are cut at a cap (a few MiB), the delivery fails, and the connection is dropped.
#[tokio::test]
async fn endless_answers_are_read_with_a_cap() {
    let flood = courier_fakes::Flood::start("500 Internal Server Error", "application/json").await;
    let dest = Gcs
        .build(&spec(
            json!({"bucket": "capped", "endpoint": flood.url}),
            json!({}),
            None,
        ))
        .await
        .unwrap();
    let out = dest.deliver(&Batch::new("flood", records(1))).await;
    assert!(out.records[0].error().is_some(), "{out:?}");
    flood.assert_cut_short().await;
}

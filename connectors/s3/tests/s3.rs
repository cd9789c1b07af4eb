//! S3 behaviour against moto: objects read back byte for byte with their content headers,
//! retries that replace, the cap, multipart uploads and their cleanup, and clear test failures.

use std::io::Read;

use courier_conformance::helpers::{self, records};
use courier_connector_s3::S3;
use courier_core::{
    Batch, DestinationSpec, DynConnector, ErrorKind, Record, StepStatus, TestReport,
};
use courier_testbed::moto as support;
use serde_json::{Value, json};

fn spec(config: Value, auth: Value, cap: Option<u64>) -> DestinationSpec {
    helpers::spec_capped("dest_s3", config, auth, cap)
}

async fn test_report(config: Value, auth: Value) -> TestReport {
    helpers::test_report(&S3, &spec(config, auth, None)).await
}

#[tokio::test]
async fn csv_gzip_object_reads_back_with_its_headers() {
    let moto = support::moto();
    let bucket = moto.new_bucket().await;
    let mut config = moto.s3_config(&bucket);
    config["format"] = json!("csv");
    config["columns"] = json!(["id", "email", "name"]);
    config["compression"] = json!("gzip");
    let dest = S3.build(&spec(config, moto.auth(), None)).await.unwrap();
    let out = dest.deliver(&Batch::new("batch-csv", records(3))).await;
    assert_eq!(out.delivered_count(), 3, "{out:?}");
    let objects = moto.objects(&bucket, "exports/").await;
    assert_eq!(objects.len(), 1);
    let (key, body, content_type, encoding) = &objects[0];
    assert_eq!(key, "exports/dest_s3/batch-csv.csv.gz");
    assert_eq!(content_type.as_deref(), Some("text/csv; charset=utf-8"));
    assert_eq!(encoding.as_deref(), Some("gzip"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(
        text,
        "id,email,name\r\n0,u0@example.com,\"N, \"\"0\"\"\"\r\n1,u1@example.com,\"N, \"\"1\"\"\"\r\n2,u2@example.com,\"N, \"\"2\"\"\"\r\n"
    );
    match &out.records[0].outcome {
        courier_core::Outcome::Delivered(d) => assert!(
            d.reference.ends_with("exports/dest_s3/batch-csv.csv.gz"),
            "{d:?}"
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_retried_batch_replaces_its_object_and_create_only_keeps_the_first() {
    let moto = support::moto();
    let bucket = moto.new_bucket().await;
    let batch = Batch::new("batch-retry", records(2));
    for create_only in [false, true] {
        let mut config = moto.s3_config(&bucket);
        config["create_only"] = json!(create_only);
        let dest = S3.build(&spec(config, moto.auth(), None)).await.unwrap();
        for _ in 0..2 {
            assert_eq!(dest.deliver(&batch).await.delivered_count(), 2);
        }
    }
    assert_eq!(moto.objects(&bucket, "exports/").await.len(), 1);
}

#[tokio::test]
async fn over_cap_batches_upload_nothing_or_split() {
    let moto = support::moto();
    let bucket = moto.new_bucket().await;
    let dest = S3
        .build(&spec(moto.s3_config(&bucket), moto.auth(), Some(200)))
        .await
        .unwrap();
    let out = dest.deliver(&Batch::new("batch-big", records(10))).await;
    assert!(out.records.iter().all(|r| {
        r.error()
            .is_some_and(|e| e.kind == ErrorKind::PayloadTooLarge)
    }));
    assert!(
        moto.objects(&bucket, "exports/").await.is_empty(),
        "nothing may be uploaded"
    );

    // The cap may also sit inside config, as a file option.
    let mut config = moto.s3_config(&bucket);
    config["split_oversized"] = json!(true);
    config["payload_cap_bytes"] = json!(200);
    let dest = S3.build(&spec(config, moto.auth(), None)).await.unwrap();
    assert_eq!(dest.payload_cap().bytes(), 200);
    let out = dest.deliver(&Batch::new("batch-big", records(10))).await;
    assert_eq!(out.delivered_count(), 10);
    let objects = moto.objects(&bucket, "exports/").await;
    assert!(objects.len() > 1);
    assert!(
        objects
            .iter()
            .all(|(k, body, _, _)| k.contains("batch-big-part-") && body.len() <= 200)
    );
}

#[tokio::test]
async fn large_files_go_up_in_parts_and_nothing_is_left_pending() {
    let moto = support::moto();
    let bucket = moto.new_bucket().await;
    let mut config = moto.s3_config(&bucket);
    config["part_size_bytes"] = json!(5 * 1024 * 1024);
    let dest = S3
        .build(&spec(config.clone(), moto.auth(), Some(64 << 20)))
        .await
        .unwrap();
    let pad = "z".repeat(1000);
    let big: Vec<Record> = (0..12_000)
        .map(|i| Record::new(format!("r{i}"), format!(r#"{{"i":{i},"p":"{pad}"}}"#)))
        .collect();
    let batch = Batch::new("batch-multipart", big);
    let out = dest.deliver(&batch).await;
    assert_eq!(out.delivered_count(), 12_000, "{:?}", out.records[0]);
    match &out.records[0].outcome {
        courier_core::Outcome::Delivered(d) => assert!(d.reference.contains("multipart"), "{d:?}"),
        other => panic!("{other:?}"),
    }
    let objects = moto.objects(&bucket, "exports/").await;
    let expected: Vec<u8> = batch
        .records
        .iter()
        .flat_map(|r| [&r.payload[..], b"\n"].concat())
        .collect();
    assert_eq!(objects[0].1.len(), expected.len());
    assert!(
        objects[0].1 == expected,
        "the object must be the records, in order"
    );
    assert_eq!(moto.pending_uploads(&bucket).await, 0);

    // A create-only redelivery is refused at completion: the upload must be aborted, not left open.
    config["create_only"] = json!(true);
    let dest = S3
        .build(&spec(config, moto.auth(), Some(64 << 20)))
        .await
        .unwrap();
    let again = dest.deliver(&batch).await;
    assert_eq!(again.delivered_count(), 12_000, "{:?}", again.records[0]);
    match &again.records[0].outcome {
        courier_core::Outcome::Delivered(d) => {
            assert!(d.reference.contains("already present"), "{d:?}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        moto.pending_uploads(&bucket).await,
        0,
        "no incomplete upload may be left"
    );
}

#[tokio::test]
async fn the_connection_test_touches_the_bucket_and_names_what_is_wrong() {
    let moto = support::moto();
    let bucket = moto.new_bucket().await;
    let report = test_report(moto.s3_config(&bucket), moto.auth()).await;
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
        moto.objects(&bucket, "exports/").await.is_empty(),
        "the probe object is removed"
    );

    let report = test_report(moto.s3_config("no-such-bucket-here"), moto.auth()).await;
    let failed = report.failed_step().unwrap();
    assert_eq!(
        (failed.name.as_str(), failed.error_kind),
        ("bucket", Some(ErrorKind::NotFound))
    );
    assert!(failed.message.contains("no-such-bucket-here"), "{failed:?}");

    let mut bad = moto.auth();
    bad["access_key_id"] = json!("AKIANOTAREALKEY00000");
    let report = test_report(moto.s3_config(&bucket), bad).await;
    let failed = report.failed_step().unwrap();
    assert_eq!(
        (failed.name.as_str(), failed.error_kind),
        ("authentication", Some(ErrorKind::Unauthenticated))
    );
    assert!(
        failed.message.contains("InvalidAccessKeyId")
            && failed.hint.as_deref().unwrap().contains("access_key_id"),
        "{failed:?}"
    );
    assert!(
        report
            .steps
            .iter()
            .skip_while(|s| s.name != "authentication")
            .skip(1)
            .all(|s| s.status == StepStatus::Skipped)
    );
}

#[tokio::test]
async fn config_problems_are_named() {
    let s = spec(
        json!({"bucket": "Bad_Bucket", "region": "us east", "prefix": "/abs/../x", "endpoint_url": "ftp://x",
               "kms_key_id": "k", "format": "csv", "nope": 1}),
        json!({"access_key_id": "AKIA", "role_arn": "arn:aws:iam::1:user/x", "external_id": "e"}),
        None,
    );
    let errors: Vec<String> = S3.validate(&s).iter().map(|e| e.to_string()).collect();
    let mut conflicting = spec(
        json!({"bucket": "b-1", "region": "us-east-1", "payload_cap_bytes": 10}),
        json!({}),
        Some(20),
    );
    let cap_errors: Vec<String> = S3
        .validate(&conflicting)
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(
        cap_errors,
        [
            "/config/payload_cap_bytes: differs from the destination's payload_cap_bytes; set only one"
        ]
    );
    conflicting.payload_cap_bytes = None;
    conflicting.config["payload_cap_bytes"] = json!(0);
    let cap_errors: Vec<String> = S3
        .validate(&conflicting)
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(cap_errors.len(), 1, "{cap_errors:?}");
    assert!(
        cap_errors[0].starts_with("/config/payload_cap_bytes:"),
        "{cap_errors:?}"
    );
    for path in [
        "/config/nope",
        "/config/bucket",
        "/config/region",
        "/config/prefix",
        "/config/endpoint_url",
        "/config/kms_key_id",
        "/config/columns",
        "/auth_config/secret_access_key",
        "/auth_config/role_arn",
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(&format!("{path}:"))),
            "{path} missing from {errors:#?}"
        );
    }
}

/// Without the host's leave to reach private networks, neither an endpoint spelled as a
/// loopback address nor a name resolving to one is contacted: refused, not retried.
#[tokio::test]
async fn private_endpoints_are_refused_unless_the_host_allows_them() {
    let moto = support::moto();
    let bucket = moto.new_bucket().await;
    let config = moto.s3_config(&bucket);
    let port = config["endpoint_url"]
        .as_str()
        .and_then(|u| u.rsplit(':').next())
        .and_then(|p| p.trim_end_matches('/').parse::<u16>().ok())
        .expect("the emulator's port");
    for endpoint in [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
    ] {
        let mut config = config.clone();
        config["endpoint_url"] = json!(endpoint);
        let mut guarded = spec(config, moto.auth(), None);
        guarded.allow_private_network = false;
        let error = match S3.build(&guarded).await {
            Err(e) => e.to_string(),
            Ok(dest) => {
                let out = dest.deliver(&Batch::new("guarded", records(1))).await;
                let e = out.records[0].error().expect("refused").clone();
                assert_eq!(e.kind, ErrorKind::InvalidConfig, "{endpoint}: {e:?}");
                e.message
            }
        };
        assert!(error.contains("SSRF guard"), "{endpoint}: {error}");
    }
    assert!(
        moto.objects(&bucket, "exports/").await.is_empty(),
        "nothing was written"
    );
}

/// An endpoint that answers with an endless body cannot make the destination read it all:
/// answers are cut at a cap (a few MiB), the delivery fails, and the connection is dropped.
#[tokio::test]
async fn endless_answers_are_read_with_a_cap() {
    let flood = courier_fakes::Flood::start("500 Internal Server Error", "application/xml").await;
    let dest = S3
        .build(&spec(
            json!({"bucket": "capped", "region": "us-east-1", "endpoint_url": flood.url, "force_path_style": true}),
        json!({"access_key_id": "AKIDEXAMPLE", "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}),
            None,
        ))
        .await
        .unwrap();
    let out = dest.deliver(&Batch::new("flood", records(1))).await;
    assert!(out.records[0].error().is_some(), "{out:?}");
    flood.assert_cut_short().await;
}

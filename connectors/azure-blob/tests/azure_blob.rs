//! Azure Blob behaviour against Azurite: blobs read back byte for byte with their content
//! headers and tier, retries that replace, the cap, staged blocks and their cleanup, every
//! credential form, and clear connection-test failures.

use std::io::Read;

use courier_conformance::helpers::{self, records, reference};
use courier_connector_azure_blob::AzureBlob;
use courier_core::{
    Batch, DestinationSpec, DynConnector, ErrorKind, Record, StepStatus, TestReport,
};
use courier_testbed::azurite as support;
use serde_json::{Value, json};

fn spec(config: Value, auth: Value, cap: Option<u64>) -> DestinationSpec {
    helpers::spec_capped("dest_az", config, auth, cap)
}

async fn test_report(config: Value, auth: Value) -> TestReport {
    helpers::test_report(&AzureBlob, &spec(config, auth, None)).await
}

#[tokio::test]
async fn csv_gzip_blob_reads_back_with_its_headers_and_tier() {
    let azurite = support::azurite();
    let container = azurite.new_container().await;
    let mut config = azurite.config(&container);
    config["format"] = json!("csv");
    config["columns"] = json!(["id", "email", "name"]);
    config["compression"] = json!("gzip");
    config["access_tier"] = json!("Cool");
    let dest = AzureBlob
        .build(&spec(config, azurite.auth(), None))
        .await
        .unwrap();
    let out = dest.deliver(&Batch::new("batch-csv", records(3))).await;
    assert_eq!(out.delivered_count(), 3, "{out:?}");
    let blobs = azurite.blobs(&container, "exports/").await;
    assert_eq!(blobs.len(), 1);
    let blob = &blobs[0];
    assert_eq!(blob.name, "exports/dest_az/batch-csv.csv.gz");
    assert_eq!(
        blob.content_type.as_deref(),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(blob.content_encoding.as_deref(), Some("gzip"));
    assert_eq!(blob.tier.as_deref(), Some("Cool"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(&blob.bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(
        text,
        "id,email,name\r\n0,u0@example.com,\"N, \"\"0\"\"\"\r\n1,u1@example.com,\"N, \"\"1\"\"\"\r\n2,u2@example.com,\"N, \"\"2\"\"\"\r\n"
    );
    assert!(
        reference(&out).ends_with(&format!("/{container}/exports/dest_az/batch-csv.csv.gz")),
        "{}",
        reference(&out)
    );
}

#[tokio::test]
async fn a_retried_batch_replaces_its_blob_and_create_only_keeps_the_first() {
    let azurite = support::azurite();
    let container = azurite.new_container().await;
    let batch = Batch::new("batch-retry", records(2));
    for create_only in [false, true] {
        let mut config = azurite.config(&container);
        config["create_only"] = json!(create_only);
        let dest = AzureBlob
            .build(&spec(config, azurite.auth(), None))
            .await
            .unwrap();
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
    assert_eq!(azurite.names(&container, "exports/", true).await.len(), 1);
}

#[tokio::test]
async fn over_cap_batches_upload_nothing_or_split() {
    let azurite = support::azurite();
    let container = azurite.new_container().await;
    let dest = AzureBlob
        .build(&spec(azurite.config(&container), azurite.auth(), Some(200)))
        .await
        .unwrap();
    let out = dest.deliver(&Batch::new("batch-big", records(10))).await;
    assert!(out.records.iter().all(|r| {
        r.error()
            .is_some_and(|e| e.kind == ErrorKind::PayloadTooLarge)
    }));
    assert!(
        azurite.names(&container, "", true).await.is_empty(),
        "nothing may be uploaded"
    );

    let mut config = azurite.config(&container);
    config["split_oversized"] = json!(true);
    config["payload_cap_bytes"] = json!(200);
    let dest = AzureBlob
        .build(&spec(config, azurite.auth(), None))
        .await
        .unwrap();
    let out = dest.deliver(&Batch::new("batch-big", records(10))).await;
    assert_eq!(out.delivered_count(), 10);
    let blobs = azurite.blobs(&container, "exports/").await;
    assert!(blobs.len() > 1);
    assert!(
        blobs
            .iter()
            .all(|b| b.name.contains("batch-big-part-") && b.bytes.len() <= 200)
    );
}

fn big_batch(id: &str, n: usize) -> Batch {
    let pad = "z".repeat(1000);
    let big: Vec<Record> = (0..n)
        .map(|i| Record::new(format!("r{i}"), format!(r#"{{"i":{i},"p":"{pad}"}}"#)))
        .collect();
    Batch::new(id, big)
}

#[tokio::test]
async fn large_files_are_staged_as_blocks_and_committed_in_order() {
    let azurite = support::azurite();
    let container = azurite.new_container().await;
    let mut config = azurite.config(&container);
    config["block_size_bytes"] = json!(1024 * 1024);
    config["access_tier"] = json!("Hot");
    config["compression"] = json!("zstd");
    let dest = AzureBlob
        .build(&spec(config.clone(), azurite.auth(), Some(64 << 20)))
        .await
        .unwrap();
    // Random letters (xorshift), so the zstd file still spans several blocks.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut noise = |len: usize| -> String {
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(b'a' + (state % 26) as u8)
            })
            .collect()
    };
    let batch = Batch::new(
        "batch-blocks",
        (0..3000)
            .map(|i| {
                Record::new(
                    format!("r{i}"),
                    format!(r#"{{"i":{i},"n":"{}"}}"#, noise(800)),
                )
            })
            .collect(),
    );
    let out = dest.deliver(&batch).await;
    assert_eq!(out.delivered_count(), 3000, "{:?}", out.records[0]);
    assert!(
        reference(&out).contains("staged blocks"),
        "{}",
        reference(&out)
    );
    let blobs = azurite.blobs(&container, "exports/").await;
    assert_eq!(blobs.len(), 1);
    assert_eq!(blobs[0].content_encoding.as_deref(), Some("zstd"));
    assert_eq!(blobs[0].tier.as_deref(), Some("Hot"));
    assert!(
        blobs[0].bytes.len() > 1024 * 1024,
        "the file must span blocks"
    );
    let text = zstd_decode(&blobs[0].bytes);
    let expected: Vec<u8> = batch
        .records
        .iter()
        .flat_map(|r| [&r.payload[..], b"\n"].concat())
        .collect();
    assert!(text == expected, "the blob must be the records, in order");

    // A create-only redelivery finds the blob and uploads nothing.
    config["create_only"] = json!(true);
    let dest = AzureBlob
        .build(&spec(config, azurite.auth(), Some(64 << 20)))
        .await
        .unwrap();
    let again = dest.deliver(&batch).await;
    assert_eq!(again.delivered_count(), 3000);
    assert!(
        reference(&again).ends_with("(already present)"),
        "{}",
        reference(&again)
    );
}

fn zstd_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut decoder = zstd::stream::read::Decoder::new(bytes).unwrap();
    decoder.read_to_end(&mut out).unwrap();
    out
}

#[tokio::test]
async fn a_failed_staged_upload_leaves_no_blocks_behind() {
    let azurite = support::azurite();
    let container = azurite.new_container().await;
    // The connection carrying the upload's 3rd MiB is cut; the server stays reachable.
    let authority = azurite
        .url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let port = courier_fakes::proxy::cut_once_after("127.0.0.1:0", authority, 5 * 1024 * 1024 / 2)
        .await
        .port;
    let mut config = azurite.config(&container);
    config["endpoint"] = json!(format!("http://127.0.0.1:{port}/{}", azurite.account));
    config["block_size_bytes"] = json!(1024 * 1024);
    let dest = AzureBlob
        .build(&spec(config, azurite.auth(), Some(64 << 20)))
        .await
        .unwrap();
    let out = dest.deliver(&big_batch("batch-cut", 6000)).await;
    let error = out.records[0]
        .error()
        .expect("the cut upload fails")
        .clone();
    assert!(error.kind.is_retryable(), "{error:?}");
    assert!(
        azurite.names(&container, "", true).await.is_empty(),
        "no blob and no uncommitted blocks may be left: {:?}",
        azurite.names(&container, "", true).await
    );
}

#[tokio::test]
async fn a_sas_token_and_a_connection_string_deliver_too() {
    let azurite = support::azurite();
    let container = azurite.new_container().await;
    let sas = azurite.container_sas(&container);
    for (n, auth) in [
        json!({"sas_token": format!("?{sas}")}),
        json!({"connection_string": azurite.connection_string()}),
    ]
    .into_iter()
    .enumerate()
    {
        let report = test_report(azurite.config(&container), auth.clone()).await;
        assert!(report.success, "{report:#?}");
        let dest = AzureBlob
            .build(&spec(azurite.config(&container), auth, None))
            .await
            .unwrap();
        let out = dest
            .deliver(&Batch::new(format!("batch-auth-{n}"), records(2)))
            .await;
        assert_eq!(out.delivered_count(), 2, "{out:?}");
        assert!(
            !reference(&out).contains("sig="),
            "a reference must not carry the SAS"
        );
    }
    assert_eq!(azurite.blobs(&container, "exports/").await.len(), 2);

    // A connection string for another account is refused before any request.
    let mut config = azurite.config(&container);
    config["account"] = json!("otheraccount");
    let built = AzureBlob
        .build(&spec(
            config,
            json!({"connection_string": azurite.connection_string()}),
            None,
        ))
        .await;
    let message = format!("{:?}", built.err().unwrap());
    assert!(message.contains("otheraccount"), "{message}");
    assert!(
        !message.contains(&azurite.key),
        "the key must not be quoted"
    );
}

#[tokio::test]
async fn the_connection_test_touches_the_container_and_names_what_is_wrong() {
    let azurite = support::azurite();
    let container = azurite.new_container().await;
    let report = test_report(azurite.config(&container), azurite.auth()).await;
    assert!(report.success, "{report:#?}");
    let steps: Vec<&str> = report.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        steps,
        [
            "validate",
            "build",
            "credentials",
            "authentication",
            "container",
            "write_permission"
        ]
    );
    assert!(
        azurite.names(&container, "", true).await.is_empty(),
        "the probe blob is removed"
    );

    let report = test_report(azurite.config("no-such-container"), azurite.auth()).await;
    let failed = report.failed_step().unwrap();
    assert_eq!(
        (failed.name.as_str(), failed.error_kind),
        ("container", Some(ErrorKind::NotFound))
    );
    assert!(failed.message.contains("no-such-container"), "{failed:?}");

    let bad = json!({"account_key": "bm90LXRoZS1hY2NvdW50LWtleS1ub3QtdGhlLWFjY291bnQta2V5"});
    let report = test_report(azurite.config(&container), bad).await;
    let failed = report.failed_step().unwrap();
    assert_eq!(
        (failed.name.as_str(), failed.error_kind),
        ("authentication", Some(ErrorKind::Unauthenticated))
    );
    assert!(
        failed.hint.as_deref().unwrap().contains("account_key"),
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
        json!({"account": "Bad_Account", "container": "a--b", "prefix": "/abs/../x", "endpoint": "ftp://x",
               "access_tier": "Lukewarm", "format": "csv", "nope": 1}),
        json!({"account_key": "k", "sas_token": "sv=1", "tenant_id": "bad tenant!"}),
        None,
    );
    let errors: Vec<String> = AzureBlob
        .validate(&s)
        .iter()
        .map(|e| e.to_string())
        .collect();
    for path in [
        "/config/nope",
        "/config/account",
        "/config/container",
        "/config/prefix",
        "/config/endpoint",
        "/config/access_tier",
        "/config/columns",
        "/auth_config:",
        "/auth_config/client_id",
        "/auth_config/client_secret",
        "/auth_config/tenant_id",
        "/auth_config/sas_token",
    ] {
        let prefix = if path.ends_with(':') {
            path.to_string()
        } else {
            format!("{path}:")
        };
        assert!(
            errors.iter().any(|e| e.starts_with(&prefix)),
            "{path} missing from {errors:#?}"
        );
    }
    let auth = json!({"connection_string": "AccountName=x;AccountKey=c2VjcmV0LXNlbnRpbmVs;BlobEndpoint=ftp://nope"});
    let errors = AzureBlob.validate(&spec(
        json!({"account": "x", "container": "abc"}),
        auth,
        None,
    ));
    let text = format!("{errors:?}");
    assert!(text.contains("/auth_config/connection_string"), "{text}");
    assert!(!text.contains("c2VjcmV0LXNlbnRpbmVs"), "{text}");
}

/// An endpoint that answers with an endless body cannot make the destination read it all:
/// answers are cut at a cap (a few MiB), the delivery fails, and the connection is dropped.
#[tokio::test]
async fn endless_answers_are_read_with_a_cap() {
    let flood = courier_fakes::Flood::start("500 Internal Server Error", "application/xml").await;
    let dest = AzureBlob
        .build(&spec(
            json!({"account": "devstoreaccount1", "container": "capped", "endpoint": flood.url}),
        json!({"account_key": "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="}),
            None,
        ))
        .await
        .unwrap();
    let out = dest.deliver(&Batch::new("flood", records(1))).await;
    assert!(out.records[0].error().is_some(), "{out:?}");
    flood.assert_cut_short().await;
}

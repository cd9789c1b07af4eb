//! `courier test`, `fields` and `deliver` for the `gcs` type, run as a binary against
//! fake-gcs-server.

use std::process::Output;

async fn courier(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(args)
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn test_fields_and_deliver_work_for_gcs() {
    let gcs = courier_testbed::fake_gcs::fake_gcs();
    let bucket = gcs.new_bucket().await;
    let config = serde_json::json!({
        "bucket": bucket, "endpoint": gcs.url,
        "format": "csv", "columns": ["id", "email"], "key_template": "{batch_id}.{ext}"
    })
    .to_string();

    let o = courier(&["test", "--type", "gcs", "--config", &config]).await;
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("write_permission") && out.contains("Connection test passed"),
        "{out}"
    );

    let o = courier(&["fields", "--type", "gcs", "--config", &config]).await;
    let fields: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(fields[1]["name"], "email");

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.ndjson");
    std::fs::write(
        &input,
        "{\"id\":1,\"email\":\"a@x.io\"}\n{\"id\":2,\"email\":\"b@x.io\"}\n",
    )
    .unwrap();
    let o = courier(&[
        "deliver",
        "--type",
        "gcs",
        "--config",
        &config,
        "--input",
        input.to_str().unwrap(),
    ])
    .await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["delivered"], 2);
    let objects = gcs.objects(&bucket, "").await;
    let (name, body) = (&objects[0].name, &objects[0].bytes);
    assert!(
        name.starts_with("batch_1-2_") && name.ends_with(".csv"),
        "{name}"
    );
    assert_eq!(&body[..], b"id,email\r\n1,a@x.io\r\n2,b@x.io\r\n");
}

//! `courier test`, `fields` and `deliver` for the `s3` type, run as a binary against moto.

use std::process::Output;

async fn courier(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(args)
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn test_fields_and_deliver_work_for_s3() {
    let moto = courier_testbed::moto::moto();
    let bucket = moto.new_bucket().await;
    let config = serde_json::json!({
        "bucket": bucket, "region": "us-east-1", "endpoint_url": moto.url, "force_path_style": true,
        "format": "csv", "columns": ["id", "email"], "key_template": "{batch_id}.{ext}"
    })
    .to_string();
    let auth = moto.auth().to_string();

    let o = courier(&["test", "--type", "s3", "--config", &config, "--auth", &auth]).await;
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
    assert!(!out.contains(&moto.secret));

    let o = courier(&[
        "fields", "--type", "s3", "--config", &config, "--auth", &auth,
    ])
    .await;
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
        "s3",
        "--config",
        &config,
        "--auth",
        &auth,
        "--input",
        input.to_str().unwrap(),
    ])
    .await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["delivered"], 2);
    let objects = moto.objects(&bucket, "").await;
    let (key, body, _, _) = &objects[0];
    assert!(
        key.starts_with("batch_1-2_") && key.ends_with(".csv"),
        "{key}"
    );
    assert_eq!(&body[..], b"id,email\r\n1,a@x.io\r\n2,b@x.io\r\n");
}

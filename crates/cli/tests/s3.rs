//! `courier test`, `fields` and `deliver` for the `s3` type, run as a binary against moto.

use std::process::Output;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with `cargo xtask test`, which starts moto")
    })
}

async fn courier(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(args)
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn test_fields_and_deliver_work_for_s3() {
    let (url, key, secret) = (
        env("COURIER_TEST_MOTO_URL"),
        env("COURIER_TEST_AWS_ACCESS_KEY_ID"),
        env("COURIER_TEST_AWS_SECRET_ACCESS_KEY"),
    );
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(&key, &secret, None, None, "tests"))
            .endpoint_url(&url)
            .force_path_style(true)
            .build(),
    );
    let bucket = format!("courier-cli-{}", std::process::id());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let config = serde_json::json!({
        "bucket": bucket, "region": "us-east-1", "endpoint_url": url, "force_path_style": true,
        "format": "csv", "columns": ["id", "email"], "key_template": "{batch_id}.{ext}"
    })
    .to_string();
    let auth = serde_json::json!({"access_key_id": key, "secret_access_key": secret}).to_string();

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
    assert!(!out.contains(&secret));

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
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    let key = listed.contents()[0].key().unwrap().to_string();
    assert!(
        key.starts_with("batch_1-2_") && key.ends_with(".csv"),
        "{key}"
    );
    let body = s3
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(&body[..], b"id,email\r\n1,a@x.io\r\n2,b@x.io\r\n");
}

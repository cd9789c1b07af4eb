//! `courier test`, `fields` and `deliver` for the `azure_blob` type, run as a binary against
//! Azurite.

use std::process::Output;

async fn courier(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(args)
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn test_fields_and_deliver_work_for_azure_blob() {
    let azurite = courier_testbed::azurite::azurite();
    let name = azurite.new_container().await;
    let config = serde_json::json!({
        "account": azurite.account, "container": name, "endpoint": azurite.url,
        "format": "csv", "columns": ["id", "email"], "key_template": "{batch_id}.{ext}"
    })
    .to_string();
    let auth = azurite.auth().to_string();
    let key = &azurite.key;

    let o = courier(&[
        "test",
        "--type",
        "azure_blob",
        "--config",
        &config,
        "--auth",
        &auth,
    ])
    .await;
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
    assert!(!out.contains(key) && !String::from_utf8_lossy(&o.stderr).contains(key));

    let o = courier(&[
        "fields",
        "--type",
        "azure_blob",
        "--config",
        &config,
        "--auth",
        &auth,
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
        "azure_blob",
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
    let blobs = azurite.blobs(&name, "").await;
    let (blob_name, body) = (&blobs[0].name, &blobs[0].bytes);
    assert!(
        blob_name.starts_with("batch_1-2_") && blob_name.ends_with(".csv"),
        "{blob_name}"
    );
    assert_eq!(&body[..], b"id,email\r\n1,a@x.io\r\n2,b@x.io\r\n");
}

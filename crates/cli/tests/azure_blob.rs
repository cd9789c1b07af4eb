//! `courier test`, `fields` and `deliver` for the `azure_blob` type, run as a binary against
//! Azurite.

use std::process::Output;
use std::sync::Arc;

use azure_core::http::{ClientOptions, Url};
use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions};
use courier_connector_azure_blob::shared_key::SharedKeyPolicy;
use futures::TryStreamExt;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with `cargo xtask test`, which starts Azurite")
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
async fn test_fields_and_deliver_work_for_azure_blob() {
    let (url, account, key) = (
        env("COURIER_TEST_AZURITE_URL"),
        env("COURIER_TEST_AZURITE_ACCOUNT"),
        env("COURIER_TEST_AZURITE_KEY"),
    );
    let name = format!("courier-cli-{}", std::process::id());
    let options = BlobContainerClientOptions {
        client_options: ClientOptions {
            per_try_policies: vec![Arc::new(SharedKeyPolicy::new(&account, &key).unwrap())],
            ..Default::default()
        },
        ..Default::default()
    };
    let container = BlobContainerClient::new(
        Url::parse(&format!("{url}/{name}")).unwrap(),
        None,
        Some(options),
    )
    .unwrap();
    container.create(None).await.unwrap();
    let config = serde_json::json!({
        "account": account, "container": name, "endpoint": url,
        "format": "csv", "columns": ["id", "email"], "key_template": "{batch_id}.{ext}"
    })
    .to_string();
    let auth = serde_json::json!({"account_key": key}).to_string();

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
    assert!(!out.contains(&key) && !String::from_utf8_lossy(&o.stderr).contains(&key));

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
    let mut pager = container.list_blobs(None).unwrap();
    let item = pager.try_next().await.unwrap().unwrap();
    let blob_name = item.name.unwrap();
    assert!(
        blob_name.starts_with("batch_1-2_") && blob_name.ends_with(".csv"),
        "{blob_name}"
    );
    let body = container
        .blob_client(&blob_name)
        .download(None)
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap();
    assert_eq!(&body[..], b"id,email\r\n1,a@x.io\r\n2,b@x.io\r\n");
}

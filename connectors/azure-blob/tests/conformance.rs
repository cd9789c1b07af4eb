//! Runs the shared conformance suite against Azurite (a real Azure Blob implementation on
//! loopback).

use std::sync::Arc;

use courier_conformance::ndjson::find_lines;
use courier_conformance::{Fixture, suite};
use courier_connector_azure_blob::AzureBlob;
use courier_testbed::azurite as support;
use futures::FutureExt;
use serde_json::json;

async fn fixture() -> Fixture {
    let azurite = support::azurite();
    let container = azurite.new_container().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut unreachable = azurite.config(&container);
    unreachable["endpoint"] = json!(format!("http://127.0.0.1:{closed}/{}", azurite.account));
    // A well-formed key that is not the account's.
    let bad = json!({"account_key": "bm90LXRoZS1hY2NvdW50LWtleS1ub3QtdGhlLWFjY291bnQta2V5"});
    let (rb, rb_container) = (Arc::new(azurite), container.clone());
    let (count, count_container) = (rb.clone(), container.clone());
    Fixture {
        connector: Arc::new(AzureBlob),
        config: rb.config(&container),
        auth_config: rb.auth(),
        bad_auth_config: Some(bad),
        unreachable_config: Some(unreachable),
        secret_sentinel: Some(rb.key.clone()),
        read_back: Some(Arc::new(move |records| {
            let (azurite, container) = (rb.clone(), rb_container.clone());
            async move {
                let files: Vec<Vec<u8>> = azurite
                    .blobs(&container, "exports/")
                    .await
                    .into_iter()
                    .map(|b| b.bytes)
                    .collect();
                find_lines(&records, &files)
            }
            .boxed()
        })),
        stored_count: Some(Arc::new(move || {
            let (azurite, container) = (count.clone(), count_container.clone());
            async move { azurite.names(&container, "exports/", false).await.len() }.boxed()
        })),
    }
}

suite!(AzureBlob, fixture);

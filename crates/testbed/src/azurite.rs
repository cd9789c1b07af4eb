//! Azurite, the Azure Storage emulator `cargo xtask test` starts with a storage account whose key
//! is fresh for every run (`COURIER_TEST_AZURITE_URL`, `COURIER_TEST_AZURITE_ACCOUNT`,
//! `COURIER_TEST_AZURITE_KEY`): containers, the Azure Blob connector's config and credentials,
//! and blobs read back with the plain SDK, signed by the connector's Shared Key policy.

use std::sync::Arc;

use azure_core::http::{ClientOptions, Url};
use azure_storage_blob::models::{
    BlobClientGetPropertiesResultHeaders, BlobContainerClientListBlobsOptions, ListBlobsIncludeItem,
};
use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions};
use courier_connector_azure_blob::shared_key::SharedKeyPolicy;
use futures::TryStreamExt;
use serde_json::{Value, json};

/// The running Azurite and its storage account.
#[derive(Debug, Clone)]
pub struct Azurite {
    /// The account's blob service URL (path style).
    pub url: String,
    /// The storage account's name.
    pub account: String,
    /// The storage account's key (base64).
    pub key: String,
}

/// A blob read back: name, bytes, content type, content encoding, access tier.
#[derive(Debug)]
pub struct StoredBlob {
    /// The blob's name within its container.
    pub name: String,
    /// The blob's bytes as stored.
    pub bytes: Vec<u8>,
    /// Its `Content-Type`.
    pub content_type: Option<String>,
    /// Its `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// Its access tier (`Hot`, `Cool`, ...).
    pub tier: Option<String>,
}

/// The running Azurite, or a panic naming the missing variable and how to start Azurite.
pub fn azurite() -> Azurite {
    let var = |name| crate::required_var(name, "Azurite");
    Azurite {
        url: var("COURIER_TEST_AZURITE_URL"),
        account: var("COURIER_TEST_AZURITE_ACCOUNT"),
        key: var("COURIER_TEST_AZURITE_KEY"),
    }
}

/// The `azurite-blob` executable `cargo xtask test` installed (`COURIER_TEST_AZURITE_BIN`), for
/// a test that runs an Azurite of its own; or a panic saying how to install it.
pub fn bin() -> String {
    std::env::var("COURIER_TEST_AZURITE_BIN").unwrap_or_else(|_| {
        panic!("COURIER_TEST_AZURITE_BIN is not set: run the tests with `cargo xtask test` (or `cargo xtask services`), which installs Azurite")
    })
}

impl Azurite {
    /// The Azurite the environment names, or `None` when any of its variables is unset (a
    /// benchmark then starts one of its own).
    pub fn from_env() -> Option<Azurite> {
        let var = |name| std::env::var(name).ok();
        Some(Azurite {
            url: var("COURIER_TEST_AZURITE_URL")?,
            account: var("COURIER_TEST_AZURITE_ACCOUNT")?,
            key: var("COURIER_TEST_AZURITE_KEY")?,
        })
    }

    /// A plain SDK client for the container `name`, signing with the account key.
    pub fn container(&self, name: &str) -> BlobContainerClient {
        let policy = SharedKeyPolicy::new(&self.account, &self.key).unwrap();
        let options = BlobContainerClientOptions {
            client_options: ClientOptions {
                per_try_policies: vec![Arc::new(policy)],
                ..Default::default()
            },
            ..Default::default()
        };
        let url = Url::parse(&format!("{}/{name}", self.url)).unwrap();
        BlobContainerClient::new(url, None, Some(options)).unwrap()
    }

    /// Creates a container with a fresh name and returns the name.
    pub async fn new_container(&self) -> String {
        let name = crate::fresh_name("courier");
        self.container(&name).create(None).await.unwrap();
        name
    }

    /// The Azure Blob connector's `config` JSON for `container` on Azurite: prefix `exports/`,
    /// keys `{destination_id}/{batch_id}.{ext}`.
    pub fn config(&self, container: &str) -> Value {
        json!({
            "account": self.account, "container": container, "endpoint": self.url,
            "prefix": "exports/", "key_template": "{destination_id}/{batch_id}.{ext}"
        })
    }

    /// The connector's `auth` JSON: the account key.
    pub fn auth(&self) -> Value {
        json!({"account_key": self.key})
    }

    /// Names of the blobs under `prefix`, with blobs that have only uncommitted blocks too.
    pub async fn names(&self, container: &str, prefix: &str, uncommitted: bool) -> Vec<String> {
        let options = BlobContainerClientListBlobsOptions {
            // An empty `prefix=` would be signed differently by Azurite: leave it out.
            prefix: (!prefix.is_empty()).then(|| prefix.to_string()),
            include: uncommitted.then(|| vec![ListBlobsIncludeItem::UncommittedBlobs]),
            ..Default::default()
        };
        let mut pager = self.container(container).list_blobs(Some(options)).unwrap();
        let mut names = Vec::new();
        while let Some(item) = pager.try_next().await.unwrap() {
            names.push(item.name.unwrap_or_default());
        }
        names
    }

    /// Every committed blob under `prefix`, read back.
    pub async fn blobs(&self, container: &str, prefix: &str) -> Vec<StoredBlob> {
        let client = self.container(container);
        let mut out = Vec::new();
        for name in self.names(container, prefix, false).await {
            let blob = client.blob_client(&name);
            let props = blob.get_properties(None).await.unwrap();
            let downloaded = blob.download(None).await.unwrap();
            let bytes = downloaded.body.collect().await.unwrap().to_vec();
            out.push(StoredBlob {
                content_type: props.content_type().unwrap(),
                content_encoding: props.content_encoding().unwrap(),
                tier: props.access_tier().unwrap(),
                name,
                bytes,
            });
        }
        out
    }

    /// A container SAS (service SAS, version 2022-11-02) signed with the account key, as the
    /// Azure documentation specifies it: permissions read, add, create, write, delete, list.
    pub fn container_sas(&self, container: &str) -> String {
        let (sp, se, sv, sr) = ("racwdl", "2099-01-01T00:00:00Z", "2022-11-02", "c");
        let resource = format!("/blob/{}/{container}", self.account);
        // sp, st, se, resource, si, sip, spr, sv, sr, snapshot time, encryption scope, rscc,
        // rscd, rsce, rscl, rsct.
        let to_sign = format!("{sp}\n\n{se}\n{resource}\n\n\n\n{sv}\n{sr}\n\n\n\n\n\n\n");
        let signer = SharedKeyPolicy::new(&self.account, &self.key).unwrap();
        let sig = signer.signature(&to_sign);
        let sig: String = url::form_urlencoded::byte_serialize(sig.as_bytes()).collect();
        format!("sv={sv}&sr={sr}&sp={sp}&se={se}&sig={sig}")
    }

    /// A storage connection string with the account key and the blob endpoint.
    pub fn connection_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName={};AccountKey={};BlobEndpoint={};",
            self.account, self.key, self.url
        )
    }
}

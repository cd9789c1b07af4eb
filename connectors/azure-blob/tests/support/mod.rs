//! The Azurite `cargo xtask test` starts (with a storage account whose key is fresh for every
//! run), and helpers to create containers and read blobs back with the plain SDK.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use azure_core::http::{ClientOptions, Url};
use azure_storage_blob::models::{
    BlobClientGetPropertiesResultHeaders, BlobContainerClientListBlobsOptions, ListBlobsIncludeItem,
};
use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions};
use courier_connector_azure_blob::shared_key::SharedKeyPolicy;
use futures::TryStreamExt;
use serde_json::{Value, json};

pub struct Azurite {
    /// The account's blob service URL (path style).
    pub url: String,
    pub account: String,
    pub key: String,
}

/// A blob read back: name, bytes, content type, content encoding, access tier.
#[derive(Debug)]
pub struct StoredBlob {
    pub name: String,
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub tier: Option<String>,
}

/// The running Azurite, or a clear instruction to start it.
pub fn azurite() -> Azurite {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: the Azure Blob tests need Azurite, which `cargo xtask test` (or `cargo xtask services`) installs and starts")
        })
    };
    Azurite {
        url: var("COURIER_TEST_AZURITE_URL"),
        account: var("COURIER_TEST_AZURITE_ACCOUNT"),
        key: var("COURIER_TEST_AZURITE_KEY"),
    }
}

impl Azurite {
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

    pub async fn new_container(&self) -> String {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("courier-{nanos}");
        self.container(&name).create(None).await.unwrap();
        name
    }

    pub fn config(&self, container: &str) -> Value {
        json!({
            "account": self.account, "container": container, "endpoint": self.url,
            "prefix": "exports/", "key_template": "{destination_id}/{batch_id}.{ext}"
        })
    }

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
}

impl Azurite {
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

    pub fn connection_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName={};AccountKey={};BlobEndpoint={};",
            self.account, self.key, self.url
        )
    }
}

//! The Azure Blob connection test: credentials → authentication (a service principal signs in
//! with Entra ID first) → container → write permission (a probe blob under the prefix, written
//! and removed).

use azure_core::http::RequestContent;
use azure_storage_blob::models::BlobClientUploadOptions;
use courier_core::{ConnectorError, ErrorKind, Probe, StepSpec};
use courier_files::{PROBE_CONTENT, probe_name, probe_write};

use crate::client::AzureBlobClient;
use crate::errors::{Op, classify};

pub const STEPS: &[StepSpec] = &[
    StepSpec {
        name: "credentials",
        label: "Credentials resolved",
    },
    StepSpec {
        name: "authentication",
        label: "Azure Storage accepts the credentials",
    },
    StepSpec {
        name: "container",
        label: "Container reachable",
    },
    StepSpec {
        name: "write_permission",
        label: "Blobs can be written under the prefix",
    },
];

/// The scope Azure Storage tokens are issued for, in every cloud.
const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

pub async fn run(client: &AzureBlobClient, probe: &mut Probe) -> Result<(), ConnectorError> {
    let cfg = &client.config;
    probe
        .step("credentials", async {
            Ok(((), format!("{} for account {}", client.method, cfg.account)))
        })
        .await?;

    // A service principal first signs in with Entra ID: a refused secret is an
    // authentication failure, like a refused account key.
    let signed_in = match &client.token {
        Some(credential) => credential
            .get_token(&[STORAGE_SCOPE], None)
            .await
            .map(|_| ())
            .map_err(|e| {
                classify(
                    &Op {
                        action: "sign in with Entra ID",
                        container: &cfg.container,
                        blob: None,
                    },
                    e,
                )
            }),
        None => Ok(()),
    };
    if let Err(e) = &signed_in {
        probe.fail("authentication", e);
        return Err(e.clone());
    }

    // One Get Container Properties answers both: are the credentials accepted, is the
    // container there.
    let properties = client
        .container
        .get_properties(None)
        .await
        .map(|_| ())
        .map_err(|e| {
            classify(
                &Op {
                    action: "read container properties",
                    container: &cfg.container,
                    blob: None,
                },
                e,
            )
        });
    let refused = properties
        .as_ref()
        .err()
        .filter(|e| e.kind == ErrorKind::Unauthenticated)
        .cloned();
    probe
        .step("authentication", async {
            match refused {
                Some(e) => Err(e),
                None => Ok(((), format!("Azure Storage accepted the {}", client.method))),
            }
        })
        .await?;
    probe
        .step("container", async {
            match properties {
                Ok(()) => Ok((
                    (),
                    format!("container {} is reachable", client.container_url),
                )),
                // A write-only SAS or role may not read container properties; the write
                // check below still proves the container is usable.
                Err(e) if e.kind == ErrorKind::Forbidden => Ok((
                    (),
                    format!(
                        "container {} answered, but these credentials may not read its properties",
                        client.container_url
                    ),
                )),
                Err(e) => Err(e),
            }
        })
        .await?;

    let name = client.blob_name(&probe_name());
    let blob = client.container.blob_client(&name);
    probe_write(
        probe,
        async {
            let options = BlobClientUploadOptions::default().if_not_exists();
            blob.upload(RequestContent::from(PROBE_CONTENT.to_vec()), Some(options))
                .await
                .map_err(|e| {
                    let op = Op {
                        action: "write",
                        container: &cfg.container,
                        blob: Some(&name),
                    };
                    classify(&op, e)
                })?;
            Ok(format!("{}/{name}", client.container_url))
        },
        async { blob.delete(None).await.is_ok() },
        "delete permission is missing",
    )
    .await
}

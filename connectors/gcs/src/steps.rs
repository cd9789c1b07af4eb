//! The GCS connection test: credentials → authentication → bucket (signing plus one object
//! listing answer both) → write permission (a probe object under the prefix, written and removed).

use courier_core::{ConnectorError, ErrorKind, Probe, StepSpec};
use courier_files::{PROBE_CONTENT, probe_name, probe_write};

use crate::client::GcsClient;
use crate::errors::{Op, classify_status};
use crate::upload::{NewObject, write_small};

pub const STEPS: &[StepSpec] = &[
    StepSpec {
        name: "credentials",
        label: "Credentials resolved",
    },
    StepSpec {
        name: "authentication",
        label: "GCS accepts the credentials",
    },
    StepSpec {
        name: "bucket",
        label: "Bucket reachable",
    },
    StepSpec {
        name: "write_permission",
        label: "Objects can be written under the prefix",
    },
];

pub async fn run(client: &GcsClient, probe: &mut Probe) -> Result<(), ConnectorError> {
    let cfg = &client.config;
    probe
        .step("credentials", async {
            Ok(((), format!("signing as {}", client.identity)))
        })
        .await?;

    // Signing (a service account's key signs a token) and one objects.list call answer both:
    // are the credentials accepted, is the bucket there.
    let op = Op {
        action: "list objects",
        bucket: &cfg.bucket,
        object: None,
    };
    let url = format!("{}/storage/v1/b/{}/o", client.endpoint, cfg.bucket);
    let headers = client.auth_headers().await;
    let listed = match &headers {
        Err(e) => Err(e.clone()),
        Ok(headers) => match client
            .http
            .get(&url)
            .headers(headers.clone())
            .query(&[
                ("maxResults", "1"),
                ("prefix", cfg.prefix.as_str()),
                ("fields", "kind"),
            ])
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(classify_status(&op, r.status().as_u16())),
            Err(_) => Err(op.shared().unreachable("config.endpoint")),
        },
    };
    let refused = listed
        .as_ref()
        .err()
        .filter(|e| e.kind == ErrorKind::Unauthenticated)
        .cloned();
    probe
        .step("authentication", async {
            match refused {
                Some(e) => Err(e),
                None => Ok((
                    (),
                    format!("GCS accepted the credentials ({})", client.identity),
                )),
            }
        })
        .await?;
    probe
        .step("bucket", async {
            match listed {
                Ok(()) => Ok(((), format!("bucket {} is reachable", cfg.bucket))),
                // A write-only service account may not list; the write check still proves it.
                Err(e) if e.kind == ErrorKind::Forbidden => Ok((
                    (),
                    format!(
                        "bucket {} answered, but these credentials may not list it",
                        cfg.bucket
                    ),
                )),
                Err(e) => Err(e),
            }
        })
        .await?;

    let name = client.object_name(&probe_name());
    let probe_object = NewObject {
        name: &name,
        content_type: "text/plain",
        content_encoding: None,
    };
    probe_write(
        probe,
        async {
            write_small(client, &probe_object, PROBE_CONTENT.to_vec()).await?;
            Ok(client.url_of(&name))
        },
        async {
            let removed = client
                .http
                .delete(client.object_url(&name))
                .headers(headers.unwrap_or_default())
                .send()
                .await;
            removed.is_ok_and(|r| r.status().is_success())
        },
        "storage.objects.delete is not granted",
    )
    .await
}

//! The S3 connection test: credentials → authentication → bucket → write permission (a probe
//! object under the prefix, written and removed).

use aws_sdk_s3::primitives::ByteStream;
use courier_core::{ConnectorError, Probe, StepSpec};
use courier_files::{PROBE_CONTENT, probe_name, probe_write};

use crate::client::S3Client;
use crate::errors::{S3Op, classify};

pub const STEPS: &[StepSpec] = &[
    StepSpec {
        name: "credentials",
        label: "Credentials resolved",
    },
    StepSpec {
        name: "authentication",
        label: "S3 accepts the credentials",
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

pub async fn run(client: &S3Client, probe: &mut Probe) -> Result<(), ConnectorError> {
    let cfg = &client.config;
    probe.step("credentials", client.aws.check()).await?;

    // One ListObjectsV2 answers both: does S3 accept the credentials, and is the bucket there.
    let listed = client
        .s3
        .list_objects_v2()
        .bucket(&cfg.bucket)
        .prefix(&cfg.prefix)
        .max_keys(1)
        .send()
        .await
        .map_err(|e| {
            classify(
                &S3Op {
                    action: "s3:ListBucket",
                    bucket: &cfg.bucket,
                    key: None,
                },
                e,
            )
        });
    client.aws.authentication_step(probe, "S3", &listed).await?;
    probe
        .step("bucket", async {
            listed?;
            Ok((
                (),
                format!("bucket {} is reachable in {}", cfg.bucket, cfg.region),
            ))
        })
        .await?;

    let key = client.object_key(&probe_name());
    probe_write(
        probe,
        async {
            client
                .s3
                .put_object()
                .bucket(&cfg.bucket)
                .key(&key)
                .body(ByteStream::from_static(PROBE_CONTENT))
                .send()
                .await
                .map_err(|e| {
                    let op = S3Op {
                        action: "s3:PutObject",
                        bucket: &cfg.bucket,
                        key: Some(&key),
                    };
                    classify(&op, e)
                })?;
            Ok(format!("s3://{}/{key}", cfg.bucket))
        },
        async {
            let removed = client
                .s3
                .delete_object()
                .bucket(&cfg.bucket)
                .key(&key)
                .send()
                .await;
            removed.is_ok()
        },
        "s3:DeleteObject is not granted",
    )
    .await
}

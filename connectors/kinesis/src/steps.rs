//! The Kinesis connection test: credentials → authentication → stream exists and is ACTIVE →
//! write permission (one clearly marked test record, as Kinesis has no dry run).

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::StreamStatus;
use courier_core::{ConnectorError, ErrorKind, Probe, StepSpec};

use crate::client::KinesisClient;
use crate::errors::classify;

pub const STEPS: &[StepSpec] = &[
    StepSpec {
        name: "credentials",
        label: "Credentials resolved",
    },
    StepSpec {
        name: "authentication",
        label: "Kinesis accepts the credentials",
    },
    StepSpec {
        name: "stream",
        label: "Stream exists and is ACTIVE",
    },
    StepSpec {
        name: "write_permission",
        label: "Records can be written (one test record)",
    },
];

pub async fn run(client: &KinesisClient, probe: &mut Probe) -> Result<(), ConnectorError> {
    let stream = &client.stream;
    probe.step("credentials", client.aws.check()).await?;

    let described = client
        .kinesis
        .describe_stream_summary()
        .set_stream_name(client.config.stream_name.clone())
        .set_stream_arn(client.config.stream_arn.clone())
        .send()
        .await
        .map_err(|e| classify("kinesis:DescribeStreamSummary", stream, e));
    client
        .aws
        .authentication_step(probe, "Kinesis", &described)
        .await?;
    probe
        .step("stream", async {
            let described = described?;
            let summary = described.stream_description_summary();
            let status = summary.map(|s| s.stream_status().clone());
            match status {
                Some(StreamStatus::Active | StreamStatus::Updating) => Ok((
                    (),
                    format!(
                        "stream {stream} is {} with {} open shard(s)",
                        status.map(|s| s.as_str().to_string()).unwrap_or_default(),
                        summary.map(|s| s.open_shard_count()).unwrap_or(0)
                    ),
                )),
                other => Err(ConnectorError::new(
                    ErrorKind::Unavailable,
                    format!(
                        "stream {stream} is {} and cannot take writes",
                        other
                            .map(|s| s.as_str().to_string())
                            .unwrap_or_else(|| "in an unknown state".into())
                    ),
                    "wait until the stream is ACTIVE",
                )),
            }
        })
        .await?;

    probe
        .step("write_permission", async {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            let data = format!(r#"{{"type":"courier.connection_test","at_ns":{nanos}}}"#);
            let put = client
                .kinesis
                .put_record()
                .set_stream_name(client.config.stream_name.clone())
                .set_stream_arn(client.config.stream_arn.clone())
                .partition_key("courier-connection-test")
                .data(Blob::new(data))
                .send()
                .await
                .map_err(|e| classify("kinesis:PutRecord", stream, e))?;
            Ok((
                (),
                format!(
                    "wrote one courier.connection_test record to shard {}",
                    put.shard_id()
                ),
            ))
        })
        .await
}

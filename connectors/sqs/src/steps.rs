//! The SQS connection test: credentials → authentication → the queue exists (and is FIFO when
//! the config says so) → write permission (one clearly marked test message, as SQS has no dry
//! run).

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::QueueAttributeName;
use courier_core::{ConnectorError, ErrorKind, Probe, StepSpec};

use crate::client::SqsClient;
use crate::errors::classify;

/// The steps, in order.
pub const STEPS: &[StepSpec] = &[
    StepSpec {
        name: "credentials",
        label: "Credentials resolved",
    },
    StepSpec {
        name: "authentication",
        label: "SQS accepts the credentials",
    },
    StepSpec {
        name: "queue",
        label: "Queue exists",
    },
    StepSpec {
        name: "write_permission",
        label: "Messages can be sent (one test message)",
    },
];

/// Runs the steps through `probe`.
pub async fn run(client: &SqsClient, probe: &mut Probe) -> Result<(), ConnectorError> {
    let queue = client.config.queue_url.clone();
    probe.step("credentials", client.aws.check()).await?;

    // One GetQueueAttributes answers both: are the credentials accepted, is the queue there.
    let described = client
        .sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(QueueAttributeName::FifoQueue)
        .send()
        .await
        .map_err(|e| classify("sqs:GetQueueAttributes", &queue, e));
    client
        .aws
        .authentication_step(probe, "SQS", &described)
        .await?;
    probe
        .step("queue", async {
            let described = described?;
            let fifo = described
                .attributes()
                .and_then(|a| a.get(&QueueAttributeName::FifoQueue))
                .is_some_and(|v| v == "true");
            if fifo != client.config.is_fifo() {
                return Err(ConnectorError::new(
                    ErrorKind::InvalidConfig,
                    format!(
                        "queue {queue} is {}a FIFO queue, unlike its URL says",
                        if fifo { "" } else { "not " }
                    ),
                    "check config.queue_url",
                ));
            }
            let kind = if fifo { "FIFO" } else { "standard" };
            Ok(((), format!("queue {queue} exists ({kind})")))
        })
        .await?;

    probe
        .step("write_permission", async {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            let fifo = client.config.is_fifo();
            let sent = client
                .sqs
                .send_message()
                .queue_url(&queue)
                .message_body(format!(
                    r#"{{"type":"courier.connection_test","at_ns":{nanos}}}"#
                ))
                .set_message_group_id(fifo.then(|| "courier-connection-test".to_string()))
                .set_message_deduplication_id(fifo.then(|| format!("courier-test-{nanos}")))
                .send()
                .await
                .map_err(|e| classify("sqs:SendMessage", &queue, e))?;
            let id = sent.message_id().unwrap_or("?").to_string();
            Ok((
                (),
                format!("sent one courier.connection_test message ({id})"),
            ))
        })
        .await
}

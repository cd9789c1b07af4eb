//! The SNS connection test: credentials → authentication → the topic exists (and is FIFO when
//! its ARN says so) → write permission (one clearly marked test message, as SNS has no dry
//! run; every subscriber of the topic receives it).

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_sns::types::MessageAttributeValue;
use courier_core::{ConnectorError, ErrorKind, Probe, StepSpec};

use crate::client::SnsClient;
use crate::errors::classify;

/// The steps, in order.
pub const STEPS: &[StepSpec] = &[
    StepSpec {
        name: "credentials",
        label: "Credentials resolved",
    },
    StepSpec {
        name: "authentication",
        label: "SNS accepts the credentials",
    },
    StepSpec {
        name: "topic",
        label: "Topic exists",
    },
    StepSpec {
        name: "write_permission",
        label: "Messages can be published (one test message)",
    },
];

/// The event type of the connection test's message.
pub const TEST_EVENT_TYPE: &str = "courier.connection_test";

/// Runs the steps through `probe`.
pub async fn run(client: &SnsClient, probe: &mut Probe) -> Result<(), ConnectorError> {
    let topic = client.config.topic_arn.clone();
    probe.step("credentials", client.aws.check()).await?;

    // One GetTopicAttributes answers both: are the credentials accepted, is the topic there.
    let described = client
        .sns
        .get_topic_attributes()
        .topic_arn(&topic)
        .send()
        .await
        .map_err(|e| classify("sns:GetTopicAttributes", &topic, e));
    client
        .aws
        .authentication_step(probe, "SNS", &described)
        .await?;
    probe
        .step("topic", async {
            let described = described?;
            let fifo = described
                .attributes()
                .and_then(|a| a.get("FifoTopic"))
                .is_some_and(|v| v == "true");
            if fifo != client.config.is_fifo() {
                return Err(ConnectorError::new(
                    ErrorKind::InvalidConfig,
                    format!(
                        "topic {topic} is {}a FIFO topic, unlike its ARN says",
                        if fifo { "" } else { "not " }
                    ),
                    "check config.topic_arn",
                ));
            }
            let kind = if fifo { "FIFO" } else { "standard" };
            Ok(((), format!("topic {topic} exists ({kind})")))
        })
        .await?;

    probe
        .step("write_permission", async {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            let fifo = client.config.is_fifo();
            let event_id = format!("courier-test-{nanos}");
            let attribute = |v: &str| {
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(v)
                    .build()
                    .map_err(|e| ConnectorError::internal(format!("SNS attribute: {e}")))
            };
            let sent = client
                .sns
                .publish()
                .topic_arn(&topic)
                .message(format!(r#"{{"type":"{TEST_EVENT_TYPE}","at_ns":{nanos}}}"#))
                .message_attributes(
                    courier_messages::EVENT_TYPE_ATTRIBUTE,
                    attribute(TEST_EVENT_TYPE)?,
                )
                .message_attributes(courier_messages::EVENT_ID_ATTRIBUTE, attribute(&event_id)?)
                .set_message_group_id(fifo.then(|| "courier-connection-test".to_string()))
                .set_message_deduplication_id(fifo.then(|| event_id.clone()))
                .send()
                .await
                .map_err(|e| classify("sns:Publish", &topic, e))?;
            let id = sent.message_id().unwrap_or("?").to_string();
            Ok((
                (),
                format!("published one {TEST_EVENT_TYPE} message ({id})"),
            ))
        })
        .await
}

//! The EventBridge connection test: credentials → authentication → the event bus exists →
//! write permission (one clearly marked test event, as EventBridge has no dry run; rules that
//! match it send it on).

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use courier_core::{ConnectorError, ErrorKind, Probe, StepSpec};

use crate::client::EventbridgeClient;
use crate::errors::{classify, entry_error};

/// The steps, in order.
pub const STEPS: &[StepSpec] = &[
    StepSpec {
        name: "credentials",
        label: "Credentials resolved",
    },
    StepSpec {
        name: "authentication",
        label: "EventBridge accepts the credentials",
    },
    StepSpec {
        name: "event_bus",
        label: "Event bus exists",
    },
    StepSpec {
        name: "write_permission",
        label: "Events can be put on the bus (one test event)",
    },
];

/// The detail type of the connection test's event.
pub const TEST_DETAIL_TYPE: &str = "courier.connection_test";

/// Runs the steps through `probe`.
pub async fn run(client: &EventbridgeClient, probe: &mut Probe) -> Result<(), ConnectorError> {
    let bus = client.config.event_bus_name.clone();
    probe.step("credentials", client.aws.check()).await?;

    // One DescribeEventBus answers both: are the credentials accepted, is the bus there.
    let described = client
        .events
        .describe_event_bus()
        .name(&bus)
        .send()
        .await
        .map_err(|e| classify("events:DescribeEventBus", &bus, e));
    client
        .aws
        .authentication_step(probe, "EventBridge", &described)
        .await?;
    probe
        .step("event_bus", async {
            let described = described?;
            let arn = described.arn().unwrap_or(&bus);
            Ok(((), format!("event bus {arn} exists")))
        })
        .await?;

    probe
        .step("write_permission", async {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            let entry = PutEventsRequestEntry::builder()
                .event_bus_name(&bus)
                .source(&client.config.source)
                .detail_type(TEST_DETAIL_TYPE)
                .detail(format!(
                    r#"{{"type":"{TEST_DETAIL_TYPE}","at_ns":{nanos}}}"#
                ))
                .build();
            let answer = client
                .events
                .put_events()
                .entries(entry)
                .send()
                .await
                .map_err(|e| classify("events:PutEvents", &bus, e))?;
            let result = answer.entries().first();
            match result.and_then(|r| r.error_code().map(|c| (c, r.error_message()))) {
                Some((code, message)) => Err(entry_error(&bus, code, message)),
                None => {
                    let id = result.and_then(|r| r.event_id()).ok_or_else(|| {
                        ConnectorError::new(
                            ErrorKind::Unavailable,
                            "EventBridge answered the test event without a result",
                            "run the test again",
                        )
                    })?;
                    Ok((
                        (),
                        format!(
                            "put one {TEST_DETAIL_TYPE} event from {} ({id})",
                            client.config.source
                        ),
                    ))
                }
            }
        })
        .await
}

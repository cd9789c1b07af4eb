//! Publishing: each record is one message whose payload is the record's payload byte for byte,
//! on the topic read from it, with the record's id, the event's type and id and the configured
//! user properties (MQTT 5); a request's messages are all queued on the connection at once and each record's
//! outcome is its own acknowledgement.

use std::time::{Duration, Instant};

use courier_core::{ConnectorError, Delivered, ErrorKind, Record};
use courier_messages::{BatchLimits, Keys};

use crate::client::MqttClient;
use crate::config::{MAX_PACKET_BYTES, MAX_STRING_BYTES, Protocol, RECORD_ID_PROPERTY};
use crate::errors;
use crate::session::Failure;
use crate::topic;
use crate::wire::Outgoing;

/// How long a request waits for its acknowledgements; records still unanswered then fail
/// (retried: the broker may have taken them, so a retry may publish them twice).
pub const ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// The limits a request is planned with: every message of a request is in flight together
/// (rumqttc keeps at most its in-flight limit on the wire), and one message is at most
/// `max_message` bytes as MQTT counts a packet.
pub fn limits(max_message: usize) -> BatchLimits {
    BatchLimits {
        max_records: 10_000,
        max_request_bytes: 64 * 1024 * 1024,
        max_record_bytes: max_message,
    }
}

/// The bytes MQTT's variable byte integer takes for `n`.
fn varint_len(n: usize) -> usize {
    match n {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// The size of a PUBLISH packet as brokers count it (the Maximum Packet Size): fixed header,
/// topic, packet id, properties and payload.
pub fn packet_size(
    topic: usize,
    payload: usize,
    properties: &[(String, String)],
    qos: u8,
    v5: bool,
) -> usize {
    let mut remaining = 2 + topic + if qos > 0 { 2 } else { 0 } + payload;
    if v5 {
        let props: usize = properties
            .iter()
            .map(|(k, v)| 1 + 2 + k.len() + 2 + v.len())
            .sum();
        remaining += varint_len(props) + props;
    }
    1 + varint_len(remaining) + remaining
}

fn rejected(record: &Record, what: String, hint: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Rejected,
        format!("record {}: {what}", record.id),
        hint,
    )
}

/// The message for one record and its size as MQTT counts it, or why it cannot be sent.
pub fn message(
    client: &MqttClient,
    record: &Record,
    keys: &Keys,
) -> Result<(usize, Outgoing), ConnectorError> {
    let config = &client.config;
    let topic = keys[0]
        .clone()
        .unwrap_or_else(|| config.topic_template.clone());
    topic::check(&topic).map_err(|m| {
        rejected(
            record,
            format!("its topic {m}"),
            "send records whose fields make a valid topic, or change topic_template",
        )
    })?;
    let v5 = config.protocol == Protocol::V5;
    let properties: Vec<(String, String)> = if v5 {
        // The record id, so consumers can drop the copies a retried record may leave.
        std::iter::once((RECORD_ID_PROPERTY.to_string(), record.id.clone()))
            .chain(
                courier_messages::event_attributes(record)
                    .into_iter()
                    .map(|(n, v)| (n.to_string(), v.to_string())),
            )
            .chain(
                config
                    .headers
                    .keys()
                    .zip(&keys[1..])
                    .filter_map(|(name, value)| Some((name.clone(), value.clone()?))),
            )
            .collect()
    } else {
        // MQTT 3.1.1 has no place for them.
        Vec::new()
    };
    if let Some((name, _)) = properties.iter().find(|(_, v)| v.len() > MAX_STRING_BYTES) {
        return Err(rejected(
            record,
            format!("its user property {name} is over 65535 bytes"),
            "send shorter values",
        ));
    }
    let size = packet_size(
        topic.len(),
        record.payload.len(),
        &properties,
        config.qos,
        v5,
    );
    if size > MAX_PACKET_BYTES as usize {
        return Err(ConnectorError::new(
            ErrorKind::PayloadTooLarge,
            format!(
                "record {} is {size} bytes as an MQTT packet, over MQTT's 256 MiB",
                record.id
            ),
            "send smaller records",
        ));
    }
    Ok((
        size,
        Outgoing {
            topic,
            payload: record.payload.clone(),
            properties,
        },
    ))
}

/// Refuses the whole request when the broker's CONNACK forbids what the config asks (a QoS
/// above its maximum, retained messages it does not keep): sending would end the connection.
fn check_grant(client: &MqttClient) -> Result<(), ConnectorError> {
    let Some(grant) = client.session().grant() else {
        return Ok(());
    };
    let config = &client.config;
    if let Some(max) = grant.max_qos
        && config.qos > max
    {
        return Err(ConnectorError::new(
            ErrorKind::InvalidConfig,
            format!(
                "MQTT broker {} takes QoS {max} at most, and qos is {}",
                client.broker(),
                config.qos
            ),
            format!("set config.qos to {max} or lower"),
        ));
    }
    if config.retain && grant.retain_available == Some(false) {
        return Err(ConnectorError::new(
            ErrorKind::InvalidConfig,
            format!("MQTT broker {} keeps no retained messages", client.broker()),
            "turn off config.retain",
        ));
    }
    Ok(())
}

/// Publishes one request's messages: all queued at once, then each record's outcome from its
/// own acknowledgement, in order.
pub async fn send(
    client: &MqttClient,
    messages: Vec<Outgoing>,
) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
    check_grant(client)?;
    let config = &client.config;
    let session = client.session();
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + ACK_TIMEOUT;
    let mut waiting = Vec::with_capacity(messages.len());
    for message in messages {
        let topic = message.topic.clone();
        let queued = session.publish(message, config.qos, config.retain).await;
        waiting.push((topic, queued));
    }
    let mut results = Vec::with_capacity(waiting.len());
    for (topic, queued) in waiting {
        let answer = match queued {
            Ok(answer) => tokio::time::timeout_at(deadline, answer).await,
            Err(e) => {
                results.push(Err(e));
                continue;
            }
        };
        results.push(match answer {
            Ok(Ok(Ok(()))) => Ok(Delivered {
                reference: topic,
                status: None,
                latency: started.elapsed(),
                response_body: None,
            }),
            Ok(Ok(Err(Failure::Refused(refusal, reason)))) => Err(errors::refused_message(
                client.broker(),
                &topic,
                refusal,
                reason.as_deref(),
            )),
            Ok(Ok(Err(Failure::Link(e)))) => Err(e),
            Ok(Err(_)) => Err(errors::unavailable(
                client.broker(),
                "the connection ended before the message was acknowledged",
            )),
            Err(_) => Err(ConnectorError::new(
                ErrorKind::Timeout,
                format!(
                    "MQTT broker {} did not acknowledge the message within {} s",
                    client.broker(),
                    ACK_TIMEOUT.as_secs()
                ),
                "the message is published again when the delivery is retried",
            )),
        });
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_sizes_count_what_the_broker_counts() {
        // 1 header byte, 1 length byte; topic "a/b" (2+3), packet id 2, payload 10.
        assert_eq!(packet_size(3, 10, &[], 1, false), 1 + 1 + 5 + 2 + 10);
        assert_eq!(packet_size(3, 10, &[], 0, false), 1 + 1 + 5 + 10);
        // MQTT 5: a property length byte, and 1+2+1+2+1 for the property ("k", "v").
        let props = vec![("k".to_string(), "v".to_string())];
        assert_eq!(
            packet_size(3, 10, &props, 1, true),
            1 + 1 + 5 + 2 + 1 + 7 + 10
        );
        // A remaining length of 200 takes two bytes.
        assert_eq!(packet_size(0, 196, &[], 1, false), 1 + 2 + 200);
    }
}

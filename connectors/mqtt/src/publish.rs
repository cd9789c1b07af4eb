//! Publishing: each record is one message whose payload is the record's payload byte for byte,
//! on the topic read from it, with the record's id, the event's type and id and the configured
//! user properties (MQTT 5); a request's messages are all queued on the connection at once and each record's
//! outcome is its own acknowledgement.

use std::time::{Duration, Instant};

use courier_core::{ConnectorError, Delivered, ErrorKind, Record};
use courier_messages::{
    BatchLimits, EVENT_ATTRIBUTE_COUNT, EVENT_ID_ATTRIBUTE, EVENT_TYPE_ATTRIBUTE, Keys,
};

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

/// Why `record` cannot carry a user property `name` with `value`: a string over MQTT's
/// length or with characters brokers refuse (they would close the connection, failing every
/// message on it).
fn check_property(record: &Record, name: &str, value: &str) -> Result<(), ConnectorError> {
    if let Err(m) = crate::text::check(name) {
        return Err(rejected(
            record,
            format!("the name of its user property {name:?} {m}"),
            "rename the user property in config.headers",
        ));
    }
    let problem = if value.len() > MAX_STRING_BYTES {
        "is over 65535 bytes".to_string()
    } else {
        match crate::text::check(value) {
            Ok(()) => return Ok(()),
            Err(m) => m,
        }
    };
    Err(rejected(
        record,
        format!("its user property {name} {problem}"),
        "send records whose ids and fields make valid MQTT strings (no control characters)",
    ))
}

/// The MQTT 5 user properties of one record's message: its id, its event's type and id, and
/// the configured ones rendered from it (`header_values`, in the config's order).
fn properties(
    client: &MqttClient,
    record: &Record,
    header_values: &Keys,
) -> Result<Vec<(String, String)>, ConnectorError> {
    let headers = &client.config.headers;
    let mut properties = Vec::with_capacity(1 + EVENT_ATTRIBUTE_COUNT + headers.len());
    let mut add = |name: &str, value: &str| {
        check_property(record, name, value)?;
        properties.push((name.to_owned(), value.to_owned()));
        Ok::<_, ConnectorError>(())
    };
    // The record id, so consumers can drop the copies a retried record may leave.
    add(RECORD_ID_PROPERTY, &record.id)?;
    if let Some(event) = &record.event {
        add(EVENT_TYPE_ATTRIBUTE, &event.event_type)?;
        add(EVENT_ID_ATTRIBUTE, &event.event_id)?;
    }
    for (name, value) in headers.keys().zip(header_values) {
        if let Some(value) = value {
            add(name, value)?;
        }
    }
    Ok(properties)
}

/// The message for one record and its size as MQTT counts it, or why it cannot be sent.
pub fn message(
    client: &MqttClient,
    record: &Record,
    keys: &Keys,
) -> Result<(usize, Outgoing), ConnectorError> {
    let config = &client.config;
    let topic = keys[0].as_deref().unwrap_or(&config.topic_template);
    topic::check(topic).map_err(|m| {
        rejected(
            record,
            format!("its topic {m}"),
            "send records whose fields make a valid topic, or change topic_template",
        )
    })?;
    let v5 = config.protocol == Protocol::V5;
    let properties = if v5 {
        properties(client, record, &keys[1..])?
    } else {
        // MQTT 3.1.1 has no place for them.
        Vec::new()
    };
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
            topic: topic.to_owned(),
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
/// own acknowledgement, in order, all within [`ACK_TIMEOUT`].
pub async fn send(
    client: &MqttClient,
    messages: Vec<Outgoing>,
) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
    send_within(client, messages, ACK_TIMEOUT).await
}

/// [`send`] with the whole request (queueing included) bounded by `wait`: records not
/// acknowledged by then fail (retried), and a connection that answered nothing in that time is
/// reset.
pub(crate) async fn send_within(
    client: &MqttClient,
    messages: Vec<Outgoing>,
    wait: Duration,
) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
    check_grant(client)?;
    let config = &client.config;
    let session = client.session();
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started) + wait;
    let mark = session.mark();
    let mut waiting = Vec::with_capacity(messages.len());
    for message in messages {
        let topic = message.topic.clone();
        let queued = session
            .publish(message, config.qos, config.retain, deadline)
            .await;
        waiting.push((topic, queued));
    }
    // One timer for the whole request; once it fired, answers already in are still taken.
    let expiry = std::pin::pin!(tokio::time::sleep_until(deadline));
    let mut expiry = expiry;
    let mut expired = false;
    let mut results = Vec::with_capacity(waiting.len());
    for (topic, queued) in waiting {
        let answer = match queued {
            Ok(mut answer) => tokio::select! {
                biased;
                answer = &mut answer => Some(answer),
                () = &mut expiry => None,
            },
            Err(e) => {
                expired |= e.kind == ErrorKind::Timeout;
                results.push(Err(e));
                continue;
            }
        };
        results.push(match answer {
            Some(Ok(Ok(()))) => Ok(Delivered {
                reference: topic,
                status: None,
                latency: started.elapsed(),
                response_body: None,
            }),
            Some(Ok(Err(Failure::Refused(refusal, reason)))) => Err(errors::refused_message(
                client.broker(),
                &topic,
                refusal,
                reason.as_deref(),
            )),
            Some(Ok(Err(Failure::Link(e)))) => Err(e),
            Some(Err(_)) => Err(errors::unavailable(
                client.broker(),
                "the connection ended before the message was acknowledged",
            )),
            None => {
                expired = true;
                Err(ConnectorError::new(
                    ErrorKind::Timeout,
                    format!(
                        "MQTT broker {} did not acknowledge the message within {} s",
                        client.broker(),
                        wait.as_secs_f32()
                    ),
                    "the message is published again when the delivery is retried",
                ))
            }
        });
    }
    if expired {
        session.reset_if_stalled(mark);
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

#[cfg(test)]
mod deadline_tests {
    use super::*;
    use crate::client::MqttRemote;
    use crate::config::{MqttAuth, MqttConfig};
    use crate::silent_broker::SilentBroker;
    use bytes::Bytes;
    use courier_core::Env;

    fn client(port: u16) -> MqttClient {
        let config: MqttConfig = serde_json::from_value(serde_json::json!({
            "broker_url": format!("mqtt://127.0.0.1:{port}"),
            "topic_template": "t",
        }))
        .unwrap();
        let env = Env {
            destination_id: "dest_deadline".into(),
            allow_private_network: true,
            ..Env::default()
        };
        let remote = MqttRemote::new(&config, MqttAuth::default(), &env).unwrap();
        MqttClient::new(config, remote).unwrap()
    }

    fn messages(n: usize) -> Vec<Outgoing> {
        (0..n)
            .map(|i| Outgoing {
                topic: "t".into(),
                payload: Bytes::from(format!("m{i}")),
                properties: vec![(RECORD_ID_PROPERTY.into(), format!("r{i}"))],
            })
            .collect()
    }

    #[tokio::test]
    async fn a_broker_that_stops_acknowledging_fails_the_whole_request_in_time() {
        // Silent on its first connection, acknowledging on the next.
        let broker = SilentBroker::start(1).await;
        let client = client(broker.port());
        // More than the connection holds in flight and queued together, so queueing itself
        // would wait for acknowledgements.
        let n = usize::from(crate::wire::INFLIGHT) + crate::wire::QUEUED + 500;
        let wait = Duration::from_millis(800);
        let started = Instant::now();
        let results = send_within(&client, messages(n), wait).await.unwrap();
        let took = started.elapsed();
        assert!(took < wait + Duration::from_secs(2), "took {took:?}");
        assert_eq!(results.len(), n);
        for result in &results {
            let error = result.as_ref().unwrap_err();
            assert_eq!(error.kind, ErrorKind::Timeout, "{error:?}");
            assert!(error.kind.is_retryable());
        }

        // The stalled connection was reset: the next request connects again and is delivered.
        let results = send_within(&client, messages(50), Duration::from_secs(10))
            .await
            .unwrap();
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(broker.connections(), 2);
    }

    #[tokio::test]
    async fn a_request_waiting_behind_a_stalled_one_is_bounded_too() {
        let broker = SilentBroker::start(usize::MAX).await;
        let client = client(broker.port());
        let wait = Duration::from_millis(600);
        let started = Instant::now();
        let (first, second) = tokio::join!(
            send_within(&client, messages(crate::wire::QUEUED + 200), wait),
            send_within(&client, messages(100), wait),
        );
        assert!(started.elapsed() < wait + Duration::from_secs(2));
        for result in first.unwrap().iter().chain(&second.unwrap()) {
            assert_eq!(result.as_ref().unwrap_err().kind, ErrorKind::Timeout);
        }
    }
}

//! One record as one AMQP message: the payload as the body byte for byte, the routing key,
//! and the properties (message id = record id, content type, persistence, timestamp, the
//! event's and the configured headers); or why this record alone cannot be sent.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use courier_core::{ConnectorError, ErrorKind, Record};
use courier_messages::{Keys, human_bytes};
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

use crate::RabbitmqClient;

/// Delivery mode 2: the broker writes the message to disk (in a durable queue).
const PERSISTENT: u8 = 2;
/// Delivery mode 1: kept in memory only.
const TRANSIENT: u8 = 1;

/// A message ready to publish.
#[derive(Debug)]
pub struct Message {
    /// The record's id (also the message id), to match a returned message to its record.
    pub record_id: String,
    /// The routing key.
    pub routing_key: ShortString,
    /// The body: the record's payload, untouched.
    pub body: Bytes,
    /// The properties and headers.
    pub properties: BasicProperties,
}

fn rejected(record: &Record, message: String, hint: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Rejected,
        format!("record {}: {message}", record.id),
        hint,
    )
}

/// The largest body the broker takes: the configured `max_message_bytes`, or less when the
/// broker has refused a message with a smaller limit.
pub fn max_body_bytes(client: &RabbitmqClient) -> u64 {
    let configured = client.config.max_message_bytes();
    client
        .learned_max_message()
        .map_or(configured, |learned| learned.min(configured))
}

/// The message for `record` and its size as the broker counts it against `max_message_size`:
/// the body's.
pub fn message(
    client: &RabbitmqClient,
    record: &Record,
    keys: &Keys,
) -> Result<(usize, Message), ConnectorError> {
    let max = max_body_bytes(client);
    if record.payload.len() as u64 > max {
        return Err(ConnectorError::new(
            ErrorKind::PayloadTooLarge,
            format!(
                "record {} is {} bytes, over the broker's max_message_size of {}",
                record.id,
                record.payload.len(),
                human_bytes(max as usize)
            ),
            "send smaller records, or raise max_message_size on the broker and config.max_message_bytes",
        ));
    }
    let config = &client.config;
    let routing_key = match (&keys[0], &config.routing_key) {
        (Some(rendered), _) => rendered.as_str(),
        (None, Some(fixed)) => fixed.as_str(),
        (None, None) => "",
    };
    let routing_key = ShortString::try_new(routing_key).map_err(|_| {
        rejected(
            record,
            format!(
                "routing key is {} bytes, over AMQP's 255",
                routing_key.len()
            ),
            "use a shorter routing_key_template",
        )
    })?;
    let message_id = ShortString::try_new(record.id.as_str()).map_err(|_| {
        rejected(
            record,
            "has an id over 255 bytes, which cannot be the message id".to_string(),
            "use record ids of at most 255 bytes",
        )
    })?;

    let mut headers = FieldTable::default();
    let configured = config.headers.keys().zip(&keys[1..]);
    let event = courier_messages::event_attributes(record);
    let all = configured
        .filter_map(|(name, value)| Some((name.as_str(), value.as_deref()?)))
        .chain(event);
    for (name, value) in all {
        // Names were checked at validation (at most 128 bytes), and the event's are short.
        let name = ShortString::try_new(name).map_err(|_| {
            rejected(
                record,
                format!("header {name} is too long"),
                "use shorter header names",
            )
        })?;
        headers.insert(name, AMQPValue::LongString(LongString::from(value)));
    }

    let mut properties = BasicProperties::default()
        .with_message_id(message_id)
        .with_delivery_mode(if config.persistent {
            PERSISTENT
        } else {
            TRANSIENT
        })
        .with_timestamp(now_seconds())
        .with_headers(headers);
    if is_json(&record.payload) {
        properties = properties.with_content_type("application/json".into());
    }
    Ok((
        record.payload.len(),
        Message {
            record_id: record.id.clone(),
            routing_key,
            body: record.payload.clone(),
            properties,
        },
    ))
}

/// Whether `payload` is one JSON document (validated, not built).
fn is_json(payload: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(payload).is_ok()
}

/// Seconds since the Unix epoch: AMQP's timestamp.
fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_recognised_without_building_it() {
        assert!(is_json(br#"{"a":[1,2,{"b":null}]}"#));
        assert!(is_json(b" 42 "));
        assert!(!is_json(b"{\"a\":"));
        assert!(!is_json(b"plain text"));
        assert!(!is_json(b"{} {}"));
    }
}

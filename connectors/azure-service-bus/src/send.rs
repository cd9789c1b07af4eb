//! Send Message Batch: each record is one element of the JSON array (`Body` its payload as
//! given, `BrokerProperties` its `MessageId` and `SessionId`, `UserProperties` the application
//! and event properties), sized as its JSON encoding so a request stays within 256 KiB; the
//! whole batch is accepted or refused together.

use std::time::Instant;

use courier_core::{ConnectorError, Delivered, ErrorKind, Record};
use courier_messages::{BatchLimits, Keys};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::client::AzureServiceBusClient;
use crate::errors::Action;

/// The content type that makes a send a batch.
pub const BATCH_CONTENT_TYPE: &str = "application/vnd.microsoft.servicebus.json";
/// The largest request (and so message) sent: the Standard tier's 256 KiB, counted as the
/// JSON the request carries. Premium namespaces take more; Courier stays within what every
/// tier accepts.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;
/// Service Bus's limit on a message's properties (its header), 64 KiB.
pub const MAX_PROPERTY_BYTES: usize = 64 * 1024;

/// Send Message Batch limits. An entry's size is its JSON encoding plus the comma before it;
/// the brackets take the last byte, so entries of a request add up to at most
/// `MAX_REQUEST_BYTES - 1`.
pub const LIMITS: BatchLimits = BatchLimits {
    // Service Bus takes up to 4,500 messages a batch; 256 KiB holds fewer than that anyway.
    max_records: 4_500,
    max_request_bytes: MAX_REQUEST_BYTES - 1,
    max_record_bytes: MAX_REQUEST_BYTES - 1,
};

/// One message, encoded as its element of the batch array.
#[derive(Debug)]
pub struct Message {
    json: Vec<u8>,
    message_id: String,
    /// Its session, whose messages Service Bus keeps in order.
    session_id: Option<String>,
}

impl Message {
    /// Its session, whose messages Service Bus keeps in order.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }
}

/// The `MessageId` of a record: its id when Service Bus takes it (at most 128 characters),
/// else the hex SHA-256 of the id, so a retried record keeps its id and duplicate detection
/// drops the copy.
pub fn message_id(record_id: &str) -> String {
    if !record_id.is_empty() && record_id.chars().count() <= 128 {
        return record_id.to_string();
    }
    Sha256::digest(record_id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The message for one record and its size as a batch element, or why it alone cannot be
/// sent.
pub fn message(
    client: &AzureServiceBusClient,
    record: &Record,
    keys: &Keys,
) -> Result<(usize, Message), ConnectorError> {
    let body = std::str::from_utf8(&record.payload).map_err(|_| {
        ConnectorError::new(
            ErrorKind::Rejected,
            format!(
                "record {}: is not UTF-8 text, which a Service Bus batch body must be",
                record.id
            ),
            "send UTF-8 (JSON) records",
        )
    })?;
    let mut properties = Map::new();
    for (name, value) in client.config.application_properties.keys().zip(&keys[1..]) {
        if let Some(value) = value {
            properties.insert(name.clone(), Value::String(value.clone()));
        }
    }
    for (name, value) in courier_messages::event_attributes(record) {
        properties.insert(name.to_string(), Value::String(value.to_string()));
    }
    let property_bytes: usize = properties
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    if property_bytes > MAX_PROPERTY_BYTES {
        return Err(ConnectorError::new(
            ErrorKind::PayloadTooLarge,
            format!(
                "record {}: its application properties are {property_bytes} bytes, over Service Bus's 64 KiB",
                record.id
            ),
            "read shorter values into config.application_properties",
        ));
    }
    let message_id = message_id(&record.id);
    let mut broker = Map::new();
    broker.insert("MessageId".into(), Value::String(message_id.clone()));
    if let Some(session) = &keys[0] {
        broker.insert("SessionId".into(), Value::String(session.clone()));
    }
    let mut element = json!({"Body": body, "BrokerProperties": broker});
    if !properties.is_empty() {
        element["UserProperties"] = Value::Object(properties);
    }
    let json = serde_json::to_vec(&element)
        .map_err(|e| ConnectorError::internal(format!("could not encode a message: {e}")))?;
    Ok((
        json.len() + 1,
        Message {
            json,
            message_id,
            session_id: keys[0].clone(),
        },
    ))
}

/// One Send Message Batch request: every message delivered, or the request's error for all. A
/// partitioned entity that refuses batches of distinct ids gets the messages one at a time, a
/// session's later messages held back once one of them failed.
pub async fn send(
    client: &AzureServiceBusClient,
    messages: Vec<Message>,
) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
    let unbatchable = |e: &ConnectorError| e.message.contains(crate::errors::UNBATCHABLE_REASON);
    match send_batch(client, &messages).await {
        Err(e) if messages.len() > 1 && unbatchable(&e) => {}
        other => return other,
    }
    let mut results = Vec::with_capacity(messages.len());
    let mut failed_sessions: Vec<(&str, ConnectorError)> = Vec::new();
    for m in &messages {
        let halted = m.session_id.as_deref().and_then(|s| {
            failed_sessions
                .iter()
                .find(|(f, _)| *f == s)
                .map(|(_, e)| e.detached())
        });
        let one = match halted {
            Some(e) => Err(e),
            None => match send_batch(client, std::slice::from_ref(m)).await {
                Ok(mut r) => r
                    .pop()
                    .unwrap_or_else(|| Err(ConnectorError::internal("no result"))),
                Err(e) => Err(e),
            },
        };
        if let (Err(e), Some(s)) = (&one, m.session_id.as_deref())
            && e.kind.is_retryable()
            && !failed_sessions.iter().any(|(f, _)| *f == s)
        {
            failed_sessions.push((s, e.detached()));
        }
        results.push(one);
    }
    Ok(results)
}

async fn send_batch(
    client: &AzureServiceBusClient,
    messages: &[Message],
) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
    let mut body = Vec::with_capacity(messages.iter().map(|m| m.json.len() + 1).sum::<usize>() + 1);
    body.push(b'[');
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&m.json);
    }
    body.push(b']');
    let started = Instant::now();
    let request = client
        .http
        .post(&client.messages_url)
        .header(reqwest::header::CONTENT_TYPE, BATCH_CONTENT_TYPE)
        .body(body);
    let response = client.execute(Action::Send, request).await?;
    let status = response.status().as_u16();
    let latency = started.elapsed();
    Ok(messages
        .iter()
        .map(|m| {
            Ok(Delivered {
                reference: m.message_id.clone(),
                status: Some(status),
                latency,
                response_body: None,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_the_record_ids_or_a_stable_digest() {
        assert_eq!(message_id("dlv_1"), "dlv_1");
        let long = "x".repeat(129);
        assert_eq!(message_id(&long).len(), 64);
        assert_eq!(message_id(&long), message_id(&long));
        assert_ne!(message_id(&long), message_id(&"x".repeat(130)));
        assert_eq!(message_id(&"é".repeat(128)), "é".repeat(128));
    }
}

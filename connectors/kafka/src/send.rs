//! Producing: each record is one message (payload exactly as given, key and headers read from
//! it, the event and record ids as headers); a request's messages are all handed to the
//! producer, then each acknowledgement (or failure) becomes its record's outcome.

use std::time::{Duration, Instant};

use bytes::Bytes;
use courier_core::{ConnectorError, Delivered, ErrorKind, Record};
use courier_messages::Keys;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;

use crate::KafkaClient;
use crate::errors::classify;

/// The header naming the record, the same on every retry, so a consumer can drop duplicates.
pub const RECORD_ID_HEADER: &str = "courier_record_id";
/// What a message adds to its payload, key and headers on the wire (the record batch's
/// per-record framing, counted generously).
const FRAMING_BYTES: usize = 64;

/// One message, ready to produce.
#[derive(Debug)]
pub struct Message {
    payload: Bytes,
    key: Option<String>,
    headers: Vec<(String, String)>,
}

impl Message {
    /// The message key, which picks the partition (and so the order kept).
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }
}

/// The message for one record and its size as Kafka counts it, or why it cannot be sent.
pub fn message(
    client: &KafkaClient,
    record: &Record,
    keys: &Keys,
    max_bytes: usize,
) -> Result<(usize, Message), ConnectorError> {
    let headers: Vec<(String, String)> = client
        .config
        .headers
        .keys()
        .zip(&keys[1..])
        .filter_map(|(name, value)| Some((name.clone(), value.clone()?)))
        .chain(
            courier_messages::event_attributes(record)
                .into_iter()
                .map(|(n, v)| (n.to_string(), v.to_string())),
        )
        .chain(std::iter::once((
            RECORD_ID_HEADER.to_string(),
            record.id.clone(),
        )))
        .collect();
    let key = keys[0].clone();
    let size = record.payload.len()
        + key.as_ref().map_or(0, String::len)
        + headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 4)
            .sum::<usize>()
        + FRAMING_BYTES;
    if size > max_bytes {
        return Err(ConnectorError::new(
            ErrorKind::PayloadTooLarge,
            format!(
                "record {}: the message would be {size} bytes, over the topic's limit of {max_bytes}",
                record.id
            ),
            "send smaller records, or raise the topic's max.message.bytes and config.max_message_bytes",
        ));
    }
    Ok((
        size,
        Message {
            payload: record.payload.clone(),
            key,
            headers,
        },
    ))
}

/// How long a full producer queue is waited on before the rest of a request fails.
const QUEUE_WAIT: Duration = Duration::from_secs(10);

/// Produces one request's messages: all are queued first (librdkafka batches them), then each
/// acknowledgement is awaited; one result per message, in order.
pub async fn send(
    client: &KafkaClient,
    messages: Vec<Message>,
) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
    let producer = client.producer().await?;
    let topic = client.config.topic.as_str();
    let started = Instant::now();
    let mut pending: Vec<Result<DeliveryFuture, ConnectorError>> =
        Vec::with_capacity(messages.len());
    for m in &messages {
        let mut headers = OwnedHeaders::new_with_capacity(m.headers.len());
        for (name, value) in &m.headers {
            headers = headers.insert(Header {
                key: name,
                value: Some(value.as_bytes()),
            });
        }
        let mut record = FutureRecord::to(topic)
            .payload(&m.payload[..])
            .headers(headers);
        if let Some(k) = &m.key {
            record = record.key(k.as_str());
        }
        let queued_at = Instant::now();
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    pending.push(Ok(delivery));
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if queued_at.elapsed() < QUEUE_WAIT =>
                {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => {
                    pending.push(Err(classify(e.rdkafka_error_code(), &e.to_string())));
                    break;
                }
            }
        }
    }
    let answers = futures::future::join_all(pending.into_iter().map(|p| async move {
        match p {
            Err(e) => Err(e),
            Ok(delivery) => match delivery.await {
                Ok(Ok(d)) => Ok((d.partition, d.offset)),
                Ok(Err((e, _))) => Err(classify(e.rdkafka_error_code(), &e.to_string())),
                Err(_) => Err(ConnectorError::new(
                    ErrorKind::Unavailable,
                    "Kafka: the producer stopped before the message was acknowledged",
                    "the record is retried",
                )),
            },
        }
    }))
    .await;
    let latency = started.elapsed();
    Ok(answers
        .into_iter()
        .map(|a| {
            a.map(|(partition, offset)| Delivered {
                reference: format!("{topic}/{partition}@{offset}"),
                status: None,
                latency,
                response_body: None,
            })
        })
        .collect())
}

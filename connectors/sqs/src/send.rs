//! SendMessageBatch: each record is one message whose body is its payload exactly as given,
//! with the FIFO message group and the message attributes read from it, and the record id as
//! the FIFO deduplication id; an answer's failed entries fail only their records.

use std::time::Instant;

use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use courier_core::{ConnectorError, Delivered, ErrorKind, Record};
use courier_messages::{BatchLimits, Keys};

use crate::client::SqsClient;
use crate::errors::{by_code, classify};

/// SendMessageBatch limits: 10 entries, and 256 KiB for a whole batch and for one message
/// (body plus attributes), as every SQS queue accepts; a queue allowing more (its
/// `MaximumMessageSize`, up to 1 MiB) gets [`queue_limits`].
pub const LIMITS: BatchLimits = BatchLimits {
    max_records: 10,
    max_request_bytes: 256 * 1024,
    max_record_bytes: 256 * 1024,
};

/// The largest message (and batch) SQS takes on any queue.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// The limits of a queue whose `MaximumMessageSize` is `max`: a message, and a whole batch, up
/// to it (SQS counts a batch's total against the same maximum).
pub fn queue_limits(max: usize) -> BatchLimits {
    let max = max.clamp(1024, MAX_MESSAGE_BYTES);
    BatchLimits {
        max_records: 10,
        max_request_bytes: max,
        max_record_bytes: max,
    }
}

/// The queue's maximum message size, read once per client (GetQueueAttributes). An identity
/// that may not read it is kept at the size every queue takes; an answer that did not come is
/// asked again at the next delivery.
pub async fn queue_max_message_bytes(client: &SqsClient) -> usize {
    let read = client
        .max_message_bytes
        .get_or_try_init(|| async {
            let answer = client
                .sqs
                .get_queue_attributes()
                .queue_url(&client.config.queue_url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::MaximumMessageSize)
                .send()
                .await;
            match answer {
                Ok(out) => Ok(out
                    .attributes()
                    .and_then(|a| {
                        a.get(&aws_sdk_sqs::types::QueueAttributeName::MaximumMessageSize)
                    })
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(LIMITS.max_record_bytes)),
                Err(e) => {
                    let error = classify("sqs:GetQueueAttributes", &client.config.queue_url, e);
                    if error.kind.is_retryable() {
                        Err(error)
                    } else {
                        Ok(LIMITS.max_record_bytes)
                    }
                }
            }
        })
        .await;
    read.copied().unwrap_or(LIMITS.max_record_bytes)
}

/// One message, ready to be placed in a request.
#[derive(Debug)]
pub struct Message {
    body: String,
    group_id: Option<String>,
    dedup_id: Option<String>,
    attributes: Vec<(String, String)>,
}

impl Message {
    /// The FIFO message group, whose messages SQS keeps in order.
    pub fn group_id(&self) -> Option<&str> {
        self.group_id.as_deref()
    }
}

/// The message for one record and its size as SQS counts it, or why it cannot be sent.
pub fn message(
    client: &SqsClient,
    record: &Record,
    keys: &Keys,
) -> Result<(usize, Message), ConnectorError> {
    let body = String::from_utf8(record.payload.to_vec()).map_err(|_| {
        ConnectorError::new(
            ErrorKind::Rejected,
            format!(
                "record {}: is not UTF-8 text, which an SQS message body must be",
                record.id
            ),
            "send UTF-8 (JSON) records",
        )
    })?;
    let fifo = client.config.is_fifo();
    let attributes: Vec<(String, String)> = client
        .config
        .message_attributes
        .keys()
        .zip(&keys[1..])
        .filter_map(|(name, value)| Some((name.clone(), value.clone()?)))
        .chain(
            courier_messages::event_attributes(record)
                .into_iter()
                .map(|(n, v)| (n.to_string(), v.to_string())),
        )
        .collect();
    let size = body.len()
        + attributes
            .iter()
            .map(|(n, v)| n.len() + v.len() + "String".len())
            .sum::<usize>();
    Ok((
        size,
        Message {
            body,
            group_id: keys[0].clone(),
            // The record id is stable across retries: SQS drops a retried copy within its
            // five-minute deduplication window.
            dedup_id: fifo.then(|| dedup_id(&record.id)),
            attributes,
        },
    ))
}

/// A deduplication id SQS accepts (at most 128 of its allowed characters) for `record_id`.
fn dedup_id(record_id: &str) -> String {
    let allowed =
        |c: char| c.is_ascii_alphanumeric() || "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".contains(c);
    if record_id.len() <= 128 && record_id.chars().all(allowed) {
        return record_id.to_string();
    }
    // Long or unusual ids: hex of their bytes, cut to fit; distinct ids stay distinct up to
    // the first 64 bytes.
    record_id
        .bytes()
        .take(64)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One SendMessageBatch request: a result per message, in order.
pub async fn send(
    client: &SqsClient,
    messages: Vec<Message>,
) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
    let queue = &client.config.queue_url;
    let entries = messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| entry(client, i, m))
        .collect::<Result<Vec<_>, _>>()?;
    let count = entries.len();
    let started = Instant::now();
    let answer = client
        .sqs
        .send_message_batch()
        .queue_url(queue)
        .set_entries(Some(entries))
        .send()
        .await
        .map_err(|e| classify("sqs:SendMessage", queue, e))?;
    let latency = started.elapsed();
    let mut results: Vec<Option<Result<Delivered, ConnectorError>>> =
        (0..count).map(|_| None).collect();
    for ok in answer.successful() {
        if let Some(slot) = ok
            .id()
            .parse::<usize>()
            .ok()
            .and_then(|i| results.get_mut(i))
        {
            *slot = Some(Ok(Delivered {
                reference: ok.message_id().to_string(),
                status: None,
                latency,
                response_body: None,
            }));
        }
    }
    for failed in answer.failed() {
        if let Some(slot) = failed
            .id()
            .parse::<usize>()
            .ok()
            .and_then(|i| results.get_mut(i))
        {
            let mut error = by_code("sqs:SendMessage", queue, Some(failed.code()), None);
            // A failure that is SQS's side is worth another attempt; one the sender caused is not.
            if !failed.sender_fault() && !error.kind.is_retryable() {
                error.kind = ErrorKind::Unavailable;
            }
            if let Some(m) = failed.message() {
                error.message = format!(
                    "{} — {}",
                    error.message,
                    m.chars().take(200).collect::<String>()
                );
            }
            *slot = Some(Err(error));
        }
    }
    Ok(results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(ConnectorError::new(
                    ErrorKind::Unavailable,
                    format!("SQS answered without a result for a message to queue {queue}"),
                    "the record is retried",
                ))
            })
        })
        .collect())
}

fn entry(
    client: &SqsClient,
    index: usize,
    m: Message,
) -> Result<SendMessageBatchRequestEntry, ConnectorError> {
    let mut entry = SendMessageBatchRequestEntry::builder()
        .id(index.to_string())
        .message_body(m.body)
        .set_message_group_id(m.group_id)
        .set_message_deduplication_id(m.dedup_id)
        .set_delay_seconds(client.config.delay_seconds.map(|d| d as i32));
    for (name, value) in m.attributes {
        let value = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .map_err(|e| {
                ConnectorError::internal(format!("could not build an SQS attribute: {e}"))
            })?;
        entry = entry.message_attributes(name, value);
    }
    entry
        .build()
        .map_err(|e| ConnectorError::internal(format!("could not build the SQS entry: {e}")))
}

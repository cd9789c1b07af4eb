//! PublishBatch: each record is one message whose body is its payload exactly as given, with
//! the FIFO message group, the subject and the message attributes read from it, the event's
//! type and id as attributes, and the record id as the FIFO deduplication id; an answer's
//! failed entries fail only their records.

use std::time::Instant;

use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use courier_core::{ConnectorError, Delivered, ErrorKind, Record};
use courier_messages::{BatchLimits, Keys};

use crate::client::SnsClient;
use crate::config::{FIRST_ATTRIBUTE_KEY, GROUP_KEY, MAX_SUBJECT_CHARS, SUBJECT_KEY};
use crate::errors::{classify, entry_error};

/// PublishBatch limits: 10 entries, and 256 KiB for a whole batch and for one message (body,
/// subject and attributes).
pub const LIMITS: BatchLimits = BatchLimits {
    max_records: 10,
    max_request_bytes: 256 * 1024,
    max_record_bytes: 256 * 1024,
};

/// One message, ready to be placed in a request.
#[derive(Debug)]
pub struct Message {
    body: String,
    subject: Option<String>,
    group_id: Option<String>,
    dedup_id: Option<String>,
    attributes: Vec<(String, String)>,
}

impl Message {
    /// The FIFO message group, whose messages SNS keeps in order.
    pub fn group_id(&self) -> Option<&str> {
        self.group_id.as_deref()
    }
}

fn rejected(record: &Record, message: String, hint: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Rejected,
        format!("record {}: {message}", record.id),
        hint,
    )
}

/// The characters SNS takes in a message group or deduplication id.
fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".contains(c)
}

/// Why SNS would refuse `subject`, if it would: at most 100 printable ASCII characters, no
/// line breaks or other control characters, starting with a letter, digit or punctuation.
pub fn subject_problem(subject: &str) -> Option<String> {
    if subject.chars().count() > MAX_SUBJECT_CHARS {
        return Some(format!("is longer than {MAX_SUBJECT_CHARS} characters"));
    }
    if subject.contains(['\n', '\r']) {
        return Some("has a line break".into());
    }
    if let Some(c) = subject.chars().find(|c| !(' '..='~').contains(c)) {
        return Some(format!(
            "has {c:?}, which is not printable ASCII (SNS takes printable ASCII only)"
        ));
    }
    if subject.starts_with(' ') {
        return Some("starts with a space".into());
    }
    None
}

/// The message for one record and its size as SNS counts it, or why it cannot be sent.
pub fn message(
    client: &SnsClient,
    record: &Record,
    keys: &Keys,
) -> Result<(usize, Message), ConnectorError> {
    let body = String::from_utf8(record.payload.to_vec()).map_err(|_| {
        rejected(
            record,
            "is not UTF-8 text, which an SNS message must be".into(),
            "send UTF-8 (JSON) records",
        )
    })?;
    if body.is_empty() {
        return Err(rejected(
            record,
            "is empty, and SNS takes no empty message".into(),
            "send a non-empty payload",
        ));
    }
    let subject = keys[SUBJECT_KEY].clone();
    if let Some(problem) = subject.as_deref().and_then(subject_problem) {
        return Err(rejected(
            record,
            format!("its subject {problem}"),
            "send a subject of at most 100 printable ASCII characters, or change subject_template",
        ));
    }
    let group_id = keys[GROUP_KEY].clone();
    if let Some(group) = &group_id
        && !group.chars().all(id_char)
    {
        return Err(rejected(
            record,
            format!("its message group id {group:?} has characters SNS does not take"),
            "use group values of letters, digits and ASCII punctuation",
        ));
    }
    let attributes: Vec<(String, String)> = client
        .config
        .message_attributes
        .keys()
        .zip(&keys[FIRST_ATTRIBUTE_KEY..])
        .filter_map(|(name, value)| Some((name.clone(), value.clone()?)))
        .chain(
            courier_messages::event_attributes(record)
                .into_iter()
                // SNS refuses an attribute without a value.
                .filter(|(_, v)| !v.is_empty())
                .map(|(n, v)| (n.to_string(), v.to_string())),
        )
        .collect();
    let size = body.len()
        + subject.as_ref().map_or(0, String::len)
        + attributes
            .iter()
            .map(|(n, v)| n.len() + v.len() + "String".len())
            .sum::<usize>();
    Ok((
        size,
        Message {
            body,
            subject,
            group_id,
            // The record id is stable across retries: SNS drops a retried copy within its
            // five-minute deduplication window.
            dedup_id: client.config.is_fifo().then(|| dedup_id(&record.id)),
            attributes,
        },
    ))
}

/// A deduplication id SNS accepts (at most 128 of its allowed characters) for `record_id`.
pub fn dedup_id(record_id: &str) -> String {
    if record_id.len() <= 128 && !record_id.is_empty() && record_id.chars().all(id_char) {
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

/// One PublishBatch request: a result per message, in order.
pub async fn send(
    client: &SnsClient,
    messages: Vec<Message>,
) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
    let topic = &client.config.topic_arn;
    let entries = messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| entry(i, m))
        .collect::<Result<Vec<_>, _>>()?;
    let count = entries.len();
    let started = Instant::now();
    let answer = client
        .sns
        .publish_batch()
        .topic_arn(topic)
        .set_publish_batch_request_entries(Some(entries))
        .send()
        .await
        .map_err(|e| classify("sns:Publish", topic, e))?;
    let latency = started.elapsed();
    let mut results: Vec<Option<Result<Delivered, ConnectorError>>> =
        (0..count).map(|_| None).collect();
    let slot = |id: &str| id.parse::<usize>().ok().filter(|i| *i < count);
    for ok in answer.successful() {
        if let Some(i) = ok.id().and_then(slot) {
            results[i] = Some(Ok(Delivered {
                reference: ok.message_id().unwrap_or_default().to_string(),
                status: None,
                latency,
                response_body: None,
            }));
        }
    }
    for failed in answer.failed() {
        if let Some(i) = slot(failed.id()) {
            results[i] = Some(Err(entry_error(
                topic,
                failed.code(),
                failed.sender_fault(),
                failed.message(),
            )));
        }
    }
    Ok(results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(ConnectorError::new(
                    ErrorKind::Unavailable,
                    format!("SNS answered without a result for a message to topic {topic}"),
                    "the record is retried",
                ))
            })
        })
        .collect())
}

fn entry(index: usize, m: Message) -> Result<PublishBatchRequestEntry, ConnectorError> {
    let mut entry = PublishBatchRequestEntry::builder()
        .id(index.to_string())
        .message(m.body)
        .set_subject(m.subject)
        .set_message_group_id(m.group_id)
        .set_message_deduplication_id(m.dedup_id);
    for (name, value) in m.attributes {
        let value = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .map_err(|e| {
                ConnectorError::internal(format!("could not build an SNS attribute: {e}"))
            })?;
        entry = entry.message_attributes(name, value);
    }
    entry
        .build()
        .map_err(|e| ConnectorError::internal(format!("could not build the SNS entry: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_follow_the_sns_rules() {
        assert_eq!(subject_problem("Order 42 created: ok!"), None);
        assert_eq!(subject_problem(&"x".repeat(100)), None);
        assert!(subject_problem(&"x".repeat(101)).is_some());
        assert!(
            subject_problem("two\nlines")
                .unwrap()
                .contains("line break")
        );
        assert!(subject_problem("tab\there").is_some());
        assert!(subject_problem("Zoë").unwrap().contains("ASCII"));
        assert!(subject_problem(" leading").is_some());
    }

    #[test]
    fn deduplication_ids_are_kept_or_encoded_to_fit() {
        assert_eq!(dedup_id("dlv_1-a.b"), "dlv_1-a.b");
        assert_eq!(dedup_id("a b"), "612062");
        assert_eq!(dedup_id(&"x".repeat(200)).len(), 128);
    }
}

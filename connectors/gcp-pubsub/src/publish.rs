//! Publishing: each record is one message (its payload as `data`, byte for byte; the
//! attributes and ordering key read from it; the event's type and id as attributes), encoded
//! once as the JSON the REST API takes, so its size is counted exactly. One request of the
//! shape is one publish per ordering key (Pub/Sub wants a publish request to hold one key), the
//! keys' publishes a few at a time; a failed publish fails its messages, and the message shape
//! holds back the later messages of its key in the same delivery (the key is the entry's
//! order key).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use courier_core::{ConnectorError, Delivered, ErrorKind, Record};
use courier_messages::{BatchLimits, Keys};
use futures::StreamExt;
use serde::Serialize;

use crate::client::GcpPubsubClient;
use crate::config::{MAX_ATTRIBUTE_VALUE_BYTES, MAX_ORDERING_KEY_BYTES};
use crate::errors::{Call, Failure, SERVICE, Topic, classify};

/// Pub/Sub's limit on a publish request: 10 MB (10,000,000 bytes; below the 10 MiB an HTTP
/// request body may have). Sizes are counted on the JSON sent, with the payload in base64,
/// which is larger than what Pub/Sub counts, so a request within it is within both.
pub const MAX_REQUEST_BYTES: usize = 10_000_000;
/// What a request holds around its messages: `{"messages":[` and `]}`.
const ENVELOPE_BYTES: usize = 15;
/// The largest payload a destination may be capped at: 7 MiB is 9.8 MB in base64, leaving
/// room for the attributes and the ordering key within one request.
pub const MAX_PAYLOAD_BYTES: u64 = 7 * 1024 * 1024;
/// Publishes of distinct ordering keys in flight at once within one request of the shape.
const PARALLEL_KEYS: usize = 8;

/// The publish limits: 1,000 messages and 10 MB a request; one message alone must fit in a
/// request too.
pub const LIMITS: BatchLimits = BatchLimits {
    max_records: 1000,
    max_request_bytes: MAX_REQUEST_BYTES - ENVELOPE_BYTES,
    max_record_bytes: MAX_REQUEST_BYTES - ENVELOPE_BYTES,
};

/// One message, ready to be placed in a publish request.
#[derive(Debug)]
pub struct Message {
    /// The message as JSON, as the request carries it.
    json: Vec<u8>,
    /// Its ordering key: requests are made per key.
    ordering_key: Option<String>,
}

impl Message {
    /// Its ordering key, whose messages Pub/Sub keeps in order.
    pub fn ordering_key(&self) -> Option<&str> {
        self.ordering_key.as_deref()
    }
}

/// A message as the REST API takes it.
#[derive(Serialize)]
struct Wire<'a> {
    #[serde(skip_serializing_if = "String::is_empty")]
    data: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    attributes: BTreeMap<&'a str, &'a str>,
    #[serde(rename = "orderingKey", skip_serializing_if = "Option::is_none")]
    ordering_key: Option<&'a str>,
}

fn rejected(record: &Record, message: String, hint: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Rejected,
        format!("record {}: {message}", record.id),
        hint,
    )
}

/// The message for one record and its size in a request, or why this record alone cannot be
/// published.
pub fn message(
    client: &GcpPubsubClient,
    record: &Record,
    keys: &Keys,
) -> Result<(usize, Message), ConnectorError> {
    let ordering_key = keys[0].clone();
    let mut attributes: BTreeMap<&str, &str> = client
        .config
        .attributes
        .keys()
        .zip(&keys[1..])
        .filter_map(|(name, value)| Some((name.as_str(), value.as_deref()?)))
        .collect();
    attributes.extend(courier_messages::event_attributes(record));
    // Templates count characters; Pub/Sub counts bytes.
    if let Some((name, _)) = attributes
        .iter()
        .find(|(_, v)| v.len() > MAX_ATTRIBUTE_VALUE_BYTES)
    {
        return Err(rejected(
            record,
            format!("attribute {name} is longer than Pub/Sub's {MAX_ATTRIBUTE_VALUE_BYTES} bytes"),
            "use a template that reads a shorter value",
        ));
    }
    if ordering_key
        .as_ref()
        .is_some_and(|k| k.len() > MAX_ORDERING_KEY_BYTES)
    {
        return Err(rejected(
            record,
            format!("ordering key is longer than Pub/Sub's {MAX_ORDERING_KEY_BYTES} bytes"),
            "use an ordering_key_template that reads a shorter value",
        ));
    }
    if record.payload.is_empty() && attributes.is_empty() {
        return Err(rejected(
            record,
            "is empty and has no attributes, and Pub/Sub takes no message without either".into(),
            "send records with a payload",
        ));
    }
    let wire = Wire {
        data: BASE64.encode(&record.payload),
        attributes,
        ordering_key: ordering_key.as_deref(),
    };
    let json = serde_json::to_vec(&wire)
        .map_err(|e| ConnectorError::internal(format!("could not encode a message: {e}")))?;
    // Each message but the last is followed by a comma in the request; counting one for every
    // message keeps the sum on the safe side.
    let size = json.len() + 1;
    Ok((size, Message { json, ordering_key }))
}

/// A publish's answer: the message ids in order and how long it took, or why it failed.
pub(crate) type Published = Result<(Vec<String>, Duration), ConnectorError>;

/// One request of the shape: a publish per ordering key, a result per message, in order.
pub async fn send(
    client: &GcpPubsubClient,
    messages: Vec<Message>,
) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
    let headers = client.auth_headers().await?;
    // Messages grouped by ordering key in order of first appearance, each group in batch order.
    let mut groups: Vec<(Option<&str>, Vec<usize>)> = Vec::new();
    let mut group_of: HashMap<Option<&str>, usize> = HashMap::new();
    for (i, m) in messages.iter().enumerate() {
        let key = m.ordering_key.as_deref();
        let g = *group_of.entry(key).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[g].1.push(i);
    }
    let mut results: Vec<Option<Result<Delivered, ConnectorError>>> =
        (0..messages.len()).map(|_| None).collect();
    let to_publish: Vec<Vec<usize>> = groups.into_iter().map(|(_, members)| members).collect();
    let (headers, messages) = (&headers, &messages);
    let published: Vec<(Vec<usize>, Published)> = futures::stream::iter(to_publish)
        .map(|members| async move {
            let jsons: Vec<&[u8]> = members.iter().map(|&i| &messages[i].json[..]).collect();
            let answer = publish(client, headers, &jsons).await;
            (members, answer)
        })
        .buffered(PARALLEL_KEYS)
        .collect()
        .await;
    for (members, answer) in published {
        match answer {
            Ok((ids, latency)) => {
                let mut ids = ids.into_iter();
                for i in members {
                    results[i] = Some(match ids.next() {
                        Some(id) => Ok(Delivered {
                            reference: id,
                            status: Some(200),
                            latency,
                            response_body: None,
                        }),
                        None => Err(unanswered(&client.config.topic)),
                    });
                }
            }
            Err(error) => {
                for i in members {
                    results[i] = Some(Err(error.detached()));
                }
            }
        }
    }
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(ConnectorError::internal("a message got no result"))))
        .collect())
}

/// One publish request of `messages` (each already JSON): the message ids in order, and how
/// long the request took.
pub(crate) async fn publish(
    client: &GcpPubsubClient,
    headers: &http::HeaderMap,
    messages: &[&[u8]],
) -> Published {
    let mut body =
        Vec::with_capacity(ENVELOPE_BYTES + messages.iter().map(|m| m.len() + 1).sum::<usize>());
    body.extend_from_slice(b"{\"messages\":[");
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(m);
    }
    body.extend_from_slice(b"]}");
    let started = Instant::now();
    let response = client
        .http
        .post(client.publish_url())
        .headers(headers.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| courier_net::transport_error(SERVICE, e))?;
    if !response.status().is_success() {
        let failure = Failure::read(response).await;
        return Err(classify(Call::Publish, topic(client), &failure));
    }
    let text = courier_net::body::json_text(SERVICE, "the publish answer", response).await?;
    let latency = started.elapsed();
    let ids = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            v["messageIds"].as_array().map(|ids| {
                ids.iter()
                    .filter_map(|id| id.as_str().map(str::to_string))
                    .collect::<Vec<_>>()
            })
        })
        .unwrap_or_default();
    Ok((ids, latency))
}

/// The topic the client publishes to, for error messages.
pub fn topic(client: &GcpPubsubClient) -> Topic<'_> {
    Topic {
        project: &client.config.project_id,
        topic: &client.config.topic,
    }
}

/// The error of a message Pub/Sub's answer gave no id for.
fn unanswered(topic: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Unavailable,
        format!(
            "Pub/Sub answered a publish to topic {topic} without a message id for this message"
        ),
        "the record is retried; subscribers may receive it twice",
    )
}

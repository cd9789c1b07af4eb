//! Publishing: each record is one message whose body is its payload exactly as given, to the
//! subject rendered from it, with the event's headers, the configured headers and the record
//! id as `Nats-Msg-Id`. JetStream: every message of a request is published without waiting,
//! the acknowledgements awaited together, and each record's outcome is its own
//! acknowledgement. Core NATS: published, then flushed to the server.

use std::str::FromStr;
use std::time::Instant;

use async_nats::header::NATS_MESSAGE_ID;
use async_nats::jetstream::context::PublishError;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::publish::PublishAck;
use async_nats::{HeaderMap, HeaderName, HeaderValue, Subject};
use bytes::Bytes;
use courier_core::{ConnectorError, Delivered, ErrorKind, Record};
use courier_messages::{BatchLimits, EVENT_ID_ATTRIBUTE, EVENT_TYPE_ATTRIBUTE, Keys};
use futures::StreamExt;

use crate::client::{ACK_TIMEOUT, NatsClient, Session};
use crate::errors;
use crate::subject::check_subject;

/// What one request carries: every message of it is in flight at once (the server's
/// `max_payload` per message is read when connected).
pub const LIMITS: BatchLimits = BatchLimits {
    max_records: 4096,
    max_request_bytes: 64 * 1024 * 1024,
    max_record_bytes: DEFAULT_MAX_PAYLOAD,
};

/// The `max_payload` servers have unless configured otherwise.
pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;

/// The largest `max_payload` a server may set.
pub const MAX_PAYLOAD_LIMIT: usize = 64 * 1024 * 1024;

/// The event headers every message of a record with an event carries.
static EVENT_TYPE_HEADER: HeaderName = HeaderName::from_static(EVENT_TYPE_ATTRIBUTE);
static EVENT_ID_HEADER: HeaderName = HeaderName::from_static(EVENT_ID_ATTRIBUTE);

/// One message, ready to publish.
#[derive(Debug)]
pub struct Message {
    subject: Subject,
    headers: HeaderMap,
    payload: Bytes,
}

/// The limits of a connection whose server takes `max_payload` bytes a message, and whose
/// stream (for a fixed subject) takes `stream_max` bytes.
pub fn limits(max_payload: usize, stream_max: Option<usize>) -> BatchLimits {
    let max = stream_max.map_or(max_payload, |s| s.min(max_payload));
    BatchLimits {
        max_record_bytes: max,
        ..LIMITS
    }
}

/// The message for one record and its size as the server counts it (headers and body), or
/// why this record alone cannot be published.
pub fn message(
    client: &NatsClient,
    record: &Record,
    keys: &Keys,
) -> Result<(usize, Message), ConnectorError> {
    let rejected = |message: String, hint: &str| {
        ConnectorError::new(
            ErrorKind::Rejected,
            format!("record {}: {message}", record.id),
            hint,
        )
    };
    let subject = match &keys[0] {
        Some(rendered) => {
            check_subject(rendered).map_err(|why| {
                let shown: String = rendered.chars().take(100).collect();
                rejected(
                    format!("its subject `{shown}` {why}"),
                    "send values that make a subject (no spaces, `*` or `>`, no empty tokens), or change config.subject_template",
                )
            })?;
            Subject::from(rendered.as_str())
        }
        // A fixed subject was checked with the config.
        None => match &client.fixed_subject {
            Some(fixed) => fixed.clone(),
            None => Subject::from(client.subject.sample()),
        },
    };
    let mut headers = HeaderMap::new();
    let value = |name: &str, v: &str| {
        HeaderValue::from_str(v).map_err(|_| {
            rejected(
                format!("its {name} header would hold a line break"),
                "send values without line breaks",
            )
        })
    };
    // Stable across retries: the stream drops a retried copy within its duplicate window.
    headers.insert(NATS_MESSAGE_ID, value("Nats-Msg-Id", &record.id)?);
    // The names were parsed with the config: each message takes a shared copy.
    for ((name, header), rendered) in client.header_names.iter().zip(&keys[1..]) {
        if let Some(rendered) = rendered {
            headers.insert(header.clone(), value(name, rendered)?);
        }
    }
    // What `courier_messages::event_attributes` gives, without a list per record and with
    // names made once.
    if let Some(event) = &record.event {
        headers.insert(
            EVENT_TYPE_HEADER.clone(),
            value(EVENT_TYPE_ATTRIBUTE, &event.event_type)?,
        );
        headers.insert(
            EVENT_ID_HEADER.clone(),
            value(EVENT_ID_ATTRIBUTE, &event.event_id)?,
        );
    }
    let size = record.payload.len() + header_bytes(&headers);
    Ok((
        size,
        Message {
            subject,
            headers,
            payload: record.payload.clone(),
        },
    ))
}

/// The bytes `headers` take on the wire (`NATS/1.0\r\n`, a line per value, a blank line), as
/// the server counts them against `max_payload` and a stream's `max_msg_size`.
fn header_bytes(headers: &HeaderMap) -> usize {
    let lines: usize = headers
        .iter()
        .map(|(name, values)| {
            values
                .iter()
                .map(|v| AsRef::<[u8]>::as_ref(name).len() + 2 + v.as_str().len() + 2)
                .sum::<usize>()
        })
        .sum();
    "NATS/1.0\r\n".len() + lines + 2
}

/// One request's messages: a result per message, in order.
pub async fn send(
    client: &NatsClient,
    messages: Vec<Message>,
) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
    let session = client.session().await?;
    if let Some(down) = session.down() {
        return Err(down);
    }
    Ok(if client.config.jetstream {
        publish_acknowledged(&session, messages).await
    } else {
        publish_core(&session, messages).await
    })
}

/// JetStream: publish every message without waiting, then take each acknowledgement as it
/// comes. A lost connection fails the messages not yet acknowledged at once (retried, and
/// de-duplicated by the stream if they were stored after all); a refused publish fails its
/// messages as soon as the server reports it.
async fn publish_acknowledged(
    session: &Session,
    messages: Vec<Message>,
) -> Vec<Result<Delivered, ConnectorError>> {
    let started = Instant::now();
    // Refusals reported before this request are not about its messages.
    let since = session.signals.since();
    let subjects: Vec<Subject> = messages.iter().map(|m| m.subject.clone()).collect();
    let mut results: Vec<Option<Result<Delivered, ConnectorError>>> = vec![None; messages.len()];
    let mut open = messages.len();
    // Each watched once for the whole request (not re-registered per acknowledgement): the
    // first lost connection, and every reported refusal.
    let mut disconnects = session.signals.disconnects.subscribe();
    let mut lost = std::pin::pin!(disconnects.changed());
    let mut refusals = std::pin::pin!(futures::stream::unfold(
        session.signals.denials.subscribe(),
        |mut denials| async move {
            denials.changed().await.ok()?;
            Some(((), denials))
        },
    ));
    let jetstream = &session.jetstream;
    let mut acks = futures::stream::iter(messages.into_iter().enumerate())
        .map(|(i, m)| async move {
            let publish = PublishMessage::build()
                .payload(m.payload)
                .headers(m.headers);
            let acked = match jetstream.send_publish(m.subject, publish).await {
                Ok(ack) => ack.await,
                Err(e) => Err(e),
            };
            (i, acked)
        })
        .buffer_unordered(crate::send::LIMITS.max_records);
    let (mut watch_lost, mut watch_refusals) = (true, true);
    while open > 0 {
        tokio::select! {
            biased;
            next = acks.next() => {
                let Some((i, acked)) = next else { break };
                if results[i].is_none() {
                    open -= 1;
                    results[i] = Some(acknowledged(session, &subjects[i], acked, started, since));
                }
            }
            changed = &mut lost, if watch_lost => {
                if changed.is_err() {
                    watch_lost = false;
                    continue;
                }
                for (slot, subject) in results.iter_mut().zip(&subjects) {
                    if slot.is_none() {
                        *slot = Some(Err(errors::lost_connection(subject)));
                    }
                }
                break;
            }
            refusal = refusals.next(), if watch_refusals => {
                if refusal.is_none() {
                    watch_refusals = false;
                    continue;
                }
                for (slot, subject) in results.iter_mut().zip(&subjects) {
                    if slot.is_none() && let Some(error) = refusal_of(session, subject, since) {
                        *slot = Some(Err(error));
                        open -= 1;
                    }
                }
            }
        }
    }
    results
        .into_iter()
        .zip(&subjects)
        .map(|(r, subject)| r.unwrap_or_else(|| Err(errors::lost_connection(subject))))
        .collect()
}

/// One acknowledgement (or its failure) as the record's outcome.
fn acknowledged(
    session: &Session,
    subject: &str,
    acked: Result<PublishAck, PublishError>,
    started: Instant,
    since: u64,
) -> Result<Delivered, ConnectorError> {
    match acked {
        Ok(ack) => Ok(Delivered {
            reference: format!("{}:{}", ack.stream, ack.sequence),
            status: None,
            latency: started.elapsed(),
            response_body: None,
        }),
        Err(e) => Err(refusal_of(session, subject, since).unwrap_or_else(|| {
            errors::publish_error(e.kind(), std::error::Error::source(&e), subject)
        })),
    }
}

/// The permission error the server reported for messages to `subject` after refusal number
/// `since`, if it did.
fn refusal_of(session: &Session, subject: &str, since: u64) -> Option<ConnectorError> {
    if session.signals.publish_denied(subject, since) {
        Some(errors::publish_denied(subject))
    } else if session.signals.inbox_denied(since) {
        Some(errors::inbox_denied())
    } else {
        None
    }
}

/// Core NATS: publish every message, then flush them to the server. At most once: a message
/// counts as delivered when it is written to the server's connection.
async fn publish_core(
    session: &Session,
    messages: Vec<Message>,
) -> Vec<Result<Delivered, ConnectorError>> {
    use async_nats::client::PublishErrorKind as Kind;
    let started = Instant::now();
    let since = session.signals.since();
    let mut results: Vec<Option<Result<Delivered, ConnectorError>>> = vec![None; messages.len()];
    let mut subjects = Vec::with_capacity(messages.len());
    for (i, m) in messages.into_iter().enumerate() {
        subjects.push(m.subject.clone());
        let published = session
            .client
            .publish_with_headers(m.subject, m.headers, m.payload)
            .await;
        if let Err(e) = published {
            let subject = &subjects[i];
            results[i] = Some(Err(match e.kind() {
                Kind::MaxPayloadExceeded => errors::publish_error(
                    async_nats::jetstream::context::PublishErrorKind::MaxPayloadExceeded,
                    None,
                    subject,
                ),
                Kind::InvalidSubject => ConnectorError::new(
                    ErrorKind::Rejected,
                    format!("subject {subject} cannot be published to"),
                    "change config.subject_template",
                ),
                _ => errors::lost_connection(subject),
            }));
        }
    }
    let flushed = tokio::time::timeout(ACK_TIMEOUT, session.client.flush()).await;
    results
        .into_iter()
        .zip(&subjects)
        .map(|(result, subject)| {
            result.unwrap_or_else(|| match &flushed {
                Ok(Ok(())) if session.signals.publish_denied(subject, since) => {
                    Err(errors::publish_denied(subject))
                }
                Ok(Ok(())) => Ok(Delivered {
                    reference: format!("core NATS {subject}"),
                    status: None,
                    latency: started.elapsed(),
                    response_body: None,
                }),
                Ok(Err(_)) => Err(errors::lost_connection(subject)),
                Err(_) => Err(ConnectorError::new(
                    ErrorKind::Timeout,
                    format!(
                        "the message to {subject} was not written to the server within {}s",
                        ACK_TIMEOUT.as_secs()
                    ),
                    "the record is retried",
                )),
            })
        })
        .collect()
}

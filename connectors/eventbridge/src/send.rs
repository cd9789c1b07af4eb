//! PutEvents: each record is one event whose `Detail` is its payload exactly as given (a JSON
//! object), with the configured source and a detail type read from the record, its event type,
//! or [`DEFAULT_DETAIL_TYPE`]; an answer's failed entries fail only their records.

use std::time::Instant;

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use courier_core::{ConnectorError, Delivered, ErrorKind, Record};
use courier_messages::{BatchLimits, Keys};
use serde_json::Value;

use crate::client::EventbridgeClient;
use crate::config::{DEFAULT_DETAIL_TYPE, MAX_DETAIL_TYPE_CHARS};
use crate::errors::{classify, entry_error};

/// PutEvents limits: 10 entries, and 256 KiB for a whole request and for one entry, as
/// EventBridge counts an entry's size (see [`entry_size`]).
pub const LIMITS: BatchLimits = BatchLimits {
    max_records: 10,
    max_request_bytes: 256 * 1024,
    max_record_bytes: 256 * 1024,
};

/// One event, ready to be placed in a request.
#[derive(Debug)]
pub struct Event {
    detail_type: String,
    detail: String,
}

/// An entry's size as EventBridge counts it ("Calculating PutEvents event entry size"): 14
/// bytes for `Time` when set, then the UTF-8 bytes of `Source`, `DetailType`, `Detail` and each
/// of `Resources`. Courier sets neither `Time` nor `Resources`.
pub fn entry_size(source: &str, detail_type: &str, detail: &str, resources: &[&str]) -> usize {
    source.len()
        + detail_type.len()
        + detail.len()
        + resources.iter().map(|r| r.len()).sum::<usize>()
}

fn rejected(record: &Record, message: String, hint: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Rejected,
        format!("record {}: {message}", record.id),
        hint,
    )
}

/// The event for one record and its size as EventBridge counts it, or why it cannot be sent.
pub fn event(
    client: &EventbridgeClient,
    record: &Record,
    _keys: &Keys,
) -> Result<(usize, Event), ConnectorError> {
    let detail = std::str::from_utf8(&record.payload)
        .ok()
        .and_then(|text| Some((text, serde_json::from_str::<Value>(text).ok()?)))
        .filter(|(_, v)| v.is_object());
    let Some((text, payload)) = detail else {
        return Err(rejected(
            record,
            "is not a JSON object, which an EventBridge event's detail must be".into(),
            "send JSON object records (wrap arrays and other values in an object)",
        ));
    };
    let detail_type = client
        .detail_type
        .as_ref()
        .and_then(|t| t.render(&payload).ok())
        .or_else(|| record.event.as_ref().map(|e| e.event_type.clone()))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| DEFAULT_DETAIL_TYPE.to_string());
    if detail_type.chars().count() > MAX_DETAIL_TYPE_CHARS {
        return Err(rejected(
            record,
            format!("its detail type is longer than {MAX_DETAIL_TYPE_CHARS} characters"),
            "use shorter event types, or a detail_type_template that gives shorter values",
        ));
    }
    let size = entry_size(&client.config.source, &detail_type, text, &[]);
    Ok((
        size,
        Event {
            detail_type,
            detail: text.to_string(),
        },
    ))
}

/// One PutEvents request: a result per event, in order (EventBridge answers in the order of
/// the request's entries).
pub async fn send(
    client: &EventbridgeClient,
    events: Vec<Event>,
) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
    let bus = &client.config.event_bus_name;
    let count = events.len();
    let entries = events
        .into_iter()
        .map(|e| {
            PutEventsRequestEntry::builder()
                .event_bus_name(bus)
                .source(&client.config.source)
                .detail_type(e.detail_type)
                .detail(e.detail)
                .build()
        })
        .collect();
    let started = Instant::now();
    let answer = client
        .events
        .put_events()
        .set_entries(Some(entries))
        .send()
        .await
        .map_err(|e| classify("events:PutEvents", bus, e))?;
    let latency = started.elapsed();
    let mut results: Vec<Result<Delivered, ConnectorError>> = answer
        .entries()
        .iter()
        .take(count)
        .map(|entry| match (entry.error_code(), entry.event_id()) {
            (Some(code), _) => Err(entry_error(bus, code, entry.error_message())),
            (None, Some(id)) => Ok(Delivered {
                reference: id.to_string(),
                status: None,
                latency,
                response_body: None,
            }),
            (None, None) => Err(no_result(bus)),
        })
        .collect();
    while results.len() < count {
        results.push(Err(no_result(bus)));
    }
    Ok(results)
}

fn no_result(bus: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Unavailable,
        format!("EventBridge answered without a result for an event to bus {bus}"),
        "the record is retried",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_counts_source_detail_type_detail_and_resources() {
        assert_eq!(
            entry_size("com.acme", "order.created", "{}", &[]),
            8 + 13 + 2
        );
        assert_eq!(
            entry_size("s", "t", "{\"a\":\"ë\"}", &["arn:x"]),
            1 + 1 + 10 + 5
        );
    }
}

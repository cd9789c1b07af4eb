//! Request bodies: one record's payload (optionally enveloped), or a whole batch as a JSON array
//! or NDJSON. Payloads go out exactly as given; records that cannot be encoded fail alone.

use bytes::{BufMut, Bytes, BytesMut};
use courier_core::{ConnectorError, ErrorKind, Record};
use serde::de::IgnoredAny;

use crate::config::{Envelope, EnvelopeFormat};

pub const JSON: &str = "application/json";
pub const NDJSON: &str = "application/x-ndjson";

/// Checks that a payload is one JSON value (the receiver is told it is JSON).
pub fn check_json(record: &Record) -> Result<(), ConnectorError> {
    serde_json::from_slice::<IgnoredAny>(&record.payload)
        .map(|_| ())
        .map_err(|e| {
            ConnectorError::new(
                ErrorKind::Rejected,
                format!(
                    "record {} is not valid JSON (line {}, column {})",
                    record.id,
                    e.line(),
                    e.column()
                ),
                "send each record as one JSON value",
            )
        })
}

/// The body for one record in `json` mode.
pub fn single(record: &Record, envelope: Option<&Envelope>) -> Bytes {
    let Some(env) = envelope else {
        return record.payload.clone();
    };
    let event_type = env
        .event_type
        .as_deref()
        .or(record.event.as_ref().map(|e| e.event_type.as_str()))
        .map(json_string)
        // Neither configured nor named by the host: unknown, said as such.
        .unwrap_or_else(|| "null".to_string());
    let mut out = BytesMut::with_capacity(record.payload.len() + 96);
    out.put_slice(b"{\"type\":");
    out.put_slice(event_type.as_bytes());
    match env.format {
        EnvelopeFormat::Courier => {
            out.put_slice(b",\"id\":");
            out.put_slice(json_string(&record.id).as_bytes());
        }
        EnvelopeFormat::StandardWebhooks => {
            let at = record
                .event
                .as_ref()
                .and_then(|e| e.occurred_at.clone())
                .unwrap_or_else(now_rfc3339);
            out.put_slice(b",\"timestamp\":");
            out.put_slice(json_string(&at).as_bytes());
        }
    }
    out.put_slice(b",\"data\":");
    out.put_slice(&record.payload);
    out.put_u8(b'}');
    out.freeze()
}

/// Now, RFC 3339 in UTC: the time of a Standard Webhooks envelope whose event's time the host
/// did not say.
fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The body for a batch in `json_array` mode.
pub fn array(records: &[&Record], envelope: Option<&Envelope>) -> Bytes {
    let mut out =
        BytesMut::with_capacity(records.iter().map(|r| r.payload.len() + 1).sum::<usize>() + 2);
    out.put_u8(b'[');
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.put_slice(&single(r, envelope));
    }
    out.put_u8(b']');
    out.freeze()
}

/// The body for a batch in `ndjson` mode. Payloads with a raw newline (JSON whitespace) cannot
/// be one line each and were refused by `check_ndjson`.
pub fn ndjson(records: &[&Record], envelope: Option<&Envelope>) -> Bytes {
    let mut out = BytesMut::with_capacity(records.iter().map(|r| r.payload.len() + 1).sum());
    for r in records {
        out.put_slice(&single(r, envelope));
        out.put_u8(b'\n');
    }
    out.freeze()
}

pub fn check_ndjson(record: &Record) -> Result<(), ConnectorError> {
    check_json(record)?;
    if record.payload.iter().any(|&b| b == b'\n' || b == b'\r') {
        return Err(ConnectorError::new(
            ErrorKind::Rejected,
            format!(
                "record {} contains a line break, so it cannot be one NDJSON line",
                record.id
            ),
            "send compact JSON (no line breaks) or use body: json",
        ));
    }
    Ok(())
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_sent_exactly_as_given() {
        let r = Record::new("r1", "{ \"a\" : 1 }");
        assert_eq!(&single(&r, None)[..], b"{ \"a\" : 1 }");
        let env = Envelope {
            event_type: Some("t.x".into()),
            format: EnvelopeFormat::Courier,
        };
        assert_eq!(
            &single(&r, Some(&env))[..],
            b"{\"type\":\"t.x\",\"id\":\"r1\",\"data\":{ \"a\" : 1 }}"
        );
        let r2 = Record::new("r2", "[2]");
        assert_eq!(&array(&[&r, &r2], None)[..], b"[{ \"a\" : 1 },[2]]");
        assert_eq!(&ndjson(&[&r, &r2], None)[..], b"{ \"a\" : 1 }\n[2]\n");
    }

    #[test]
    fn standard_webhooks_envelope_names_the_event_and_its_time() {
        let env = Envelope {
            event_type: None,
            format: EnvelopeFormat::StandardWebhooks,
        };
        let r = Record::new("d1", "{\"id\":7}")
            .with_event("order.created", "e1")
            .with_event_time("2026-12-04T10:00:00.123Z");
        assert_eq!(
            &single(&r, Some(&env))[..],
            b"{\"type\":\"order.created\",\"timestamp\":\"2026-12-04T10:00:00.123Z\",\"data\":{\"id\":7}}"
        );
        // No event named and no type configured: the type is unknown (null), the time is now.
        let bare: serde_json::Value =
            serde_json::from_slice(&single(&Record::new("d2", "1"), Some(&env))).unwrap();
        assert_eq!(bare["type"], serde_json::Value::Null);
        assert!(bare["timestamp"].as_str().unwrap().ends_with('Z'), "{bare}");
        assert_eq!(bare["data"], 1);
    }

    #[test]
    fn encoding_checks() {
        assert!(check_json(&Record::new("x", "{")).is_err());
        assert!(check_ndjson(&Record::new("x", "{\n}")).is_err());
        assert!(check_ndjson(&Record::new("x", "{}")).is_ok());
    }
}

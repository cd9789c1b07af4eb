//! `record_envelope`: each record written into a file as `{"type", "id", "event_id",
//! "timestamp", "data"}`, so a reader of the file knows which event every line or row came from
//! (a file holds many events; object metadata could only describe the whole file).

use bytes::{BufMut, BytesMut};
use courier_core::{Batch, Record};

/// `batch` with every payload wrapped in its envelope: `type`, `event_id` and `timestamp` (when
/// the event was accepted) from the event the host names (`null` when it names none), `id` the
/// record's, `data` the payload as given. The batch keeps its id and time, so retries keep
/// their file names.
pub fn wrap(batch: &Batch) -> Batch {
    batch.with_records(batch.records.iter().map(wrap_record).collect())
}

fn wrap_record(record: &Record) -> Record {
    let event = record.event.as_ref();
    let text = |v: Option<&str>| match v {
        Some(s) => serde_json::Value::String(s.to_string()).to_string(),
        None => "null".to_string(),
    };
    let mut out = BytesMut::with_capacity(record.payload.len() + 160);
    out.put_slice(b"{\"type\":");
    out.put_slice(text(event.map(|e| e.event_type.as_str())).as_bytes());
    out.put_slice(b",\"id\":");
    out.put_slice(text(Some(&record.id)).as_bytes());
    out.put_slice(b",\"event_id\":");
    out.put_slice(text(event.map(|e| e.event_id.as_str())).as_bytes());
    out.put_slice(b",\"timestamp\":");
    out.put_slice(text(event.and_then(|e| e.occurred_at.as_deref())).as_bytes());
    out.put_slice(b",\"data\":");
    out.put_slice(&record.payload);
    out.put_u8(b'}');
    Record {
        id: record.id.clone(),
        payload: out.freeze(),
        event: record.event.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn each_record_names_its_event() {
        let batch = Batch::new(
            "b1",
            vec![
                Record::new("d1", "{\"total\":42}")
                    .with_event("order.created", "e1")
                    .with_event_time("2026-12-04T10:00:00.000Z"),
                Record::new("d2", "[1]"),
            ],
        )
        .with_json_payloads();
        let wrapped = wrap(&batch);
        assert_eq!(wrapped.id, "b1");
        assert_eq!(wrapped.created_at, batch.created_at);
        assert!(wrapped.json_payloads);
        let first: Value = serde_json::from_slice(&wrapped.records[0].payload).unwrap();
        assert_eq!(
            first,
            json!({"type": "order.created", "id": "d1", "event_id": "e1",
                   "timestamp": "2026-12-04T10:00:00.000Z", "data": {"total": 42}})
        );
        let second: Value = serde_json::from_slice(&wrapped.records[1].payload).unwrap();
        assert_eq!(
            second,
            json!({"type": null, "id": "d2", "event_id": null, "timestamp": null, "data": [1]})
        );
    }
}

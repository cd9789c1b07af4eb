//! One record as one stream entry: its stream, its guard key, and its fields (the payload as
//! one field or as its top-level JSON fields, the extra fields from the config, and the
//! record's id and event), with its size as the limit counts it.

use bytes::Bytes;
use courier_core::{ConnectorError, ErrorKind, Record};
use courier_messages::Keys;
use serde_json::Value;

use crate::config::{
    FieldsLayout, PAYLOAD_FIELD, RECORD_ID_FIELD, RedisStreamsConfig, check_key_text,
};
use crate::script::{self, MAX_FIELDS};

/// One record, ready to append.
#[derive(Debug, Clone)]
pub struct StreamEntry {
    /// The stream it goes to.
    pub stream: String,
    /// The key that remembers its entry (see [`script::guard_key`]).
    pub guard: String,
    /// Field names and values, in order.
    pub fields: Vec<(String, Bytes)>,
}

impl StreamEntry {
    /// Bytes of field names and values: what `max_entry_bytes` limits.
    pub fn size(&self) -> usize {
        self.fields.iter().map(|(n, v)| n.len() + v.len()).sum()
    }
}

fn rejected(record: &Record, message: String, hint: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Rejected,
        format!("record {}: {message}", record.id),
        hint,
    )
}

/// The entry for `record`, whose keys (the stream key when it varies, then the extra fields)
/// are already rendered; or why this record alone cannot be appended.
pub fn entry(
    config: &RedisStreamsConfig,
    record: &Record,
    keys: &Keys,
) -> Result<StreamEntry, ConnectorError> {
    let stream = match (config.fixed_stream_key(), &keys[0]) {
        (Some(fixed), _) => fixed.to_string(),
        (None, Some(rendered)) => {
            // The template's text is checked at save time; what a record puts in its
            // placeholders could still aim the key at the guard's own keys.
            if let Err(problem) = check_key_text(rendered) {
                return Err(rejected(
                    record,
                    format!(
                        "its stream key `{}` (from stream_key_template `{}`) {problem}",
                        rendered.chars().take(128).collect::<String>(),
                        config.stream_key_template
                    ),
                    "correct the record's fields that stream_key_template reads, or the template",
                ));
            }
            rendered.clone()
        }
        (None, None) => {
            return Err(ConnectorError::internal(
                "the stream key template was not rendered",
            ));
        }
    };
    let mut fields: Vec<(String, Bytes)> = match config.fields {
        FieldsLayout::Payload => vec![(PAYLOAD_FIELD.to_string(), record.payload.clone())],
        FieldsLayout::TopLevel => top_level_fields(config, record)?,
    };
    for (name, value) in config.headers.keys().zip(&keys[1..]) {
        if let Some(value) = value {
            fields.push((name.clone(), Bytes::from(value.clone())));
        }
    }
    for (name, value) in courier_messages::event_attributes(record) {
        fields.push((name.to_string(), Bytes::copy_from_slice(value.as_bytes())));
    }
    fields.push((
        RECORD_ID_FIELD.to_string(),
        Bytes::copy_from_slice(record.id.as_bytes()),
    ));
    if fields.len() > MAX_FIELDS {
        return Err(rejected(
            record,
            format!(
                "would be an entry of {} fields, over the {MAX_FIELDS} an entry may have",
                fields.len()
            ),
            "send payloads with fewer top-level fields, or use fields: payload",
        ));
    }
    Ok(StreamEntry {
        guard: script::guard_key(&stream, &record.id),
        stream,
        fields,
    })
}

/// The payload's top-level fields: strings as they are, other values as their JSON text.
fn top_level_fields(
    config: &RedisStreamsConfig,
    record: &Record,
) -> Result<Vec<(String, Bytes)>, ConnectorError> {
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(&record.payload) else {
        return Err(rejected(
            record,
            "is not a JSON object, so it has no top-level fields to write".into(),
            "send JSON objects, or set fields to payload",
        ));
    };
    let mut fields = Vec::with_capacity(object.len() + config.headers.len() + 3);
    for (name, value) in object {
        if crate::config::is_reserved_field(&name) || config.headers.contains_key(&name) {
            return Err(rejected(
                record,
                format!(
                    "has a top-level field `{}`, a field the entry carries already",
                    name.chars().take(64).collect::<String>()
                ),
                "rename the field in the payload, or the extra field in config.headers",
            ));
        }
        let value = match value {
            Value::String(s) => Bytes::from(s),
            other => Bytes::from(other.to_string()),
        };
        fields.push((name, value));
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(extra: Value) -> RedisStreamsConfig {
        let mut c = json!({"url": "redis://127.0.0.1:6379", "stream_key_template": "orders"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        serde_json::from_value(c).unwrap()
    }

    fn names(e: &StreamEntry) -> Vec<&str> {
        e.fields.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn the_payload_layout_keeps_the_bytes_and_adds_the_record_and_event() {
        let c = config(json!({"headers": {"kind": "type"}}));
        let r = Record::new("dlv_1", r#"{"type":"a"}"#).with_event("order.created", "evt_1");
        let e = entry(&c, &r, &[None, Some("a".into())]).unwrap();
        assert_eq!(e.stream, "orders");
        assert_eq!(e.guard, "courier:dedup:orders:dlv_1");
        assert_eq!(
            names(&e),
            [
                "payload",
                "kind",
                "courier_event_type",
                "courier_event_id",
                "courier_record_id"
            ]
        );
        assert_eq!(&e.fields[0].1[..], br#"{"type":"a"}"#);
        assert_eq!(
            e.size(),
            e.fields
                .iter()
                .map(|(n, v)| n.len() + v.len())
                .sum::<usize>()
        );
    }

    #[test]
    fn the_top_level_layout_writes_strings_as_they_are_and_the_rest_as_json() {
        let c = config(json!({"fields": "top_level"}));
        let r = Record::new("r", r#"{"s":"x y","n":1.5,"o":{"a":[1,null]},"b":true}"#);
        let e = entry(&c, &r, &[None]).unwrap();
        let values: Vec<(&str, &[u8])> =
            e.fields.iter().map(|(n, v)| (n.as_str(), &v[..])).collect();
        assert_eq!(
            values,
            [
                ("s", &b"x y"[..]),
                ("n", b"1.5"),
                ("o", br#"{"a":[1,null]}"#),
                ("b", b"true"),
                ("courier_record_id", b"r")
            ]
        );
    }

    #[test]
    fn a_rendered_stream_key_in_the_guard_namespace_fails_alone() {
        let c = config(json!({"stream_key_template": "{prefix}dedup:{stream}"}));
        let r = Record::new("r", r#"{"prefix":"courier:","stream":"orders:r"}"#);
        let keys = [Some("courier:dedup:orders:r".to_string())];
        let e = entry(&c, &r, &keys).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Rejected, "{e:?}");
        assert!(
            e.message.contains("`{prefix}dedup:{stream}`") && e.message.contains("courier:dedup:"),
            "{e:?}"
        );
        let fine = entry(&c, &r, &[Some("events:dedup:orders".to_string())]).unwrap();
        assert_eq!(fine.stream, "events:dedup:orders");
    }

    #[test]
    fn payloads_that_cannot_be_laid_out_fail_alone() {
        let c = config(json!({"fields": "top_level", "headers": {"kind": "type"}}));
        for payload in [
            &b"[1,2]"[..],
            b"not json",
            br#"{"courier_record_id":"x"}"#,
            br#"{"kind":"x","type":"t"}"#,
        ] {
            let r = Record::new("r", payload.to_vec());
            let e = entry(&c, &r, &[None, Some("t".into())]).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Rejected, "{e:?}");
        }
        let many: serde_json::Map<String, Value> = (0..MAX_FIELDS)
            .map(|i| (format!("f{i}"), json!(i)))
            .collect();
        let r = Record::new("r", serde_json::to_vec(&many).unwrap());
        assert!(entry(&config(json!({"fields": "top_level"})), &r, &[None]).is_err());
    }
}

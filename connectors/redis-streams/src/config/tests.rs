//! Config and auth_config validation: each problem at its JSON path.

use serde_json::{Value, json};

use super::*;

fn config(extra: Value) -> RedisStreamsConfig {
    let mut c = json!({"url": "redis://127.0.0.1:6379", "stream_key_template": "orders"});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    serde_json::from_value(c).unwrap()
}

fn paths(c: &RedisStreamsConfig) -> Vec<String> {
    c.validate().into_iter().map(|e| e.path).collect()
}

#[test]
fn a_minimal_config_validates_with_its_defaults() {
    let c = config(json!({}));
    assert!(paths(&c).is_empty());
    assert_eq!(c.fields, FieldsLayout::Payload);
    assert_eq!(c.dedup_ttl_seconds, 86_400);
    assert_eq!(c.max_entry_bytes, 1024 * 1024);
    assert_eq!(c.fixed_stream_key(), Some("orders"));
}

#[test]
fn urls_with_credentials_or_another_scheme_are_refused_at_url() {
    for url in ["redis://u:p@h:6379", "https://h", "h:6379", "redis://h/x"] {
        assert_eq!(paths(&config(json!({ "url": url }))), ["/url"], "{url}");
    }
    let errors = config(json!({"url": "redis://:hunter2@h"})).validate();
    assert!(errors[0].message.contains("auth_config"), "{errors:?}");
    assert!(!errors[0].message.contains("hunter2"));
    assert!(paths(&config(json!({"url": "rediss://h:6380/15"}))).is_empty());
}

#[test]
fn templates_are_checked_when_saved() {
    assert_eq!(
        paths(&config(
            json!({"stream_key_template": "orders:{customer.id"})
        )),
        ["/stream_key_template"]
    );
    assert_eq!(
        paths(&config(json!({"stream_key_template": "courier:dedup:x"}))),
        ["/stream_key_template"]
    );
    let c = config(json!({"stream_key_template": "orders:{customer.id}"}));
    assert!(paths(&c).is_empty());
    assert_eq!(c.fixed_stream_key(), None);
    assert_eq!(
        paths(&config(json!({"headers": {"kind": "{type", "ok": "type"}}))),
        ["/headers/kind"]
    );
}

#[test]
fn extra_fields_may_not_take_the_connectors_own_names() {
    let c = config(json!({"headers": {
        "courier_event_id": "id",
        "Courier_Record_Id": "id",
        "payload": "id",
        "": "id",
        "fine": "id"
    }}));
    assert_eq!(
        paths(&c),
        [
            "/headers/",
            "/headers/Courier_Record_Id",
            "/headers/courier_event_id",
            "/headers/payload"
        ]
    );
    // With the top-level layout, `payload` is an ordinary field name.
    let c = config(json!({"fields": "top_level", "headers": {"payload": "id"}}));
    assert!(paths(&c).is_empty());
}

#[test]
fn numbers_are_checked_against_their_ranges() {
    assert_eq!(paths(&config(json!({"maxlen": 0}))), ["/maxlen"]);
    assert_eq!(
        paths(&config(json!({"dedup_ttl_seconds": 5}))),
        ["/dedup_ttl_seconds"]
    );
    assert_eq!(
        paths(&config(json!({"max_entry_bytes": 1u64 << 40}))),
        ["/max_entry_bytes"]
    );
}

#[test]
fn fallback_and_ca_apply_only_where_they_mean_something() {
    assert_eq!(
        paths(&config(json!({"fallback_stream_key": "other"}))),
        ["/fallback_stream_key"]
    );
    assert!(
        paths(&config(json!({
            "stream_key_template": "o:{c}",
            "fallback_stream_key": "o:none"
        })))
        .is_empty()
    );
    assert_eq!(paths(&config(json!({"ca_pem": "x"}))), ["/ca_pem"]);
    assert_eq!(
        paths(&config(json!({"url": "rediss://h", "ca_pem": "not pem"}))),
        ["/ca_pem"]
    );
}

#[test]
fn unknown_fields_are_refused() {
    let parsed = serde_json::from_value::<RedisStreamsConfig>(
        json!({"url": "redis://h", "stream_key_template": "s", "stream": "x"}),
    );
    assert!(parsed.is_err());
    let parsed = serde_json::from_value::<RedisStreamsAuth>(json!({"user": "x"}));
    assert!(parsed.is_err());
}

#[test]
fn a_username_needs_a_password() {
    let auth: RedisStreamsAuth = serde_json::from_value(json!({"username": "courier"})).unwrap();
    let paths: Vec<String> = auth.validate().into_iter().map(|e| e.path).collect();
    assert_eq!(paths, ["/password"]);
    let auth: RedisStreamsAuth =
        serde_json::from_value(json!({"username": "courier", "password": "pw"})).unwrap();
    assert!(auth.validate().is_empty());
    assert!(
        !format!("{auth:?}").contains("\"pw\""),
        "the password is not shown"
    );
}

//! Redis Streams against a redis-server of each test's own, read back with the plain redis
//! client: payloads byte for byte with their record and event fields, both field layouts,
//! stream keys from the payload, redelivery appending nothing twice, trimming, records that
//! fail alone (too large, not an object, a key of another type, a stream key rendered into
//! the guard's keys), and the connection test's
//! steps (credentials, key type, ACL, the network guard).

mod common;

use courier_conformance::helpers::test_report;
use courier_connector_redis_streams::RedisStreams;
use courier_core::{Batch, DynConnector, ErrorKind, Outcome, Record, StepStatus, TestReport};
use serde_json::{Value, json};

fn order(i: usize, customer: &str) -> Record {
    Record::new(
        format!("r{i}"),
        format!(
            r#"{{"n":{i},"type":"order.created","customer":{{"id":"{customer}"}},"name":"Zoë ✓"}}"#
        ),
    )
    .with_event("order.created", format!("evt_{i}"))
}

async fn report(config: Value, auth: Value) -> TestReport {
    test_report(&RedisStreams, &common::spec(config, auth)).await
}

#[tokio::test]
async fn payloads_arrive_byte_for_byte_with_their_record_event_and_extra_fields() {
    let broker = common::broker();
    let config = common::config(
        broker.port(),
        "orders",
        json!({"headers": {"kind": "type"}}),
    );
    let destination = common::destination(config).await;
    let records: Vec<Record> = (0..20).map(|i| order(i, "c1")).collect();
    let out = destination
        .deliver(&Batch::new("b1", records.clone()))
        .await;
    assert_eq!(out.delivered_count(), 20, "{out:?}");

    let mut reader = common::reader(broker.port()).await;
    let found = common::entries(&mut reader, "orders").await;
    assert_eq!(found.len(), 20);
    // In batch order, each entry exactly its record.
    for ((record, entry), outcome) in records.iter().zip(&found).zip(&out.records) {
        assert_eq!(entry.field("payload"), Some(&record.payload[..]));
        assert_eq!(entry.record_id(), record.id);
        let event = record.event.as_ref().unwrap();
        assert_eq!(
            entry.field("courier_event_type"),
            Some(event.event_type.as_bytes())
        );
        assert_eq!(
            entry.field("courier_event_id"),
            Some(event.event_id.as_bytes())
        );
        assert_eq!(entry.field("kind"), Some(&b"order.created"[..]));
        let names: Vec<&str> = entry.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "payload",
                "kind",
                "courier_event_type",
                "courier_event_id",
                "courier_record_id"
            ]
        );
        match &outcome.outcome {
            Outcome::Delivered(d) => assert_eq!(d.reference, format!("orders/{}", entry.id)),
            other => panic!("{other:?}"),
        }
    }

    // Without templates any bytes go as they are, and a record without an event carries none.
    let raw = common::destination(common::config(broker.port(), "raw", json!({}))).await;
    let bytes: Vec<u8> = (0..=255u8).chain([0, 0xff, b'\r', b'\n']).collect();
    let out = raw
        .deliver(&Batch::new("b2", vec![Record::new("bin", bytes.clone())]))
        .await;
    assert_eq!(out.delivered_count(), 1, "{out:?}");
    let found = common::entries(&mut reader, "raw").await;
    assert_eq!(found[0].field("payload"), Some(&bytes[..]));
    assert_eq!(found[0].field("courier_event_type"), None);
    assert_eq!(found[0].fields.len(), 2);
}

#[tokio::test]
async fn top_level_fields_become_entry_fields_and_other_payloads_fail_alone() {
    let broker = common::broker();
    let config = common::config(broker.port(), "people", json!({"fields": "top_level"}));
    let destination = common::destination(config).await;
    let records = vec![
        Record::new(
            "p1",
            r#"{"name":"Zoë \"Q\"","age":42,"tags":["a","b"],"ok":null}"#,
        ),
        Record::new("p2", "[1,2,3]"),
        Record::new("p3", r#"{"courier_record_id":"spoof"}"#),
        Record::new("p4", r#"{"name":"B"}"#).with_event("person.updated", "evt_4"),
    ];
    let out = destination.deliver(&Batch::new("b", records)).await;
    let kinds: Vec<Option<ErrorKind>> = out
        .records
        .iter()
        .map(|r| r.error().map(|e| e.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            None,
            Some(ErrorKind::Rejected),
            Some(ErrorKind::Rejected),
            None
        ],
        "{out:?}"
    );
    let mut reader = common::reader(broker.port()).await;
    let found = common::entries(&mut reader, "people").await;
    assert_eq!(found.len(), 2);
    let fields: Vec<(&str, &[u8])> = found[0]
        .fields
        .iter()
        .map(|(n, v)| (n.as_str(), &v[..]))
        .collect();
    assert_eq!(
        fields,
        [
            ("name", r#"Zoë "Q""#.as_bytes()),
            ("age", b"42"),
            ("tags", br#"["a","b"]"#),
            ("ok", b"null"),
            ("courier_record_id", b"p1"),
        ]
    );
    assert_eq!(found[1].field("courier_event_id"), Some(&b"evt_4"[..]));
}

#[tokio::test]
async fn stream_keys_are_read_from_each_record_with_a_fallback() {
    let broker = common::broker();
    let config = common::config(
        broker.port(),
        "orders:{customer.id}",
        json!({"fallback_stream_key": "orders:unknown"}),
    );
    let destination = common::destination(config).await;
    let records = vec![
        order(0, "a"),
        order(1, "b"),
        order(2, "a"),
        Record::new("anon", r#"{"n":3}"#),
    ];
    let out = destination.deliver(&Batch::new("b", records)).await;
    assert_eq!(out.delivered_count(), 4, "{out:?}");
    let mut reader = common::reader(broker.port()).await;
    let ids = |entries: Vec<common::ReadEntry>| -> Vec<String> {
        entries.iter().map(|e| e.record_id()).collect()
    };
    assert_eq!(
        ids(common::entries(&mut reader, "orders:a").await),
        ["r0", "r2"]
    );
    assert_eq!(ids(common::entries(&mut reader, "orders:b").await), ["r1"]);
    assert_eq!(
        ids(common::entries(&mut reader, "orders:unknown").await),
        ["anon"]
    );
}

#[tokio::test]
async fn a_record_whose_stream_key_renders_into_the_guard_keys_fails_alone() {
    let broker = common::broker();
    let config = common::config(broker.port(), "{scope}:{customer.id}", json!({}));
    let destination = common::destination(config).await;
    let records = vec![
        Record::new("ok", r#"{"scope":"orders","customer":{"id":"a"}}"#),
        Record::new(
            "guard",
            r#"{"scope":"courier:dedup","customer":{"id":"a"}}"#,
        ),
    ];
    let out = destination.deliver(&Batch::new("b", records)).await;
    assert!(out.records[0].error().is_none(), "{out:?}");
    let e = out.records[1].error().expect("the guard-key record fails");
    assert_eq!(e.kind, ErrorKind::Rejected, "{e:?}");
    assert!(
        e.message.contains("courier:dedup:a") && e.message.contains("`{scope}:{customer.id}`"),
        "{e:?}"
    );
    let mut reader = common::reader(broker.port()).await;
    assert_eq!(common::entries(&mut reader, "orders:a").await.len(), 1);
    assert!(
        common::entries(&mut reader, "courier:dedup:a")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_redelivered_batch_appends_nothing_twice() {
    let broker = common::broker();
    let config = common::config(broker.port(), "orders", json!({"dedup_ttl_seconds": 600}));
    let destination = common::destination(config).await;
    let batch = Batch::new("b", (0..50).map(|i| order(i, "c")).collect());
    let first = destination.deliver(&batch).await;
    let again = destination.deliver(&batch).await;
    assert_eq!((first.delivered_count(), again.delivered_count()), (50, 50));
    for (a, b) in first.records.iter().zip(&again.records) {
        match (&a.outcome, &b.outcome) {
            (Outcome::Delivered(a), Outcome::Delivered(b)) => {
                assert_eq!(a.reference, b.reference, "the first entry is answered");
                assert_eq!(a.response_body, None);
                assert!(
                    b.response_body
                        .as_deref()
                        .unwrap()
                        .contains("earlier delivery")
                );
            }
            other => panic!("{other:?}"),
        }
    }
    let mut reader = common::reader(broker.port()).await;
    assert_eq!(common::entries(&mut reader, "orders").await.len(), 50);
    let ttl: i64 = redis::cmd("TTL")
        .arg("courier:dedup:orders:r7")
        .query_async(&mut reader)
        .await
        .unwrap();
    assert!((590..=600).contains(&ttl), "{ttl}");
}

#[tokio::test]
async fn streams_are_trimmed_to_about_maxlen() {
    let broker = common::broker();
    let config = common::config(broker.port(), "trimmed", json!({"maxlen": 10}));
    let destination = common::destination(config).await;
    for b in 0..5 {
        let records = (0..200).map(|i| order(b * 200 + i, "c")).collect();
        let out = destination
            .deliver(&Batch::new(format!("b{b}"), records))
            .await;
        assert_eq!(out.delivered_count(), 200);
    }
    let mut reader = common::reader(broker.port()).await;
    let length: usize = redis::cmd("XLEN")
        .arg("trimmed")
        .query_async(&mut reader)
        .await
        .unwrap();
    // `~` trims whole nodes (100 entries by default): about maxlen, never all 1000.
    assert!((10..=200).contains(&length), "{length}");
}

#[tokio::test]
async fn a_record_over_max_entry_bytes_fails_alone() {
    let broker = common::broker();
    let config = common::config(broker.port(), "sized", json!({"max_entry_bytes": 4096}));
    let destination = common::destination(config).await;
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(8 * 1024));
    let records = vec![order(0, "c"), Record::new("big", big), order(2, "c")];
    let out = destination.deliver(&Batch::new("b", records)).await;
    let kinds: Vec<Option<ErrorKind>> = out
        .records
        .iter()
        .map(|r| r.error().map(|e| e.kind))
        .collect();
    assert_eq!(
        kinds,
        [None, Some(ErrorKind::PayloadTooLarge), None],
        "{out:?}"
    );
    let mut reader = common::reader(broker.port()).await;
    let ids: Vec<String> = common::entries(&mut reader, "sized")
        .await
        .iter()
        .map(|e| e.record_id())
        .collect();
    assert_eq!(ids, ["r0", "r2"]);
}

#[tokio::test]
async fn a_key_of_another_type_fails_the_test_at_the_stream_step_and_its_records_alone() {
    let broker = common::broker();
    let mut reader = common::reader(broker.port()).await;
    let _: () = redis::cmd("SET")
        .arg("orders:taken")
        .arg("x")
        .query_async(&mut reader)
        .await
        .unwrap();

    let taken = common::config(broker.port(), "orders:taken", json!({}));
    let report = report(taken, common::auth()).await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "stream", "{report:#?}");
    assert_eq!(failed.error_kind, Some(ErrorKind::Conflict));
    assert!(failed.hint.as_deref().is_some_and(|h| !h.is_empty()));

    // In one pipeline, the record aimed at the key fails and the others go.
    let config = common::config(broker.port(), "orders:{customer.id}", json!({}));
    let destination = common::destination(config).await;
    let records = vec![order(0, "a"), order(1, "taken"), order(2, "a")];
    let out = destination.deliver(&Batch::new("b", records)).await;
    let kinds: Vec<Option<ErrorKind>> = out
        .records
        .iter()
        .map(|r| r.error().map(|e| e.kind))
        .collect();
    assert_eq!(kinds, [None, Some(ErrorKind::Conflict), None], "{out:?}");
}

#[tokio::test]
async fn a_missing_stream_passes_the_stream_step_saying_xadd_creates_it() {
    let broker = common::broker();
    let report = report(
        common::config(broker.port(), "not-yet", json!({})),
        common::auth(),
    )
    .await;
    assert!(report.success, "{report:#?}");
    let stream = report.steps.iter().find(|s| s.name == "stream").unwrap();
    assert!(stream.message.contains("does not exist yet"), "{stream:?}");
    let write = report
        .steps
        .iter()
        .find(|s| s.name == "write_permission")
        .unwrap();
    assert!(write.message.contains("nothing was written"), "{write:?}");
    let mut reader = common::reader(broker.port()).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut reader)
        .await
        .unwrap();
    assert!(keys.is_empty(), "the test wrote {keys:?}");
}

#[tokio::test]
async fn wrong_or_missing_credentials_fail_at_authentication() {
    let broker = common::broker();
    let config = common::config(broker.port(), "orders", json!({}));
    let mut wrong = common::auth();
    wrong["password"] = json!("not-the-password");
    for auth in [wrong, json!({}), json!({"password": "x"})] {
        let report = report(config.clone(), auth.clone()).await;
        let failed = report.failed_step().expect("a failed step");
        assert_eq!(failed.name, "authentication", "{auth}: {report:#?}");
        assert_eq!(
            failed.error_kind,
            Some(ErrorKind::Unauthenticated),
            "{failed:?}"
        );
        assert!(
            report
                .steps
                .iter()
                .any(|s| s.name == "connection" && s.status == StepStatus::Passed)
        );
    }
}

#[tokio::test]
async fn the_acl_is_checked_by_a_dry_run_of_the_script() {
    let broker = common::broker();
    let mut admin = common::reader(broker.port()).await;
    // May read `orders` and keep guards, but not write `orders`.
    let _: () = redis::cmd("ACL")
        .arg(&[
            "SETUSER",
            "reader",
            "on",
            ">reader-pw",
            "%R~orders",
            "~courier:dedup:*",
            "+@all",
        ])
        .query_async(&mut admin)
        .await
        .unwrap();
    let config = common::config(broker.port(), "orders", json!({}));
    let report = report(
        config.clone(),
        json!({"username": "reader", "password": "reader-pw"}),
    )
    .await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "write_permission", "{report:#?}");
    assert_eq!(failed.error_kind, Some(ErrorKind::Forbidden));

    // A delivery by that user fails as forbidden, and writes nothing.
    let destination = RedisStreams
        .build(&common::spec(
            config,
            json!({"username": "reader", "password": "reader-pw"}),
        ))
        .await
        .unwrap();
    let out = destination
        .deliver(&Batch::new("b", vec![order(0, "c")]))
        .await;
    assert_eq!(
        out.records[0].error().map(|e| e.kind),
        Some(ErrorKind::Forbidden),
        "{out:?}"
    );
    assert!(common::entries(&mut admin, "orders").await.is_empty());
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowed() {
    let broker = common::broker();
    let mut spec = common::spec(
        common::config(broker.port(), "orders", json!({})),
        common::auth(),
    );
    spec.allow_private_network = false;
    let report = test_report(&RedisStreams, &spec).await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "connection", "{report:#?}");
    assert_eq!(failed.error_kind, Some(ErrorKind::InvalidConfig));
    assert!(failed.message.contains("SSRF guard"), "{failed:?}");
}

//! Kinesis behaviour against moto: data exactly as given with its partition key, batches over
//! the request limits, records that fail alone, and clear connection-test failures.

use std::time::Duration;

use courier_connector_kinesis::Kinesis;
use courier_core::{Batch, DestinationSpec, DynConnector, ErrorKind, Outcome, Record, TestReport};
use courier_testbed::moto as support;
use serde_json::{Value, json};

fn spec(config: Value, auth: Value) -> DestinationSpec {
    DestinationSpec {
        destination_id: "dest_k".into(),
        config,
        auth_config: auth,
        payload_cap_bytes: None,
        token_store: None,
        allow_private_network: true,
    }
}

async fn report(config: Value, auth: Value) -> TestReport {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    courier_runtime::run_test(&Kinesis, &spec(config, auth), Duration::from_secs(30), &tx).await
}

#[tokio::test]
async fn data_is_the_payload_and_keys_come_from_it() {
    let moto = support::moto();
    let stream = moto.new_stream(2).await;
    let mut config = moto.kinesis_config(&stream);
    config["partition_key_template"] = json!("{user.id}-{type}");
    config["fallback_partition_key"] = json!("anonymous");
    let dest = Kinesis.build(&spec(config, moto.auth())).await.unwrap();
    let records = vec![
        Record::new("a", r#"{ "user": {"id": 7}, "type": "signup" }"#),
        Record::new("b", r#"{"type":"visit"}"#),
    ];
    let out = dest.deliver(&Batch::new("k1", records)).await;
    assert_eq!(out.delivered_count(), 2, "{out:?}");
    match &out.records[0].outcome {
        Outcome::Delivered(d) => assert!(d.reference.starts_with("shardId-"), "{d:?}"),
        other => panic!("{other:?}"),
    }
    let mut stored = moto.records(&stream).await;
    stored.sort();
    assert_eq!(
        stored,
        vec![
            (
                "7-signup".to_string(),
                br#"{ "user": {"id": 7}, "type": "signup" }"#.to_vec()
            ),
            ("anonymous".to_string(), br#"{"type":"visit"}"#.to_vec()),
        ]
    );
}

#[tokio::test]
async fn bad_records_fail_alone_and_large_batches_are_split() {
    let moto = support::moto();
    let stream = moto.new_stream(1).await;
    let dest = Kinesis
        .build(&spec(moto.kinesis_config(&stream), moto.auth()))
        .await
        .unwrap();
    let mut records: Vec<Record> = (0..1_200)
        .map(|i| Record::new(format!("r{i}"), format!(r#"{{"user":{{"id":"u{i}"}}}}"#)))
        .collect();
    records.push(Record::new("no-key", r#"{"other":1}"#));
    records.push(Record::new("not-json", "oops"));
    records.push(Record::new(
        "huge",
        format!(
            r#"{{"user":{{"id":"x"}},"pad":"{}"}}"#,
            "p".repeat(1_100_000)
        ),
    ));
    let out = dest.deliver(&Batch::new("k2", records)).await;
    assert_eq!(out.delivered_count(), 1_200);
    let kinds: Vec<ErrorKind> = out.records[1_200..]
        .iter()
        .map(|r| r.error().unwrap().kind)
        .collect();
    assert_eq!(
        kinds,
        [
            ErrorKind::Rejected,
            ErrorKind::Rejected,
            ErrorKind::PayloadTooLarge
        ]
    );
    assert!(
        out.records[1_200]
            .error()
            .unwrap()
            .message
            .contains("user.id")
    );
    assert_eq!(moto.records(&stream).await.len(), 1_200);
}

#[tokio::test]
async fn the_connection_test_names_what_is_wrong() {
    let moto = support::moto();
    let stream = moto.new_stream(1).await;
    let ok = report(moto.kinesis_config(&stream), moto.auth()).await;
    assert!(ok.success, "{ok:#?}");
    let names: Vec<&str> = ok.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "validate",
            "build",
            "credentials",
            "authentication",
            "stream",
            "write_permission"
        ]
    );

    let missing = report(moto.kinesis_config("no-such-stream"), moto.auth()).await;
    let failed = missing.failed_step().unwrap();
    assert_eq!(
        (failed.name.as_str(), failed.error_kind),
        ("stream", Some(ErrorKind::NotFound))
    );
    assert!(failed.message.contains("no-such-stream"));

    let mut bad = moto.auth();
    bad["access_key_id"] = json!("AKIANOTAREALKEY00000");
    let failed = report(moto.kinesis_config(&stream), bad).await;
    let failed = failed.failed_step().unwrap();
    assert_eq!(
        (failed.name.as_str(), failed.error_kind),
        ("authentication", Some(ErrorKind::Unauthenticated))
    );
}

#[tokio::test]
async fn config_problems_are_named() {
    let errors: Vec<String> = Kinesis
        .validate(&spec(
            json!({"stream_name": "a", "stream_arn": "arn:aws:kinesis:us-east-1:1:stream/a", "region": "x y",
                   "partition_key_template": "{a", "explicit_hash_key_template": "b..c", "fallback_partition_key": ""}),
            json!({}),
        ))
        .iter()
        .map(|e| e.to_string())
        .collect();
    for path in [
        "/config/stream_arn",
        "/config/region",
        "/config/partition_key_template",
        "/config/explicit_hash_key_template",
        "/config/fallback_partition_key",
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(&format!("{path}:"))),
            "{path} missing: {errors:#?}"
        );
    }
    let errors = Kinesis.validate(&spec(
        json!({"region": "us-east-1", "partition_key_template": "id"}),
        json!({}),
    ));
    assert_eq!(
        errors[0].to_string(),
        "/config/stream_name: is required (or give stream_arn)"
    );
}

//! The conformance cases. Each takes a fresh fixture and panics with a precise message on failure.

use std::sync::Arc;
use std::time::Duration;

use courier_core::{
    Batch, DestinationSpec, DynConnector, ErrorKind, Record, StepStatus, TestEvent, TestReport,
};
use courier_runtime::{Deliverer, DeliveryPolicy};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::fixture::Fixture;
use crate::report::missing;

const DEADLINE: Duration = Duration::from_secs(30);

async fn run_test(f: &Fixture, spec: DestinationSpec) -> (Vec<TestEvent>, TestReport) {
    let events: Vec<TestEvent> = courier_runtime::test_events(f.connector.clone(), spec, DEADLINE)
        .collect()
        .await;
    let dones: Vec<&TestReport> = events
        .iter()
        .filter_map(|e| match e {
            TestEvent::Done(r) => Some(r),
            TestEvent::Step(_) => None,
        })
        .collect();
    assert_eq!(
        dones.len(),
        1,
        "a test must end with exactly one done event"
    );
    assert!(
        matches!(events.last(), Some(TestEvent::Done(_))),
        "done must be the last event"
    );
    let report = dones[0].clone();
    (events, report)
}

/// Whether the connector takes credentials at all (its auth_config has fields).
/// Whether the connector's auth_config has any field (cases about credentials apply).
pub fn takes_credentials(connector: &dyn DynConnector) -> bool {
    connector.auth_schema()["properties"]
        .as_object()
        .is_some_and(|p| !p.is_empty())
}

fn sample_records(prefix: &str, n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let payload = json!({
                "id": format!("{prefix}-{i}"),
                "email": format!("user{i}@example.com"),
                "name": "Zoë \"Q\" O'Brien — ✓",
                "amount": i as f64 * 1.5,
                "tags": ["a", "b"],
                "nested": {"ok": true, "n": null},
            });
            Record::new(
                format!("{prefix}-rec-{i}"),
                serde_json::to_vec(&payload).unwrap(),
            )
        })
        .collect()
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{prefix}{nanos}")
}

fn quick_policy() -> DeliveryPolicy {
    DeliveryPolicy {
        timeout_ms: 20_000,
        retry_max_attempts: 3,
        retry_base_ms: 100,
        retry_max_delay_ms: 1_000,
        retry_after_max_ms: 2_000,
        ..DeliveryPolicy::default()
    }
}

/// The schemas are valid draft 2020-12, and the fixture's config and every documented example
/// validate.
pub async fn schema_and_examples(f: Fixture) {
    let meta = f.connector.metadata();
    for (name, schema) in [
        ("config", f.connector.config_schema()),
        ("auth_config", f.connector.auth_schema()),
    ] {
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name} schema must declare draft 2020-12"
        );
        assert!(
            jsonschema::meta::is_valid(&schema),
            "{name} schema is not a valid JSON Schema"
        );
        assert_eq!(
            schema["type"], "object",
            "{name} schema must describe an object"
        );
    }
    let errors = f.connector.validate(&f.spec());
    assert!(
        errors.is_empty(),
        "the fixture's config must validate: {errors:?}"
    );
    assert!(
        !meta.examples.is_empty(),
        "{} documents no example",
        meta.type_id
    );
    for ex in meta.examples {
        let config: Value = serde_json::from_str(ex.config).expect("example config is JSON");
        let auth: Value =
            serde_json::from_str(ex.auth_config).expect("example auth_config is JSON");
        let errors = f.connector.validate(&f.spec_with(config, auth));
        assert!(
            errors.is_empty(),
            "example {:?} does not validate: {errors:?}",
            ex.name
        );
    }
    assert!(
        !meta.test_steps.is_empty(),
        "a connector must declare its test steps"
    );
}

/// Unknown fields and wrong shapes are reported with their JSON paths, all at once.
pub async fn validation_names_paths(f: Fixture) {
    let mut config = f.config.clone();
    config["__unknown_field__"] = json!(1);
    let mut auth = if f.auth_config.is_object() {
        f.auth_config.clone()
    } else {
        json!({})
    };
    auth["__unknown_auth__"] = json!(true);
    let errors = f.connector.validate(&f.spec_with(config, auth));
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert!(
        paths.contains(&"/config/__unknown_field__"),
        "unknown config field not reported: {errors:?}"
    );
    assert!(
        paths.contains(&"/auth_config/__unknown_auth__"),
        "unknown auth field not reported: {errors:?}"
    );

    let errors = f.connector.validate(&f.spec_with(json!([]), json!("x")));
    let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert!(
        text.contains(&"/config: must be an object".to_string()),
        "{text:?}"
    );
    assert!(
        text.contains(&"/auth_config: must be an object".to_string()),
        "{text:?}"
    );

    let required = f.connector.config_schema()["required"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if let Some(first) = required.first().and_then(Value::as_str) {
        let mut config = f.config.clone();
        config
            .as_object_mut()
            .expect("config is an object")
            .remove(first);
        let errors = f
            .connector
            .validate(&f.spec_with(config, f.auth_config.clone()));
        assert!(
            errors
                .iter()
                .any(|e| e.path == format!("/config/{first}") && e.message == "is required"),
            "a missing required field must be named: {errors:?}"
        );
    }
}

/// Validation never panics, whatever JSON arrives in any config or auth field.
pub async fn validation_survives_arbitrary_input(f: Fixture) {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Value::from),
        "\\PC{0,24}".prop_map(Value::from),
        Just(Value::from("../../etc/passwd\u{0}")),
    ];
    let value = leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let config_keys: Vec<String> = key_names(&f.connector.config_schema());
    let auth_keys: Vec<String> = key_names(&f.connector.auth_schema());
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    let connector = f.connector.clone();
    let base_config = f.config.clone();
    let base_auth = f.auth_config.clone();
    runner
        .run(&(value, 0usize..64, any::<bool>()), |(v, key, in_auth)| {
            let mut config = base_config.clone();
            let mut auth = base_auth.clone();
            let (target, keys) = if in_auth {
                (&mut auth, &auth_keys)
            } else {
                (&mut config, &config_keys)
            };
            if let (Some(obj), false) = (target.as_object_mut(), keys.is_empty()) {
                obj.insert(keys[key % keys.len()].clone(), v);
            }
            let spec = DestinationSpec {
                destination_id: "d".into(),
                config,
                auth_config: auth,
                payload_cap_bytes: None,
                token_store: None,
                allow_private_network: true,
            };
            for e in connector.validate(&spec) {
                prop_assert!(e.path.starts_with('/'), "error without a JSON path: {e}");
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("validation misbehaved: {e}"));
}

fn key_names(schema: &Value) -> Vec<String> {
    schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// A good config passes every step against the real target (skips are allowed, failures not).
pub async fn test_passes_against_target(f: Fixture) {
    let (_, report) = run_test(&f, f.spec()).await;
    assert!(
        report.success,
        "the connection test failed: {:#?}",
        report.failed_step()
    );
    let plan: Vec<&str> = f
        .connector
        .metadata()
        .test_steps
        .iter()
        .map(|s| s.name)
        .collect();
    let names: Vec<&str> = report.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        &names[..2],
        ["validate", "build"],
        "the runtime's steps come first"
    );
    assert_eq!(
        &names[2..],
        &plan[..],
        "every declared step is reported once, in order"
    );
    assert!(
        report
            .steps
            .iter()
            .any(|s| s.status == StepStatus::Passed && plan.contains(&s.name.as_str())),
        "at least one connector step must touch the target and pass"
    );
}

/// Bad credentials fail at the `authentication` step, with a hint.
pub async fn test_bad_credentials_fail_at_authentication(f: Fixture) {
    let bad = f
        .bad_auth_config
        .clone()
        .unwrap_or_else(|| missing("bad_auth_config"));
    let (_, report) = run_test(&f, f.spec_with(f.config.clone(), bad)).await;
    assert!(!report.success, "a test with bad credentials must fail");
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(
        failed.name, "authentication",
        "bad credentials must fail at authentication: {failed:#?}"
    );
    assert!(
        failed.hint.as_deref().is_some_and(|h| !h.is_empty()),
        "a failed step says what to change"
    );
    assert!(
        matches!(
            failed.error_kind,
            Some(ErrorKind::Unauthenticated | ErrorKind::Forbidden | ErrorKind::ReauthRequired)
        ),
        "{failed:#?}"
    );
}

/// An unreachable target fails a step with a classified error and a hint; later steps skip.
pub async fn test_unreachable_target_fails_clearly(f: Fixture) {
    let config = f
        .unreachable_config
        .clone()
        .unwrap_or_else(|| missing("unreachable_config"));
    let (_, report) = run_test(&f, f.spec_with(config, f.auth_config.clone())).await;
    assert!(!report.success);
    let failed = report.failed_step().expect("a failed step");
    assert!(
        failed.hint.as_deref().is_some_and(|h| !h.is_empty()),
        "{failed:#?}"
    );
    let after: Vec<_> = report
        .steps
        .iter()
        .skip_while(|s| s.status != StepStatus::Failed)
        .skip(1)
        .collect();
    assert!(
        after.iter().all(|s| s.status == StepStatus::Skipped),
        "steps after a failure are skipped"
    );
}

async fn destination(f: &Fixture, spec: &DestinationSpec) -> Arc<dyn courier_core::Destination> {
    f.connector
        .build(spec)
        .await
        .unwrap_or_else(|e| panic!("building the destination failed: {e}"))
}

/// N records delivered through the runtime arrive intact (read back from the target).
pub async fn delivered_records_arrive_intact(f: Fixture) {
    let read_back = f.read_back.clone().unwrap_or_else(|| missing("read_back"));
    let deliverer = Deliverer::new(destination(&f, &f.spec()).await, quick_policy());
    let records = sample_records(&unique("rt"), 5);
    let outcome = deliverer
        .deliver(Batch::new(unique("batch-"), records.clone()))
        .await;
    for o in &outcome.records {
        assert!(
            o.is_delivered(),
            "record {} was not delivered: {:?}",
            o.record_id,
            o.error()
        );
    }
    let found = read_back(records.clone()).await;
    for (r, got) in records.iter().zip(found) {
        assert_eq!(
            got.as_deref(),
            Some(&r.payload[..]),
            "record {} did not arrive intact",
            r.id
        );
    }
}

/// Delivering the same batch again replaces (or carries the same idempotency key), never
/// duplicates.
pub async fn redelivery_is_idempotent(f: Fixture) {
    let read_back = f.read_back.clone().unwrap_or_else(|| missing("read_back"));
    let count = f
        .stored_count
        .clone()
        .unwrap_or_else(|| missing("stored_count"));
    let dest = destination(&f, &f.spec()).await;
    let batch = Batch::new(unique("idem-"), sample_records(&unique("idem"), 3));
    let first = dest.deliver(&batch).await;
    assert_eq!(first.delivered_count(), 3, "{first:?}");
    let after_first = count().await;
    let second = dest.deliver(&batch).await;
    assert_eq!(second.delivered_count(), 3, "{second:?}");
    assert_eq!(
        count().await,
        after_first,
        "redelivery created duplicates at the target"
    );
    let found = read_back(batch.records.clone()).await;
    for (r, got) in batch.records.iter().zip(found) {
        assert_eq!(
            got.as_deref(),
            Some(&r.payload[..]),
            "record {} changed on redelivery",
            r.id
        );
    }
}

/// The sentinel secret appears in no Debug output, error, test event, schema or catalog entry.
pub async fn secrets_never_appear_in_output(f: Fixture) {
    let sentinel = f
        .secret_sentinel
        .clone()
        .unwrap_or_else(|| missing("secret_sentinel"));
    assert!(
        f.auth_config.to_string().contains(&sentinel),
        "the fixture's auth_config must contain the sentinel"
    );
    let mut output = String::new();
    let spec = f.spec();
    output.push_str(&format!("{spec:?}"));
    let dest = destination(&f, &spec).await;
    output.push_str(&format!("{dest:?} {dest:#?}"));
    output.push_str(&serde_json::to_string(dest.metadata()).unwrap());
    output.push_str(&f.connector.config_schema().to_string());
    output.push_str(&f.connector.auth_schema().to_string());
    let (events, _) = run_test(&f, spec.clone()).await;
    output.push_str(&serde_json::to_string(&events).unwrap());
    if let Some(bad) = &f.bad_auth_config {
        let (events, _) = run_test(&f, f.spec_with(f.config.clone(), bad.clone())).await;
        output.push_str(&serde_json::to_string(&events).unwrap());
    }
    if let Some(unreachable) = &f.unreachable_config {
        let spec = f.spec_with(unreachable.clone(), f.auth_config.clone());
        let dest = destination(&f, &spec).await;
        let out = dest
            .deliver(&Batch::new("b", sample_records("sec", 1)))
            .await;
        output.push_str(&serde_json::to_string(&out).unwrap());
        output.push_str(&format!("{out:?}"));
    }
    // A mistyped secret field must not be echoed by validation either.
    let mut wrong = f.auth_config.clone();
    if let Some(obj) = wrong.as_object_mut() {
        for v in obj.values_mut() {
            if v.as_str() == Some(sentinel.as_str()) {
                *v = json!([sentinel.clone()]);
            }
        }
    }
    for e in f.connector.validate(&f.spec_with(f.config.clone(), wrong)) {
        output.push_str(&e.to_string());
    }
    assert!(!output.contains(&sentinel), "the secret leaked into output");
}

/// Bad credentials fail delivery permanently (never retried as if the target were down).
pub async fn bad_credentials_are_permanent(f: Fixture) {
    let bad = f
        .bad_auth_config
        .clone()
        .unwrap_or_else(|| missing("bad_auth_config"));
    let dest = destination(&f, &f.spec_with(f.config.clone(), bad)).await;
    let out = dest
        .deliver(&Batch::new(unique("ea-"), sample_records("ea", 1)))
        .await;
    let e = out.records[0]
        .error()
        .expect("bad credentials must fail delivery");
    assert!(
        !e.is_retryable(),
        "bad credentials must be permanent: {e:?}"
    );
    assert!(
        matches!(
            e.kind,
            ErrorKind::Unauthenticated | ErrorKind::Forbidden | ErrorKind::ReauthRequired
        ),
        "{e:?}"
    );
}

/// An unreachable target fails delivery transiently (retried later), with a hint.
pub async fn unreachable_target_is_transient(f: Fixture) {
    let cfg = f
        .unreachable_config
        .clone()
        .unwrap_or_else(|| missing("unreachable_config"));
    let dest = destination(&f, &f.spec_with(cfg, f.auth_config.clone())).await;
    let out = dest
        .deliver(&Batch::new(unique("eu-"), sample_records("eu", 1)))
        .await;
    let e = out.records[0]
        .error()
        .expect("an unreachable target must fail delivery");
    // Unreachable is transient (retry later), unless the target is simply not there.
    assert!(
        e.is_retryable() || e.kind == ErrorKind::NotFound,
        "an unreachable target is transient or not_found: {e:?}"
    );
    assert!(!e.hint.is_empty() && !e.message.is_empty());
}

/// `describe_fields` answers with named, described fields.
pub async fn describe_fields_is_well_formed(f: Fixture) {
    let dest = destination(&f, &f.spec()).await;
    let fields = dest.describe_fields().await.expect("describe_fields");
    assert!(
        !fields.is_empty(),
        "a destination accepts at least one field"
    );
    for field in &fields {
        assert!(
            !field.name.is_empty() && !field.description.is_empty(),
            "{field:?}"
        );
    }
}

/// Whether a field names a place to connect to, by its name or its value: the fields a
/// connector must declare in [`courier_core::Connector::endpoints`].
fn names_a_host(key: &str, value: &Value) -> bool {
    let key = key.to_ascii_lowercase();
    let by_name = [
        "url", "uri", "endpoint", "host", "server", "servers", "broker", "brokers",
    ]
    .iter()
    .any(|word| key == *word || key.ends_with(&format!("_{word}")))
        || ["connection_string", "service_account_json"].contains(&key.as_str());
    let by_value = match value {
        Value::String(s) => s.contains("://"),
        Value::Array(items) => items
            .iter()
            .any(|v| v.as_str().is_some_and(|s| s.contains("://"))),
        _ => false,
    };
    (by_name && !value.is_null() && !value.is_boolean()) || by_value
}

/// Every URL- or host-like field of the fixture's config and of every example is among the
/// endpoints the connector declares, so hosts can check each against their network rules and
/// bind stored credentials to it.
pub async fn endpoints_are_declared(f: Fixture) {
    let meta = f.connector.metadata();
    let mut cases = vec![(
        "the fixture".to_string(),
        f.config.clone(),
        f.auth_config.clone(),
    )];
    for ex in meta.examples {
        cases.push((
            format!("example {:?}", ex.name),
            serde_json::from_str(ex.config).expect("example config is JSON"),
            serde_json::from_str(ex.auth_config).expect("example auth_config is JSON"),
        ));
    }
    for (what, config, auth) in cases {
        let declared = f
            .connector
            .endpoints(&f.spec_with(config.clone(), auth.clone()))
            .unwrap_or_else(|e| panic!("{what} does not validate: {e:?}"));
        for e in &declared {
            assert!(
                e.path.starts_with("/config/") || e.path.starts_with("/auth_config/"),
                "{what}: endpoint {e} is declared at {:?}, not at a config or auth_config field",
                e.path
            );
        }
        for (section, values) in [("config", &config), ("auth_config", &auth)] {
            for (key, value) in values.as_object().into_iter().flatten() {
                if !names_a_host(key, value) {
                    continue;
                }
                let path = format!("/{section}/{}", courier_core::spec::pointer_segment(key));
                // A list of hosts is declared as a whole or element by element
                // (`/config/servers/0`, `/config/servers/1`): every element must be.
                let wanted: Vec<String> = match value.as_array() {
                    Some(items) => (0..items.len()).map(|i| format!("{path}/{i}")).collect(),
                    None => vec![path.clone()],
                };
                for want in &wanted {
                    assert!(
                        declared.iter().any(|e| &e.path == want || e.path == path),
                        "{what}: {want} names a host, but {} declares no endpoint for it (declared: {:?})",
                        meta.type_id,
                        declared.iter().map(|e| e.path.as_str()).collect::<Vec<_>>()
                    );
                }
            }
        }
    }
}

//! Small helpers connector test suites share beyond the conformance cases: a spec, a test
//! report, sample records, and reading one outcome.

use std::time::Duration;

use courier_core::{
    BatchOutcome, ConnectorError, DestinationSpec, DynConnector, Outcome, Record, SharedTokenStore,
    TestReport,
};
use serde_json::Value;

/// A destination spec with the given config and auth_config, default cap, no token store.
pub fn spec(destination_id: &str, config: Value, auth_config: Value) -> DestinationSpec {
    DestinationSpec {
        destination_id: destination_id.to_string(),
        config,
        auth_config,
        payload_cap_bytes: None,
        token_store: None,
        allow_private_network: true,
    }
}

/// A spec with a payload cap (`None`: the default 5 MiB).
pub fn spec_capped(
    destination_id: &str,
    config: Value,
    auth_config: Value,
    cap: Option<u64>,
) -> DestinationSpec {
    DestinationSpec {
        payload_cap_bytes: cap,
        ..spec(destination_id, config, auth_config)
    }
}

/// The same spec with a host token store.
pub fn with_store(mut spec: DestinationSpec, store: SharedTokenStore) -> DestinationSpec {
    spec.token_store = Some(store);
    spec
}

/// Runs the connection test (60 s deadline) and returns its report.
pub async fn test_report(connector: &dyn DynConnector, spec: &DestinationSpec) -> TestReport {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    courier_runtime::run_test(connector, spec, Duration::from_secs(60), &tx).await
}

/// `n` JSON records with ids `r0`…, holding characters CSV must quote.
pub fn records(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            Record::new(
                format!("r{i}"),
                format!(r#"{{"id":{i},"email":"u{i}@example.com","name":"N, \"{i}\""}}"#),
            )
        })
        .collect()
}

/// `n` records of about `size` bytes each.
pub fn sized_records(n: usize, size: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            Record::new(
                format!("r{i}"),
                format!(
                    r#"{{"id":{i},"pad":"{}"}}"#,
                    "x".repeat(size.saturating_sub(20))
                ),
            )
        })
        .collect()
}

/// The first record's delivery reference; panics with the outcome when it failed.
pub fn reference(out: &BatchOutcome) -> String {
    match &out.records[0].outcome {
        Outcome::Delivered(d) => d.reference.clone(),
        other => panic!("the first record was not delivered: {other:?}"),
    }
}

/// The first record's error; panics when it was delivered.
pub fn first_error(out: &BatchOutcome) -> ConnectorError {
    out.records[0]
        .error()
        .cloned()
        .expect("the first record was expected to fail")
}

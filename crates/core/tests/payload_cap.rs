//! The payload cap is core's promise, not each connector's: a record over the destination's
//! cap fails with `payload_too_large` before the connector sees it, the rest of its batch goes
//! on, and a batch of only such records makes no call at all.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use courier_core::spec::NoAuth;
use courier_core::{
    Batch, BatchOutcome, Capabilities, Category, ConfigSpec, Connector, ConnectorError,
    ConnectorMeta, Delivered, DestinationSpec, DynConnector, Endpoint, Env, ErrorKind, Field,
    Probe, Record, RecordOutcome,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Empty {}

impl ConfigSpec for Empty {}

/// A connector that records what reached it.
#[derive(Debug, Clone, Default)]
struct Counting {
    seen: Arc<Mutex<Vec<String>>>,
}

static META: ConnectorMeta = ConnectorMeta {
    type_id: "counting",
    label: "Counting",
    description: "Remembers the records it is given",
    category: Category::Http,
    capabilities: Capabilities::DEFAULT,
    test_steps: &[],
    examples: &[],
    docs_url: None,
};

#[courier_core::async_trait]
impl Connector for Counting {
    type Config = Empty;
    type Auth = NoAuth;
    type Client = ();

    fn metadata(&self) -> &'static ConnectorMeta {
        &META
    }

    async fn connect(&self, _: Empty, _: NoAuth, _: &Env) -> Result<(), ConnectorError> {
        Ok(())
    }

    fn endpoints(&self, _: &Empty, _: &NoAuth) -> Vec<Endpoint> {
        Vec::new()
    }

    async fn test(&self, _: &(), _: &mut Probe) -> Result<(), ConnectorError> {
        Ok(())
    }

    async fn describe_fields(&self, _: &()) -> Result<Vec<Field>, ConnectorError> {
        Ok(Vec::new())
    }

    async fn deliver(&self, _: &(), batch: &Batch) -> BatchOutcome {
        let mut seen = self.seen.lock().unwrap();
        let records = batch
            .records
            .iter()
            .map(|r| {
                seen.push(r.id.clone());
                let delivered = Delivered {
                    reference: r.id.clone(),
                    status: None,
                    latency: Duration::ZERO,
                    response_body: None,
                };
                RecordOutcome::delivered(&r.id, delivered)
            })
            .collect();
        BatchOutcome { records }
    }
}

fn spec(cap: u64) -> DestinationSpec {
    DestinationSpec {
        destination_id: "d".into(),
        config: json!({}),
        auth_config: json!({}),
        payload_cap_bytes: Some(cap),
        ..DestinationSpec::default()
    }
}

#[tokio::test]
async fn records_over_the_cap_fail_before_the_connector_sees_them() {
    let connector = Counting::default();
    let destination = connector.build(&spec(64)).await.unwrap();
    let big = Record::new("big", format!(r#"{{"blob":"{}"}}"#, "x".repeat(1024)));
    let batch = Batch::new(
        "b",
        vec![Record::new("a", "{}"), big.clone(), Record::new("c", "{}")],
    );
    let outcome = destination.deliver(&batch).await;

    let ids: Vec<&str> = outcome
        .records
        .iter()
        .map(|r| r.record_id.as_str())
        .collect();
    assert_eq!(ids, ["a", "big", "c"], "one outcome per record, in order");
    let refused = outcome.records[1].error().expect("the big record fails");
    assert_eq!(refused.kind, ErrorKind::PayloadTooLarge, "{refused:?}");
    assert!(refused.message.contains("big") && !refused.hint.is_empty());
    assert_eq!(outcome.delivered_count(), 2);
    assert_eq!(*connector.seen.lock().unwrap(), ["a", "c"]);

    // Nothing under the cap: no call at all.
    let only_big = Batch::new("b2", vec![big]);
    let outcome = destination.deliver(&only_big).await;
    assert_eq!(
        outcome.records[0].error().unwrap().kind,
        ErrorKind::PayloadTooLarge
    );
    assert_eq!(
        connector.seen.lock().unwrap().len(),
        2,
        "the connector was not called"
    );
}

#[tokio::test]
async fn a_cap_of_zero_or_over_the_connectors_maximum_is_refused_at_its_path() {
    let connector = Counting::default();
    for cap in [0, Capabilities::DEFAULT.max_payload_bytes + 1] {
        let errors = connector.validate(&spec(cap));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, "/payload_cap_bytes");
    }
}

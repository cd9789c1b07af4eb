//! The shape's behaviour with an in-memory provider: records refused alone, requests within
//! the limits and in order, per-entry and whole-request failures, keys and fallbacks.

use std::sync::Mutex;
use std::time::Duration;

use courier_core::spec::NoAuth;
use courier_core::{
    Batch, Capabilities, Category, Connector, ConnectorError, ConnectorMeta, Delivered, Endpoint,
    Env, ErrorKind, Field, Probe, Record,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::*;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct QueueConfig {
    group_template: Option<String>,
    fallback_group: Option<String>,
    max_records: usize,
}

impl courier_core::ConfigSpec for QueueConfig {}

impl MessageConfig for QueueConfig {
    fn keys(&self) -> Vec<KeySpec<'_>> {
        vec![KeySpec {
            field: "group_template",
            name: "message group",
            template: self.group_template.as_deref(),
            fallback_field: Some("fallback_group"),
            fallback: self.fallback_group.as_deref(),
            max_chars: 8,
        }]
    }
}

/// The provider: remembers every request; an entry whose payload says `"throttle"` fails
/// alone (retried), `"refuse"` fails alone for good, a request holding `"down"` fails whole,
/// `"mute"` gets no answer.
#[derive(Debug, Default)]
struct Provider {
    requests: Mutex<Vec<Vec<String>>>,
}

#[derive(Debug, Clone, Default)]
struct Queue;

static META: ConnectorMeta = ConnectorMeta {
    type_id: "queue",
    label: "Queue",
    description: "An in-memory queue",
    category: Category::Stream,
    capabilities: Capabilities::DEFAULT,
    test_steps: &[],
    examples: &[],
    docs_url: None,
};

#[courier_core::async_trait]
impl MessageConnector for Queue {
    type Config = QueueConfig;
    type Auth = NoAuth;
    type Remote = Provider;
    type Entry = String;

    fn metadata(&self) -> &'static ConnectorMeta {
        &META
    }

    fn limits(&self, config: &QueueConfig) -> BatchLimits {
        BatchLimits {
            max_records: config.max_records,
            max_request_bytes: 64,
            max_record_bytes: 40,
        }
    }

    fn endpoints(&self, _: &QueueConfig, _: &NoAuth) -> Vec<Endpoint> {
        Vec::new()
    }

    async fn connect(
        &self,
        _: &QueueConfig,
        _: NoAuth,
        _: &Env,
    ) -> Result<Provider, ConnectorError> {
        Ok(Provider::default())
    }

    async fn test(&self, _: &MessageClient<Self>, _: &mut Probe) -> Result<(), ConnectorError> {
        Ok(())
    }

    fn fields(&self, _: &QueueConfig) -> Vec<Field> {
        Vec::new()
    }

    fn entry(
        &self,
        _: &MessageClient<Self>,
        record: &Record,
        keys: &Keys,
    ) -> Result<(usize, String), ConnectorError> {
        let body = String::from_utf8_lossy(&record.payload);
        let entry = format!("{}|{body}", keys[0].as_deref().unwrap_or("-"));
        Ok((entry.len(), entry))
    }

    fn order_key<'e>(&self, entry: &'e String) -> Option<&'e str> {
        entry.split_once('|').map(|(g, _)| g).filter(|g| *g != "-")
    }

    async fn send(
        &self,
        client: &MessageClient<Self>,
        entries: Vec<String>,
    ) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
        client.requests.lock().unwrap().push(entries.clone());
        if entries.iter().any(|e| e.contains("down")) {
            return Err(ConnectorError::new(
                ErrorKind::Unavailable,
                "queue is down",
                "retry",
            ));
        }
        Ok(entries
            .iter()
            .filter(|e| !e.contains("mute"))
            .map(|e| {
                if e.contains("throttle") {
                    Err(ConnectorError::new(
                        ErrorKind::RateLimited,
                        "throttled",
                        "retry",
                    ))
                } else if e.contains("refuse") {
                    Err(ConnectorError::new(
                        ErrorKind::Rejected,
                        "refused",
                        "fix it",
                    ))
                } else {
                    Ok(Delivered {
                        reference: e.clone(),
                        status: None,
                        latency: Duration::ZERO,
                        response_body: None,
                    })
                }
            })
            .collect())
    }
}

async fn client(config: serde_json::Value) -> Result<MessageClient<Queue>, ConnectorError> {
    let config: QueueConfig = serde_json::from_value(config).unwrap();
    Messages(Queue)
        .connect(config, NoAuth {}, &Env::default())
        .await
}

fn batch(payloads: &[&str]) -> Batch {
    let records = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| Record::new(format!("r{i}"), p.to_string()))
        .collect();
    Batch::new("b", records)
}

fn kinds(outcome: &courier_core::BatchOutcome) -> Vec<Option<ErrorKind>> {
    outcome
        .records
        .iter()
        .map(|r| r.error().map(|e| e.kind))
        .collect()
}

#[tokio::test]
async fn records_that_cannot_be_sent_fail_alone_before_anything_is_sent() {
    let c = client(serde_json::json!({"group_template": "g", "max_records": 10}))
        .await
        .unwrap();
    let outcome = Messages(Queue)
        .deliver(
            &c,
            &batch(&[
                r#"{"g":"a"}"#,
                "not json",
                r#"{"h":1}"#,
                r#"{"g":"waytoolong"}"#,
                &format!(r#"{{"g":"a","pad":"{}"}}"#, "x".repeat(40)),
            ]),
        )
        .await;
    assert_eq!(
        kinds(&outcome),
        [
            None,
            Some(ErrorKind::Rejected),
            Some(ErrorKind::Rejected),
            Some(ErrorKind::Rejected),
            Some(ErrorKind::PayloadTooLarge)
        ]
    );
    let messages: Vec<String> = outcome
        .records
        .iter()
        .filter_map(|r| r.error())
        .map(|e| e.message.clone())
        .collect();
    assert!(
        messages[0].contains("r1: is not valid JSON, so no message group"),
        "{messages:?}"
    );
    assert!(
        messages[1].contains("no value at g for the message group"),
        "{messages:?}"
    );
    assert!(
        messages[2].contains("longer than 8 characters"),
        "{messages:?}"
    );
    assert!(
        messages[3].contains("over its 40 bytes per record"),
        "{messages:?}"
    );
    assert_eq!(
        *c.requests.lock().unwrap(),
        [vec!["a|{\"g\":\"a\"}".to_string()]]
    );
}

#[tokio::test]
async fn a_fallback_stands_in_for_a_missing_key_and_no_template_reads_no_json() {
    let c = client(
        serde_json::json!({"group_template": "g", "fallback_group": "none", "max_records": 10}),
    )
    .await
    .unwrap();
    let outcome = Messages(Queue).deliver(&c, &batch(&[r#"{"x":1}"#])).await;
    assert_eq!(outcome.delivered_count(), 1);
    assert_eq!(c.requests.lock().unwrap()[0], ["none|{\"x\":1}"]);

    let c = client(serde_json::json!({"max_records": 10}))
        .await
        .unwrap();
    let outcome = Messages(Queue).deliver(&c, &batch(&["plain text"])).await;
    assert_eq!(
        outcome.delivered_count(),
        1,
        "without a key template the payload is not parsed"
    );
}

#[tokio::test]
async fn requests_follow_the_limits_in_order_and_failures_stay_with_their_records() {
    let c = client(serde_json::json!({"max_records": 2})).await.unwrap();
    let outcome = Messages(Queue)
        .deliver(&c, &batch(&["a", "throttle", "b", "down", "c", "mute"]))
        .await;
    assert_eq!(
        *c.requests.lock().unwrap(),
        [
            vec!["-|a", "-|throttle"],
            vec!["-|b", "-|down"],
            vec!["-|c", "-|mute"]
        ]
    );
    assert_eq!(
        kinds(&outcome),
        [
            None,
            Some(ErrorKind::RateLimited),
            Some(ErrorKind::Unavailable),
            Some(ErrorKind::Unavailable),
            None,
            Some(ErrorKind::Unavailable)
        ]
    );
    let unanswered = outcome.records[5].error().unwrap();
    assert!(
        unanswered
            .message
            .contains("without a result for record r5")
    );
    // The byte limit splits too: 64 bytes hold three 20-byte entries, not four.
    let c = client(serde_json::json!({"max_records": 100}))
        .await
        .unwrap();
    let twenty = "x".repeat(18);
    let outcome = Messages(Queue)
        .deliver(&c, &batch(&[twenty.as_str(); 4]))
        .await;
    assert_eq!(outcome.delivered_count(), 4);
    let sizes: Vec<usize> = c.requests.lock().unwrap().iter().map(Vec::len).collect();
    assert_eq!(sizes, [3, 1]);
}

#[tokio::test]
async fn a_bad_key_template_is_the_configs_error_at_its_field() {
    let e = client(serde_json::json!({"group_template": "{a", "max_records": 1}))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidConfig);
    assert!(e.message.starts_with("group_template "), "{e:?}");
}

#[tokio::test]
async fn a_failed_entry_holds_back_the_later_entries_of_its_key_only() {
    let c = client(serde_json::json!({"group_template": "g", "max_records": 2}))
        .await
        .unwrap();
    let outcome = Messages(Queue)
        .deliver(
            &c,
            &batch(&[
                r#"{"g":"A","x":"throttle"}"#,
                r#"{"g":"B","n":1}"#,
                r#"{"g":"A","n":2}"#,
                r#"{"g":"B","n":3}"#,
            ]),
        )
        .await;
    assert_eq!(
        kinds(&outcome),
        [
            Some(ErrorKind::RateLimited),
            None,
            Some(ErrorKind::RateLimited),
            None
        ]
    );
    let held = outcome.records[2].error().unwrap();
    assert!(held.message.contains("may not overtake"), "{held:?}");
    // A's second message was never sent; B's went on.
    let requests = c.requests.lock().unwrap();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1], [r#"B|{"g":"B","n":3}"#]);
}

#[tokio::test]
async fn a_permanent_failure_holds_nothing_back() {
    let c = client(serde_json::json!({"group_template": "g", "max_records": 1}))
        .await
        .unwrap();
    // The first message of A is refused for good (dead-lettered): the next one of A goes out.
    let outcome = Messages(Queue)
        .deliver(
            &c,
            &batch(&[r#"{"g":"A","x":"refuse"}"#, r#"{"g":"A","n":2}"#]),
        )
        .await;
    assert_eq!(kinds(&outcome), [Some(ErrorKind::Rejected), None]);
    assert_eq!(c.requests.lock().unwrap().len(), 2);
}

//! The delivery policy's behaviour against a scripted in-process connector (the policy logic
//! itself; real targets are exercised by each connector's conformance suite).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use courier_core::schema::schema_of;
use courier_core::spec::NoAuth;
use courier_core::{
    Batch, BatchOutcome, Capabilities, Category, ConfigSpec, Connector, ConnectorError,
    ConnectorMeta, Delivered, DestinationSpec, DynConnector, Env, ErrorKind, Field, Probe, Record,
    RecordOutcome, StepSpec,
};
use courier_runtime::{Deliverer, DeliveryPolicy};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Cfg {}
impl ConfigSpec for Cfg {}

/// What one attempt does to one record.
#[derive(Clone, Copy, Debug)]
enum Step {
    Ok,
    Fail(ErrorKind, Option<u64>),
    Hang,
    Panic,
}

#[derive(Clone, Debug, Default)]
struct Scripted {
    script: Arc<Mutex<VecDeque<Step>>>,
    calls: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

static META: ConnectorMeta = ConnectorMeta {
    type_id: "scripted",
    label: "Scripted",
    description: "test double",
    category: Category::Http,
    capabilities: Capabilities {
        max_batch_records: None,
        max_payload_bytes: 1024,
        signing: None,
        oauth: None,
        idempotent_redelivery: true,
        remote_fields: false,
        ambient_credentials: None,
        write_only_config: &[],
    },
    test_steps: &[
        StepSpec {
            name: "first",
            label: "First",
        },
        StepSpec {
            name: "second",
            label: "Second",
        },
    ],
    examples: &[],
    docs_url: None,
};

impl Scripted {
    fn with(steps: &[Step]) -> Self {
        let s = Scripted::default();
        s.script.lock().unwrap().extend(steps.iter().copied());
        s
    }
}

#[courier_core::async_trait]
impl Connector for Scripted {
    type Config = Cfg;
    type Auth = NoAuth;
    type Client = ();

    fn metadata(&self) -> &'static ConnectorMeta {
        &META
    }

    fn endpoints(&self, _: &Cfg, _: &NoAuth) -> Vec<courier_core::Endpoint> {
        Vec::new()
    }

    async fn connect(&self, _: Cfg, _: NoAuth, _: &Env) -> Result<(), ConnectorError> {
        Ok(())
    }

    async fn test(&self, _: &(), probe: &mut Probe) -> Result<(), ConnectorError> {
        probe
            .step("first", async { Ok(((), "fine".to_string())) })
            .await?;
        let step = self.script.lock().unwrap().pop_front();
        match step {
            Some(Step::Panic) => panic!("boom"),
            Some(Step::Hang) => {
                futures::future::pending::<()>().await;
                Ok(())
            }
            Some(Step::Fail(kind, _)) => {
                probe
                    .step("second", async {
                        Err::<((), String), _>(ConnectorError::new(kind, "no", "fix it"))
                    })
                    .await
            }
            _ => {
                probe
                    .step("second", async { Ok(((), "fine".to_string())) })
                    .await
            }
        }
    }

    async fn describe_fields(&self, _: &()) -> Result<Vec<Field>, ConnectorError> {
        Ok(vec![])
    }

    async fn deliver(&self, _: &(), batch: &Batch) -> BatchOutcome {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let mut out = Vec::new();
        for r in &batch.records {
            let step = self.script.lock().unwrap().pop_front().unwrap_or(Step::Ok);
            out.push(match step {
                Step::Ok => RecordOutcome::delivered(
                    &r.id,
                    Delivered {
                        reference: "ok".into(),
                        status: Some(200),
                        latency: Duration::ZERO,
                        response_body: None,
                    },
                ),
                Step::Fail(kind, ra) => RecordOutcome::failed(
                    &r.id,
                    ConnectorError::new(kind, "scripted failure", "none")
                        .with_retry_after(ra.map(Duration::from_secs)),
                ),
                Step::Hang => {
                    futures::future::pending::<()>().await;
                    unreachable!()
                }
                Step::Panic => panic!("boom"),
            });
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        BatchOutcome { records: out }
    }
}

async fn deliverer(c: &Scripted, policy: DeliveryPolicy) -> Deliverer {
    let spec = DestinationSpec {
        config: serde_json::json!({}),
        ..Default::default()
    };
    let dest = c.build(&spec).await.unwrap();
    Deliverer::new(dest, policy)
}

fn batch(n: usize) -> Batch {
    Batch::new(
        "b1",
        (0..n).map(|i| Record::new(format!("r{i}"), "{}")).collect(),
    )
}

fn fast() -> DeliveryPolicy {
    DeliveryPolicy {
        retry_base_ms: 100,
        retry_max_delay_ms: 1000,
        retry_backoff_type: courier_runtime::BackoffType::Fixed,
        ..DeliveryPolicy::default()
    }
}

#[tokio::test(start_paused = true)]
async fn transient_failure_is_retried_only_for_failed_records() {
    let c = Scripted::with(&[Step::Ok, Step::Fail(ErrorKind::Unavailable, None), Step::Ok]);
    let out = deliverer(&c, fast()).await.deliver(batch(2)).await;
    assert_eq!(out.delivered_count(), 2);
    assert_eq!(out.records[0].attempts, 1);
    assert_eq!(out.records[1].attempts, 2);
    assert_eq!(c.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn permanent_failure_is_not_retried() {
    let c = Scripted::with(&[Step::Fail(ErrorKind::Rejected, None)]);
    let out = deliverer(&c, fast()).await.deliver(batch(1)).await;
    assert_eq!(out.records[0].error().unwrap().kind, ErrorKind::Rejected);
    assert_eq!(out.records[0].attempts, 1);
    assert_eq!(c.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_max_attempts() {
    let c = Scripted::with(&[Step::Fail(ErrorKind::Timeout, None); 10]);
    let policy = DeliveryPolicy {
        retry_max_attempts: 3,
        circuit_breaker_enabled: false,
        ..fast()
    };
    let out = deliverer(&c, policy).await.deliver(batch(1)).await;
    assert_eq!(out.records[0].error().unwrap().kind, ErrorKind::Timeout);
    assert_eq!(out.records[0].attempts, 3);
}

#[tokio::test(start_paused = true)]
async fn retry_disabled_means_one_attempt() {
    let c = Scripted::with(&[Step::Fail(ErrorKind::Unavailable, None); 3]);
    let policy = DeliveryPolicy {
        retry_enabled: false,
        ..fast()
    };
    let out = deliverer(&c, policy).await.deliver(batch(1)).await;
    assert_eq!(out.records[0].attempts, 1);
}

#[tokio::test(start_paused = true)]
async fn retry_after_wins_over_a_shorter_backoff_and_is_clamped() {
    let c = Scripted::with(&[Step::Fail(ErrorKind::RateLimited, Some(7))]);
    let d = deliverer(&c, fast()).await;
    let t = tokio::time::Instant::now();
    let out = d.deliver(batch(1)).await;
    assert!(out.records[0].is_delivered());
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_secs(7) && waited < Duration::from_secs(8),
        "{waited:?}"
    );

    let c = Scripted::with(&[Step::Fail(ErrorKind::RateLimited, Some(86_400))]);
    let d = deliverer(
        &c,
        DeliveryPolicy {
            retry_after_max_ms: 2_000,
            ..fast()
        },
    )
    .await;
    let t = tokio::time::Instant::now();
    d.deliver(batch(1)).await;
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[tokio::test(start_paused = true)]
async fn explicit_intervals_are_followed() {
    let c = Scripted::with(&[Step::Fail(ErrorKind::Unavailable, None); 2]);
    let policy = DeliveryPolicy {
        retry_intervals: vec![3_000, 5_000],
        ..fast()
    };
    let d = deliverer(&c, policy).await;
    let t = tokio::time::Instant::now();
    let out = d.deliver(batch(1)).await;
    assert_eq!(out.records[0].attempts, 3);
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_secs(8) && waited < Duration::from_secs(9),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn attempt_timeout_is_a_retryable_timeout() {
    let c = Scripted::with(&[Step::Hang]);
    let policy = DeliveryPolicy {
        timeout_ms: 500,
        ..fast()
    };
    let out = deliverer(&c, policy).await.deliver(batch(1)).await;
    assert!(out.records[0].is_delivered(), "{:?}", out.records[0]);
    assert_eq!(out.records[0].attempts, 2);
}

#[tokio::test(start_paused = true)]
async fn circuit_opens_after_threshold_and_probes_after_reset() {
    let c = Scripted::with(&[Step::Fail(ErrorKind::Unavailable, None); 3]);
    let policy = DeliveryPolicy {
        retry_enabled: false,
        circuit_breaker_threshold: 3,
        circuit_breaker_reset_ms: 10_000,
        ..fast()
    };
    let d = deliverer(&c, policy).await;
    for _ in 0..3 {
        d.deliver(batch(1)).await;
    }
    assert!(d.breaker().unwrap().is_open());
    let out = d.deliver(batch(1)).await;
    let e = out.records[0].error().unwrap();
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert!(e.message.contains("circuit breaker open"), "{e}");
    assert_eq!(c.calls.load(Ordering::SeqCst), 3, "no attempt while open");

    tokio::time::advance(Duration::from_secs(10)).await;
    let out = d.deliver(batch(1)).await;
    assert!(out.records[0].is_delivered());
    assert!(!d.breaker().unwrap().is_open());
}

#[tokio::test(start_paused = true)]
async fn concurrency_is_limited() {
    let c = Scripted::default();
    let policy = DeliveryPolicy {
        max_concurrency: 3,
        ..fast()
    };
    let d = deliverer(&c, policy).await;
    let batches = (0..12)
        .map(|i| Batch::new(format!("b{i}"), vec![Record::new(format!("r{i}"), "{}")]))
        .collect();
    let outs = d.deliver_all(batches).await;
    assert_eq!(outs.len(), 12);
    assert!(outs.iter().all(|o| o.delivered_count() == 1));
    assert_eq!(c.max_in_flight.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn over_cap_records_fail_without_reaching_the_connector() {
    let c = Scripted::default();
    let d = deliverer(&c, fast()).await;
    let big = Record::new("big", vec![b'x'; 2048]);
    let out = d
        .deliver(Batch::new("b", vec![big, Record::new("small", "{}")]))
        .await;
    assert_eq!(
        out.records[0].error().unwrap().kind,
        ErrorKind::PayloadTooLarge
    );
    assert!(out.records[1].is_delivered());
    assert_eq!(c.calls.load(Ordering::SeqCst), 1);
}

async fn collect_test(c: Scripted, deadline: Duration) -> Vec<courier_core::TestEvent> {
    let spec = DestinationSpec {
        config: serde_json::json!({}),
        ..Default::default()
    };
    courier_runtime::test_events(Arc::new(c), spec, deadline)
        .collect()
        .await
}

#[tokio::test]
async fn test_stream_ends_with_exactly_one_done() {
    use courier_core::{StepStatus, TestEvent};
    let events = collect_test(Scripted::default(), Duration::from_secs(5)).await;
    let names: Vec<_> = events
        .iter()
        .map(|e| match e {
            TestEvent::Step(s) => s.name.clone(),
            TestEvent::Done(_) => "done".into(),
        })
        .collect();
    assert_eq!(names, ["validate", "build", "first", "second", "done"]);
    let TestEvent::Done(report) = events.last().unwrap() else {
        panic!()
    };
    assert!(report.success);
    assert!(report.steps.iter().all(|s| s.status == StepStatus::Passed));
}

#[tokio::test]
async fn failed_step_is_reported_and_rest_skipped() {
    use courier_core::{StepStatus, TestEvent};
    let events = collect_test(
        Scripted::with(&[Step::Fail(ErrorKind::Unauthenticated, None)]),
        Duration::from_secs(5),
    )
    .await;
    let TestEvent::Done(report) = events.last().unwrap() else {
        panic!()
    };
    assert!(!report.success);
    let failed = report.failed_step().unwrap();
    assert_eq!(failed.name, "second");
    assert_eq!(failed.error_kind, Some(ErrorKind::Unauthenticated));
    assert_eq!(failed.hint.as_deref(), Some("fix it"));
    assert_eq!(
        report
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::Failed)
            .count(),
        1
    );
}

#[tokio::test]
async fn panics_and_deadlines_become_failed_steps() {
    use courier_core::TestEvent;
    let events = collect_test(Scripted::with(&[Step::Panic]), Duration::from_secs(5)).await;
    let TestEvent::Done(report) = events.last().unwrap() else {
        panic!()
    };
    let failed = report.failed_step().unwrap();
    assert_eq!(
        (failed.name.as_str(), failed.error_kind),
        ("second", Some(ErrorKind::Internal))
    );

    let events = collect_test(Scripted::with(&[Step::Hang]), Duration::from_millis(300)).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, TestEvent::Done(_)))
            .count(),
        1
    );
    let TestEvent::Done(report) = events.last().unwrap() else {
        panic!()
    };
    assert_eq!(
        report.failed_step().unwrap().error_kind,
        Some(ErrorKind::Timeout)
    );
}

#[tokio::test]
async fn invalid_config_fails_validate_with_paths() {
    use courier_core::TestEvent;
    let spec = DestinationSpec {
        config: serde_json::json!({"extra": 1}),
        ..Default::default()
    };
    let events: Vec<_> =
        courier_runtime::test_events(Arc::new(Scripted::default()), spec, Duration::from_secs(5))
            .collect()
            .await;
    let TestEvent::Done(report) = events.last().unwrap() else {
        panic!()
    };
    let failed = report.failed_step().unwrap();
    assert_eq!(failed.name, "validate");
    assert!(
        failed.message.contains("/config/extra: unknown field"),
        "{}",
        failed.message
    );
    assert_eq!(report.steps.len(), 4, "validate, connect, first, second");
    let _ = schema_of::<Cfg>();
}

#[tokio::test]
async fn a_test_whose_listener_goes_away_is_stopped() {
    let c = Scripted::with(&[Step::Hang]);
    let script = c.script.clone();
    let mut events = Box::pin(courier_runtime::test_events(
        Arc::new(c),
        DestinationSpec {
            config: serde_json::json!({}),
            ..Default::default()
        },
        Duration::from_secs(600),
    ));
    // validate, connect and the first step come; then the test hangs.
    for _ in 0..3 {
        events.next().await.expect("a step");
    }
    assert!(
        Arc::strong_count(&script) > 1,
        "the test holds its connector"
    );
    drop(events);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while Arc::strong_count(&script) > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the test kept running after its listener went away"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

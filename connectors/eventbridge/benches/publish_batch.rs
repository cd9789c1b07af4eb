//! EventBridge: small records through the connector (PutEvents, 10 a request, batches of 100
//! handed to it, 8 at once) against moto, side by side with the bare SDK making the same
//! PutEvents calls at the same concurrency. Prints records per second, the ratio, and requests
//! per record (counted on the wire by an SDK interceptor; at most 0.11 expected: 10 a request).
//!
//! Run: `cargo bench -p courier-connector-eventbridge` (COURIER_BENCH_RECORDS overrides 2000;
//! moto sends each event on to the queue a rule on the bus targets, so both sides are bound by
//! it).
//! Uses the moto that `cargo xtask test` started, or starts the one it installed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use aws_sdk_eventbridge::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_eventbridge::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use courier_connector_eventbridge::{Eventbridge, client_with_sdk_settings};
use courier_core::{Batch, Env, Record};
use courier_testbed::moto::Moto;
use futures::StreamExt;

const CONCURRENCY: usize = 8;
const SOURCE: &str = "com.acme.bench";

/// Counts the requests the connector's SDK client puts on the wire.
#[derive(Debug, Clone, Default)]
struct Requests(Arc<AtomicUsize>);

impl Intercept for Requests {
    fn name(&self) -> &'static str {
        "Requests"
    }

    fn modify_before_signing(
        &self,
        _: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn main() {
    let total: usize = std::env::var("COURIER_BENCH_RECORDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    let (moto, _guard) = Moto::from_env_or_started();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let payloads: Vec<String> = (0..total)
            .map(|i| format!(r#"{{"user":{{"id":"u{}"}},"n":{i}}}"#, i % 1000))
            .collect();

        // The connector, through the delivery policy.
        let bus = moto.new_bus().await;
        let requests = Requests::default();
        let counter = requests.clone();
        let env = Env {
            destination_id: "bench".into(),
            allow_private_network: true,
            ..Env::default()
        };
        let config = serde_json::from_value(moto.eventbridge_config(&bus.name, SOURCE)).unwrap();
        let auth = serde_json::from_value(moto.auth()).unwrap();
        let client = client_with_sdk_settings(config, auth, &env, move |b| b.interceptor(counter))
            .await
            .unwrap();
        let destination = courier_core::erased::bind(Eventbridge, client, env);
        let probe = destination
            .deliver(&Batch::new("probe", vec![Record::new("p0", "{}")]))
            .await;
        if let Some(e) = probe.records[0].error() {
            panic!("moto refused a first message: {e:?}");
        }
        let batches: Vec<Batch> = payloads
            .chunks(100)
            .enumerate()
            .map(|(b, chunk)| {
                let records = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, p)| Record::new(format!("r{b}-{i}"), p.clone()))
                    .collect();
                Batch::new(format!("b{b}"), records)
            })
            .collect();
        let t = Instant::now();
        let outcomes: Vec<courier_core::BatchOutcome> = futures::stream::iter(batches)
            .map(|batch| {
                let destination = destination.clone();
                async move { destination.deliver(&batch).await }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let ours = t.elapsed();
        let delivered: usize = outcomes.iter().map(|o| o.delivered_count()).sum();
        let first_failure = outcomes
            .iter()
            .flat_map(|o| &o.records)
            .find_map(|r| r.error().map(|e| format!("{}: {}", r.record_id, e.message)));
        assert_eq!(delivered, total, "first failure: {first_failure:?}");
        let our_requests = requests.0.load(Ordering::Relaxed);

        // The bare SDK: the same PutEvents calls of 10, same concurrency.
        let bare_bus = moto.new_bus().await.name;
        let sdk = moto.eventbridge();
        let next = Arc::new(AtomicUsize::new(0));
        let payloads = Arc::new(payloads);
        let t = Instant::now();
        let workers: Vec<_> = (0..CONCURRENCY)
            .map(|_| {
                let (sdk, next, payloads, bus) =
                    (sdk.clone(), next.clone(), payloads.clone(), bare_bus.clone());
                tokio::spawn(async move {
                    loop {
                        let start = next.fetch_add(10, Ordering::Relaxed);
                        if start >= payloads.len() {
                            break;
                        }
                        let end = (start + 10).min(payloads.len());
                        let entries = (start..end)
                            .map(|i| {
                                PutEventsRequestEntry::builder()
                                    .event_bus_name(&bus)
                                    .source(SOURCE)
                                    .detail_type("courier.event")
                                    .detail(payloads[i].clone())
                                    .build()
                            })
                            .collect();
                        let answer = sdk
                            .put_events()
                            .set_entries(Some(entries))
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(answer.failed_entry_count(), 0);
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
        let bare = t.elapsed();
        let (ours_rate, bare_rate) = (
            total as f64 / ours.as_secs_f64(),
            total as f64 / bare.as_secs_f64(),
        );
        let bare_requests = total.div_ceil(10);
        println!("{total} records, {CONCURRENCY} requests in flight, against moto:");
        println!(
            "  connector:  {our_requests:>6} requests ({:.3} per record), {ours_rate:>8.0} records/s",
            our_requests as f64 / total as f64
        );
        println!(
            "  bare SDK:   {bare_requests:>6} requests ({:.3} per record), {bare_rate:>8.0} records/s",
            bare_requests as f64 / total as f64
        );
        println!("  ratio {:.2}", ours_rate / bare_rate);
        let per_record = our_requests as f64 / total as f64;
        assert!(
            per_record <= 0.11,
            "the connector made {per_record:.3} requests per record, over 0.11"
        );
    });
}

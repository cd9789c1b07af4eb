//! SNS: small records through the connector (PublishBatch, 10 a request, batches of 100 handed
//! to it, 8 at once) against moto, side by side with the bare SDK making the same PublishBatch
//! calls at the same concurrency. Prints records per second, the ratio, and requests per record
//! (counted on the wire by an SDK interceptor; at most 0.11 expected: 10 a request).
//!
//! Run: `cargo bench -p courier-connector-sns` (COURIER_BENCH_RECORDS overrides 2000; moto
//! forwards each message to the topic's subscribed queue, so both sides are bound by it).
//! Uses the moto that `cargo xtask test` started, or starts the one it installed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use aws_sdk_sns::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_sns::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sns::types::PublishBatchRequestEntry;
use courier_connector_sns::{Sns, client_with_sdk_settings};
use courier_core::{Batch, Env, Record};
use courier_testbed::moto::Moto;
use futures::StreamExt;

const CONCURRENCY: usize = 8;

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
        let topic = moto.new_topic(false).await;
        let requests = Requests::default();
        let counter = requests.clone();
        let env = Env {
            destination_id: "bench".into(),
            allow_private_network: true,
            ..Env::default()
        };
        let config = serde_json::from_value(moto.sns_config(&topic.topic_arn)).unwrap();
        let auth = serde_json::from_value(moto.auth()).unwrap();
        let client = client_with_sdk_settings(config, auth, &env, move |b| b.interceptor(counter))
            .await
            .unwrap();
        let destination = courier_core::erased::bind(Sns, client, env);
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

        // The bare SDK: the same PublishBatch calls of 10, same concurrency.
        let bare_topic = moto.new_topic(false).await.topic_arn;
        let sdk = moto.sns();
        let next = Arc::new(AtomicUsize::new(0));
        let payloads = Arc::new(payloads);
        let t = Instant::now();
        let workers: Vec<_> = (0..CONCURRENCY)
            .map(|_| {
                let (sdk, next, payloads, topic) =
                    (sdk.clone(), next.clone(), payloads.clone(), bare_topic.clone());
                tokio::spawn(async move {
                    loop {
                        let start = next.fetch_add(10, Ordering::Relaxed);
                        if start >= payloads.len() {
                            break;
                        }
                        let end = (start + 10).min(payloads.len());
                        let entries = (start..end)
                            .map(|i| {
                                PublishBatchRequestEntry::builder()
                                    .id((i - start).to_string())
                                    .message(payloads[i].clone())
                                    .build()
                                    .unwrap()
                            })
                            .collect();
                        sdk.publish_batch()
                            .topic_arn(&topic)
                            .set_publish_batch_request_entries(Some(entries))
                            .send()
                            .await
                            .unwrap();
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

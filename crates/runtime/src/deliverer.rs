//! `Deliverer`: one destination behind its delivery policy. Retries only the records that failed
//! transiently, waits by the backoff schedule or the target's Retry-After (whichever is longer,
//! clamped), bounds each attempt by the timeout, and consults the circuit breaker and the
//! concurrency limit before every attempt.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use courier_core::{
    Batch, BatchOutcome, ConnectorError, Destination, ErrorKind, Record, RecordOutcome,
};
use futures::StreamExt;
use tokio::sync::Semaphore;

use crate::backoff::Schedule;
use crate::breaker::{CircuitBreaker, Permit};
use crate::policy::DeliveryPolicy;

#[derive(Debug, Clone)]
pub struct Deliverer {
    destination: Arc<dyn Destination>,
    policy: DeliveryPolicy,
    breaker: Option<Arc<CircuitBreaker>>,
    in_flight: Arc<Semaphore>,
}

impl Deliverer {
    pub fn new(destination: Arc<dyn Destination>, policy: DeliveryPolicy) -> Self {
        let breaker = policy.circuit_breaker_enabled.then(|| {
            Arc::new(CircuitBreaker::new(
                policy.circuit_breaker_threshold,
                Duration::from_millis(policy.circuit_breaker_reset_ms),
            ))
        });
        let in_flight = Arc::new(Semaphore::new(policy.max_concurrency.max(1) as usize));
        Deliverer {
            destination,
            policy,
            breaker,
            in_flight,
        }
    }

    pub fn policy(&self) -> &DeliveryPolicy {
        &self.policy
    }

    pub fn destination(&self) -> &Arc<dyn Destination> {
        &self.destination
    }

    pub fn breaker(&self) -> Option<&CircuitBreaker> {
        self.breaker.as_deref()
    }

    /// Delivers many batches, at most `max_concurrency` at once, outcomes in input order.
    pub async fn deliver_all(&self, batches: Vec<Batch>) -> Vec<BatchOutcome> {
        futures::stream::iter(batches)
            .map(|b| async move { self.deliver(b).await })
            .buffered(self.policy.max_concurrency.max(1) as usize)
            .collect()
            .await
    }

    /// Delivers one batch under the policy: one outcome per record, in the batch's order, each
    /// with the number of attempts it took.
    pub async fn deliver(&self, batch: Batch) -> BatchOutcome {
        let order: Vec<String> = batch.records.iter().map(|r| r.id.clone()).collect();
        let mut done: HashMap<String, RecordOutcome> = HashMap::with_capacity(order.len());
        let template = batch.with_records(Vec::new());
        let mut pending: Vec<Record> = batch.records;
        let mut schedule = Schedule::for_policy(&self.policy);
        let max_attempts = self.policy.max_attempts();

        let mut attempt = 0;
        while !pending.is_empty() {
            attempt += 1;
            let sub = template.with_records(std::mem::take(&mut pending));

            let permit = match &self.breaker {
                Some(b) => b.acquire(),
                None => Permit::Allowed,
            };
            if let Permit::Rejected { retry_in } = permit {
                let error = ConnectorError::new(
                    ErrorKind::Unavailable,
                    format!(
                        "circuit breaker open: the last {} attempts to this destination failed",
                        self.policy.circuit_breaker_threshold
                    ),
                    "fix the destination or wait; one probe attempt is let through after circuit_breaker_reset_ms",
                )
                .with_retry_after(Some(retry_in));
                for r in &sub.records {
                    let mut o = RecordOutcome::failed(&r.id, error.clone());
                    o.attempts = attempt - 1;
                    done.insert(r.id.clone(), o);
                }
                break;
            }

            let outcome = self.attempt(&sub).await;
            let mut delivered_any = false;
            let mut transient_any = false;
            let mut wait_hint: Option<Duration> = None;
            let mut records: HashMap<String, Record> =
                sub.records.into_iter().map(|r| (r.id.clone(), r)).collect();
            for mut o in outcome.records {
                o.attempts = attempt;
                match o.error() {
                    None => delivered_any = true,
                    Some(e) if e.is_retryable() => {
                        transient_any = true;
                        if let Some(ra) = e.retry_after {
                            wait_hint = Some(wait_hint.map_or(ra, |w| w.max(ra)));
                        }
                        if attempt < max_attempts
                            && let Some(r) = records.remove(&o.record_id)
                        {
                            pending.push(r);
                            continue;
                        }
                    }
                    Some(_) => {}
                }
                done.insert(o.record_id.clone(), o);
            }
            if let Some(b) = &self.breaker {
                if transient_any && !delivered_any {
                    b.on_failure();
                } else {
                    b.on_success();
                }
            }
            if pending.is_empty() {
                break;
            }
            let backoff = schedule.next_delay();
            let wait = match wait_hint {
                Some(ra) => backoff.max(self.policy.clamp_retry_after(ra)),
                None => backoff,
            };
            tracing::debug!(
                batch = %template.id,
                attempt,
                retrying = pending.len(),
                wait_ms = wait.as_millis() as u64,
                "retrying transient failures"
            );
            tokio::time::sleep(wait).await;
        }

        let records = order
            .into_iter()
            .map(|id| {
                done.remove(&id).unwrap_or_else(|| {
                    RecordOutcome::failed(
                        &id,
                        ConnectorError::internal(format!(
                            "no outcome was recorded for record {id}"
                        )),
                    )
                })
            })
            .collect();
        BatchOutcome { records }
    }

    /// One attempt within the concurrency limit and the per-attempt timeout.
    async fn attempt(&self, batch: &Batch) -> BatchOutcome {
        let _permit = match self.in_flight.acquire().await {
            Ok(p) => p,
            Err(_) => {
                return BatchOutcome::all_failed(
                    batch,
                    &ConnectorError::internal("the delivery limiter was closed"),
                );
            }
        };
        let timeout = self.policy.attempt_timeout();
        match tokio::time::timeout(timeout, self.destination.deliver(batch)).await {
            Ok(outcome) => outcome,
            Err(_) => BatchOutcome::all_failed(
                batch,
                &ConnectorError::new(
                    ErrorKind::Timeout,
                    format!(
                        "the destination did not finish within timeout_ms ({} ms)",
                        timeout.as_millis()
                    ),
                    "check that the destination is responsive, or raise timeout_ms",
                ),
            ),
        }
    }
}

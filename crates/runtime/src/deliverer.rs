//! `Deliverer`: one destination behind its delivery policy, in memory. It loops over
//! [`Guarded::attempt`]: retries only the records that failed transiently, after the longest
//! wait any of them was given, until each is delivered or given up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use courier_core::{Batch, BatchOutcome, ConnectorError, Destination, Record, RecordOutcome};
use futures::StreamExt;

use crate::attempt::{Guarded, Next};
use crate::breaker::CircuitBreaker;
use crate::policy::DeliveryPolicy;

/// Delivers batches to one destination under its [`DeliveryPolicy`], retrying in memory.
/// Clones share the circuit breaker and the concurrency limit.
#[derive(Debug, Clone)]
pub struct Deliverer {
    guarded: Guarded,
}

impl Deliverer {
    /// `destination` behind `policy`, with a fresh circuit breaker if the policy enables one.
    pub fn new(destination: Arc<dyn Destination>, policy: DeliveryPolicy) -> Self {
        Deliverer {
            guarded: Guarded::new(destination, policy),
        }
    }

    /// The policy deliveries are made under.
    pub fn policy(&self) -> &DeliveryPolicy {
        self.guarded.policy()
    }

    /// The destination records are delivered to.
    pub fn destination(&self) -> &Arc<dyn Destination> {
        self.guarded.destination()
    }

    /// The circuit breaker; `None` when the policy disables it.
    pub fn breaker(&self) -> Option<&CircuitBreaker> {
        self.guarded.breaker()
    }

    /// Delivers many batches, at most `max_concurrency` at once, outcomes in input order.
    pub async fn deliver_all(&self, batches: Vec<Batch>) -> Vec<BatchOutcome> {
        futures::stream::iter(batches)
            .map(|b| async move { self.deliver(b).await })
            .buffered(self.policy().max_concurrency.max(1) as usize)
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
        let mut attempts = 0;
        while !pending.is_empty() {
            let sub = template.with_records(std::mem::take(&mut pending));
            let slot = match self.guarded.start().await {
                Ok(slot) => slot,
                Err(retry_in) => {
                    let error = self.guarded.circuit_open_error(retry_in);
                    for r in &sub.records {
                        let mut o = RecordOutcome::failed(&r.id, error.clone());
                        o.attempts = attempts;
                        done.insert(r.id.clone(), o);
                    }
                    break;
                }
            };
            let prior = vec![attempts; sub.records.len()];
            let attempt = self.guarded.attempt(slot, &sub, &prior).await;
            attempts += 1;
            let mut wait = Duration::ZERO;
            for (record, verdict) in sub.records.into_iter().zip(attempt.records) {
                match verdict.next {
                    Next::RetryAfter(w) => {
                        wait = wait.max(w);
                        pending.push(record);
                    }
                    Next::Delivered | Next::GiveUp => {
                        done.insert(record.id, verdict.outcome);
                    }
                }
            }
            if pending.is_empty() {
                break;
            }
            tracing::debug!(
                batch = %template.id,
                attempts,
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
}

//! One attempt under a destination's policy, the only place one is made: the circuit breaker
//! and the concurrency limit decide whether it may start, the timeout bounds it, and each
//! record's outcome is classified as delivered, to be retried after a wait (backoff or the
//! target's `Retry-After`, whichever is longer, clamped), or failed for good. [`Deliverer`]
//! loops over it in memory; `courier serve`'s worker makes one per claim and records the
//! verdicts in its queue.
//!
//! [`Deliverer`]: crate::Deliverer

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use courier_core::{Batch, ConnectorError, Destination, ErrorKind, RecordOutcome};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::breaker::{CircuitBreaker, Permit};
use crate::policy::DeliveryPolicy;

/// A destination behind its delivery policy.
#[derive(Debug, Clone)]
pub struct Guarded {
    destination: Arc<dyn Destination>,
    policy: DeliveryPolicy,
    breaker: Option<Arc<CircuitBreaker>>,
    slots: Arc<Semaphore>,
}

/// Leave to make one attempt: a concurrency slot, and the breaker's permission. A probe that
/// is dropped without reporting (its attempt cancelled) counts as failed, so the circuit cannot
/// stay half-open for ever.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    breaker: Option<Arc<CircuitBreaker>>,
    probe: bool,
    settled: bool,
}

impl Slot {
    fn settle(mut self, failed: bool) {
        if let Some(b) = &self.breaker {
            if failed {
                b.on_failure()
            } else {
                b.on_success()
            }
        }
        self.settled = true;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.probe
            && !self.settled
            && let Some(b) = &self.breaker
        {
            b.on_failure();
        }
    }
}

/// Whether an attempt may start now.
#[derive(Debug)]
pub enum Gate {
    /// The attempt may start; the slot is held until it ends.
    Go(Slot),
    /// `max_concurrency` attempts are in flight.
    Full,
    /// The circuit is open: no attempt before this wait.
    Open {
        /// How long until the circuit lets a probe attempt through.
        retry_in: Duration,
    },
}

/// What happens next to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Delivered: nothing more to do.
    Delivered,
    /// Failed transiently: try again after this wait.
    RetryAfter(Duration),
    /// Failed for good: not retryable, retries off, or out of attempts.
    GiveUp,
}

/// One record's outcome in an attempt and what follows from it. `outcome.attempts` counts this
/// attempt and the ones before it.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The record's outcome in this attempt.
    pub outcome: RecordOutcome,
    /// Whether the record is done, to be retried (and after what wait), or given up.
    pub next: Next,
}

/// An attempt as made.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// When the attempt started (wall clock).
    pub started_at: SystemTime,
    /// How long the attempt ran, up to the timeout when it was cut off.
    pub took: Duration,
    /// The attempt ran past `timeout_ms` and was cut off.
    pub timed_out: bool,
    /// One per record, in the batch's order.
    pub records: Vec<Verdict>,
}

impl Guarded {
    /// `destination` behind `policy`, with a fresh circuit breaker (if the policy enables one)
    /// and `max_concurrency` slots.
    pub fn new(destination: Arc<dyn Destination>, policy: DeliveryPolicy) -> Self {
        Self::keeping_breaker(destination, policy, None)
    }

    /// Like [`Guarded::new`], keeping `previous`'s circuit breaker when both have one, so a
    /// rebuilt destination (its config edited) does not reset an open circuit.
    pub fn keeping_breaker(
        destination: Arc<dyn Destination>,
        policy: DeliveryPolicy,
        previous: Option<&Guarded>,
    ) -> Self {
        let breaker = policy.circuit_breaker_enabled.then(|| {
            previous.and_then(|p| p.breaker.clone()).unwrap_or_else(|| {
                Arc::new(CircuitBreaker::new(
                    policy.circuit_breaker_threshold,
                    Duration::from_millis(policy.circuit_breaker_reset_ms),
                ))
            })
        });
        let slots = Arc::new(Semaphore::new(policy.max_concurrency.max(1) as usize));
        Guarded {
            destination,
            policy,
            breaker,
            slots,
        }
    }

    /// The policy attempts are made under.
    pub fn policy(&self) -> &DeliveryPolicy {
        &self.policy
    }

    /// The destination attempts are made to.
    pub fn destination(&self) -> &Arc<dyn Destination> {
        &self.destination
    }

    /// The circuit breaker; `None` when the policy disables it.
    pub fn breaker(&self) -> Option<&CircuitBreaker> {
        self.breaker.as_deref()
    }

    /// Attempts in flight now.
    pub fn in_flight(&self) -> usize {
        self.policy.max_concurrency.max(1) as usize - self.slots.available_permits()
    }

    fn permit(&self, permit: OwnedSemaphorePermit) -> Result<Slot, Duration> {
        let probe = match self.breaker.as_ref().map(|b| b.acquire()) {
            None | Some(Permit::Allowed) => false,
            Some(Permit::Probe) => true,
            Some(Permit::Rejected { retry_in }) => return Err(retry_in),
        };
        Ok(Slot {
            _permit: permit,
            breaker: self.breaker.clone(),
            probe,
            settled: false,
        })
    }

    /// Without waiting: whether an attempt may start now.
    pub fn try_start(&self) -> Gate {
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            return Gate::Full;
        };
        match self.permit(permit) {
            Ok(slot) => Gate::Go(slot),
            Err(retry_in) => Gate::Open { retry_in },
        }
    }

    /// Waits for a concurrency slot; `Err(wait)` when the circuit is open.
    pub async fn start(&self) -> Result<Slot, Duration> {
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the slots are never closed");
        self.permit(permit)
    }

    /// The error for records not attempted because the circuit is open.
    pub fn circuit_open_error(&self, retry_in: Duration) -> ConnectorError {
        ConnectorError::new(
            ErrorKind::Unavailable,
            format!(
                "circuit breaker open: the last {} attempts to this destination failed",
                self.policy.circuit_breaker_threshold
            ),
            "fix the destination or wait; one probe attempt is let through after circuit_breaker_reset_ms",
        )
        .with_retry_after(Some(retry_in))
    }

    /// One attempt carrying `batch`, under `slot`. `prior[i]` is how many attempts record `i`
    /// had before this one (missing entries count as 0).
    pub async fn attempt(&self, slot: Slot, batch: &Batch, prior: &[u32]) -> Attempt {
        let started_at = SystemTime::now();
        let started = Instant::now();
        let timeout = self.policy.attempt_timeout();
        // A connector that panics has made an attempt that failed: it is counted and logged
        // like any other (so a payload that always panics ends as a dead letter, replayable,
        // instead of being taken again and again).
        let delivering = std::panic::AssertUnwindSafe(self.destination.deliver(batch));
        let (outcomes, timed_out, panicked) =
            match tokio::time::timeout(timeout, futures::FutureExt::catch_unwind(delivering)).await
            {
                Ok(Ok(outcome)) => (outcome.records, false, false),
                Ok(Err(_)) => (Vec::new(), false, true),
                Err(_) => (Vec::new(), true, false),
            };
        let took = started.elapsed();
        let mut by_id: std::collections::HashMap<String, RecordOutcome> = outcomes
            .into_iter()
            .map(|o| (o.record_id.clone(), o))
            .collect();
        let mut delivered_any = false;
        let mut transient_any = false;
        let records: Vec<Verdict> = batch
            .records
            .iter()
            .enumerate()
            .map(|(i, record)| {
                let mut outcome = by_id.remove(&record.id).unwrap_or_else(|| {
                    let error = if timed_out {
                        ConnectorError::new(
                            ErrorKind::Timeout,
                            format!(
                                "the destination did not finish within timeout_ms ({} ms)",
                                timeout.as_millis()
                            ),
                            "check that the destination is responsive, or raise timeout_ms",
                        )
                    } else if panicked {
                        ConnectorError::internal(format!(
                            "the {} connector panicked while delivering",
                            self.destination.metadata().type_id
                        ))
                    } else {
                        ConnectorError::internal(format!(
                            "no outcome was recorded for record {}",
                            record.id
                        ))
                    };
                    RecordOutcome::failed(&record.id, error)
                });
                outcome.attempts = prior.get(i).copied().unwrap_or(0) + 1;
                let next = match outcome.error() {
                    None => {
                        delivered_any = true;
                        Next::Delivered
                    }
                    Some(e) if e.is_retryable() => {
                        transient_any = true;
                        if outcome.attempts < self.policy.max_attempts() {
                            let mut wait = self.policy.retry_delay(outcome.attempts);
                            if let Some(asked) = e.retry_after {
                                wait = wait.max(self.policy.clamp_retry_after(asked));
                            }
                            Next::RetryAfter(wait)
                        } else {
                            Next::GiveUp
                        }
                    }
                    Some(_) => Next::GiveUp,
                };
                Verdict { outcome, next }
            })
            .collect();
        slot.settle((transient_any || panicked) && !delivered_any);
        Attempt {
            started_at,
            took,
            timed_out,
            records,
        }
    }
}

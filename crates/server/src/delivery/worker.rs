//! The delivery worker: claims due deliveries from the store, makes one attempt each through
//! the destination's connector under its policy (timeout, circuit breaker, per-destination
//! concurrency), and schedules the retry, dead-letters the delivery, or suspends the
//! destination (410 Gone → `disabled`, a revoked grant → `reauth_required`). Retries live in
//! the database, so a restart loses nothing; a crashed worker's claims return when their lease
//! ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use courier_catalog::Catalog;
use courier_core::{
    Batch, Category, ConnectorError, Destination, ErrorKind, Outcome, Record, RecordOutcome,
};
use courier_runtime::backoff::Schedule;
use courier_runtime::breaker::Permit;
use courier_runtime::{CircuitBreaker, DeliveryPolicy};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

use crate::api::rules::{ServerRules, Unresolved};
use crate::api::secrets::spec_of;
use crate::crypto::Sealer;
use crate::ids;
use crate::store::{AttemptLog, DestinationRow, Finish, Job, Store};

/// Attempts in flight at once across all destinations.
const WORKER_CONCURRENCY: usize = 64;
/// How long to wait for work when the queue is empty (new events wake the worker sooner).
const IDLE_POLL: Duration = Duration::from_millis(250);
/// How long in-flight attempts may run on after shutdown begins before they are released.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The claim tokens this worker holds, with how many attempts use each.
#[derive(Debug, Clone, Default)]
struct Claims(Arc<Mutex<HashMap<String, usize>>>);

/// One attempt's hold on its claim; released on drop.
struct Held {
    claims: Claims,
    token: String,
}

impl Claims {
    fn hold(&self, token: &str) -> Held {
        *self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(token.to_string())
            .or_insert(0) += 1;
        Held {
            claims: self.clone(),
            token: token.to_string(),
        }
    }

    fn tokens(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut claims = self.claims.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = claims.get_mut(&self.token) {
            *n -= 1;
            if *n == 0 {
                claims.remove(&self.token);
            }
        }
    }
}

/// A destination built for delivery, rebuilt when the stored row changes.
struct Built {
    updated_at: String,
    destination: Arc<dyn Destination>,
    policy: DeliveryPolicy,
    breaker: Option<Arc<CircuitBreaker>>,
    in_flight: Arc<Semaphore>,
}

pub struct Worker {
    store: Store,
    sealer: Sealer,
    catalog: Catalog,
    wake: Arc<Notify>,
    built: Mutex<HashMap<String, Arc<Built>>>,
    /// How long a claim lasts unless renewed; renewed every third of it while attempts run.
    lease: Duration,
    /// Failing without a success for this long disables a destination.
    disable_after: Duration,
    rules: ServerRules,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").finish_non_exhaustive()
    }
}

impl Worker {
    pub fn new(
        store: Store,
        sealer: Sealer,
        catalog: Catalog,
        wake: Arc<Notify>,
        lease: Duration,
        disable_after: Duration,
        rules: ServerRules,
    ) -> Arc<Self> {
        Arc::new(Worker {
            store,
            sealer,
            catalog,
            wake,
            built: Mutex::new(HashMap::new()),
            lease,
            disable_after,
            rules,
        })
    }

    /// Runs until `shutdown` turns true; then lets attempts in flight finish (for a while)
    /// and releases the rest for another worker.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let permits = Arc::new(Semaphore::new(WORKER_CONCURRENCY));
        let mut running: JoinSet<()> = JoinSet::new();
        let claims = Claims::default();
        let lease_ms = self.lease.as_millis() as i64;
        // Leases are renewed on their own schedule, whatever the claim loop is waiting for.
        let renewer = {
            let (worker, claims) = (self.clone(), claims.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(worker.lease / 3);
                loop {
                    tick.tick().await;
                    let tokens = claims.tokens();
                    if !tokens.is_empty()
                        && let Err(e) = worker.store.renew(&tokens, lease_ms).await
                    {
                        tracing::warn!(error = %format!("{e:#}"), "renewing delivery leases failed");
                    }
                }
            })
        };
        let mut depth_at = Instant::now() - Duration::from_secs(60);
        loop {
            if *shutdown.borrow() {
                break;
            }
            while let Some(done) = running.try_join_next() {
                if let Err(e) = done {
                    tracing::error!(error = %e, "a delivery attempt panicked; its claim lapses and it is tried again");
                }
            }
            if depth_at.elapsed() > Duration::from_secs(2) {
                if let Ok(depth) = self.store.queue_depth().await {
                    metrics::gauge!("courier_queue_depth").set(depth as f64);
                }
                depth_at = Instant::now();
            }
            let free = permits.available_permits() as i64;
            if free == 0 {
                // Every slot is busy: claim again as soon as one attempt ends.
                tokio::select! {
                    _ = running.join_next() => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            let jobs = match self.store.claim(free, lease_ms).await {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "claiming deliveries failed");
                    Vec::new()
                }
            };
            if jobs.is_empty() {
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(IDLE_POLL.min(self.lease / 3)) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            let mut groups: HashMap<String, Vec<Job>> = HashMap::new();
            for job in jobs {
                groups
                    .entry(job.destination_id.clone())
                    .or_default()
                    .push(job);
            }
            for (_, group) in groups {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let worker = self.clone();
                // Dropped when the attempts end, even by a panic: the claim stops being renewed.
                let held = claims.hold(&group[0].claim_token);
                running.spawn(async move {
                    worker.attempt_group(group).await;
                    drop(held);
                    drop(permit);
                });
            }
        }
        let finished = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if finished.is_err() {
            running.abort_all();
            while running.join_next().await.is_some() {}
        }
        renewer.abort();
        // Whatever is still claimed (attempts cut off by the grace period) goes back now rather
        // than when the lease ends.
        let left = claims.tokens();
        if !left.is_empty()
            && let Err(e) = self.store.release(&left).await
        {
            tracing::warn!(error = %format!("{e:#}"), "releasing deliveries failed; their leases will expire");
        }
    }

    /// The built destination for `row`, from the cache while the row is unchanged.
    async fn built(&self, row: &DestinationRow) -> Result<Arc<Built>, ConnectorError> {
        if let Some(b) = self
            .built
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&row.id)
            && b.updated_at == row.updated_at
        {
            return Ok(b.clone());
        }
        let spec = spec_of(&self.sealer, &self.store, row).map_err(|e| {
            ConnectorError::new(
                ErrorKind::Internal,
                format!("the destination's secrets cannot be opened ({})", e.message),
                "check that every replica has the same COURIER_ENCRYPTION_KEY",
            )
        })?;
        if let Some(rule) = self
            .rules
            .check(
                &row.destination_type,
                &spec.config,
                &spec.auth_config,
                Unresolved::Allow,
            )
            .await
            .first()
        {
            return Err(ConnectorError::new(
                ErrorKind::InvalidConfig,
                format!("the destination breaks a server rule: {rule}"),
                "change the destination, or the server's settings",
            ));
        }
        let destination = self
            .catalog
            .build(&row.destination_type, &spec)
            .await
            .map_err(|e| {
                ConnectorError::new(
                    ErrorKind::InvalidConfig,
                    format!("the destination cannot be built: {e}"),
                    "correct the destination's config",
                )
            })?;
        let policy: DeliveryPolicy = serde_json::from_value(row.policy.clone()).unwrap_or_default();
        let previous = self
            .built
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&row.id)
            .cloned();
        // The breaker's state survives config edits, so an edit does not reset an open circuit.
        let breaker = policy.circuit_breaker_enabled.then(|| {
            match previous.as_ref().and_then(|p| p.breaker.clone()) {
                Some(b) => b,
                None => Arc::new(CircuitBreaker::new(
                    policy.circuit_breaker_threshold,
                    Duration::from_millis(policy.circuit_breaker_reset_ms),
                )),
            }
        });
        let built = Arc::new(Built {
            updated_at: row.updated_at.clone(),
            destination,
            in_flight: Arc::new(Semaphore::new(policy.max_concurrency.max(1) as usize)),
            policy,
            breaker,
        });
        self.built
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(row.id.clone(), built.clone());
        Ok(built)
    }

    /// Ends every claim of `jobs` the same way.
    async fn finish_all(&self, jobs: &[Job], finish: Finish, log: Option<AttemptLog>) {
        let items: Vec<_> = jobs
            .iter()
            .map(|job| (job, finish.clone(), log.clone()))
            .collect();
        self.finish_many(&items).await;
    }

    /// Records how several claims end, in few transactions.
    async fn finish_many(&self, items: &[(&Job, Finish, Option<AttemptLog>)]) {
        if let Err(e) = self.store.finish_many(items).await {
            tracing::error!(deliveries = items.len(), error = %format!("{e:#}"), "recording delivery attempts failed; the leases will expire and they are tried again");
        }
    }

    /// Claimed deliveries of one destination: HTTP destinations get one attempt per delivery
    /// (concurrently, up to the destination's limit); file and stream destinations get them
    /// gathered into batches within `batch_max_records` and `batch_max_bytes` (topped up with
    /// other due deliveries of the destination), one attempt per batch.
    async fn attempt_group(&self, jobs: Vec<Job>) {
        let Some(first) = jobs.first().cloned() else {
            return;
        };
        let row = match self.store.destination_by_id(&first.destination_id).await {
            Ok(Some(row)) => row,
            Ok(None) => {
                let error = ConnectorError::new(
                    ErrorKind::NotFound,
                    "the destination was deleted",
                    "replay to another destination",
                );
                return self
                    .finish_all(&jobs, Finish::Failed, Some(failure_log(&error, None, 0)))
                    .await;
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "loading a destination failed");
                let at_ms = ids::now_ms() + 5_000;
                return self
                    .finish_all(&jobs, Finish::Release { at_ms }, None)
                    .await;
            }
        };
        if !row.is_active || row.status == "reauth_required" || row.status == "disabled" {
            // Kept, not attempted, until the destination is active again.
            let at_ms = ids::now_ms() + 30_000;
            return self
                .finish_all(&jobs, Finish::Release { at_ms }, None)
                .await;
        }
        let built = match self.built(&row).await {
            Ok(b) => b,
            // A secret this process cannot open is its own misconfiguration, not the
            // delivery's fault: leave it for a correctly configured worker.
            Err(error) if error.kind == ErrorKind::Internal => {
                tracing::error!(destination = %row.id, error = %error.message, "cannot build the destination");
                let at_ms = ids::now_ms() + 30_000;
                return self
                    .finish_all(&jobs, Finish::Release { at_ms }, None)
                    .await;
            }
            Err(error) => {
                return self
                    .finish_all(&jobs, Finish::Failed, Some(failure_log(&error, None, 0)))
                    .await;
            }
        };
        if built.destination.metadata().category == Category::Http {
            futures::future::join_all(jobs.into_iter().map(|job| self.attempt(&built, vec![job])))
                .await;
            return;
        }
        let policy = &built.policy;
        let max_records = policy.batch_max_records.max(1) as usize;
        let mut jobs = jobs;
        if jobs.len() < max_records {
            match self
                .store
                .claim_more(
                    &first.destination_id,
                    &first.claim_token,
                    (max_records - jobs.len()) as i64,
                    self.lease.as_millis() as i64,
                )
                .await
            {
                Ok(more) => jobs.extend(more),
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "filling a batch failed"),
            }
        }
        jobs.sort_by(|a, b| a.id.cmp(&b.id));
        let mut batch: Vec<Job> = Vec::new();
        let mut bytes = 0u64;
        for job in jobs {
            let size = job.payload.len() as u64;
            if !batch.is_empty()
                && (batch.len() >= max_records || bytes + size > policy.batch_max_bytes)
            {
                self.attempt(&built, std::mem::take(&mut batch)).await;
                bytes = 0;
            }
            bytes += size;
            batch.push(job);
        }
        if !batch.is_empty() {
            self.attempt(&built, batch).await;
        }
    }

    /// One attempt carrying `jobs` (one delivery, or a batch for file and stream destinations).
    async fn attempt(&self, built: &Built, jobs: Vec<Job>) {
        let Some(first) = jobs.first() else {
            return;
        };
        let destination_id = first.destination_id.clone();
        if let Some(breaker) = &built.breaker
            && let Permit::Rejected { retry_in } = breaker.acquire()
        {
            let at_ms = ids::now_ms() + retry_in.as_millis() as i64;
            return self
                .finish_all(&jobs, Finish::Release { at_ms }, None)
                .await;
        }
        // A destination at its concurrency limit gives the slot back instead of holding one of
        // the worker's, so one slow destination cannot stall the others.
        let Ok(_slot) = built.in_flight.clone().try_acquire_owned() else {
            let at_ms = ids::now_ms() + 100;
            return self
                .finish_all(&jobs, Finish::Release { at_ms }, None)
                .await;
        };
        let started_at = ids::now();
        let started = Instant::now();
        // Record ids are delivery ids, stable across attempts (the webhook-id); the batch id is
        // the first delivery's, so a batch retried whole keeps its file key. Every payload was
        // serialized from parsed JSON when its event was accepted, so file connectors need not
        // parse it again.
        let batch = Batch::new(
            first.id.clone(),
            jobs.iter()
                .map(|j| Record::new(j.id.clone(), j.payload.clone().into_bytes()))
                .collect(),
        )
        .with_json_payloads();
        let policy = &built.policy;
        let outcomes =
            match tokio::time::timeout(policy.attempt_timeout(), built.destination.deliver(&batch))
                .await
            {
                Ok(out) => out.records,
                Err(_) => Vec::new(),
            };
        let took = started.elapsed();
        metrics::histogram!("courier_delivery_attempt_seconds", "destination_id" => destination_id.clone()).record(took.as_secs_f64());
        let duration_ms = took.as_millis() as i64;
        let mut outcomes: HashMap<String, RecordOutcome> = outcomes
            .into_iter()
            .map(|o| (o.record_id.clone(), o))
            .collect();
        let mut any_delivered = false;
        let mut any_retryable_failure = false;
        let mut finishes = Vec::with_capacity(jobs.len());
        // The first failure's answer and error decide whether the destination is suspended.
        let mut first_failure: Option<(Option<u16>, ConnectorError)> = None;
        for job in &jobs {
            let outcome = outcomes.remove(&job.id).unwrap_or_else(|| {
                RecordOutcome::failed(
                    &job.id,
                    ConnectorError::new(
                        ErrorKind::Timeout,
                        format!("the attempt took longer than {} ms", policy.timeout_ms),
                        "the delivery is retried",
                    ),
                )
            });
            match outcome.outcome {
                Outcome::Delivered(d) => {
                    any_delivered = true;
                    metrics::counter!("courier_deliveries_total", "destination_id" => destination_id.clone(), "outcome" => "delivered").increment(1);
                    let log = AttemptLog {
                        started_at: started_at.clone(),
                        duration_ms,
                        outcome: "delivered".into(),
                        http_status: d.status.map(i64::from),
                        reference: Some(d.reference),
                        response: d.response_body,
                        ..AttemptLog::default()
                    };
                    finishes.push((job, Finish::Delivered, Some(log)));
                }
                Outcome::Failed { error, response } => {
                    let status = response.as_ref().map(|r| r.status);
                    any_retryable_failure |= error.is_retryable();
                    let mut log = failure_log(&error, response.as_ref(), duration_ms);
                    log.started_at = started_at.clone();
                    let attempts = job.attempts + 1;
                    let finish = if error.is_retryable()
                        && policy.retry_enabled
                        && attempts < i64::from(policy.max_attempts())
                    {
                        let mut schedule = Schedule::for_policy(policy);
                        let mut delay = schedule.next_delay();
                        for _ in 1..attempts {
                            delay = schedule.next_delay();
                        }
                        if let Some(asked) = error.retry_after {
                            delay = delay.max(policy.clamp_retry_after(asked));
                        }
                        metrics::counter!("courier_deliveries_total", "destination_id" => destination_id.clone(), "outcome" => "retried").increment(1);
                        Finish::Retry {
                            at_ms: ids::now_ms() + delay.as_millis() as i64,
                        }
                    } else {
                        metrics::counter!("courier_deliveries_total", "destination_id" => destination_id.clone(), "outcome" => "failed").increment(1);
                        Finish::Failed
                    };
                    finishes.push((job, finish, Some(log)));
                    if first_failure.is_none() {
                        first_failure = Some((status, error));
                    }
                }
            }
        }
        self.finish_many(&finishes).await;
        let suspend = match first_failure {
            Some((Some(410), _)) => Some((
                "disabled",
                "the endpoint answered 410 Gone: it no longer accepts deliveries".to_string(),
            )),
            Some((_, error)) if error.kind == ErrorKind::ReauthRequired => {
                Some(("reauth_required", error.message))
            }
            Some((_, error)) if self.failing_too_long(&destination_id).await => Some((
                "disabled",
                format!(
                    "no successful delivery for {} hours; the last error: {}",
                    self.disable_after.as_secs() / 3600,
                    error.message
                ),
            )),
            _ => None,
        };
        if let Some(b) = &built.breaker {
            if any_retryable_failure && !any_delivered {
                b.on_failure();
            } else {
                b.on_success();
            }
        }
        if let Some((state, reason)) = suspend
            && let Err(e) = self
                .store
                .suspend_destination(&destination_id, state, &reason)
                .await
        {
            tracing::warn!(error = %format!("{e:#}"), "suspending a destination failed");
        }
    }
}

impl Worker {
    /// Whether the destination has gone without a successful delivery for too long.
    async fn failing_too_long(&self, destination_id: &str) -> bool {
        let Ok(Some(since)) = self.store.failing_since(destination_id).await else {
            return false;
        };
        ids::parse_timestamp(&since).is_some_and(|t| {
            let quiet = time::OffsetDateTime::now_utc() - t;
            quiet.whole_milliseconds() >= self.disable_after.as_millis() as i128
        })
    }
}

/// The attempt log of a failure: kind, message, and what the target answered (4 KiB at most).
fn failure_log(
    error: &ConnectorError,
    response: Option<&courier_core::Response>,
    duration_ms: i64,
) -> AttemptLog {
    AttemptLog {
        started_at: ids::now(),
        duration_ms,
        outcome: "failed".into(),
        http_status: response.map(|r| i64::from(r.status)),
        error_kind: Some(error.kind.as_str().to_string()),
        error: Some(error.message.clone()),
        response: response.and_then(|r| r.body.clone()),
        ..AttemptLog::default()
    }
}

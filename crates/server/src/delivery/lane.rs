//! A lane: the actor delivering one destination's deliveries in this process. It holds the
//! destination built (rebuilt when its row changes, keeping the circuit breaker), starts
//! attempts through the runtime's [`Guarded`] as its policy and the process-wide limit allow
//! (HTTP destinations one delivery per attempt, file and stream destinations a batch once it is
//! full or its oldest delivery's wait is over), hands deliveries back to the queue while the
//! destination is paused, and suspends the destination when its answers say so.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use courier_catalog::Catalog;
use courier_core::{Category, ConnectorError, ErrorKind};
use courier_runtime::{DeliveryPolicy, Gate, Guarded};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use serde_json::json;

use super::dispatch::{LaneShared, Queued};
use super::held::HeldBy;
use super::notices::{self, About};
use super::throttle::{Admit, Limit, Throttle};
use super::verdicts::{self, LaneMetrics, Report};
use super::writer::{Finished, Writer};
use crate::api::rules::{ServerRules, Unresolved};
use crate::api::secrets::spec_of;
use crate::crypto::Sealer;
use crate::ids;
use crate::store::{DestinationRow, Finish, Store};

/// A lane with nothing to do for this long ends (a new delivery starts another).
const IDLE_END: Duration = Duration::from_secs(60);
/// How long deliveries of an inactive or suspended destination wait before being looked at
/// again.
const PAUSED_WAIT_MS: i64 = 30_000;
/// A destination that cannot be loaded (the database failing) is tried again after this.
const LOAD_RETRY_MS: i64 = 5_000;
/// Why deliveries wait, as their `waiting_reason` says (and `held_by` names).
const CIRCUIT_OPEN_REASON: &str = HeldBy::CircuitOpen.reason();
const POLICY_REASON: &str = HeldBy::PolicyUnreadable.reason();
const SECRETS_REASON: &str = HeldBy::SecretsUnreadable.reason();
const REAUTH_REASON: &str = HeldBy::ReauthRequired.reason();
const INACTIVE_REASON: &str = HeldBy::DestinationInactive.reason();
const LOAD_REASON: &str = HeldBy::DestinationUnloadable.reason();
/// How often a failing destination's failing clock is read (it disables the destination once
/// it reaches `disable_after_failing_ms`).
const FAILING_CHECK_EVERY: Duration = Duration::from_secs(10);
/// How long attempts in flight may run on after shutdown begins.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What every lane of a process shares.
pub(crate) struct LaneContext {
    pub store: Store,
    /// Workspaces' routes, for the operational events lanes emit.
    pub routing: Arc<super::Routing>,
    pub sealer: Sealer,
    pub catalog: Catalog,
    pub rules: ServerRules,
    pub writer: Writer,
    /// Attempts in flight at once across all destinations.
    pub global: Arc<Semaphore>,
    /// Failing without a success for this long disables a destination.
    pub disable_after: Duration,
    pub shutdown: watch::Receiver<bool>,
    /// Wakes the poller: a lane's head ended, so the next delivery of the lane can be claimed.
    pub wake: Arc<Notify>,
    /// Claim tokens of attempts cut off at shutdown, for the engine to release.
    pub cut_off: Mutex<Vec<String>>,
}

impl std::fmt::Debug for LaneContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LaneContext").finish_non_exhaustive()
    }
}

/// The destination as the lane last loaded it.
enum State {
    /// Not loaded yet, or its row changed.
    Unloaded,
    Ready {
        updated_at: String,
        guarded: Guarded,
        batching: bool,
    },
    /// Deliveries go back to the queue, due at this time (epoch ms), for this reason.
    Paused { until_ms: i64, reason: &'static str },
    /// Deliveries fail with this error (the destination was deleted, or cannot be built).
    Broken(ConnectorError),
}

pub(crate) struct Lane {
    destination_id: String,
    ctx: Arc<LaneContext>,
    shared: Arc<LaneShared>,
    rx: mpsc::UnboundedReceiver<Vec<Queued>>,
    lanes: Arc<Mutex<HashMap<String, super::dispatch::LaneEntry>>>,
    state: State,
    /// The config epoch the state was loaded at.
    epoch: u64,
    waiting: VecDeque<Queued>,
    waiting_bytes: u64,
    running: JoinSet<Report>,
    /// Claim tokens of each running attempt, by task.
    running_tokens: HashMap<tokio::task::Id, Vec<String>>,
    /// A process-wide attempt permit taken ahead of need.
    permit: Option<OwnedSemaphorePermit>,
    metrics: LaneMetrics,
    failing_checked: Option<Instant>,
    /// The destination, as operational events name it (once loaded).
    about: Option<About>,
    /// The highest share (50, 70, 90 %) of the disabling time a `failing` event was emitted
    /// for since the last success (0: none).
    failing_level: u8,
    /// The start times this lane holds when the destination has a rate limit.
    throttle: Option<Throttle>,
    /// The destination delivers in fifo order: each ended attempt frees its lanes' next.
    fifo: bool,
}

impl Lane {
    pub(crate) fn new(
        destination_id: String,
        ctx: Arc<LaneContext>,
        shared: Arc<LaneShared>,
        rx: mpsc::UnboundedReceiver<Vec<Queued>>,
        lanes: Arc<Mutex<HashMap<String, super::dispatch::LaneEntry>>>,
    ) -> Self {
        let metrics = LaneMetrics::new(&destination_id);
        Lane {
            destination_id,
            ctx,
            shared,
            rx,
            lanes,
            state: State::Unloaded,
            epoch: 0,
            waiting: VecDeque::new(),
            waiting_bytes: 0,
            running: JoinSet::new(),
            running_tokens: HashMap::new(),
            permit: None,
            metrics,
            about: None,
            failing_level: 0,
            failing_checked: None,
            throttle: None,
            fifo: false,
        }
    }

    pub(crate) async fn run(mut self) {
        let mut shutdown = self.ctx.shutdown.clone();
        loop {
            if *shutdown.borrow() {
                return self.shut_down().await;
            }
            self.refresh().await;
            self.reserve_starts().await;
            let wake_at = self.start();
            let wants_permit = self.permit.is_none() && self.has_startable_work();
            let idle = self.waiting.is_empty() && self.running.is_empty();
            tokio::select! {
                _ = shutdown.changed() => {}
                jobs = self.rx.recv() => match jobs {
                    Some(jobs) => self.enqueue(jobs),
                    None => return,
                },
                Some(done) = self.running.join_next_with_id(), if !self.running.is_empty() => {
                    self.finished(done).await;
                }
                permit = self.ctx.global.clone().acquire_owned(), if wants_permit => {
                    self.permit = permit.ok();
                }
                _ = tokio::time::sleep_until(wake_at.unwrap_or_else(Instant::now).into()), if wake_at.is_some() => {}
                _ = tokio::time::sleep(IDLE_END), if idle => {
                    if self.end_if_idle() {
                        return;
                    }
                }
            }
        }
    }

    fn enqueue(&mut self, jobs: Vec<Queued>) {
        for q in jobs {
            self.waiting_bytes += q.job.payload.len() as u64;
            self.waiting.push_back(q);
        }
    }

    /// Takes the lane out of the dispatcher when nothing is reserved for it; false if
    /// something arrived meanwhile.
    fn end_if_idle(&mut self) -> bool {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        if self.shared.queued.load(Ordering::Acquire) == 0 && self.rx.is_empty() {
            lanes.remove(&self.destination_id);
            true
        } else {
            false
        }
    }

    fn has_startable_work(&self) -> bool {
        matches!(self.state, State::Ready { .. })
            && !self.waiting.is_empty()
            && self
                .throttle
                .as_ref()
                .is_none_or(|t| t.ready(crate::clock::queue_now_ms()))
    }

    /// Reserves start times when the destination's rate limit leaves this lane none and
    /// deliveries wait.
    async fn reserve_starts(&mut self) {
        if self.waiting.is_empty() || !matches!(self.state, State::Ready { .. }) {
            return;
        }
        let Some(throttle) = &mut self.throttle else {
            return;
        };
        let now_ms = crate::clock::queue_now_ms();
        if throttle.admit(now_ms) != Admit::Empty {
            return;
        }
        // As many as can start soon: each attempt takes one (a batch of several deliveries
        // too), within the destination's concurrency; times not used soon are thrown away.
        let State::Ready {
            guarded, batching, ..
        } = &self.state
        else {
            return;
        };
        let policy = guarded.policy();
        let attempts = if *batching {
            self.waiting
                .len()
                .div_ceil(policy.batch_max_records.max(1) as usize)
        } else {
            self.waiting.len()
        };
        let free = (policy.max_concurrency as usize).saturating_sub(self.running.len());
        let want = throttle.block(attempts.min(free.max(1)));
        match self
            .ctx
            .store
            .reserve_starts(&self.destination_id, throttle.limit, want, now_ms)
            .await
        {
            Ok(reserved) => throttle.add(reserved),
            Err(e) => {
                tracing::warn!(destination = %self.destination_id, error = %format!("{e:#}"), "reserving rate-limited start times failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }

    /// Loads the destination again, when there is work and its row may have changed (or a
    /// pause is over).
    async fn refresh(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        let epoch = self.ctx.store.config_epoch();
        let paused_over = matches!(self.state, State::Paused { until_ms, .. } if until_ms <= crate::clock::queue_now_ms());
        if epoch == self.epoch && !matches!(self.state, State::Unloaded) && !paused_over {
            return;
        }
        self.epoch = epoch;
        let row = match self.ctx.store.destination_by_id(&self.destination_id).await {
            Ok(Some(row)) => {
                self.about = Some(About {
                    id: row.id.clone(),
                    workspace_id: row.workspace_id.clone(),
                    name: row.name.clone(),
                    destination_type: row.destination_type.clone(),
                });
                row
            }
            Ok(None) => {
                self.state = State::Broken(ConnectorError::new(
                    ErrorKind::NotFound,
                    "the destination was deleted",
                    "replay to another destination",
                ));
                return;
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "loading a destination failed");
                self.state = State::Paused {
                    until_ms: crate::clock::queue_now_ms() + LOAD_RETRY_MS,
                    reason: LOAD_REASON,
                };
                return;
            }
        };
        if !row.is_active || row.status == "reauth_required" || row.status == "disabled" {
            // Kept, not attempted, until the destination is active again.
            let reason = if row.status == "reauth_required" {
                REAUTH_REASON
            } else {
                INACTIVE_REASON
            };
            self.state = State::Paused {
                until_ms: crate::clock::queue_now_ms() + PAUSED_WAIT_MS,
                reason,
            };
            return;
        }
        if let State::Ready { updated_at, .. } = &self.state
            && *updated_at == row.updated_at
        {
            self.shared.paused_until_ms.store(0, Ordering::Release);
            return;
        }
        let previous = match &self.state {
            State::Ready { guarded, .. } => Some(guarded.clone()),
            _ => None,
        };
        self.state = match build(&self.ctx, &row, previous.as_ref()).await {
            Ok((guarded, batching)) => {
                self.shared.paused_until_ms.store(0, Ordering::Release);
                let policy = guarded.policy();
                self.fifo = policy.ordering == courier_runtime::OrderingMode::Fifo;
                let limit = policy
                    .rate_limit()
                    .map(|(per_second, burst)| Limit { per_second, burst });
                if self.throttle.as_ref().map(|t| t.limit) != limit {
                    self.throttle = limit.map(Throttle::new);
                }
                State::Ready {
                    updated_at: row.updated_at.clone(),
                    guarded,
                    batching,
                }
            }
            // A secret or policy this process cannot read is its own misconfiguration (or an
            // older replica's), not the delivery's fault: leave it for a worker that can.
            Err(Unbuilt::Held { reason, error }) => {
                tracing::error!(destination = %row.id, error = %error.message, "cannot build the destination");
                State::Paused {
                    until_ms: crate::clock::queue_now_ms() + PAUSED_WAIT_MS,
                    reason,
                }
            }
            Err(Unbuilt::Broken(error)) => State::Broken(error),
        };
    }

    /// Starts what can start now; returns when a batch falls due, if one waits for that.
    fn start(&mut self) -> Option<Instant> {
        if self.waiting.is_empty() {
            return None;
        }
        match &self.state {
            State::Unloaded => None,
            State::Paused { until_ms, reason } => {
                let (until_ms, reason) = (*until_ms, *reason);
                self.shared
                    .paused_until_ms
                    .store(until_ms, Ordering::Release);
                self.hand_back(until_ms, Some(reason));
                None
            }
            State::Broken(error) => {
                let error = error.clone();
                let jobs: Vec<Queued> = self.take(usize::MAX, u64::MAX);
                let ctx = self.ctx.clone();
                tokio::spawn(async move {
                    let items = jobs
                        .iter()
                        .map(|q| {
                            let log = verdicts::failure_log(&error, None, 0, &ids::now());
                            Finished::of(&q.job, Finish::Failed, Some(log))
                        })
                        .collect();
                    ctx.writer.finish(items, None).await;
                });
                None
            }
            State::Ready {
                guarded,
                batching,
                updated_at,
            } => {
                let (guarded, batching, built_at) =
                    (guarded.clone(), *batching, updated_at.clone());
                self.start_attempts(&guarded, batching, &built_at)
            }
        }
    }

    /// `built_at`: the version (`updated_at`) of the destination row the attempts run on.
    fn start_attempts(
        &mut self,
        guarded: &Guarded,
        batching: bool,
        built_at: &str,
    ) -> Option<Instant> {
        let policy: &DeliveryPolicy = guarded.policy();
        let max_records = if batching {
            policy.batch_max_records.max(1) as usize
        } else {
            1
        };
        let max_bytes = if batching {
            policy.batch_max_bytes
        } else {
            u64::MAX
        };
        if batching && (self.waiting.len() >= max_records || self.waiting_bytes >= max_bytes) {
            // A full batch waits: everything waiting goes now, in batches within the limits.
            let now = Instant::now();
            for q in &mut self.waiting {
                q.due = q.due.min(now);
            }
        }
        while let Some(front) = self.waiting.front() {
            let shutting = *self.ctx.shutdown.borrow();
            if batching && !shutting && front.due > Instant::now() {
                return Some(front.due);
            }
            if let Some(throttle) = &mut self.throttle {
                let now_ms = crate::clock::queue_now_ms();
                match throttle.admit(now_ms) {
                    Admit::Now => {}
                    Admit::At(at_ms) => {
                        return Some(
                            Instant::now() + Duration::from_millis((at_ms - now_ms) as u64),
                        );
                    }
                    // The run loop reserves more before starting again.
                    Admit::Empty => return Some(Instant::now()),
                }
            }
            let permit = match self.permit.take() {
                Some(p) => p,
                None => match self.ctx.global.clone().try_acquire_owned() {
                    Ok(p) => p,
                    Err(_) => return None,
                },
            };
            match guarded.try_start() {
                Gate::Go(slot) => {
                    if let Some(throttle) = &mut self.throttle {
                        throttle.consume();
                    }
                    let jobs = self.take(max_records, max_bytes);
                    let tokens: Vec<String> =
                        jobs.iter().map(|q| q.job.claim_token.clone()).collect();
                    let task = verdicts::attempt(
                        self.ctx.writer.clone(),
                        guarded.clone(),
                        slot,
                        permit,
                        jobs,
                        self.metrics.clone(),
                        built_at.to_string(),
                    );
                    let handle = self.running.spawn(task);
                    self.running_tokens.insert(handle.id(), tokens);
                }
                Gate::Full => {
                    self.permit = Some(permit);
                    return None;
                }
                Gate::Open { retry_in } => {
                    let until_ms = crate::clock::queue_now_ms() + retry_in.as_millis() as i64;
                    self.shared
                        .paused_until_ms
                        .store(until_ms, Ordering::Release);
                    self.hand_back(until_ms, Some(CIRCUIT_OPEN_REASON));
                    return None;
                }
            }
        }
        None
    }

    /// Takes waiting deliveries from the front: at most `records` of them adding up to at most
    /// `bytes` (always at least one).
    fn take(&mut self, records: usize, bytes: u64) -> Vec<Queued> {
        let mut out = Vec::new();
        let mut size = 0u64;
        while let Some(front) = self.waiting.front() {
            let len = front.job.payload.len() as u64;
            if !out.is_empty() && (out.len() >= records || size + len > bytes) {
                break;
            }
            size += len;
            let q = self.waiting.pop_front().expect("a front");
            self.waiting_bytes -= len;
            out.push(q);
        }
        out
    }

    /// Hands every waiting delivery back to the queue, due at `until_ms`, saying why.
    fn hand_back(&mut self, until_ms: i64, reason: Option<&'static str>) {
        let jobs = self.take(usize::MAX, u64::MAX);
        if jobs.is_empty() {
            return;
        }
        let writer = self.ctx.writer.clone();
        tokio::spawn(async move {
            let items = jobs
                .iter()
                .map(|q| {
                    Finished::of(
                        &q.job,
                        Finish::Release {
                            at_ms: until_ms,
                            reason,
                        },
                        None,
                    )
                })
                .collect();
            writer.finish(items, None).await;
            drop(jobs);
        });
    }

    /// An attempt ended (and was recorded): suspends the destination when its answer says so.
    async fn finished(&mut self, done: Result<(tokio::task::Id, Report), tokio::task::JoinError>) {
        let report = match done {
            Ok((id, report)) => {
                self.running_tokens.remove(&id);
                report
            }
            Err(e) => {
                self.running_tokens.remove(&e.id());
                tracing::error!(error = %e, "a delivery attempt panicked; its claim lapses and it is tried again");
                return;
            }
        };
        self.tell(&report);
        if self.fifo {
            // Recorded: the next delivery of each lane it held is the head now.
            self.ctx.wake.notify_one();
        }
        if let (Some(wait), Some(throttle)) = (report.retry_after, &mut self.throttle) {
            // The destination asked for a pause: no replica starts before it is over.
            let until_ms = crate::clock::queue_now_ms() + wait.as_millis() as i64;
            throttle.pause(until_ms);
            if let Err(e) = self
                .ctx
                .store
                .pause_starts(&self.destination_id, until_ms)
                .await
            {
                tracing::warn!(error = %format!("{e:#}"), "recording a destination's Retry-After failed");
            }
        }
        if report.suspended.is_some() {
            // Written with the attempt's results: the next refresh finds it paused.
            self.state = State::Unloaded;
            return;
        }
        let Some((_, error)) = report.first_failure else {
            return;
        };
        let State::Ready { updated_at, .. } = &self.state else {
            return;
        };
        let built_at = updated_at.clone();
        if self.failing_too_long().await {
            let reason = format!(
                "no successful delivery for {} hours; the last error: {}",
                self.ctx.disable_after.as_secs() / 3600,
                error.message
            );
            match self
                .ctx
                .store
                .suspend_destination(&self.destination_id, "disabled", &reason, &built_at)
                .await
            {
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "suspending a destination failed")
                }
                Ok(()) => {
                    if let Some(about) = &self.about {
                        notices::emit(
                            &self.ctx,
                            about,
                            notices::DISABLED,
                            json!({"status": "disabled", "reason": reason}),
                        );
                    }
                }
            }
            self.state = State::Unloaded;
        }
    }

    /// Whether the destination has gone without a successful delivery for too long (read at
    /// most every few seconds).
    async fn failing_too_long(&mut self) -> bool {
        if self
            .failing_checked
            .is_some_and(|at| at.elapsed() < FAILING_CHECK_EVERY)
        {
            return false;
        }
        let Ok(Some(since)) = self.ctx.store.failing_since(&self.destination_id).await else {
            // The clock is not written yet (the writer records failures in rounds): look again
            // at the next failure rather than in FAILING_CHECK_EVERY, which a short burst of
            // failures would never reach.
            return false;
        };
        self.failing_checked = Some(Instant::now());
        let Some(t) = ids::parse_timestamp(&since) else {
            return false;
        };
        let quiet = (time::OffsetDateTime::now_utc() - t).whole_milliseconds();
        let limit = self.ctx.disable_after.as_millis().max(1) as i128;
        let level = match quiet * 100 / limit {
            90.. => 90,
            70.. => 70,
            50.. => 50,
            _ => 0,
        };
        if level > self.failing_level && quiet < limit {
            self.failing_level = level;
            if let Some(about) = &self.about {
                notices::emit(
                    &self.ctx,
                    about,
                    notices::FAILING,
                    json!({
                        "percent_of_disable_threshold": level,
                        "failing_since": since,
                        "disable_after_ms": limit as u64,
                    }),
                );
            }
        }
        quiet >= limit
    }

    /// Emits the operational events an attempt's report calls for: dead-lettered deliveries,
    /// a suspension, and a recovery after `failing` was told.
    fn tell(&mut self, report: &Report) {
        let Some(about) = &self.about else {
            return;
        };
        for dead in &report.dead_letters {
            notices::emit(
                &self.ctx,
                about,
                notices::DELIVERY_FAILED,
                json!({
                    "delivery_id": dead.delivery_id,
                    "event_id": dead.event_id,
                    "event_type": dead.event_type,
                    "attempts": dead.attempts,
                    "error": {"kind": dead.error.kind.as_str(), "message": dead.error.message},
                }),
            );
        }
        if let Some((status, reason)) = &report.suspended {
            let event_type = if *status == "reauth_required" {
                notices::REAUTH_REQUIRED
            } else {
                notices::DISABLED
            };
            notices::emit(
                &self.ctx,
                about,
                event_type,
                json!({"status": status, "reason": reason}),
            );
        }
        if report.delivered > 0 && self.failing_level > 0 {
            notices::emit(
                &self.ctx,
                about,
                notices::RECOVERED,
                json!({"was_failing_percent": self.failing_level}),
            );
            self.failing_level = 0;
        }
    }

    /// At shutdown: waiting deliveries go back to the queue at once; attempts in flight may
    /// finish within the grace period, and the claims of those cut off are left for the engine
    /// to release.
    async fn shut_down(mut self) {
        self.hand_back(crate::clock::queue_now_ms(), None);
        let finished = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while let Some(done) = self.running.join_next_with_id().await {
                if let Ok((id, _)) = done {
                    self.running_tokens.remove(&id);
                }
            }
        })
        .await;
        if finished.is_err() {
            self.running.abort_all();
            while self.running.join_next().await.is_some() {}
            let mut cut_off = self.ctx.cut_off.lock().unwrap_or_else(|p| p.into_inner());
            cut_off.extend(self.running_tokens.drain().flat_map(|(_, t)| t));
        }
        self.lanes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.destination_id);
    }
}

/// Why a destination could not be built for delivery.
enum Unbuilt {
    /// This process cannot read what the row holds: its deliveries wait, for this reason.
    Held {
        reason: &'static str,
        error: ConnectorError,
    },
    /// The destination cannot work as it is: its deliveries fail with this error.
    Broken(ConnectorError),
}

/// Builds a destination for delivery from its row: secrets opened, the operator's rules
/// checked, the connector connected, its policy around it (keeping `previous`'s breaker).
/// Returns it with whether its deliveries are batched (file and stream destinations).
async fn build(
    ctx: &LaneContext,
    row: &DestinationRow,
    previous: Option<&Guarded>,
) -> Result<(Guarded, bool), Unbuilt> {
    let spec = spec_of(
        &ctx.sealer,
        &ctx.store,
        row,
        ctx.rules.allow_private_destinations,
    )
    .map_err(|e| Unbuilt::Held {
        reason: SECRETS_REASON,
        error: ConnectorError::new(
            ErrorKind::Internal,
            format!("the destination's secrets cannot be opened ({})", e.message),
            "check that every replica has the same COURIER_ENCRYPTION_KEY",
        ),
    })?;
    if let Some(rule) = ctx
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
        return Err(Unbuilt::Broken(ConnectorError::new(
            ErrorKind::InvalidConfig,
            format!("the destination breaks a server rule: {rule}"),
            "change the destination, or the server's settings",
        )));
    }
    let destination = ctx
        .catalog
        .build(&row.destination_type, &spec)
        .await
        .map_err(|e| {
            Unbuilt::Broken(ConnectorError::new(
                ErrorKind::InvalidConfig,
                format!("the destination cannot be built: {e}"),
                "correct the destination's config",
            ))
        })?;
    let batching = destination.metadata().category != Category::Http;
    // A policy this process cannot read (written by a newer replica, or damaged) holds the
    // deliveries: sending them under default retries and timeouts would break what it says.
    let stored = match &row.policy {
        serde_json::Value::Null => serde_json::json!({}),
        policy => policy.clone(),
    };
    let policy = DeliveryPolicy::from_json(&stored, "").map_err(|errors| {
        let first = errors.first().map(|e| e.to_string()).unwrap_or_default();
        Unbuilt::Held {
            reason: POLICY_REASON,
            error: ConnectorError::new(
                ErrorKind::Internal,
                format!("the destination's stored delivery policy cannot be read ({first})"),
                "correct the policy with PATCH, or run a replica that knows its fields",
            ),
        }
    })?;
    Ok((
        Guarded::keeping_breaker(destination, policy, previous),
        batching,
    ))
}

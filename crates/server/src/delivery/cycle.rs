//! One writer cycle: the waiting requests written in one transaction and answered after its
//! commit. Events are stored with their deliveries (a repeated idempotency key answers with the
//! first event instead); deliveries this process's lanes have room for are stored already
//! claimed and handed to them after the commit, the rest wait in the queue for a poll. A cycle
//! that fails is redone request by request, so one bad request fails alone.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use sqlx::AnyConnection;

use super::writer::{Finished, Request};
use crate::ids;
use crate::store::engine::{
    self, AttemptRow, DeliveryRow, DestinationStats, EventRow, FinishRow, KeyRef, Shape, Span,
    StatsRow, SuspendRow,
};
use crate::store::{Accepted, Finish, IDEMPOTENCY_WINDOW_MS, Job, NewEvent, SAME_AS_EVENT, Store};

/// Whether this process's lanes take a new delivery now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reservation {
    /// Stored claimed, and handed over after the commit.
    Taken,
    /// Stored waiting in the queue; due at `due_ms` (a paused destination), else as usual.
    Queue { due_ms: Option<i64> },
}

/// Where deliveries claimed at intake go: this process's lanes.
pub(crate) trait HandOff: Send + Sync + std::fmt::Debug {
    fn reserve(&self, destination_id: &str) -> Reservation;
    /// Gives back a reservation whose cycle failed.
    fn cancel(&self, destination_id: &str);
    /// Deliveries reserved and now committed, each with how long it may wait for a batch.
    fn hand_off(&self, jobs: Vec<(Job, Duration)>);
}

/// What a request got from a successful cycle.
enum Outcome {
    Accepted(Vec<Accepted>),
    Claimed(Vec<Job>),
    Done,
}

/// A cycle's writes, before they are answered.
#[derive(Default)]
struct Written {
    outcomes: Vec<Outcome>,
    handed: Vec<(Job, Duration)>,
    stats: HashMap<String, DestinationStats>,
}

pub(crate) struct Cycle<'s> {
    store: &'s Store,
    lease: Duration,
    hand_off: Option<Arc<dyn HandOff>>,
    requests: Vec<Request>,
}

/// The writer's connection, held from cycle to cycle (taking it from the pool each time cost a
/// round trip: the pool checks a connection before handing it out).
pub(crate) type Link = Option<sqlx::pool::PoolConnection<sqlx::Any>>;

/// One event of the cycle.
struct Incoming<'r> {
    /// Which request it came in.
    request: usize,
    workspace_id: &'r str,
    event: &'r NewEvent,
    id: String,
    key: Option<KeyRef>,
}

impl<'s> Cycle<'s> {
    pub(crate) fn new(
        store: &'s Store,
        lease: Duration,
        hand_off: Option<Arc<dyn HandOff>>,
        requests: Vec<Request>,
    ) -> Self {
        Cycle {
            store,
            lease,
            hand_off,
            requests,
        }
    }

    /// Writes every request and puts their answers in `answers` (sent by the caller); folds the
    /// cycle's statistics into `stats`, writing them all when `write_stats`
    /// (returns whether it did).
    pub(crate) async fn run(
        self,
        link: &mut Link,
        stats: &mut HashMap<String, DestinationStats>,
        write_stats: bool,
        answers: &mut Vec<Answers>,
    ) -> bool {
        let mut reserved = Vec::new();
        let started = std::time::Instant::now();
        let requests = self.requests.len();
        let result = self.write(link, &mut reserved, stats, write_stats).await;
        metrics::histogram!("courier_engine_cycle_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("courier_engine_cycle_requests").record(requests as f64);
        match result {
            Ok(mut written) => {
                if write_stats {
                    stats.clear();
                } else {
                    for (id, s) in std::mem::take(&mut written.stats) {
                        stats.entry(id).or_default().merge(s);
                    }
                }
                answers.push(Answers {
                    hand_off: self.hand_off,
                    requests: self.requests,
                    written,
                });
                write_stats
            }
            Err(error) => {
                if let Some(to) = &self.hand_off {
                    for destination in &reserved {
                        to.cancel(destination);
                    }
                }
                let Cycle {
                    store,
                    lease,
                    hand_off,
                    requests,
                } = self;
                if requests.len() > 1 {
                    tracing::warn!(error = %format!("{error:#}"), requests = requests.len(), "a write cycle failed; writing its requests one by one");
                    for request in requests {
                        Box::pin(
                            Cycle::new(store, lease, hand_off.clone(), vec![request])
                                .run(link, stats, false, answers),
                        )
                        .await;
                    }
                } else {
                    for request in requests {
                        fail(request, &error);
                    }
                }
                false
            }
        }
    }

    async fn write(
        &self,
        link: &mut Link,
        reserved: &mut Vec<String>,
        pending_stats: &HashMap<String, DestinationStats>,
        write_stats: bool,
    ) -> Result<Written> {
        let conn = match link {
            Some(conn) => conn,
            None => link.insert(self.store.engine().acquire().await?),
        };
        let result = self
            .write_on(conn, reserved, pending_stats, write_stats)
            .await;
        if result.is_err() {
            engine::rollback(conn).await;
            // A connection that failed is not trusted again: the next cycle takes a fresh one.
            *link = None;
        }
        result
    }

    async fn write_on(
        &self,
        conn: &mut AnyConnection,
        reserved: &mut Vec<String>,
        pending_stats: &HashMap<String, DestinationStats>,
        write_stats: bool,
    ) -> Result<Written> {
        let mut written = Written::default();
        let now_ms = crate::clock::queue_now_ms();
        let now = ids::now();
        let lease_until = now_ms + self.lease.as_millis() as i64;
        let token = ids::new_id();

        // Every event of the cycle, with its id and idempotency key; a key is claimed once per
        // cycle, by its first event (later ones repeat it).
        let events = self.events();
        let mut first_with: HashMap<&KeyRef, usize> = HashMap::new();
        let mut claims = Vec::new();
        for (i, e) in events.iter().enumerate() {
            if let Some(key) = &e.key
                && !first_with.contains_key(key)
            {
                first_with.insert(key, i);
                claims.push((key.clone(), e.id.as_str(), e.event.body_hash.as_deref()));
            }
        }
        // In key order: overlapping cycles (Postgres) then take the unique index's entries in
        // one order, and two batches with the same keys cannot wait for each other.
        claims
            .sort_by(|(a, ..), (b, ..)| (&a.workspace_id, &a.key).cmp(&(&b.workspace_id, &b.key)));
        let mut begun = false;
        let mut taken = HashSet::new();
        if !claims.is_empty() {
            let stmts = engine::claim_keys(&claims, now_ms, now_ms - IDEMPOTENCY_WINDOW_MS);
            let span = Span {
                begin: true,
                commit: false,
            };
            for out in engine::run(conn, &stmts, span, false).await? {
                taken.extend(engine::taken_keys(&out.rows)?);
            }
            begun = true;
        }
        let held: Vec<KeyRef> = claims
            .iter()
            .map(|(k, ..)| k)
            .filter(|k| !taken.contains(*k))
            .cloned()
            .collect();
        let stored: Vec<bool> = events
            .iter()
            .enumerate()
            .map(|(i, e)| match &e.key {
                None => true,
                Some(key) => first_with[key] == i && taken.contains(key),
            })
            .collect();

        // The rows of the stored events and their deliveries.
        let delivery_ids: Vec<Vec<String>> = events
            .iter()
            .zip(&stored)
            .map(|(e, &s)| {
                if s {
                    e.event.deliveries.iter().map(|_| ids::new_id()).collect()
                } else {
                    Vec::new()
                }
            })
            .collect();
        let mut event_rows = Vec::new();
        let mut delivery_rows = Vec::new();
        for ((e, &s), ids) in events.iter().zip(&stored).zip(&delivery_ids) {
            if !s {
                continue;
            }
            event_rows.push(EventRow {
                id: &e.id,
                workspace_id: e.workspace_id,
                event_type: &e.event.event_type,
                payload: &e.event.payload,
                idempotency_key: e.event.idempotency_key.as_deref(),
                delivery_count: e.event.deliveries.len() as i64,
                created_at: &now,
            });
            for (d, id) in e.event.deliveries.iter().zip(ids) {
                written
                    .stats
                    .entry(d.destination_id.clone())
                    .or_default()
                    .events += 1;
                let mut row = DeliveryRow {
                    id,
                    workspace_id: e.workspace_id,
                    event_id: &e.id,
                    destination_id: &d.destination_id,
                    route_id: &d.route_id,
                    event_type: &e.event.event_type,
                    payload: "null",
                    status: "failed",
                    next_attempt_ms: 0,
                    lease_until_ms: 0,
                    claim_token: None,
                    last_error: None,
                    created_at: &now,
                    lane_key: d.lane_key.as_deref(),
                };
                match &d.payload {
                    Err(error) => {
                        // Its mapping refused the payload: it is failed from the start.
                        row.last_error = Some(error);
                        written
                            .stats
                            .entry(d.destination_id.clone())
                            .or_default()
                            .failed += 1;
                    }
                    Ok(stored_payload) => {
                        row.payload = stored_payload;
                        // A delivery in a lane waits for the poller's claim, which takes only
                        // a lane's head (and sees every replica's claims).
                        let reservation = match &self.hand_off {
                            Some(to) if d.lane_key.is_none() => to.reserve(&d.destination_id),
                            _ => Reservation::Queue { due_ms: None },
                        };
                        match reservation {
                            Reservation::Taken => {
                                reserved.push(d.destination_id.clone());
                                row.status = "in_flight";
                                row.next_attempt_ms = now_ms;
                                row.lease_until_ms = lease_until;
                                row.claim_token = Some(&token);
                                let payload = d.payload_or(&e.event.payload).unwrap_or("null");
                                written.handed.push((
                                    Job {
                                        id: id.clone(),
                                        workspace_id: e.workspace_id.to_string(),
                                        event_id: e.id.clone(),
                                        destination_id: d.destination_id.clone(),
                                        event_type: e.event.event_type.clone(),
                                        payload: payload.to_string(),
                                        attempts: 0,
                                        claim_token: token.clone(),
                                    },
                                    Duration::from_millis(d.wait_ms.max(0) as u64),
                                ));
                            }
                            Reservation::Queue { due_ms } => {
                                row.status = "pending";
                                row.next_attempt_ms = due_ms.unwrap_or(now_ms + d.wait_ms);
                            }
                        }
                    }
                }
                delivery_rows.push(row);
            }
        }

        // Ended claims and their attempts.
        let mut finished: Vec<&Finished> = self
            .requests
            .iter()
            .filter_map(|r| match r {
                Request::Finish { items, .. } => Some(items),
                _ => None,
            })
            .flatten()
            .collect();
        // In id order, like every cycle's other updates of deliveries (see above).
        finished.sort_by(|a, b| a.id.cmp(&b.id));
        let attempt_ids: Vec<String> = finished.iter().map(|_| ids::new_id()).collect();
        let finish_rows: Vec<FinishRow> = finished
            .iter()
            .zip(&attempt_ids)
            .map(|(f, attempt_id)| {
                let (status, next_attempt_ms, waiting_reason) = match f.finish {
                    Finish::Delivered => ("delivered", 0, None),
                    Finish::Failed => ("failed", 0, None),
                    Finish::Retry { at_ms } => ("retry_scheduled", at_ms, None),
                    Finish::Release { at_ms, reason } => ("pending", at_ms, reason),
                };
                FinishRow {
                    id: &f.id,
                    claim_token: &f.claim_token,
                    status,
                    next_attempt_ms,
                    last_error: f.attempt.as_ref().and_then(|a| a.error.as_deref()),
                    waiting_reason,
                    attempt: f.attempt.as_ref().map(|a| AttemptRow {
                        id: attempt_id,
                        started_at: &a.started_at,
                        duration_ms: a.duration_ms,
                        outcome: &a.outcome,
                        http_status: a.http_status,
                        reference: a.reference.as_deref(),
                        error_kind: a.error_kind.as_deref(),
                        error: a.error.as_deref(),
                        response: a.response.as_deref(),
                    }),
                }
            })
            .collect();
        for f in &finished {
            if let Some(a) = &f.attempt {
                written
                    .stats
                    .entry(f.destination_id.clone())
                    .or_default()
                    .attempt(&now, &a.outcome);
            }
            if matches!(f.finish, Finish::Failed) {
                written
                    .stats
                    .entry(f.destination_id.clone())
                    .or_default()
                    .failed += 1;
            }
        }
        let with_attempts: Vec<&FinishRow> =
            finish_rows.iter().filter(|f| f.attempt.is_some()).collect();
        let suspensions: Vec<SuspendRow> = self
            .requests
            .iter()
            .filter_map(|r| match r {
                Request::Finish {
                    suspend: Some(s), ..
                } => Some(SuspendRow {
                    destination_id: &s.destination_id,
                    status: s.status,
                    reason: &s.reason,
                    built_at: &s.built_at,
                }),
                _ => None,
            })
            .collect();

        // Claims, renewals and releases.
        let claim_tokens: Vec<(i64, &[String], String)> = self
            .requests
            .iter()
            .filter_map(|r| match r {
                Request::Claim { limit, skip, .. } => Some((*limit, &skip[..], ids::new_id())),
                _ => None,
            })
            .collect();
        let mut renew = Vec::new();
        let mut release = Vec::new();
        for request in &self.requests {
            match request {
                Request::Renew { tokens } => renew.extend(tokens.iter().cloned()),
                Request::Release { tokens, .. } => release.extend(tokens.iter().cloned()),
                _ => {}
            }
        }
        let all_stats = if write_stats {
            let mut all = pending_stats.clone();
            for (id, st) in &written.stats {
                all.entry(id.clone()).or_default().merge(st.clone());
            }
            all
        } else {
            HashMap::new()
        };
        // In id order: concurrent cycles (Postgres) then lock destination rows in one order.
        let mut stats_rows: Vec<StatsRow> = all_stats
            .iter()
            .map(|(id, stats)| StatsRow {
                destination_id: id,
                stats,
            })
            .collect();
        stats_rows.sort_by_key(|r| r.destination_id);

        // The rare statements, then the hot ones (events, deliveries, ended claims, attempts).
        // The hot ones are padded to a few fixed sizes and stay prepared (on SQLite as one
        // script, on Postgres each with its plan); when a kind is over one statement's rows,
        // everything goes unpadded in one script.
        let padded = [
            event_rows.len(),
            delivery_rows.len(),
            finish_rows.len(),
            with_attempts.len(),
        ]
        .iter()
        .all(|&n| n <= engine::MAX_ROWS);
        let shape = if padded { Shape::Padded } else { Shape::Exact };
        let mut rare = Vec::new();
        rare.extend(engine::earlier_events(&held));
        let earlier_len = rare.len();
        let claims_at = rare.len();
        for (limit, skip, claim_token) in &claim_tokens {
            rare.extend(engine::claim_due(
                self.store.is_postgres(),
                *limit,
                skip,
                now_ms,
                lease_until,
                claim_token,
                &now,
            ));
        }
        let postgres = self.store.is_postgres();
        rare.extend(engine::renew(postgres, &renew, lease_until));
        rare.extend(engine::release(postgres, &release));
        let destinations = destination_statements(&stats_rows, &suspensions, &now);
        let (rare_destinations, hot_destinations) = if postgres {
            (Vec::new(), destinations)
        } else {
            (destinations, Vec::new())
        };
        rare.extend(rare_destinations);
        let mut hot = Vec::new();
        hot.extend(engine::insert_events(&event_rows, shape));
        hot.extend(engine::insert_deliveries(&delivery_rows, shape));
        let finish_at = hot.len();
        hot.extend(engine::finish(&finish_rows, &now, shape));
        let finish_end = hot.len();
        hot.extend(engine::insert_attempts(&with_attempts, &now, shape));
        // On Postgres, where cycles overlap, every cycle locks in one order: deliveries (in id
        // order), then destinations (in id order), then the change counter, so two cycles
        // never wait for each other in a circle.
        hot.extend(hot_destinations);
        let committing = std::time::Instant::now();
        let (rare_out, hot_out) = if padded {
            let mut rare_out = Vec::new();
            if !rare.is_empty() {
                let span = Span {
                    begin: !begun,
                    commit: false,
                };
                rare_out = engine::run(conn, &rare, span, false).await?;
                begun = true;
            }
            let span = Span {
                begin: !begun,
                commit: true,
            };
            (rare_out, engine::run(conn, &hot, span, true).await?)
        } else {
            let rare_len = rare.len();
            rare.extend(hot);
            let span = Span {
                begin: !begun,
                commit: true,
            };
            let mut all = engine::run(conn, &rare, span, false).await?;
            let hot_out = all.split_off(rare_len);
            (all, hot_out)
        };
        metrics::histogram!("courier_engine_commit_seconds")
            .record(committing.elapsed().as_secs_f64());

        if !suspensions.is_empty() {
            self.store.note_config_change();
        }

        // What the answers say.
        let mut earlier = HashMap::new();
        for out in &rare_out[..earlier_len] {
            earlier.extend(engine::earlier(&out.rows)?);
        }
        let ended: u64 = hot_out[finish_at..finish_end]
            .iter()
            .map(|o| o.affected)
            .sum();
        if (ended as usize) < finish_rows.len() {
            tracing::warn!(
                lapsed = finish_rows.len() - ended as usize,
                "claims lapsed before their attempts were recorded; their new owners record them"
            );
        }
        let mut claimed = Vec::new();
        let (per_claim, before) = engine::claim_statements(self.store.is_postgres());
        for (outs, (_, _, claim_token)) in rare_out
            [claims_at..claims_at + per_claim * claim_tokens.len()]
            .chunks(per_claim)
            .zip(&claim_tokens)
        {
            claimed.push(engine::claimed(
                outs[before..].iter().flat_map(|o| &o.rows),
                claim_token,
            )?);
        }
        // Claimed deliveries carrying their event's payload read it (events never change).
        let wanted: Vec<String> = claimed
            .iter()
            .flatten()
            .filter(|j| j.payload == SAME_AS_EVENT)
            .map(|j| j.event_id.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if !wanted.is_empty() {
            let reads = engine::event_payloads(&wanted);
            let span = Span {
                begin: false,
                commit: false,
            };
            let outs = engine::run(conn, &reads, span, false).await?;
            let rows: Vec<_> = outs.into_iter().flat_map(|o| o.rows).collect();
            for jobs in &mut claimed {
                engine::fill_payloads(jobs, &rows)?;
            }
        }

        // Answers, per request in order: accepts, then finishes, then the rest.
        let mut answers: HashMap<usize, Vec<Accepted>> = HashMap::new();
        for (e, &s) in events.iter().zip(&stored) {
            let answer = if s {
                Accepted {
                    id: e.id.clone(),
                    duplicate: false,
                    deliveries: e.event.deliveries.len(),
                    idempotency_conflict: false,
                }
            } else {
                let key = e.key.as_ref().expect("only keyed events repeat");
                let first = first_with[key];
                let (id, deliveries, bound_to) = if stored[first] {
                    (
                        events[first].id.clone(),
                        events[first].event.deliveries.len(),
                        events[first].event.body_hash.clone(),
                    )
                } else {
                    let earlier = earlier.get(key).cloned().unwrap_or_default();
                    (
                        earlier.event_id,
                        earlier.deliveries as usize,
                        earlier.body_hash,
                    )
                };
                Accepted {
                    id,
                    duplicate: true,
                    deliveries,
                    idempotency_conflict: bound_to.is_some() && bound_to != e.event.body_hash,
                }
            };
            answers.entry(e.request).or_default().push(answer);
        }
        for (r, request) in self.requests.iter().enumerate() {
            if matches!(request, Request::Accept { .. }) {
                written
                    .outcomes
                    .push(Outcome::Accepted(answers.remove(&r).unwrap_or_default()));
            }
        }
        for request in &self.requests {
            if matches!(request, Request::Finish { .. }) {
                written.outcomes.push(Outcome::Done);
            }
        }
        let mut claimed = claimed.into_iter();
        for request in &self.requests {
            match request {
                Request::Claim { .. } => written
                    .outcomes
                    .push(Outcome::Claimed(claimed.next().unwrap_or_default())),
                Request::Renew { .. } | Request::Release { .. } => {
                    written.outcomes.push(Outcome::Done)
                }
                _ => {}
            }
        }
        Ok(written)
    }

    /// Every event of the cycle's accept requests, with a new id each.
    fn events(&self) -> Vec<Incoming<'_>> {
        let mut out = Vec::new();
        for (r, request) in self.requests.iter().enumerate() {
            if let Request::Accept {
                workspace_id,
                events,
                ..
            } = request
            {
                for event in events {
                    out.push(Incoming {
                        request: r,
                        workspace_id,
                        event,
                        id: ids::new_id(),
                        key: event.idempotency_key.as_ref().map(|k| KeyRef {
                            workspace_id: workspace_id.clone(),
                            key: k.clone(),
                        }),
                    });
                }
            }
        }
        out
    }
}

/// A written cycle's answers.
pub(crate) struct Answers {
    hand_off: Option<Arc<dyn HandOff>>,
    requests: Vec<Request>,
    written: Written,
}

impl std::fmt::Debug for Answers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answers")
            .field("requests", &self.requests.len())
            .finish_non_exhaustive()
    }
}

impl Answers {
    /// Hands committed claims to the lanes and answers every request.
    pub(crate) fn send(self) {
        let Answers {
            hand_off,
            requests,
            written,
        } = self;
        if let Some(to) = &hand_off
            && !written.handed.is_empty()
        {
            to.hand_off(written.handed);
        }
        // Outcomes were pushed accepts first, then finishes, then the rest in request order.
        let mut accepts = Vec::new();
        let mut finishes = Vec::new();
        let mut others = Vec::new();
        for request in requests {
            match request {
                Request::Accept { reply, .. } => accepts.push(reply),
                Request::Finish { reply, .. } => finishes.push(reply),
                other => others.push(other),
            }
        }
        let mut outcomes = written.outcomes.into_iter();
        for reply in accepts {
            if let Some(Outcome::Accepted(accepted)) = outcomes.next() {
                let _ = reply.send(Ok(accepted));
            }
        }
        for reply in finishes {
            outcomes.next();
            let _ = reply.send(());
        }
        for request in others {
            let outcome = outcomes.next();
            match (request, outcome) {
                (Request::Claim { reply, .. }, Some(Outcome::Claimed(jobs))) => {
                    let _ = reply.send(Ok(jobs));
                }
                (Request::Release { reply, .. }, _) => {
                    let _ = reply.send(());
                }
                _ => {}
            }
        }
    }
}

/// Answers a request whose write failed.
fn fail(request: Request, error: &anyhow::Error) {
    let message = format!("{error:#}");
    match request {
        Request::Accept { reply, .. } => {
            let _ = reply.send(Err(anyhow::anyhow!("storing the events failed: {message}")));
        }
        Request::Finish { items, reply, .. } => {
            tracing::error!(deliveries = items.len(), error = %message, "recording delivery attempts failed; the leases will lapse and they are tried again");
            let _ = reply.send(());
        }
        Request::Claim { reply, .. } => {
            let _ = reply.send(Err(anyhow::anyhow!(
                "claiming deliveries failed: {message}"
            )));
        }
        Request::Renew { .. } => {
            tracing::warn!(error = %message, "renewing delivery leases failed");
        }
        Request::Release { reply, .. } => {
            tracing::warn!(error = %message, "releasing deliveries failed; their leases will lapse");
            let _ = reply.send(());
        }
    }
}

/// The statistics and suspension statements of a cycle, by destination in id order, then the
/// change counter's bump (when something was suspended).
fn destination_statements<'a>(
    stats: &'a [StatsRow<'a>],
    suspensions: &'a [SuspendRow<'a>],
    now: &'a str,
) -> Vec<engine::Stmt<'a>> {
    let mut by_id: Vec<(&str, engine::Stmt<'a>)> = stats
        .iter()
        .map(|r| r.destination_id)
        .zip(engine::add_destination_stats(stats))
        .collect();
    let mut suspend = engine::suspend(suspensions, now);
    let bump = (suspend.len() > suspensions.len())
        .then(|| suspend.pop())
        .flatten();
    by_id.extend(suspensions.iter().map(|r| r.destination_id).zip(suspend));
    // Stable: a destination's statistics go before its suspension.
    by_id.sort_by_key(|(id, _)| *id);
    by_id
        .into_iter()
        .map(|(_, stmt)| stmt)
        .chain(bump)
        .collect()
}

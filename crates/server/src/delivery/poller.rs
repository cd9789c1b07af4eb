//! The poller: what the in-memory hand-off cannot see comes from the database. It claims due
//! deliveries (retries whose time came, deliveries intake could not hand over, another replica's
//! lapsed claims) while the lanes have room, renews the leases of the claims this process holds,
//! watches for another replica's changes to destinations and routes (Postgres), checkpoints
//! SQLite's log, keeps Postgres's statistics of young tables fresh, updates the queue-depth
//! gauge, and forgets expired idempotency keys.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

use super::dispatch::Dispatcher;
use super::writer::Writer;
use crate::store::Store;

/// How often the queue is polled when nothing wakes the poller sooner.
const POLL: Duration = Duration::from_millis(250);
/// Claims taken in one statement at most.
const CLAIM_BATCH: usize = 500;
/// How often another replica's changes to destinations and routes are looked for.
const CONFIG_POLL: Duration = Duration::from_millis(500);
const DEPTH_EVERY: Duration = Duration::from_secs(2);
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// How often SQLite's log is copied into the database (the writer's commits never do it), and
/// Postgres's statistics of young tables are looked at.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

pub(crate) struct Poller {
    pub store: Store,
    pub writer: Writer,
    /// `None` in a process that does not deliver (it still watches for changes).
    pub dispatcher: Option<Arc<Dispatcher>>,
    pub wake: Arc<Notify>,
    pub lease: Duration,
}

impl Poller {
    pub(crate) async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let long_ago = Instant::now() - Duration::from_secs(3600);
        let (mut renewed, mut depth_at, mut pruned, mut config_at, mut checkpointed) = (
            Instant::now(),
            long_ago,
            Instant::now(),
            long_ago,
            Instant::now(),
        );
        loop {
            if *shutdown.borrow() {
                return;
            }
            if let Some(dispatcher) = &self.dispatcher {
                self.claim(dispatcher).await;
                if renewed.elapsed() >= self.lease / 3 {
                    renewed = Instant::now();
                    let tokens = dispatcher.claims().keys();
                    if !tokens.is_empty() {
                        self.writer.renew(tokens).await;
                    }
                }
                if depth_at.elapsed() >= DEPTH_EVERY {
                    depth_at = Instant::now();
                    if let Ok(depth) = self.store.queue_depth().await {
                        metrics::gauge!("courier_queue_depth").set(depth as f64);
                    }
                    metrics::gauge!("courier_delivery_lanes").set(dispatcher.lanes() as f64);
                }
            }
            if self.store.is_postgres() && config_at.elapsed() >= CONFIG_POLL {
                config_at = Instant::now();
                if let Err(e) = self.store.poll_config_changes().await {
                    tracing::warn!(error = %format!("{e:#}"), "reading the change counter failed");
                }
            }
            if checkpointed.elapsed() >= CHECKPOINT_EVERY {
                checkpointed = Instant::now();
                if let Err(e) = self.store.checkpoint().await {
                    tracing::warn!(error = %format!("{e:#}"), "copying the log into the database failed");
                }
                if let Err(e) = self.store.analyze_young_tables().await {
                    tracing::warn!(error = %format!("{e:#}"), "analyzing the engine's tables failed");
                }
            }
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = Instant::now();
                if let Err(e) = self.store.prune_idempotency_keys().await {
                    tracing::warn!(error = %format!("{e:#}"), "forgetting expired idempotency keys failed");
                }
            }
            let next = if self.dispatcher.is_some() {
                POLL
            } else {
                CONFIG_POLL
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(next) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Claims due deliveries for as long as there are some and the lanes have room.
    async fn claim(&self, dispatcher: &Dispatcher) {
        loop {
            let room = dispatcher.room().min(CLAIM_BATCH);
            if room == 0 {
                return;
            }
            match self.writer.claim(room as i64, dispatcher.crowded()).await {
                Ok(jobs) => {
                    let n = jobs.len();
                    if n > 0 {
                        dispatcher.dispatch(jobs);
                    }
                    if n < room {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "claiming deliveries failed");
                    return;
                }
            }
        }
    }
}

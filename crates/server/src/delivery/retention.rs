//! The retention job: every so often, ended deliveries (with their attempts) and events older
//! than the retention period, and audit entries older than theirs, are forgotten, a small
//! batch at a time with pauses between, so pruning a large history never holds up delivery.

use std::time::Duration;

use tokio::sync::watch;

use crate::ids;
use crate::store::Store;

/// Rows per batch (one short transaction each).
const BATCH: i64 = 500;
/// The pause between batches, for the delivery path's writes.
const BREATHE: Duration = Duration::from_millis(20);
/// How often the job runs at most (a short retention runs it more often).
const EVERY: Duration = Duration::from_secs(60);

/// Prunes history older than `history` and audit entries older than `audit` until
/// `shutdown`.
pub(crate) async fn run(
    store: Store,
    history: Option<Duration>,
    audit: Option<Duration>,
    mut shutdown: watch::Receiver<bool>,
) {
    let shortest = history.into_iter().chain(audit).min().unwrap_or(EVERY);
    let every = (shortest / 4).clamp(Duration::from_millis(250), EVERY);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        if let Some(history) = history {
            prune_history(&store, history, &shutdown).await;
        }
        if let Some(audit) = audit {
            prune_audit(&store, audit, &shutdown).await;
        }
    }
}

async fn prune_history(store: &Store, retention: Duration, shutdown: &watch::Receiver<bool>) {
    let before_ms = ids::now_ms() - retention.as_millis() as i64;
    let (mut deliveries, mut events) = (0, 0);
    loop {
        if *shutdown.borrow() {
            return;
        }
        match store.prune_history(before_ms, BATCH).await {
            Ok(pruned) => {
                deliveries += pruned.deliveries;
                events += pruned.events;
                metrics::counter!("courier_pruned_total", "table" => "deliveries")
                    .increment(pruned.deliveries);
                metrics::counter!("courier_pruned_total", "table" => "attempts")
                    .increment(pruned.attempts);
                metrics::counter!("courier_pruned_total", "table" => "events")
                    .increment(pruned.events);
                if pruned.deliveries < BATCH as u64 && pruned.events < BATCH as u64 {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "pruning old history failed");
                break;
            }
        }
        tokio::time::sleep(BREATHE).await;
    }
    if deliveries + events > 0 {
        tracing::info!(
            deliveries,
            events,
            "pruned history older than the retention period"
        );
    }
}

async fn prune_audit(store: &Store, retention: Duration, shutdown: &watch::Receiver<bool>) {
    let before_ms = ids::now_ms() - retention.as_millis() as i64;
    loop {
        if *shutdown.borrow() {
            return;
        }
        match store.prune_audit(before_ms, BATCH).await {
            Ok(pruned) => {
                metrics::counter!("courier_pruned_total", "table" => "audit_log").increment(pruned);
                if pruned < BATCH as u64 {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "pruning the audit log failed");
                return;
            }
        }
        tokio::time::sleep(BREATHE).await;
    }
}

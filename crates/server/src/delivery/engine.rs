//! The delivery engine of one process: the writer (group commit of intake and of attempt
//! results), the dispatcher and its lanes (deliveries handed over in memory the moment their
//! events are committed), and the poller (retries, leftovers, other replicas' lapsed claims).
//! The database row stays the durable record of every delivery; memory only saves reading it
//! back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use courier_catalog::Catalog;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinHandle;

use super::dispatch::Dispatcher;
use super::lane::{LaneContext, SHUTDOWN_GRACE};
use super::poller::Poller;
use super::writer::Writer;
use crate::api::rules::ServerRules;
use crate::crypto::Sealer;
use crate::store::{Accepted, NewEvent, Store};

/// Attempts in flight at once across all destinations of a process.
const ATTEMPTS_IN_FLIGHT: usize = 256;

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Whether this process delivers (off: an API-only replica that only stores events).
    pub deliver: bool,
    /// How long a claim lasts unless renewed (renewed every third of it).
    pub lease: Duration,
    /// Failing without a success for this long disables a destination.
    pub disable_after: Duration,
    /// Ended deliveries and events older than this are pruned (`None`: kept for ever).
    pub retention: Option<Duration>,
    /// How long the audit log keeps entries (`None`: for ever).
    pub audit_retention: Option<Duration>,
}

pub struct Engine {
    writer: Writer,
    /// Where each workspace's events go, cached: read by intake and by the lanes that emit
    /// operational events.
    routing: Arc<super::Routing>,
    dispatcher: Option<Arc<Dispatcher>>,
    ctx: Option<Arc<LaneContext>>,
    wake: Arc<Notify>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    writer_stopped: Mutex<Option<super::writer::Stopped>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("delivers", &self.dispatcher.is_some())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Starts the writer, and when this process delivers, the lanes' dispatcher and the poller.
    pub fn start(
        store: Store,
        sealer: Sealer,
        catalog: Catalog,
        rules: ServerRules,
        settings: EngineSettings,
    ) -> Arc<Engine> {
        let (writer, writer_stopped) = Writer::start(store.clone(), settings.lease);
        let (stop, stopped) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let routing = Arc::new(super::Routing::default());
        let (ctx, dispatcher) = if settings.deliver {
            let ctx = Arc::new(LaneContext {
                routing: routing.clone(),
                store: store.clone(),
                sealer,
                catalog,
                rules,
                writer: writer.clone(),
                global: Arc::new(Semaphore::new(ATTEMPTS_IN_FLIGHT)),
                disable_after: settings.disable_after,
                shutdown: stopped.clone(),
                wake: wake.clone(),
                cut_off: Mutex::default(),
            });
            let dispatcher = Dispatcher::new(ctx.clone());
            writer.set_hand_off(dispatcher.clone());
            (Some(ctx), Some(dispatcher))
        } else {
            (None, None)
        };
        let poller = Poller {
            store: store.clone(),
            writer: writer.clone(),
            dispatcher: dispatcher.clone(),
            wake: wake.clone(),
            lease: settings.lease,
        };
        let mut tasks = Vec::new();
        if settings.retention.is_some() || settings.audit_retention.is_some() {
            tasks.push(tokio::spawn(super::retention::run(
                store.clone(),
                settings.retention,
                settings.audit_retention,
                stopped.clone(),
            )));
        }
        tasks.push(tokio::spawn(poller.run(stopped)));
        Arc::new(Engine {
            writer,
            routing,
            dispatcher,
            ctx,
            wake,
            stop,
            tasks: Mutex::new(tasks),
            writer_stopped: Mutex::new(Some(writer_stopped)),
        })
    }

    /// Stores events with their deliveries; answers once they are on disk. Deliveries this
    /// process can take are handed to its lanes at once.
    pub async fn accept(
        &self,
        workspace_id: String,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Accepted>> {
        // A delivery in a lane (fifo order) is stored waiting for the poller, which claims
        // lanes' heads only: it looks as soon as the events are stored.
        let laned = events
            .iter()
            .any(|e| e.deliveries.iter().any(|d| d.lane_key.is_some()));
        let accepted = self.writer.accept(workspace_id, events).await;
        if laned {
            self.wake();
        }
        accepted
    }

    /// The routing cache this engine and the API share.
    pub fn routing(&self) -> Arc<super::Routing> {
        self.routing.clone()
    }

    /// Looks at the queue now (deliveries were requeued, a destination reactivated).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops: no new attempts; waiting deliveries go back to the queue; attempts in flight
    /// finish within a grace period and the claims of those cut off are released; everything
    /// recorded is written before this returns.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let tasks: Vec<_> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            let _ = task.await;
        }
        if let Some(dispatcher) = &self.dispatcher {
            // Lanes end once their attempts have finished or been cut off.
            let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE + Duration::from_secs(5);
            while dispatcher.lanes() > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        if let Some(ctx) = &self.ctx {
            let cut_off: Vec<String> =
                std::mem::take(&mut *ctx.cut_off.lock().unwrap_or_else(|p| p.into_inner()));
            let left: Vec<String> = match &self.dispatcher {
                Some(d) => d.claims().keys(),
                None => Vec::new(),
            };
            let tokens: Vec<String> = cut_off.into_iter().chain(left).collect();
            if !tokens.is_empty() {
                self.writer.release(tokens).await;
            }
        }
        // The writer ends once every handle is gone and it has drained its queue.
        let stopped = self
            .writer_stopped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(stopped) = stopped {
            self.writer.close();
            stopped.wait().await;
        }
    }
}

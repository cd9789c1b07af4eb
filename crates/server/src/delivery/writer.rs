//! The engine's writer: every write on this process's delivery path goes through its queue; a
//! writer loop (one on SQLite, two on Postgres: see [`writers`]) takes all the requests waiting
//! when it is free and runs them in one transaction (see
//! [`cycle`](super::cycle)): events with their deliveries, ended claims with their attempts,
//! claims of due work, lease renewals. Requests arriving together share one commit and one sync
//! (group commit): the previous cycle's commit is the wait, and under load a cycle smaller than
//! the last waits half a millisecond more for company; a lone request never waits. Answers go
//! out after the commit, so a 202 still means the event is on disk, and deliveries claimed at
//! intake reach this process's lanes only then.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Result, anyhow};
use tokio::sync::{mpsc, oneshot, watch};

use super::cycle::{Answers, Cycle, HandOff, Link};
use super::stats_book::StatsBook;
use crate::store::{Accepted, AttemptLog, Finish, Job, NewEvent, Store};

/// Requests queued for the writer at most; senders wait beyond it.
const QUEUE: usize = 65_536;
/// Requests one cycle takes at most.
const CYCLE_REQUESTS: usize = 4_096;
/// A cycle of at least this many requests means load: the next one waits [`GATHER`] for company
/// when it would be smaller.
const CROWD: usize = 16;
const GATHER: Duration = Duration::from_micros(500);
/// Destination statistics are written at least this often under load (and with every cycle
/// that finds nobody waiting behind it), by one cycle at a time: see [`StatsBook`].
const STATS_EVERY: Duration = Duration::from_millis(200);

/// A destination taken out of delivery by the answer an attempt got (410 Gone: `disabled`; a
/// revoked grant: `reauth_required`), written with that attempt's results.
#[derive(Debug, Clone)]
pub(crate) struct Suspend {
    pub destination_id: String,
    pub status: &'static str,
    pub reason: String,
    /// The destination row's `updated_at` the attempt was built from: a row changed since
    /// (fixed, reconnected) is left alone.
    pub built_at: String,
}

/// How one claim ends, with its attempt's log when one was made.
#[derive(Debug)]
pub(crate) struct Finished {
    pub id: String,
    pub claim_token: String,
    pub destination_id: String,
    pub finish: Finish,
    pub attempt: Option<AttemptLog>,
}

impl Finished {
    /// How the claim on `job` ends.
    pub(crate) fn of(job: &Job, finish: Finish, attempt: Option<AttemptLog>) -> Self {
        Finished {
            id: job.id.clone(),
            claim_token: job.claim_token.clone(),
            destination_id: job.destination_id.clone(),
            finish,
            attempt,
        }
    }
}

pub(crate) enum Request {
    Accept {
        workspace_id: String,
        events: Vec<NewEvent>,
        reply: oneshot::Sender<Result<Vec<Accepted>>>,
    },
    Finish {
        items: Vec<Finished>,
        suspend: Option<Suspend>,
        reply: oneshot::Sender<()>,
    },
    Claim {
        limit: i64,
        /// Destinations not to claim for (their lanes hold enough already).
        skip: Vec<String>,
        reply: oneshot::Sender<Result<Vec<Job>>>,
    },
    Renew {
        tokens: Vec<String>,
    },
    Release {
        tokens: Vec<String>,
        reply: oneshot::Sender<()>,
    },
}

/// Resolves once the writer has stopped.
#[derive(Debug)]
pub(crate) struct Stopped(oneshot::Receiver<()>);

impl Stopped {
    pub(crate) async fn wait(self) {
        let _ = self.0.await;
    }
}

/// A handle on the writer task.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Request>,
    hand_off: Arc<OnceLock<Arc<dyn HandOff>>>,
    closed: Arc<watch::Sender<bool>>,
}

impl Writer {
    /// Starts the writer on a thread of its own: a cycle is a dozen round trips to the
    /// database, and on the shared runtime each would wait behind every request in the queue.
    /// It ends once closed (or every handle is dropped) and its queue is drained.
    pub(crate) fn start(store: Store, lease: Duration) -> (Writer, Stopped) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let hand_off: Arc<OnceLock<Arc<dyn HandOff>>> = Arc::default();
        let (done, stopped) = oneshot::channel();
        let handed = hand_off.clone();
        let (closed, closing) = watch::channel(false);
        let spawned = std::thread::Builder::new()
            .name("courier-writer".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(run(store, lease, rx, handed, closing)),
                    Err(e) => tracing::error!(error = %e, "the writer's runtime cannot start"),
                }
                let _ = done.send(());
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "the writer's thread cannot start");
        }
        let writer = Writer {
            tx,
            hand_off,
            closed: Arc::new(closed),
        };
        (writer, Stopped(stopped))
    }

    /// Where deliveries claimed at intake go (set once, when this process delivers).
    pub(crate) fn set_hand_off(&self, to: Arc<dyn HandOff>) {
        let _ = self.hand_off.set(to);
    }

    async fn send(&self, request: Request) -> Result<()> {
        self.tx
            .send(request)
            .await
            .map_err(|_| anyhow!("the delivery engine has stopped"))
    }

    /// Stores events and their deliveries; answers once they are committed.
    pub(crate) async fn accept(
        &self,
        workspace_id: String,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Accepted>> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Accept {
            workspace_id,
            events,
            reply,
        })
        .await?;
        answer
            .await
            .map_err(|_| anyhow!("the delivery engine stopped before storing the events"))?
    }

    /// Records how claims ended (and a suspension their answers called for, in the same
    /// commit); returns once recorded (a failure is logged: the claims' leases lapse and they
    /// are tried again).
    pub(crate) async fn finish(&self, items: Vec<Finished>, suspend: Option<Suspend>) {
        let (reply, answer) = oneshot::channel();
        let request = Request::Finish {
            items,
            suspend,
            reply,
        };
        if self.send(request).await.is_ok() {
            let _ = answer.await;
        }
    }

    /// Claims up to `limit` due deliveries (and as many whose lease lapsed).
    pub(crate) async fn claim(&self, limit: i64, skip: Vec<String>) -> Result<Vec<Job>> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Claim { limit, skip, reply }).await?;
        answer
            .await
            .map_err(|_| anyhow!("the delivery engine stopped"))?
    }

    pub(crate) async fn renew(&self, tokens: Vec<String>) {
        let _ = self.send(Request::Renew { tokens }).await;
    }

    /// Stops the writer once it has written what is queued before this.
    pub(crate) fn close(&self) {
        let _ = self.closed.send(true);
    }

    /// Puts claims back in the queue; returns once written.
    pub(crate) async fn release(&self, tokens: Vec<String>) {
        let (reply, answer) = oneshot::channel();
        if self.send(Request::Release { tokens, reply }).await.is_ok() {
            let _ = answer.await;
        }
    }
}

/// Writers running at once: SQLite takes one writer at a time; Postgres commits several
/// transactions together, so there cycles overlap (one waits for its commit while the next
/// runs its statements).
fn writers(store: &Store) -> usize {
    if store.is_postgres() { 2 } else { 1 }
}

/// The writer thread's work: [`writers`] loops taking turns at the queue.
async fn run(
    store: Store,
    lease: Duration,
    rx: mpsc::Receiver<Request>,
    hand_off: Arc<OnceLock<Arc<dyn HandOff>>>,
    closed: watch::Receiver<bool>,
) {
    let n = writers(&store);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let book = Arc::new(StatsBook::new(STATS_EVERY));
    let loops = (0..n).map(|_| {
        one_writer(
            store.clone(),
            lease,
            rx.clone(),
            hand_off.clone(),
            closed.clone(),
            book.clone(),
            n == 1,
        )
    });
    futures::future::join_all(loops).await;
    let mut stats = book.take_all();
    if !stats.is_empty() {
        let mut answers = Vec::new();
        let cycle = Cycle::new(&store, lease, None, Vec::new());
        cycle.run(&mut None, &mut stats, true, &mut answers).await;
        answers.drain(..).for_each(Answers::send);
    }
}

/// One writer: a cycle per batch of waiting requests, until the writer is closed and the queue
/// is empty.
async fn one_writer(
    store: Store,
    lease: Duration,
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Request>>>,
    hand_off: Arc<OnceLock<Arc<dyn HandOff>>>,
    mut closed: watch::Receiver<bool>,
    book: Arc<StatsBook>,
    alone: bool,
) {
    let mut requests = Vec::with_capacity(256);
    let mut answers = Vec::new();
    let mut link: Link = None;
    let mut last_size = 0;
    loop {
        let (ended, idle) = {
            let mut rx = rx.lock().await;
            let ended = if *closed.borrow() {
                true
            } else {
                tokio::select! {
                    n = rx.recv_many(&mut requests, CYCLE_REQUESTS) => n == 0,
                    _ = closed.changed() => true,
                }
            };
            if ended {
                // Closed (or every sender gone): write what is queued, then stop.
                while let Ok(r) = rx.try_recv() {
                    requests.push(r);
                }
            } else if alone && last_size >= CROWD && requests.len() < last_size {
                // Under load, the rest of the crowd is a moment away: a cycle's cost is mostly
                // fixed (the sync, the statements), so a fuller cycle costs less per request.
                // This thread is the writer's own, so a short blocking sleep holds up nothing
                // else.
                std::thread::sleep(GATHER);
                while requests.len() < CYCLE_REQUESTS
                    && let Ok(r) = rx.try_recv()
                {
                    requests.push(r);
                }
            }
            (ended, rx.is_empty())
        };
        last_size = requests.len();
        if !requests.is_empty() {
            let carried = book.take_if_due(idle);
            let write_stats = carried.is_some();
            let mut stats = carried.unwrap_or_default();
            let cycle = Cycle::new(
                &store,
                lease,
                hand_off.get().cloned(),
                std::mem::take(&mut requests),
            );
            let written = cycle
                .run(&mut link, &mut stats, write_stats, &mut answers)
                .await;
            book.settle(stats, write_stats, written);
            answers.drain(..).for_each(Answers::send);
            if idle && let Some(mut stats) = book.take_leftovers() {
                let cycle = Cycle::new(&store, lease, None, Vec::new());
                let written = cycle.run(&mut link, &mut stats, true, &mut answers).await;
                book.settle(stats, true, written);
            }
        }
        if ended {
            break;
        }
    }
}

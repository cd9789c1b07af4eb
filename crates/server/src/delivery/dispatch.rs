//! The dispatcher: routes deliveries to this process's lanes (one per destination with work,
//! started on demand, ended when idle) and bounds how many wait in memory, in all and per
//! destination. Intake reserves room before storing a delivery claimed; without room, or while
//! a destination is paused, the delivery waits in the queue for a poll instead.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::claims::{Claims, Held};
use super::cycle::{HandOff, Reservation};
use super::lane::{Lane, LaneContext};
use crate::store::Job;

/// Deliveries held in memory at most (about 1.3 KiB each with a 1 KiB payload).
const IN_MEMORY: usize = 20_000;
/// Of which one destination may hold at most this many.
const PER_DESTINATION: usize = 5_000;
/// A lane holding this many is fed no more by polls (intake may still hand it fresh deliveries
/// up to [`PER_DESTINATION`]): a destination's backlog is drawn into memory a share at a time,
/// so the due deliveries of other destinations are claimed beside it.
const POLL_FEED: usize = 1_000;
/// The most destinations one claim leaves out (the fullest lanes).
const MAX_SKIPPED: usize = 200;
/// A lane holding fewer than this is handed fresh deliveries even when backlogs have filled
/// [`IN_MEMORY`], within [`OVERFLOW`] more: a quiet destination's events are not queued behind
/// another's backlog.
const GUARANTEED: usize = 256;
const OVERFLOW: usize = 4_096;

/// What a lane and the dispatcher share about it.
#[derive(Debug, Default)]
pub(crate) struct LaneShared {
    /// Deliveries reserved for or held by the lane.
    pub queued: AtomicUsize,
    /// While the destination takes no attempts (inactive, circuit open): until when, epoch ms.
    pub paused_until_ms: AtomicI64,
}

/// A delivery in memory: its claim stays renewed and the room it takes stays counted until it
/// is dropped (recorded, or handed back).
#[derive(Debug)]
pub(crate) struct Queued {
    pub job: Job,
    /// When it must go out at the latest (a batch's wait ends).
    pub due: Instant,
    _room: Room,
}

#[derive(Debug)]
struct Room {
    _held: Held,
    lane: Arc<LaneShared>,
    total: Arc<AtomicUsize>,
}

impl Drop for Room {
    fn drop(&mut self) {
        self.lane.queued.fetch_sub(1, Ordering::AcqRel);
        self.total.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Debug)]
pub(crate) struct LaneEntry {
    tx: mpsc::UnboundedSender<Vec<Queued>>,
    shared: Arc<LaneShared>,
}

#[derive(Debug)]
pub(crate) struct Dispatcher {
    ctx: Arc<LaneContext>,
    /// The runtime lanes run on (hand-offs come from the writer's own thread).
    runtime: tokio::runtime::Handle,
    lanes: Arc<Mutex<HashMap<String, LaneEntry>>>,
    total: Arc<AtomicUsize>,
    claims: Claims,
}

impl Dispatcher {
    pub(crate) fn new(ctx: Arc<LaneContext>) -> Arc<Self> {
        Arc::new(Dispatcher {
            ctx,
            runtime: tokio::runtime::Handle::current(),
            lanes: Arc::default(),
            total: Arc::default(),
            claims: Claims::default(),
        })
    }

    /// The claim tokens held in memory (to renew, or to release at shutdown).
    pub(crate) fn claims(&self) -> &Claims {
        &self.claims
    }

    /// How many more deliveries fit in memory.
    pub(crate) fn room(&self) -> usize {
        IN_MEMORY.saturating_sub(self.total.load(Ordering::Acquire))
    }

    /// The destinations whose lanes hold at least [`POLL_FEED`] deliveries (the fullest
    /// first, at most [`MAX_SKIPPED`]): polls claim for the others.
    pub(crate) fn crowded(&self) -> Vec<String> {
        let lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        let mut full: Vec<(usize, &String)> = lanes
            .iter()
            .map(|(id, e)| (e.shared.queued.load(Ordering::Acquire), id))
            .filter(|(queued, _)| *queued >= POLL_FEED)
            .collect();
        full.sort_unstable_by_key(|(queued, _)| std::cmp::Reverse(*queued));
        full.into_iter()
            .take(MAX_SKIPPED)
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// Lanes running now.
    pub(crate) fn lanes(&self) -> usize {
        self.lanes.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The lane of `destination_id` (started if there is none) under the lock.
    fn entry<'m>(
        &self,
        lanes: &'m mut HashMap<String, LaneEntry>,
        destination_id: &str,
    ) -> &'m LaneEntry {
        lanes.entry(destination_id.to_string()).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let shared = Arc::new(LaneShared::default());
            let lane = Lane::new(
                destination_id.to_string(),
                self.ctx.clone(),
                shared.clone(),
                rx,
                self.lanes.clone(),
            );
            self.runtime.spawn(lane.run());
            LaneEntry { tx, shared }
        })
    }

    /// Deliveries claimed from the queue (by a poll): each counted and sent to its lane.
    pub(crate) fn dispatch(&self, jobs: Vec<Job>) {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        for job in &jobs {
            let entry = self.entry(&mut lanes, &job.destination_id);
            entry.shared.queued.fetch_add(1, Ordering::AcqRel);
            self.total.fetch_add(1, Ordering::AcqRel);
        }
        drop(lanes);
        self.send(jobs.into_iter().map(|j| (j, Duration::ZERO)).collect());
    }

    /// Sends counted deliveries to their lanes, each group in one message.
    fn send(&self, jobs: Vec<(Job, Duration)>) {
        let now = Instant::now();
        let mut groups: HashMap<String, Vec<Queued>> = HashMap::new();
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        for (job, wait) in jobs {
            let entry = self.entry(&mut lanes, &job.destination_id);
            let room = Room {
                _held: self.claims.hold(&job.claim_token),
                lane: entry.shared.clone(),
                total: self.total.clone(),
            };
            groups
                .entry(job.destination_id.clone())
                .or_default()
                .push(Queued {
                    job,
                    due: now + wait,
                    _room: room,
                });
        }
        for (destination_id, group) in groups {
            let entry = self.entry(&mut lanes, &destination_id);
            // A lane only ends under this lock with nothing reserved for it, so it is alive.
            if let Err(unsent) = entry.tx.send(group) {
                tracing::error!(
                    deliveries = unsent.0.len(),
                    "a lane ended with deliveries sent to it; their leases will lapse and they are tried again"
                );
            }
        }
    }
}

impl HandOff for Dispatcher {
    fn reserve(&self, destination_id: &str) -> Reservation {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        let entry = self.entry(&mut lanes, destination_id);
        let paused = entry.shared.paused_until_ms.load(Ordering::Acquire);
        if paused > crate::clock::queue_now_ms() {
            return Reservation::Queue {
                due_ms: Some(paused),
            };
        }
        let total = self.total.load(Ordering::Acquire);
        let queued = entry.shared.queued.load(Ordering::Acquire);
        let full = queued >= PER_DESTINATION
            || (total >= IN_MEMORY && (queued >= GUARANTEED || total >= IN_MEMORY + OVERFLOW));
        if full {
            return Reservation::Queue { due_ms: None };
        }
        entry.shared.queued.fetch_add(1, Ordering::AcqRel);
        self.total.fetch_add(1, Ordering::AcqRel);
        Reservation::Taken
    }

    fn cancel(&self, destination_id: &str) {
        let lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = lanes.get(destination_id) {
            entry.shared.queued.fetch_sub(1, Ordering::AcqRel);
            self.total.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn hand_off(&self, jobs: Vec<(Job, Duration)>) {
        self.send(jobs);
    }
}

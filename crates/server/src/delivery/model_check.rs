//! A model-checked queue: random schedules of accepts (into ordered lanes and unordered),
//! claims by two workers at once (two replicas' writers on PostgreSQL), successes, retries, dead letters,
//! hand-backs, crashes mid-attempt, lease expiry, replays and rate-limit reservations, run
//! against the real store and writers (SQLite, and PostgreSQL when the tests have one) beside
//! an in-memory model. After every step the store must hold what the model holds (no accepted
//! delivery lost or changed behind its back) and: never two deliveries of a lane in flight; only
//! a lane's head claimed; lane order kept (replays aside); nothing claimable left unclaimed; at
//! the end every dead letter replays to delivery, and every reserved start time keeps the rate
//! limit. A failing schedule names its seed: `COURIER_MODEL_SEED=N` runs that one alone, and
//! `COURIER_MODEL_SCHEDULES=N` sets how many run.
//!
//! Time moves in jumps of more than a lease (the local clock's test skew), so a step's outcome
//! does not hang on how long the machine took: leases lapse and retries fall due only at jumps.

use std::collections::HashMap;
use std::time::Duration;

use super::throttle::Limit;
use super::writer::{Finished, Writer};
use crate::store::{Finish, Job, NewDelivery, NewEvent, SAME_AS_EVENT, Store, WorkspaceChange};

/// Claims' leases: far longer than a schedule runs, so only a jump lapses them.
const LEASE: Duration = Duration::from_secs(60);
/// A jump of the clock: every lease lapses and every retry falls due.
const JUMP_MS: i64 = 61_000;
/// A retry "later": due after the next jump.
const LATER_MS: i64 = 30_000;
const STEPS: usize = 40;
const LANES: [Option<&str>; 4] = [Some("a"), Some("b"), Some("c"), None];

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    /// Queued; claimable from clock epoch `due_epoch` on.
    Waiting {
        due_epoch: u64,
        retry: bool,
    },
    /// Claimed by `worker` under `token` in clock epoch `epoch` (lapsed once the epoch moves).
    InFlight {
        worker: usize,
        token: String,
        epoch: u64,
    },
    Delivered,
    Failed,
}

impl State {
    fn status(&self) -> &'static str {
        match self {
            State::Waiting { retry: false, .. } => "pending",
            State::Waiting { retry: true, .. } => "retry_scheduled",
            State::InFlight { .. } => "in_flight",
            State::Delivered => "delivered",
            State::Failed => "failed",
        }
    }

    fn live(&self) -> bool {
        matches!(self, State::Waiting { .. } | State::InFlight { .. })
    }
}

#[derive(Debug)]
struct Delivery {
    lane: Option<String>,
    state: State,
    replayed: bool,
}

/// One schedule's world: the model, the two workers' claims, the clock epoch.
struct World<'a> {
    store: &'a Store,
    writers: &'a [Writer; 2],
    workspace_id: &'a str,
    destination_id: String,
    /// By delivery id (UUIDv7: id order is accept order).
    model: std::collections::BTreeMap<String, Delivery>,
    held: [Vec<Job>; 2],
    epoch: u64,
    delivered_order: HashMap<String, Vec<String>>,
    limit: Limit,
    reserved: Vec<i64>,
    paused_until_ms: i64,
    log: Vec<String>,
}

impl World<'_> {
    async fn accept(&mut self, rng: &mut Rng) {
        let n = 1 + rng.below(3) as usize;
        let events: Vec<NewEvent> = (0..n)
            .map(|_| {
                let lane = LANES[rng.below(LANES.len() as u64) as usize];
                NewEvent {
                    event_type: "model.step".into(),
                    payload: "{}".into(),
                    idempotency_key: None,
                    body_hash: None,
                    deliveries: vec![NewDelivery {
                        destination_id: self.destination_id.clone(),
                        route_id: "model-route".into(),
                        payload: Ok(SAME_AS_EVENT.to_string()),
                        wait_ms: 0,
                        lane_key: lane.map(str::to_string),
                    }],
                }
            })
            .collect();
        let w = rng.below(2) as usize;
        self.writers[w]
            .accept(self.workspace_id.to_string(), events)
            .await
            .expect("accepting");
        for (id, _, lane) in self.rows().await {
            self.model.entry(id).or_insert_with(|| Delivery {
                lane,
                state: State::Waiting {
                    due_epoch: self.epoch,
                    retry: false,
                },
                replayed: false,
            });
        }
        self.log.push(format!("accept {n} via {w}"));
    }

    /// Every delivery of the schedule's destination: id, status, lane.
    async fn rows(&self) -> Vec<(String, String, Option<String>)> {
        use sqlx::Row;
        sqlx::query(
            "SELECT id, status, lane_key FROM deliveries WHERE workspace_id = $1 AND destination_id = $2 ORDER BY id",
        )
        .bind(self.workspace_id)
        .bind(&self.destination_id)
        .fetch_all(self.store.pool())
        .await
        .expect("reading deliveries")
        .iter()
        .map(|r| {
            (
                r.get::<String, _>("id"),
                r.get::<String, _>("status"),
                r.get::<Option<String>, _>("lane_key"),
            )
        })
        .collect()
    }

    /// What may be claimed now, by the model: due waiting deliveries (a laned one only as its
    /// lane's head, with none of its lane in flight) and lapsed claims.
    fn claimable(&self) -> Vec<String> {
        self.model
            .iter()
            .filter(|(id, d)| match &d.state {
                State::InFlight { epoch, .. } => *epoch < self.epoch,
                State::Waiting { due_epoch, .. } if *due_epoch <= self.epoch => {
                    d.lane.is_none() || self.is_head(id, d)
                }
                _ => false,
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Whether `id` is its lane's head: no older live delivery and none in flight.
    fn is_head(&self, id: &str, d: &Delivery) -> bool {
        !self.model.iter().any(|(other, o)| {
            other != id
                && o.lane == d.lane
                && o.state.live()
                && (other.as_str() < id || matches!(o.state, State::InFlight { .. }))
        })
    }

    async fn claim(&mut self, rng: &mut Rng) {
        let expected = self.claimable();
        let both = rng.below(3) == 0;
        let (first, second) = if both {
            let (a, b) = tokio::join!(
                self.writers[0].claim(500, Vec::new()),
                self.writers[1].claim(500, Vec::new())
            );
            (a.expect("claiming"), b.expect("claiming"))
        } else {
            let w = rng.below(2) as usize;
            let jobs = self.writers[w]
                .claim(500, Vec::new())
                .await
                .expect("claiming");
            if w == 0 {
                (jobs, Vec::new())
            } else {
                (Vec::new(), jobs)
            }
        };
        self.log.push(format!(
            "claim{}: {} + {}",
            if both { " by both" } else { "" },
            first.len(),
            second.len()
        ));
        let mut claimed = Vec::new();
        for (worker, jobs) in [(0, first), (1, second)] {
            for job in jobs {
                assert_eq!(
                    job.destination_id, self.destination_id,
                    "a delivery left over from an earlier schedule was claimed"
                );
                assert!(
                    expected.contains(&job.id),
                    "claimed {} which the model says may not be claimed now ({:?})",
                    job.id,
                    self.model.get(&job.id)
                );
                claimed.push(job.id.clone());
                let d = self.model.get_mut(&job.id).expect("a known delivery");
                d.state = State::InFlight {
                    worker,
                    token: job.claim_token.clone(),
                    epoch: self.epoch,
                };
                // A lapsed claim taken over: its old holder's finish will change nothing.
                for held in &mut self.held {
                    held.retain(|h| h.id != job.id);
                }
                self.held[worker].push(job);
            }
        }
        claimed.sort();
        let mut expected = expected;
        expected.sort();
        // Nothing claimable left behind (a lane that never moves again is a bug too), and
        // never two of a lane: `claimable` holds one head per lane.
        assert_eq!(claimed, expected, "claimed other than what was claimable");
    }

    async fn finish(&mut self, rng: &mut Rng) {
        let worker = rng.below(2) as usize;
        if self.held[worker].is_empty() {
            return;
        }
        let i = rng.below(self.held[worker].len() as u64) as usize;
        let job = self.held[worker].swap_remove(i);
        let now = crate::clock::queue_now_ms();
        let (finish, state) = match rng.below(20) {
            0..=9 => (Finish::Delivered, State::Delivered),
            10..=12 => (
                Finish::Retry { at_ms: now },
                State::Waiting {
                    due_epoch: self.epoch,
                    retry: true,
                },
            ),
            13..=14 => (
                Finish::Retry {
                    at_ms: now + LATER_MS,
                },
                State::Waiting {
                    due_epoch: self.epoch + 1,
                    retry: true,
                },
            ),
            15..=17 => (Finish::Failed, State::Failed),
            _ => (
                Finish::Release {
                    at_ms: now,
                    reason: None,
                },
                State::Waiting {
                    due_epoch: self.epoch,
                    retry: false,
                },
            ),
        };
        self.log
            .push(format!("finish {} by {worker}: {}", job.id, state.status()));
        self.writers[worker]
            .finish(vec![Finished::of(&job, finish, None)], None)
            .await;
        let d = self.model.get_mut(&job.id).expect("a known delivery");
        // Only the claim that holds it ends it.
        if matches!(&d.state, State::InFlight { token, .. } if *token == job.claim_token) {
            if state == State::Delivered
                && let Some(lane) = &d.lane
                && !d.replayed
            {
                self.delivered_order
                    .entry(lane.clone())
                    .or_default()
                    .push(job.id.clone());
            }
            d.state = state;
        }
    }

    fn crash(&mut self, rng: &mut Rng) {
        let worker = rng.below(2) as usize;
        self.log.push(format!(
            "crash {worker} holding {}",
            self.held[worker].len()
        ));
        self.held[worker].clear();
    }

    fn jump(&mut self) {
        self.epoch += 1;
        crate::clock::skew_local_clock_for_tests(self.epoch as i64 * JUMP_MS);
        self.log.push("jump".into());
    }

    async fn replay(&mut self) {
        let n = self
            .store
            .requeue(
                self.workspace_id,
                None,
                Some(&self.destination_id),
                "failed",
            )
            .await
            .expect("replaying");
        let mut expected = 0;
        for d in self.model.values_mut() {
            if d.state == State::Failed {
                d.state = State::Waiting {
                    due_epoch: self.epoch,
                    retry: false,
                };
                d.replayed = true;
                expected += 1;
            }
        }
        assert_eq!(n, expected, "replayed other than the dead letters");
        self.log.push(format!("replay {n}"));
    }

    async fn reserve(&mut self, rng: &mut Rng) {
        let now = crate::clock::queue_now_ms();
        if rng.below(5) == 0 {
            let until = now + 2_000;
            self.store
                .pause_starts(&self.destination_id, until)
                .await
                .expect("pausing");
            self.paused_until_ms = self.paused_until_ms.max(until);
        }
        let want = 1 + rng.below(5) as usize;
        let times = self
            .store
            .reserve_starts(&self.destination_id, self.limit, want, now)
            .await
            .expect("reserving");
        assert_eq!(times.len(), want);
        for &t in &times {
            assert!(
                t >= self.paused_until_ms && t >= now,
                "a start at {t} before the pause to {} or now {now}",
                self.paused_until_ms
            );
        }
        self.reserved.extend(times);
        self.log.push(format!("reserve {want}"));
    }

    /// The store holds exactly the model's deliveries, in the model's states, with at most one
    /// of a lane in flight.
    async fn agree(&self) {
        let rows = self.rows().await;
        let stored: Vec<(&str, &str)> = rows
            .iter()
            .map(|(id, status, _)| (id.as_str(), status.as_str()))
            .collect();
        let modelled: Vec<(&str, &str)> = self
            .model
            .iter()
            .map(|(id, d)| (id.as_str(), d.state.status()))
            .collect();
        assert_eq!(stored, modelled, "the store and the model disagree");
        let mut in_flight: HashMap<&str, usize> = HashMap::new();
        for (_, status, lane) in &rows {
            if let (Some(lane), "in_flight") = (lane, status.as_str()) {
                *in_flight.entry(lane).or_default() += 1;
            }
        }
        assert!(
            in_flight.values().all(|&n| n <= 1),
            "two deliveries of one lane in flight: {in_flight:?}"
        );
    }

    fn lane_order_kept(&self) {
        for (lane, ids) in &self.delivered_order {
            assert!(
                ids.windows(2).all(|w| w[0] < w[1]),
                "lane {lane} delivered out of accept order: {ids:?}"
            );
        }
    }

    fn rate_kept(&self) {
        let mut times = self.reserved.clone();
        times.sort_unstable();
        let window = (self.limit.burst as f64 * 1000.0 / self.limit.per_second).ceil() as i64;
        for (i, &t) in times.iter().enumerate() {
            let inside = times[i..].iter().take_while(|&&u| u <= t + window).count();
            assert!(
                inside <= self.limit.burst as usize,
                "{inside} starts within {window} ms of {t} under {:?}",
                self.limit
            );
        }
    }

    /// Replays the dead letters and delivers everything: nothing accepted is lost.
    async fn drain(&mut self) {
        self.replay().await;
        for _ in 0..200 {
            if self.model.values().all(|d| d.state == State::Delivered) {
                return;
            }
            self.jump();
            self.held = [Vec::new(), Vec::new()];
            let jobs = self.writers[0]
                .claim(500, Vec::new())
                .await
                .expect("claiming");
            let items = jobs
                .iter()
                .map(|j| Finished::of(j, Finish::Delivered, None))
                .collect();
            self.writers[0].finish(items, None).await;
            for job in jobs {
                let d = self.model.get_mut(&job.id).expect("a known delivery");
                if let Some(lane) = &d.lane
                    && !d.replayed
                {
                    self.delivered_order
                        .entry(lane.clone())
                        .or_default()
                        .push(job.id.clone());
                }
                d.state = State::Delivered;
            }
            self.agree().await;
        }
        panic!("the queue did not drain: {:?}", self.model);
    }
}

async fn run_schedule(store: &Store, writers: &[Writer; 2], workspace_id: &str, seed: u64) {
    let mut rng = Rng(seed.max(1));
    let per_second = 0.5 + rng.below(500) as f64 / 10.0;
    let burst = 1 + rng.below(10) as u32;
    let mut world = World {
        store,
        writers,
        workspace_id,
        destination_id: format!("model-{seed}"),
        model: Default::default(),
        held: [Vec::new(), Vec::new()],
        epoch: 0,
        delivered_order: HashMap::new(),
        limit: Limit { per_second, burst },
        reserved: Vec::new(),
        paused_until_ms: 0,
        log: Vec::new(),
    };
    // Each schedule starts at a clock epoch of its own, after the last one's.
    world.epoch = EPOCHS.fetch_add(1_000, std::sync::atomic::Ordering::Relaxed);
    world.jump();
    for _ in 0..STEPS {
        match rng.below(100) {
            0..=19 => world.accept(&mut rng).await,
            20..=44 => world.claim(&mut rng).await,
            45..=69 => world.finish(&mut rng).await,
            70..=74 => world.crash(&mut rng),
            75..=81 => world.jump(),
            82..=86 => world.replay().await,
            _ => world.reserve(&mut rng).await,
        }
        world.agree().await;
        world.lane_order_kept();
    }
    world.drain().await;
    world.lane_order_kept();
    world.rate_kept();
    // Schedules advance the epoch counter by 1,000 each; 200 drain jumps stay inside it.
    assert!(world.epoch < EPOCHS.load(std::sync::atomic::Ordering::Relaxed));
}

static EPOCHS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Runs the schedules on `url`, printing a failing one's seed and steps.
async fn check(url: &str) {
    let store = Store::open(url).await.expect("opening the store");
    let workspace = store
        .create_workspace(&WorkspaceChange {
            name: Some("model".into()),
            ..WorkspaceChange::default()
        })
        .await
        .expect("a workspace");
    // Two replicas on Postgres; SQLite belongs to one process, whose one writer both
    // workers share (its engine connection is the writer's own).
    let first = Writer::start(store.clone(), LEASE).0;
    let second = if store.is_postgres() {
        let replica = Store::open(url)
            .await
            .expect("opening the second replica's store");
        Writer::start(replica, LEASE).0
    } else {
        first.clone()
    };
    let writers = [first, second];
    let seeds: Vec<u64> = match std::env::var("COURIER_MODEL_SEED") {
        Ok(seed) => vec![seed.parse().expect("COURIER_MODEL_SEED is a number")],
        Err(_) => {
            let n: u64 = std::env::var("COURIER_MODEL_SCHEDULES")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(if store.is_postgres() {
                    SCHEDULES_POSTGRES
                } else {
                    SCHEDULES_SQLITE
                });
            let base = crate::ids::now_ms() as u64;
            (0..n)
                .map(|i| base.wrapping_mul(31).wrapping_add(i))
                .collect()
        }
    };
    let started = std::time::Instant::now();
    for &seed in &seeds {
        use futures::FutureExt;
        let run = std::panic::AssertUnwindSafe(run_schedule(&store, &writers, &workspace.id, seed));
        if let Err(panic) = run.catch_unwind().await {
            eprintln!(
                "the schedule of seed {seed} failed; run it alone with COURIER_MODEL_SEED={seed}"
            );
            std::panic::resume_unwind(panic);
        }
    }
    crate::clock::skew_local_clock_for_tests(0);
    eprintln!(
        "{} schedules of {STEPS} steps in {:.1?}",
        seeds.len(),
        started.elapsed()
    );
}

/// Schedules per store by default: about 75 ms each on SQLite, 150 ms on Postgres, here.
const SCHEDULES_SQLITE: u64 = 1_500;
const SCHEDULES_POSTGRES: u64 = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_keeps_its_invariants_on_sqlite() {
    // In memory where the machine has it: the schedules check the queue's logic, not the
    // disk's syncs, and thousands of them fit in a CI run that way.
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("a temporary directory");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("model.db").display()
    );
    check(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_keeps_its_invariants_on_postgres() {
    let Ok(base) = std::env::var("COURIER_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CI").is_err(),
            "COURIER_TEST_POSTGRES_URL is not set"
        );
        eprintln!("NOT RUN: the Postgres variant (no COURIER_TEST_POSTGRES_URL)");
        return;
    };
    use sqlx::Connection;
    let name = format!("courier_model_{}", uuid::Uuid::now_v7().simple());
    let mut admin = sqlx::PgConnection::connect(&base)
        .await
        .expect("the test PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("a database");
    let (server, _) = base.rsplit_once('/').expect("a database URL");
    check(&format!("{server}/{name}")).await;
}

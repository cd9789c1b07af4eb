//! When each event was due to be sent, when its post was answered 202, and when it reached the
//! receiver: one slot per event number, written from many tasks without locks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Nanoseconds since the run's epoch; 0 means "not yet".
#[derive(Debug)]
pub struct Timeline {
    epoch: Instant,
    due: Vec<AtomicU64>,
    accepted: Vec<AtomicU64>,
    arrived: Vec<AtomicU64>,
    /// Arrivals of an event already seen (a redelivery).
    duplicates: AtomicU64,
    /// Arrivals of an event number outside the timeline.
    strays: AtomicU64,
}

fn slots(n: usize) -> Vec<AtomicU64> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

impl Timeline {
    pub fn new(capacity: usize) -> Self {
        Timeline {
            epoch: Instant::now(),
            due: slots(capacity),
            accepted: slots(capacity),
            arrived: slots(capacity),
            duplicates: AtomicU64::new(0),
            strays: AtomicU64::new(0),
        }
    }

    pub fn capacity(&self) -> usize {
        self.due.len()
    }

    fn now(&self) -> u64 {
        // Never 0, which means "not yet".
        (self.epoch.elapsed().as_nanos() as u64).max(1)
    }

    pub fn at(&self, instant: Instant) -> u64 {
        (instant.saturating_duration_since(self.epoch).as_nanos() as u64).max(1)
    }

    pub fn set_due(&self, n: usize, at: Instant) {
        self.due[n].store(self.at(at), Ordering::Relaxed);
    }

    pub fn set_accepted(&self, n: usize) {
        self.accepted[n].store(self.now(), Ordering::Relaxed);
    }

    /// Notes event `n` reaching the receiver; a second arrival counts as a duplicate.
    pub fn arrive(&self, n: usize) {
        match self.arrived.get(n) {
            Some(slot) => {
                if slot
                    .compare_exchange(0, self.now(), Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
                {
                    self.duplicates.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => {
                self.strays.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }

    pub fn strays(&self) -> u64 {
        self.strays.load(Ordering::Relaxed)
    }

    /// Events among the first `n` that were accepted, and that arrived, by `at` (ns).
    pub fn counts_by(&self, n: usize, at: u64) -> (usize, usize) {
        let by = |slots: &[AtomicU64]| {
            slots[..n]
                .iter()
                .filter(|s| {
                    let v = s.load(Ordering::Relaxed);
                    v != 0 && v <= at
                })
                .count()
        };
        (by(&self.accepted), by(&self.arrived))
    }

    /// For every event among the first `n` that was accepted and arrived: due → arrival and
    /// 202 → arrival (0 when the delivery beat the answer to the client).
    pub fn latencies(&self, n: usize) -> (Vec<Duration>, Vec<Duration>) {
        let mut from_due = Vec::new();
        let mut from_accept = Vec::new();
        for i in 0..n {
            let (d, a, r) = (
                self.due[i].load(Ordering::Relaxed),
                self.accepted[i].load(Ordering::Relaxed),
                self.arrived[i].load(Ordering::Relaxed),
            );
            if a == 0 || r == 0 {
                continue;
            }
            from_due.push(Duration::from_nanos(r.saturating_sub(d)));
            from_accept.push(Duration::from_nanos(r.saturating_sub(a)));
        }
        from_due.sort();
        from_accept.sort();
        (from_due, from_accept)
    }

    /// The latest arrival among the first `n` events (ns).
    pub fn last_arrival(&self, n: usize) -> u64 {
        self.arrived[..n]
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0)
    }

    /// Events among the first `n` accepted but not (yet) arrived.
    pub fn missing(&self, n: usize) -> usize {
        (0..n)
            .filter(|&i| {
                self.accepted[i].load(Ordering::Relaxed) != 0
                    && self.arrived[i].load(Ordering::Relaxed) == 0
            })
            .count()
    }
}

/// The value at quantile `q` of sorted durations, in milliseconds.
pub fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

//! Per-destination rate limits (`rate_limit_per_second`, `rate_limit_burst`): at most `burst`
//! attempts start within any `burst / rate` seconds, across every replica. Start times are
//! reserved from a log shared in the database ([`Store::reserve_starts`](crate::store::Store))
//! a block at a time; a lane starts an attempt only at or shortly after a start time it holds,
//! and a reserved time not used soon enough is thrown away (never used late), so the starts
//! the log records are the starts made, within a small slack the schedule allows for.

use std::collections::VecDeque;

/// A destination's limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Limit {
    pub per_second: f64,
    pub burst: u32,
}

impl Limit {
    /// The window `burst` starts fit in, in ms: `burst / rate` seconds.
    fn window_ms(self) -> i64 {
        ((self.burst as f64 * 1000.0 / self.per_second).ceil() as i64).max(1)
    }

    /// How late a reserved start may still be used: a twentieth of the window, at most 50 ms
    /// (the schedule spaces starts by the window plus this, so a start made this late still
    /// keeps every window within the limit).
    pub(crate) fn slack_ms(self) -> i64 {
        (self.window_ms() / 20).clamp(0, 50)
    }
}

/// Appends `want` start times to the ascending log `starts` (each at or after `from_ms` and
/// the latest start) so that no window of `window + slack` ms holds more than `burst` of them,
/// keeps the log to its latest `burst`, and returns the new times.
pub(crate) fn schedule(starts: &mut Vec<i64>, limit: Limit, want: usize, from_ms: i64) -> Vec<i64> {
    let burst = limit.burst.max(1) as usize;
    let spacing = limit.window_ms() + limit.slack_ms();
    let mut reserved = Vec::with_capacity(want);
    for _ in 0..want {
        let mut at = from_ms.max(starts.last().copied().unwrap_or(i64::MIN));
        if starts.len() >= burst {
            // The burst-th latest start must have left the window.
            at = at.max(starts[starts.len() - burst] + spacing + 1);
        }
        starts.push(at);
        reserved.push(at);
    }
    if starts.len() > burst {
        starts.drain(..starts.len() - burst);
    }
    reserved
}

/// What a lane's limiter says about starting an attempt now.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    Now,
    /// The next start time it holds (epoch ms).
    At(i64),
    /// It holds none: reserve more.
    Empty,
}

/// The start times a lane holds for its destination.
#[derive(Debug)]
pub(crate) struct Throttle {
    pub limit: Limit,
    slots: VecDeque<i64>,
}

impl Throttle {
    pub(crate) fn new(limit: Limit) -> Self {
        Throttle {
            limit,
            slots: VecDeque::new(),
        }
    }

    /// Whether an attempt may start at `now_ms` (start times gone stale are thrown away).
    pub(crate) fn admit(&mut self, now_ms: i64) -> Admit {
        let slack = self.limit.slack_ms();
        while self.slots.front().is_some_and(|&at| at + slack < now_ms) {
            self.slots.pop_front();
        }
        match self.slots.front() {
            None => Admit::Empty,
            Some(&at) if at <= now_ms => Admit::Now,
            Some(&at) => Admit::At(at),
        }
    }

    /// Whether a start time it holds may be used at `now_ms` (none held: reserving is work).
    pub(crate) fn ready(&self, now_ms: i64) -> bool {
        let slack = self.limit.slack_ms();
        match self.slots.iter().find(|&&at| at + slack >= now_ms) {
            None => true,
            Some(&at) => at <= now_ms,
        }
    }

    /// Uses the start time [`admit`](Self::admit) said may be used now.
    pub(crate) fn consume(&mut self) {
        self.slots.pop_front();
    }

    /// How many start times to reserve for `waiting` deliveries: enough for a quarter of the
    /// burst at once (one statement per block, not per attempt), never more than are waiting.
    pub(crate) fn block(&self, waiting: usize) -> usize {
        let quarter = (self.limit.burst as usize / 4).clamp(1, 250);
        waiting.clamp(1, quarter)
    }

    pub(crate) fn add(&mut self, reserved: Vec<i64>) {
        self.slots.extend(reserved);
    }

    /// Drops the start times before `until_ms` (the destination asked for a pause).
    pub(crate) fn pause(&mut self, until_ms: i64) {
        self.slots.retain(|&at| at >= until_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limit(per_second: f64, burst: u32) -> Limit {
        Limit { per_second, burst }
    }

    #[test]
    fn a_burst_goes_at_once_then_the_rate() {
        let mut log = Vec::new();
        let l = limit(20.0, 20);
        let first = schedule(&mut log, l, 20, 1_000);
        assert!(first.iter().all(|&t| t == 1_000));
        let next = schedule(&mut log, l, 1, 1_000);
        assert_eq!(next, vec![1_000 + 1_000 + l.slack_ms() + 1]);
        assert_eq!(log.len(), 20);
    }

    #[test]
    fn stale_start_times_are_not_used_late() {
        let mut t = Throttle::new(limit(10.0, 1));
        t.add(vec![1_000, 1_200]);
        assert_eq!(t.admit(900), Admit::At(1_000));
        assert_eq!(t.admit(1_005), Admit::Now);
        // 1,000 + slack (5 ms) is past: thrown away, 1,200 is next.
        assert_eq!(t.admit(1_010), Admit::At(1_200));
        t.consume();
        assert_eq!(t.admit(1_300), Admit::Empty);
    }

    proptest! {
        /// Whatever the blocks and clocks of the replicas reserving, starts made within the
        /// slack of their reserved times never put more than `burst` in a window of
        /// `burst / rate` seconds.
        #[test]
        fn no_window_holds_more_than_the_burst(
            per_second in 0.5f64..200.0,
            burst in 1u32..40,
            steps in proptest::collection::vec((1usize..10, 0i64..400, 0i64..60), 1..40),
        ) {
            let l = limit(per_second, burst);
            let mut log = Vec::new();
            let mut made = Vec::new();
            let mut now = 0i64;
            for (want, advance, late) in steps {
                now += advance;
                for at in schedule(&mut log, l, want, now) {
                    made.push(at + late.min(l.slack_ms()));
                }
            }
            made.sort_unstable();
            let window = l.window_ms();
            for (i, &start) in made.iter().enumerate() {
                let inside = made[i..].iter().take_while(|&&t| t <= start + window).count();
                prop_assert!(inside <= burst as usize, "{inside} starts in {window} ms from {start}");
            }
        }
    }
}

//! A circuit breaker: `threshold` consecutive failed attempts open it; after `reset` one probe
//! attempt is let through; the probe's success closes it, its failure opens it again.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

/// Whether an attempt may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// The circuit is closed.
    Allowed,
    /// The circuit was open long enough: this attempt is the one probe.
    Probe,
    /// The circuit is open (or a probe is in flight); try again after the given wait.
    Rejected {
        /// How long to wait before asking again.
        retry_in: Duration,
    },
}

/// One destination's circuit breaker, shared by its concurrent attempts. Times are read from
/// tokio's clock, so paused-time tests control it.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    reset: Duration,
    state: Mutex<State>,
}

impl CircuitBreaker {
    /// A closed breaker that opens after `threshold` consecutive failures (at least 1) and lets
    /// a probe through `reset` after opening.
    pub fn new(threshold: u32, reset: Duration) -> Self {
        CircuitBreaker {
            threshold: threshold.max(1),
            reset,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain value: a panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks to start an attempt; an open circuit whose `reset` has passed turns half-open and
    /// hands out the one probe. Report the attempt with `on_success` or `on_failure`.
    pub fn acquire(&self) -> Permit {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Permit::Allowed,
            State::Open { until } => {
                let now = Instant::now();
                if now >= until {
                    *state = State::HalfOpen;
                    Permit::Probe
                } else {
                    Permit::Rejected {
                        retry_in: until - now,
                    }
                }
            }
            State::HalfOpen => Permit::Rejected {
                retry_in: self.reset,
            },
        }
    }

    /// Records a successful attempt: the circuit closes and the failure count restarts.
    pub fn on_success(&self) {
        *self.lock() = State::Closed { failures: 0 };
    }

    /// Records a failed attempt: the `threshold`-th consecutive failure, or a failed probe,
    /// opens the circuit for `reset`.
    pub fn on_failure(&self) {
        let mut state = self.lock();
        *state = match *state {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            _ => State::Open {
                until: Instant::now() + self.reset,
            },
        };
    }

    /// Whether the circuit is not closed (open, or half-open with a probe allowed or in flight).
    pub fn is_open(&self) -> bool {
        !matches!(*self.lock(), State::Closed { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_probes_and_closes() {
        let b = CircuitBreaker::new(3, Duration::from_secs(10));
        for _ in 0..2 {
            assert_eq!(b.acquire(), Permit::Allowed);
            b.on_failure();
        }
        assert!(!b.is_open());
        b.on_failure();
        assert!(b.is_open());
        assert!(matches!(b.acquire(), Permit::Rejected { .. }));

        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(b.acquire(), Permit::Probe);
        // Only one probe at a time.
        assert!(matches!(b.acquire(), Permit::Rejected { .. }));
        b.on_failure();
        assert!(matches!(b.acquire(), Permit::Rejected { .. }));

        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(b.acquire(), Permit::Probe);
        b.on_success();
        assert_eq!(b.acquire(), Permit::Allowed);
    }

    #[tokio::test(start_paused = true)]
    async fn success_resets_the_count() {
        let b = CircuitBreaker::new(2, Duration::from_secs(1));
        b.on_failure();
        b.on_success();
        b.on_failure();
        assert!(!b.is_open());
    }
}

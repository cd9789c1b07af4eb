//! The wait before each retry, from the policy: backon's exponential (with jitter) and constant
//! backoffs, plus linear growth and an explicit list of intervals.

use std::time::Duration;

use backon::{BackoffBuilder, ConstantBuilder, ExponentialBuilder};

use crate::policy::{BackoffType, DeliveryPolicy};

/// The waits before retry 1, 2, 3, ... of one delivery.
pub struct Schedule {
    inner: Box<dyn Iterator<Item = Duration> + Send>,
}

impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Schedule")
    }
}

impl Schedule {
    /// The schedule `policy` gives: its `retry_intervals` if any (the last repeating), else
    /// waits computed by its `retry_backoff_type`. It never ends.
    pub fn for_policy(policy: &DeliveryPolicy) -> Self {
        let base = Duration::from_millis(policy.retry_base_ms);
        let max = Duration::from_millis(policy.retry_max_delay_ms);
        let inner: Box<dyn Iterator<Item = Duration> + Send> = if !policy.retry_intervals.is_empty()
        {
            let list: Vec<Duration> = policy
                .retry_intervals
                .iter()
                .map(|&ms| Duration::from_millis(ms))
                .collect();
            let last = *list.last().expect("non-empty");
            Box::new(list.into_iter().chain(std::iter::repeat(last)))
        } else {
            match policy.retry_backoff_type {
                BackoffType::Exponential => Box::new(
                    ExponentialBuilder::default()
                        .with_min_delay(base)
                        .with_max_delay(max)
                        .with_factor(2.0)
                        .with_jitter()
                        .without_max_times()
                        .build(),
                ),
                BackoffType::Linear => {
                    Box::new((1u32..).map(move |n| base.saturating_mul(n).min(max)))
                }
                BackoffType::Fixed => Box::new(
                    ConstantBuilder::default()
                        .with_delay(base)
                        .without_max_times()
                        .build(),
                ),
            }
        };
        Schedule { inner }
    }

    /// The wait before the next retry.
    pub fn next_delay(&mut self) -> Duration {
        self.inner.next().unwrap_or(Duration::ZERO)
    }
}

impl DeliveryPolicy {
    /// The wait after failed attempt number `attempt` (1 for the first) before the next one:
    /// what a fresh schedule gives for that retry.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let mut schedule = Schedule::for_policy(self);
        let mut wait = Duration::ZERO;
        for _ in 0..attempt.max(1) {
            wait = schedule.next_delay();
        }
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(kind: BackoffType) -> DeliveryPolicy {
        DeliveryPolicy {
            retry_backoff_type: kind,
            retry_base_ms: 100,
            retry_max_delay_ms: 1_000,
            ..DeliveryPolicy::default()
        }
    }

    fn take(p: &DeliveryPolicy, n: usize) -> Vec<u64> {
        let mut s = Schedule::for_policy(p);
        (0..n).map(|_| s.next_delay().as_millis() as u64).collect()
    }

    #[test]
    fn linear_and_fixed() {
        assert_eq!(
            take(&policy(BackoffType::Linear), 5),
            [100, 200, 300, 400, 500]
        );
        assert_eq!(take(&policy(BackoffType::Linear), 12)[11], 1_000);
        assert_eq!(take(&policy(BackoffType::Fixed), 3), [100, 100, 100]);
    }

    #[test]
    fn exponential_grows_within_bounds_with_jitter() {
        let p = policy(BackoffType::Exponential);
        let waits = take(&p, 8);
        for (i, w) in waits.iter().enumerate() {
            let floor = (100u64 << i).min(1_000);
            // backon adds jitter on top of the computed delay, at most doubling it.
            assert!(
                *w >= floor && *w <= 2 * floor.max(1_000),
                "retry {i}: {w} ms"
            );
        }
    }

    #[test]
    fn explicit_intervals_win_and_last_repeats() {
        let p = DeliveryPolicy {
            retry_intervals: vec![5, 50, 500],
            ..policy(BackoffType::Exponential)
        };
        assert_eq!(take(&p, 5), [5, 50, 500, 500, 500]);
    }
}

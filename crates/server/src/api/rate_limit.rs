//! Rate limiting: a token bucket per key (an API key, or a client address for failed
//! authentication), refilled at the configured rate up to a burst.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets kept before full ones (which hold nothing a new bucket would not) are dropped, so
/// a flood of distinct keys or addresses cannot grow the map without bound; at most once a
/// second, so a map of many live buckets is not walked on every request.
const PRUNE_ABOVE: usize = 10_000;
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<Buckets>,
}

#[derive(Debug)]
struct Buckets {
    by_key: HashMap<String, (f64, Instant)>,
    pruned_at: Option<Instant>,
}

impl RateLimiter {
    /// `per_second` requests per second per key, with a burst of twice that.
    pub fn new(per_second: u32) -> Self {
        let per_second = f64::from(per_second.max(1));
        Self::with_burst(per_second, per_second * 2.0)
    }

    /// `per_minute` per key, with a burst of that many (refilled evenly over the minute).
    pub fn per_minute(per_minute: u32) -> Self {
        let burst = f64::from(per_minute.max(1));
        Self::with_burst(burst / 60.0, burst)
    }

    fn with_burst(per_second: f64, burst: f64) -> Self {
        RateLimiter {
            per_second,
            burst,
            buckets: Mutex::new(Buckets {
                by_key: HashMap::new(),
                pruned_at: None,
            }),
        }
    }

    /// Takes one token for `key`; `Err(seconds)` says when one will be available.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        self.with_bucket(key, true)
    }

    /// Takes `cost` tokens for `key` from a bucket refilled at `per_second` (fractions
    /// allowed) up to a second's worth (at least one): for limits that differ per key.
    pub fn check_at(&self, key: &str, per_second: f64, cost: f64) -> Result<(), u64> {
        self.with_bucket_at(key, cost, per_second, per_second.max(1.0))
    }

    /// Whether `key` has a token, without taking it; `Err(seconds)` as [`RateLimiter::check`].
    pub fn peek(&self, key: &str) -> Result<(), u64> {
        self.with_bucket(key, false)
    }

    fn with_bucket(&self, key: &str, take: bool) -> Result<(), u64> {
        self.with_bucket_at(
            key,
            if take { 1.0 } else { 0.0 },
            self.per_second,
            self.burst,
        )
    }

    /// Takes `cost` tokens (0: only looks) when there are that many.
    fn with_bucket_at(&self, key: &str, cost: f64, per_second: f64, burst: f64) -> Result<(), u64> {
        let take = cost > 0.0;
        let mut state = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if state.by_key.len() > PRUNE_ABOVE
            && state
                .pruned_at
                .is_none_or(|at| now.duration_since(at) >= PRUNE_EVERY)
        {
            state.pruned_at = Some(now);
            state.by_key.retain(|_, (tokens, last)| {
                *tokens + now.duration_since(*last).as_secs_f64() * per_second < burst
            });
        }
        let buckets = &mut state.by_key;
        let (tokens, last) = match buckets.get_mut(key) {
            Some(bucket) => bucket,
            None if !take => return Ok(()),
            None => buckets.entry(key.to_string()).or_insert((burst, now)),
        };
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * per_second).min(burst);
        *last = now;
        let need = cost.max(1.0);
        if *tokens >= need {
            *tokens -= cost;
            Ok(())
        } else {
            Err(((need - *tokens) / per_second).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RateLimiter;

    #[test]
    fn a_burst_then_refusal_per_key() {
        let limiter = RateLimiter::new(2);
        for _ in 0..4 {
            assert!(limiter.check("a").is_ok());
        }
        assert_eq!(limiter.check("a"), Err(1));
        assert!(limiter.check("b").is_ok(), "keys have their own buckets");
    }

    #[test]
    fn peeking_takes_nothing_and_per_minute_refills_slowly() {
        let limiter = RateLimiter::per_minute(3);
        assert!(limiter.peek("ip").is_ok());
        for _ in 0..3 {
            assert!(limiter.peek("ip").is_ok());
            assert!(limiter.check("ip").is_ok());
        }
        // One token comes back every 20 s.
        assert!(matches!(limiter.peek("ip"), Err(s) if (19..=20).contains(&s)));
        assert!(limiter.check("ip").is_err());
    }

    #[test]
    fn a_flood_of_keys_is_pruned() {
        // Buckets refill at once at this rate, so every one left behind is full.
        let limiter = RateLimiter::new(1_000_000_000);
        for n in 0..(3 * super::PRUNE_ABOVE) {
            let _ = limiter.check(&n.to_string());
        }
        // Pruned at most once a second: the map stops near the bound, far below the flood.
        assert!(limiter.buckets.lock().unwrap().by_key.len() <= 2 * super::PRUNE_ABOVE + 1);
    }
}

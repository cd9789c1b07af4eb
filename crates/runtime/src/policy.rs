//! `DeliveryPolicy`: the per-destination delivery settings, named as the Destinations APIs name them.

use std::time::Duration;

use courier_core::schema::{parse, schema_of};
use courier_core::spec::FieldError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How the wait between attempts grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackoffType {
    /// `retry_base_ms` doubled each retry, with full jitter, capped at `retry_max_delay_ms`.
    #[default]
    Exponential,
    /// `retry_base_ms` times the retry number, capped at `retry_max_delay_ms`.
    Linear,
    /// `retry_base_ms` every time.
    Fixed,
}

/// Whether a destination's deliveries keep their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderingMode {
    /// Deliveries go out concurrently, in no promised order.
    #[default]
    None,
    /// Deliveries of one lane (one `ordering_key` value) go out one at a time in the order
    /// their events were accepted; a failing head holds its lane through its retries until it
    /// is delivered or dead-lettered. Other lanes keep flowing.
    Fifo,
}

/// Retries, timeouts, circuit breaking, concurrency, ordering and throttling for one
/// destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryPolicy {
    /// Deadline of one attempt, in milliseconds.
    #[schemars(range(min = 1, max = 600000))]
    pub timeout_ms: u64,
    /// Whether transient failures (rate_limited, unavailable, timeout) are retried.
    pub retry_enabled: bool,
    /// Attempts in all, the first included.
    #[schemars(range(min = 1, max = 100))]
    pub retry_max_attempts: u32,
    /// How the wait grows between attempts; ignored when `retry_intervals` is given.
    pub retry_backoff_type: BackoffType,
    /// Explicit waits in milliseconds before retry 1, 2, ...; the last one repeats.
    #[schemars(length(max = 100))]
    pub retry_intervals: Vec<u64>,
    /// The first wait, in milliseconds, for the computed backoff types.
    #[schemars(range(min = 1, max = 86400000))]
    pub retry_base_ms: u64,
    /// The longest computed wait, in milliseconds.
    #[schemars(range(min = 1, max = 86400000))]
    pub retry_max_delay_ms: u64,
    /// The longest `Retry-After` honoured, in milliseconds; longer values are clamped to this.
    #[schemars(range(min = 0, max = 86400000))]
    pub retry_after_max_ms: u64,
    /// Whether consecutive failures open a circuit breaker that stops attempts for a while.
    pub circuit_breaker_enabled: bool,
    /// Consecutive failed attempts that open the circuit.
    #[schemars(range(min = 1, max = 10000))]
    pub circuit_breaker_threshold: u32,
    /// How long the circuit stays open before one probe attempt is let through, in milliseconds.
    #[schemars(range(min = 1, max = 86400000))]
    pub circuit_breaker_reset_ms: u64,
    /// Attempts in flight at once to this destination.
    #[schemars(range(min = 1, max = 1024))]
    pub max_concurrency: u32,
    /// File and stream destinations: the most records one batch (one file, one request) holds;
    /// a batch goes out as soon as this many are waiting.
    #[schemars(range(min = 1, max = 10000))]
    pub batch_max_records: u32,
    /// File and stream destinations: a batch goes out as soon as the waiting records' payloads
    /// add up to this many bytes.
    #[schemars(range(min = 1, max = 1073741824))]
    pub batch_max_bytes: u64,
    /// File and stream destinations: the longest a record waits for others to share its batch,
    /// in milliseconds.
    #[schemars(range(min = 0, max = 86400000))]
    pub batch_max_age_ms: u64,
    /// `fifo`: at most one delivery per lane in flight, across all replicas, in accept order.
    pub ordering: OrderingMode,
    /// With `fifo`: the lane of an event, a template over its payload as posted
    /// (`{customer.id}`, or a bare dot path `customer.id`); an event without the value goes to
    /// the lane named by the empty string. Absent: the whole destination is one lane.
    #[schemars(length(min = 1, max = 256))]
    pub ordering_key: Option<String>,
    /// The most attempts started per second for this destination, across all replicas
    /// (fractions allowed: 0.5 is one every two seconds). Absent: no limit.
    #[schemars(range(min = 0.001, max = 100000.0))]
    pub rate_limit_per_second: Option<f64>,
    /// With `rate_limit_per_second`: at most this many attempts start within any
    /// `rate_limit_burst / rate_limit_per_second` seconds. Default: one second's worth (at
    /// least 1).
    #[schemars(range(min = 1, max = 100000))]
    pub rate_limit_burst: Option<u32>,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy {
            timeout_ms: 30_000,
            retry_enabled: true,
            retry_max_attempts: 5,
            retry_backoff_type: BackoffType::Exponential,
            retry_intervals: Vec::new(),
            retry_base_ms: 1_000,
            retry_max_delay_ms: 300_000,
            retry_after_max_ms: 600_000,
            circuit_breaker_enabled: true,
            circuit_breaker_threshold: 5,
            circuit_breaker_reset_ms: 30_000,
            max_concurrency: 8,
            batch_max_records: 500,
            batch_max_bytes: 5 * 1024 * 1024,
            batch_max_age_ms: 10_000,
            ordering: OrderingMode::None,
            ordering_key: None,
            rate_limit_per_second: None,
            rate_limit_burst: None,
        }
    }
}

impl DeliveryPolicy {
    /// A retry schedule that outlasts a receiver's outage of up to a day: after the first
    /// attempt, retries 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h later (8 attempts over
    /// about 27 hours). `courier serve` gives it to destinations created without a retry
    /// schedule of their own.
    pub const DAY_LONG_RETRY_INTERVALS_MS: [u64; 7] = [
        5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
    ];

    /// Parses a policy from JSON (missing fields take defaults); every problem at its path under
    /// `prefix`.
    pub fn from_json(value: &Value, prefix: &str) -> Result<Self, Vec<FieldError>> {
        let policy: DeliveryPolicy = parse(&schema_of::<DeliveryPolicy>(), value, prefix, true)?;
        let errors = policy.validate();
        if errors.is_empty() {
            Ok(policy)
        } else {
            Err(errors.into_iter().map(|e| e.under(prefix)).collect())
        }
    }

    /// Cross-field checks the schema cannot express.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.retry_max_delay_ms < self.retry_base_ms {
            errors.push(FieldError::new(
                "/retry_max_delay_ms",
                "must be at least retry_base_ms",
            ));
        }
        if let Some(i) = self.retry_intervals.iter().position(|&ms| ms > 86_400_000) {
            errors.push(FieldError::new(
                format!("/retry_intervals/{i}"),
                "must be at most 86400000 (one day)",
            ));
        }
        if let Some(key) = &self.ordering_key {
            if self.ordering != OrderingMode::Fifo {
                errors.push(FieldError::new(
                    "/ordering_key",
                    "needs `ordering: fifo` (lanes only exist in fifo order)",
                ));
            }
            if let Err(why) = courier_messages::KeyTemplate::parse(key) {
                errors.push(FieldError::new("/ordering_key", why));
            }
        }
        if self.rate_limit_burst.is_some() && self.rate_limit_per_second.is_none() {
            errors.push(FieldError::new(
                "/rate_limit_burst",
                "needs rate_limit_per_second",
            ));
        }
        errors
    }

    /// The rate limit, when there is one: (attempts per second, burst).
    pub fn rate_limit(&self) -> Option<(f64, u32)> {
        let rate = self.rate_limit_per_second?;
        let burst = self
            .rate_limit_burst
            .unwrap_or_else(|| rate.ceil().clamp(1.0, 100_000.0) as u32);
        Some((rate, burst.max(1)))
    }

    /// The deadline of one attempt (`timeout_ms`).
    pub fn attempt_timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// Attempts allowed in all, 1 when retries are off.
    pub fn max_attempts(&self) -> u32 {
        if self.retry_enabled {
            self.retry_max_attempts.max(1)
        } else {
            1
        }
    }

    /// A target's `Retry-After` wait, cut down to `retry_after_max_ms`.
    pub fn clamp_retry_after(&self, d: Duration) -> Duration {
        d.min(Duration::from_millis(self.retry_after_max_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_fill_missing_fields() {
        let p = DeliveryPolicy::from_json(&json!({"retry_max_attempts": 3}), "").unwrap();
        assert_eq!(p.retry_max_attempts, 3);
        assert_eq!(p.timeout_ms, 30_000);
    }

    #[test]
    fn errors_name_fields() {
        let errs = DeliveryPolicy::from_json(
            &json!({"retry_max_attempts": 0, "retry_backoff_type": "cubic", "nope": 1}),
            "/policy",
        )
        .unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(
            text.iter()
                .any(|t| t.starts_with("/policy/retry_max_attempts: must be at least 1")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("/policy/retry_backoff_type: must be one of")),
            "{text:?}"
        );
        assert!(
            text.contains(&"/policy/nope: unknown field".to_string()),
            "{text:?}"
        );
    }

    #[test]
    fn cross_field_rules() {
        let errs = DeliveryPolicy::from_json(
            &json!({"retry_base_ms": 5000, "retry_max_delay_ms": 10}),
            "",
        )
        .unwrap_err();
        assert_eq!(errs[0].path, "/retry_max_delay_ms");
    }
}

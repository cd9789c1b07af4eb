//! What happened to a destination since its statistics were last written: deliveries created
//! for it, its latest attempt, its latest success, and since when it has been failing. The
//! writer gathers these in memory and writes them a few times a second, not per event.

/// What happened to one destination since its statistics were last written.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DestinationStats {
    /// Deliveries created for it.
    pub events: i64,
    /// Deliveries to it that ended failed.
    pub failed: i64,
    /// The latest attempt: when, and `delivered` or `failed`.
    pub last: Option<(String, String)>,
    pub last_success_at: Option<String>,
    /// The first failure after the latest success (or since the last write, if none).
    pub failing_since: Option<String>,
}

impl DestinationStats {
    /// Adds what happened after these statistics.
    pub fn merge(&mut self, later: DestinationStats) {
        self.events += later.events;
        self.failed += later.failed;
        if later.last.is_some() {
            self.last = later.last;
        }
        if later.last_success_at.is_some() {
            self.last_success_at = later.last_success_at;
            self.failing_since = later.failing_since;
        } else if self.failing_since.is_none() {
            self.failing_since = later.failing_since;
        }
    }

    /// Adds an attempt's outcome (`delivered` or `failed`) at `at`.
    pub fn attempt(&mut self, at: &str, outcome: &str) {
        self.last = Some((at.to_string(), outcome.to_string()));
        if outcome == "delivered" {
            self.last_success_at = Some(at.to_string());
            self.failing_since = None;
        } else if self.failing_since.is_none() {
            self.failing_since = Some(at.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_keep_the_failing_clock_honest() {
        let mut s = DestinationStats::default();
        s.attempt("t1", "failed");
        s.attempt("t2", "failed");
        assert_eq!(s.failing_since.as_deref(), Some("t1"));
        s.attempt("t3", "delivered");
        assert_eq!(
            (s.failing_since.as_deref(), s.last_success_at.as_deref()),
            (None, Some("t3"))
        );
        s.attempt("t4", "failed");
        assert_eq!(s.failing_since.as_deref(), Some("t4"));
        assert_eq!(s.last, Some(("t4".into(), "failed".into())));
    }

    #[test]
    fn merged_statistics_equal_the_attempts_in_one_window() {
        let outcomes = [
            "failed",
            "delivered",
            "failed",
            "failed",
            "delivered",
            "failed",
        ];
        for split in 0..=outcomes.len() {
            let mut whole = DestinationStats::default();
            let (mut first, mut second) =
                (DestinationStats::default(), DestinationStats::default());
            for (i, o) in outcomes.iter().enumerate() {
                let at = format!("t{i}");
                whole.attempt(&at, o);
                if i < split {
                    first.attempt(&at, o)
                } else {
                    second.attempt(&at, o)
                }
            }
            first.merge(second);
            assert_eq!(first, whole, "split at {split}");
        }
    }
}

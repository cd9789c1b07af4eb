//! Destination statistics gathered by every writer loop and written by one cycle at a time:
//! cycles that overlap (Postgres) would otherwise each update the same destination row and
//! queue behind one another's commits for its lock.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::engine::DestinationStats;

/// Statistics waiting to be written, shared by the writer loops.
pub(crate) struct StatsBook {
    every: Duration,
    inner: Mutex<Book>,
}

struct Book {
    pending: HashMap<String, DestinationStats>,
    /// A cycle is carrying statistics to the database.
    writing: bool,
    written_at: Instant,
}

impl StatsBook {
    /// Statistics are written at least every `every` under load.
    pub(crate) fn new(every: Duration) -> Self {
        StatsBook {
            every,
            inner: Mutex::new(Book {
                pending: HashMap::new(),
                writing: false,
                written_at: Instant::now(),
            }),
        }
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        // The book holds plain data; a loop that panicked left it whole.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The statistics a cycle should write with its own, when it is time (`idle`: nobody is
    /// waiting behind the cycle, or [`StatsBook::every`] has passed) and no other cycle is
    /// writing them. The caller hands them back through [`StatsBook::settle`].
    pub(crate) fn take_if_due(&self, idle: bool) -> Option<HashMap<String, DestinationStats>> {
        let mut book = self.book();
        if book.writing || !(idle || book.written_at.elapsed() >= self.every) {
            return None;
        }
        book.writing = true;
        Some(std::mem::take(&mut book.pending))
    }

    /// What is pending when a cycle is over and nobody waits: statistics a cycle left while
    /// another carried them would otherwise wait for the next request. Whoever settles last
    /// finds them (the book is locked in turn), so none are stranded.
    pub(crate) fn take_leftovers(&self) -> Option<HashMap<String, DestinationStats>> {
        let mut book = self.book();
        if book.writing || book.pending.is_empty() {
            return None;
        }
        book.writing = true;
        Some(std::mem::take(&mut book.pending))
    }

    /// Takes back what a cycle left unwritten: `left` holds what it carried (when `carried`) and
    /// its own statistics, unless `written`.
    pub(crate) fn settle(
        &self,
        left: HashMap<String, DestinationStats>,
        carried: bool,
        written: bool,
    ) {
        let mut book = self.book();
        if carried {
            book.writing = false;
            // What was carried is older than what gathered meanwhile.
            let newer = std::mem::replace(&mut book.pending, left);
            merge_into(&mut book.pending, newer);
        } else {
            merge_into(&mut book.pending, left);
        }
        if written {
            book.written_at = Instant::now();
        }
    }

    /// Everything pending, for the last cycle.
    pub(crate) fn take_all(&self) -> HashMap<String, DestinationStats> {
        std::mem::take(&mut self.book().pending)
    }
}

/// Adds `later` to `into`.
fn merge_into(
    into: &mut HashMap<String, DestinationStats>,
    later: HashMap<String, DestinationStats>,
) {
    for (id, s) in later {
        into.entry(id).or_default().merge(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(at: &str, outcome: &str) -> HashMap<String, DestinationStats> {
        let mut s = DestinationStats::default();
        s.attempt(at, outcome);
        s.events = 1;
        HashMap::from([("d".to_string(), s)])
    }

    #[test]
    fn one_cycle_at_a_time_carries_the_statistics() {
        let book = StatsBook::new(Duration::from_secs(3600));
        assert!(book.take_if_due(false).is_none(), "not due, not idle");
        let carried = book.take_if_due(true).expect("idle");
        assert!(
            book.take_if_due(true).is_none(),
            "another cycle carries them"
        );
        book.settle(one("t2", "failed"), false, false);
        // The carrying cycle failed: what it carried goes back before what came meanwhile.
        let mut left = carried;
        merge_into(&mut left, one("t1", "delivered"));
        book.settle(left, true, false);
        let all = book.take_all();
        let d = &all["d"];
        assert_eq!(d.events, 2);
        assert_eq!(d.last, Some(("t2".into(), "failed".into())));
        assert_eq!(d.last_success_at.as_deref(), Some("t1"));
        assert_eq!(d.failing_since.as_deref(), Some("t2"));
    }

    #[test]
    fn statistics_left_while_another_cycle_writes_are_found_by_the_last_to_settle() {
        let book = StatsBook::new(Duration::from_secs(3600));
        let carried = book.take_if_due(true).expect("idle");
        book.settle(one("t1", "delivered"), false, false);
        assert!(
            book.take_leftovers().is_none(),
            "the carrier is still writing"
        );
        book.settle(carried, true, true);
        let left = book.take_leftovers().expect("found by the carrier");
        assert_eq!(left["d"].events, 1);
        book.settle(HashMap::new(), true, true);
        assert!(book.take_leftovers().is_none(), "nothing left");
    }

    #[test]
    fn written_statistics_leave_the_book() {
        let book = StatsBook::new(Duration::from_secs(3600));
        book.settle(one("t1", "delivered"), false, false);
        let carried = book.take_if_due(true).expect("idle");
        assert_eq!(carried["d"].events, 1);
        book.settle(HashMap::new(), true, true);
        assert!(book.take_all().is_empty());
        assert!(book.take_if_due(false).is_none(), "just written");
    }
}

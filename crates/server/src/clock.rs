//! The queue's clock. Due times and leases are written by one replica and compared by another,
//! so they are read off one clock: the database's. On Postgres its offset from this machine's
//! clock is measured every half second (with the change counter, at no extra query); on
//! SQLite, one machine, it is this machine's own.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::ids;

/// The database's clock minus this machine's, in milliseconds.
static OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// A skew added to this machine's clock, to test that the queue does not depend on it.
static LOCAL_SKEW_MS: AtomicI64 = AtomicI64::new(0);

/// Now on the queue's clock, in milliseconds since the Unix epoch.
pub fn queue_now_ms() -> i64 {
    local_now_ms() + OFFSET_MS.load(Ordering::Relaxed)
}

/// This machine's clock (with the test skew).
pub(crate) fn local_now_ms() -> i64 {
    ids::now_ms() + LOCAL_SKEW_MS.load(Ordering::Relaxed)
}

/// Records a reading of the database's clock, `db_ms`, taken between `sent_ms` and
/// `received_ms` on this machine's clock (the reading is taken as halfway).
pub(crate) fn measured(db_ms: i64, sent_ms: i64, received_ms: i64) {
    let local = sent_ms + (received_ms - sent_ms) / 2;
    OFFSET_MS.store(db_ms - local, Ordering::Relaxed);
}

/// Makes this machine's clock run `ms` ahead (tests of clock independence only).
#[doc(hidden)]
pub fn skew_local_clock_for_tests(ms: i64) {
    LOCAL_SKEW_MS.store(ms, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_clock_follows_the_database() {
        skew_local_clock_for_tests(60_000);
        let real = ids::now_ms();
        let local = local_now_ms();
        assert!(local - real >= 60_000);
        // The database says it is `real` (read halfway through a 10 ms round trip).
        measured(real + 5, local, local + 10);
        assert!((queue_now_ms() - ids::now_ms()).abs() < 1_000);
        skew_local_clock_for_tests(0);
        measured(0, 0, 0);
    }
}

//! Connections kept between deliveries to the same destination: an SSH login costs several
//! round trips and a key exchange, so an idle connection is reused, and one that turns out to be
//! broken is dropped and replaced.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::session::Connection;

/// Idle connections kept per destination; more concurrent deliveries open more and close the
/// extra ones when they finish.
const MAX_IDLE: usize = 4;
/// Servers commonly drop idle clients after a few minutes; older connections are not tried.
const MAX_IDLE_AGE: Duration = Duration::from_secs(120);

#[derive(Debug, Default)]
pub struct Pool {
    idle: Mutex<Vec<(Connection, Instant)>>,
    opened: AtomicUsize,
}

impl Pool {
    /// The most recently used idle connection that is young enough, if any.
    pub fn take(&self) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain(|(_, since)| since.elapsed() < MAX_IDLE_AGE);
        idle.pop().map(|(connection, _)| connection)
    }

    /// Keeps a healthy connection for the next delivery.
    pub fn put(&self, connection: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push((connection, Instant::now()));
        }
    }

    /// Counts a newly opened connection.
    pub fn opened_one(&self) {
        self.opened.fetch_add(1, Ordering::Relaxed);
    }

    /// How many connections this destination has opened (for tests and metrics).
    pub fn opened(&self) -> usize {
        self.opened.load(Ordering::Relaxed)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|p| p.into_inner()));
        if idle.is_empty() {
            return;
        }
        // Closing a connection talks to the server (channel close, disconnect), which blocks;
        // a destination dropped on an async worker must not stall it.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(move || drop(idle))),
            Err(_) => drop(idle),
        }
    }
}

//! The store: workspaces, API keys and destinations in SQLite (embedded, the default) or
//! Postgres (several replicas), through one implementation on sqlx's Any driver.

pub(crate) mod api_keys;
mod audit;
pub(crate) mod counted;
mod deliveries;
mod delivery_log;
mod destinations;
pub(crate) mod engine;
mod event_types;
mod oauth;
mod portal_sessions;
mod rates;
mod retention;
mod routes;
mod schema;
mod settings;
mod workspaces;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use anyhow::{Context, Result};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

pub use api_keys::{ApiKey, KeyChange, NewKey};
pub use audit::{AuditEntry, AuditFilter};
pub use deliveries::{
    Accepted, AttemptLog, Finish, IDEMPOTENCY_WINDOW_MS, Job, NewDelivery, NewEvent, SAME_AS_EVENT,
    body_hash,
};
pub use delivery_log::{
    Delivery, DeliveryDetail, DeliveryFilter, DeliveryStatus, Event, EventDetail, EventFilter,
    IdRange,
};
pub use destinations::{DestinationFilter, DestinationRow};
pub use event_types::EventTypeRow;
pub use oauth::PendingRow;
pub use portal_sessions::{PortalSession, PortalSessionRow};
pub use routes::{OPERATIONAL_PREFIX, RouteFilter, RouteRow, matches as route_matches};
pub use workspaces::{Held, Limits, Role, Workspace, WorkspaceChange};

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// For the delivery worker's bookkeeping (claims, attempt results): commits that need not
    /// reach the disk before returning. Losing the last of them to a power cut only means a
    /// delivery is attempted again, which at-least-once delivery allows; events and
    /// destinations always go through `pool`, which syncs every commit.
    relaxed: AnyPool,
    /// The delivery engine's writers: a connection each, synced like `pool`, so their cycles
    /// never wait for a pooled connection behind API reads.
    engine: AnyPool,
    postgres: bool,
    changes: Arc<ConfigChanges>,
    /// Where the database is, for the change listener (never printed: it may hold a password).
    url: Arc<str>,
    /// Rows each engine table had when this process last analyzed it.
    analyzed: Arc<std::sync::Mutex<std::collections::HashMap<String, i64>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the URL: it may carry a password.
        f.debug_struct("Store")
            .field("postgres", &self.postgres)
            .finish_non_exhaustive()
    }
}

/// What a pool is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// The API: every commit synced.
    Api,
    /// Bookkeeping whose last commits a power cut may lose (see `relaxed`).
    Relaxed,
    /// The delivery engine's writers: synced, each with a connection of its own.
    Engine,
}

/// Which version of the destinations and routes a process's caches hold.
#[derive(Debug, Default)]
struct ConfigChanges {
    /// Bumped when this process changes them, or sees that another replica did.
    epoch: AtomicU64,
    /// The database's change counter as last read.
    seen: AtomicI64,
}

/// Whether an error is a unique-constraint violation (a name already taken).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Why a write failed: a value that must be unique (a name, a slug, an external id) is taken,
/// or anything else (logged by the caller, never shown).
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("a value that must be unique is taken")]
    Taken,
    #[error(transparent)]
    Failed(anyhow::Error),
}

impl From<sqlx::Error> for WriteError {
    fn from(e: sqlx::Error) -> Self {
        if is_unique_violation(&e) {
            WriteError::Taken
        } else {
            WriteError::Failed(e.into())
        }
    }
}

impl From<anyhow::Error> for WriteError {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast_ref::<sqlx::Error>() {
            Some(db) if is_unique_violation(db) => WriteError::Taken,
            _ => WriteError::Failed(e),
        }
    }
}

impl Store {
    /// Connects and brings the schema up to date.
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let pool = Self::connect(url, Purpose::Api).await?;
        let store = Store {
            relaxed: Self::connect(url, Purpose::Relaxed).await?,
            engine: Self::connect(url, Purpose::Engine).await?,
            pool,
            postgres: url.starts_with("postgres"),
            changes: Arc::default(),
            url: Arc::from(url),
            analyzed: Arc::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn connect(url: &str, purpose: Purpose) -> Result<AnyPool> {
        let sqlite = url.starts_with("sqlite:");
        let synced = purpose != Purpose::Relaxed;
        let engine = purpose == Purpose::Engine;
        let connections = match (purpose, sqlite) {
            // The engine's writers: one on SQLite, three on Postgres (`delivery::writer`).
            (Purpose::Engine, true) => 1,
            (Purpose::Engine, false) => 3,
            // SQLite allows one writer at a time; a few connections serve concurrent reads.
            (_, true) => 4,
            (_, false) => 16,
        };
        AnyPoolOptions::new()
            .max_connections(connections)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    use sqlx::Executor;
                    if sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        if purpose == Purpose::Api {
                            // What the API deletes (a workspace and its secrets) is overwritten,
                            // not left in free pages.
                            conn.execute("PRAGMA secure_delete = ON").await?;
                        }
                        // No connection checkpoints when its commit grows the log: the engine's
                        // writer would stall for the copy. `Store::checkpoint` runs beside it.
                        conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
                        if !synced {
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                        }
                    } else {
                        if !synced {
                            conn.execute("SET synchronous_commit = off").await?;
                        }
                        if engine {
                            // The engine's statements reach rows by key through a list of
                            // rows joined to a table. Planned while the tables were new and
                            // had no statistics (a fresh database, or one that grew faster
                            // than autovacuum looks), they became hash joins over whole-table
                            // scans, sequential counts and foreign key checks that grew with
                            // the table; a queue's statements only ever want the index.
                            conn.execute("SET enable_hashjoin = off").await?;
                            conn.execute("SET enable_mergejoin = off").await?;
                            conn.execute("SET enable_seqscan = off").await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .with_context(|| format!("cannot open the database ({})", redact_url(url)))
    }

    /// Brings the schema up to date. Replicas starting together take turns: on Postgres under
    /// an advisory lock, on SQLite under the database's write lock (the first statement of each
    /// migration writes).
    async fn migrate(&self) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        if self.postgres {
            sqlx::query("SELECT pg_advisory_lock(7270020)")
                .execute(counted::on(&mut conn))
                .await?;
        }
        let result = Self::apply_migrations(&mut conn).await;
        if self.postgres {
            sqlx::query("SELECT pg_advisory_unlock(7270020)")
                .execute(counted::on(&mut conn))
                .await?;
        }
        result
    }

    async fn apply_migrations(conn: &mut sqlx::AnyConnection) -> Result<()> {
        use sqlx::Connection;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS courier_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
        )
        .execute(counted::on(&mut *conn))
        .await?;
        for (version, statements) in schema::MIGRATIONS {
            let mut tx = conn.begin().await?;
            // Claiming the version first makes this a write transaction from its start.
            let claimed = sqlx::query(
                "INSERT INTO courier_migrations (version, applied_at) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING",
            )
            .bind(*version)
            .bind(crate::ids::now())
            .execute(counted::on(&mut tx))
            .await?;
            if claimed.rows_affected() == 0 {
                continue;
            }
            for statement in *statements {
                sqlx::query(statement)
                    .execute(counted::on(&mut tx))
                    .await
                    .with_context(|| format!("migration {version} failed"))?;
            }
            counted::commit(tx).await?;
        }
        Ok(())
    }

    /// Holds the start-up lock across replicas (Postgres: the advisory lock migrations use), so
    /// two processes starting on an empty database bootstrap it once. `None` on SQLite, whose
    /// database file belongs to one process.
    pub async fn startup_lock(&self) -> Result<Option<sqlx::pool::PoolConnection<sqlx::Any>>> {
        if !self.postgres {
            return Ok(None);
        }
        let mut conn = self.pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock(7270020)")
            .execute(counted::on(&mut conn))
            .await?;
        Ok(Some(conn))
    }

    pub async fn startup_unlock(
        &self,
        lock: Option<sqlx::pool::PoolConnection<sqlx::Any>>,
    ) -> Result<()> {
        if let Some(mut conn) = lock {
            sqlx::query("SELECT pg_advisory_unlock(7270020)")
                .execute(counted::on(&mut conn))
                .await?;
        }
        Ok(())
    }

    /// Copies committed pages from SQLite's write-ahead log into the database, beside the writer
    /// (a passive checkpoint waits for no one); the log starts over once all of it is copied.
    /// Nothing to do on Postgres.
    ///
    /// A passive checkpoint never waits, but under steady load some reader always holds an
    /// older snapshot, so the log is never wholly copied and never starts over: it grew without
    /// bound (3.8 GB in a 2-minute run at 2,000 events/s). Once it holds more than
    /// [`WAL_RESTART_FRAMES`] pages, a restarting checkpoint waits for those readers (writers
    /// pause meanwhile, briefly) so the log starts over from its beginning: the file keeps its
    /// size (no space is given back and taken again) and grows no further.
    pub async fn checkpoint(&self) -> Result<()> {
        if self.postgres {
            return Ok(());
        }
        let (_busy, log_frames, _copied): (i64, i64, i64) =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(counted::on_pool(self.relaxed()))
                .await?;
        if log_frames > WAL_RESTART_FRAMES {
            sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                .execute(counted::on_pool(self.relaxed()))
                .await?;
        }
        Ok(())
    }

    /// Gives Postgres fresh statistics on the engine's tables while they are young and
    /// growing fast (each time one has half as many rows again as when this process last
    /// analyzed it, up to a million; autovacuum looks once a minute and then waits for a tenth
    /// more). Planned without statistics, a new table looks tiny, and joins to it walk it
    /// whole; each analysis also makes the statements cached on every connection plan afresh.
    /// Growth, not churn, decides: a table kept small by retention changes its rows all the
    /// time without growing, and analyzing it over and over would keep cancelling the
    /// autovacuum that reclaims its dead rows (a waiting ANALYZE cancels it; this one never
    /// waits: `SKIP_LOCKED`).
    pub async fn analyze_young_tables(&self) -> Result<()> {
        if !self.postgres {
            return Ok(());
        }
        let tables: Vec<(String, i64)> = sqlx::query_as(
            "SELECT relname::text, n_live_tup FROM pg_stat_user_tables \
             WHERE relname IN ('events', 'deliveries', 'attempts')",
        )
        .fetch_all(counted::on_pool(self.relaxed()))
        .await?;
        for (table, live) in tables {
            let before = self.analyzed_at(&table);
            if young_and_grown(live, before) {
                // The table name comes from the fixed list above.
                sqlx::query(&format!("ANALYZE (SKIP_LOCKED) {table}"))
                    .execute(counted::on_pool(self.relaxed()))
                    .await?;
                self.analyzed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(table, live);
            }
        }
        Ok(())
    }

    /// How many rows `table` had when this process last analyzed it (0: never).
    fn analyzed_at(&self, table: &str) -> i64 {
        self.analyzed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(table)
            .copied()
            .unwrap_or(0)
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> bool {
        sqlx::query_scalar::<_, i64>("SELECT 1")
            .fetch_one(counted::on_pool(&self.pool))
            .await
            .is_ok()
    }

    /// Whether the store is Postgres (row locking differs).
    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    /// The pool for the worker's bookkeeping (see `relaxed`).
    pub(crate) fn relaxed(&self) -> &AnyPool {
        &self.relaxed
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The delivery engine writers' connections (see `engine`).
    pub(crate) fn engine(&self) -> &AnyPool {
        &self.engine
    }

    /// Changes whenever destinations or routes change (here, or on another replica once
    /// [`Store::poll_config_changes`] has seen it): caches of them compare it with theirs.
    pub fn config_epoch(&self) -> u64 {
        self.changes.epoch.load(Ordering::Acquire)
    }

    /// Tells this process's caches that destinations or routes changed (the caller bumped the
    /// database's change counter in its own transaction).
    pub(crate) fn note_config_change(&self) {
        self.changes.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Records that destinations, routes, workspaces or keys changed, for this process's
    /// caches at once and for other replicas through the database's change counter (read every
    /// 500 ms) and, on Postgres, a notice they hear at once (see [`Store::listen_for_changes`]).
    pub(crate) async fn config_changed(&self) -> Result<(), sqlx::Error> {
        self.note_config_change();
        sqlx::query("UPDATE config_changes SET generation = generation + 1 WHERE id = 1")
            .execute(counted::on_pool(self.pool()))
            .await?;
        if self.postgres {
            sqlx::query(NOTIFY_CHANGES)
                .execute(counted::on_pool(self.pool()))
                .await?;
        }
        Ok(())
    }

    /// On Postgres: hears other replicas' change notices, so caches drop what changed (a
    /// revoked key, an edited route) within milliseconds rather than at the next read of the
    /// change counter, which stays the safety net for notices missed while reconnecting.
    pub fn listen_for_changes(&self) {
        if !self.postgres {
            return;
        }
        let (url, changes) = (self.url.clone(), self.changes.clone());
        tokio::spawn(async move {
            loop {
                if let Ok(mut listener) = sqlx::postgres::PgListener::connect(&url).await
                    && listener.listen(CHANGES_CHANNEL).await.is_ok()
                {
                    // Reconnects by itself; an error ends this listener and a new one is made.
                    while listener.recv().await.is_ok() {
                        changes.epoch.fetch_add(1, Ordering::AcqRel);
                    }
                }
                tracing::debug!("the change listener stopped; listening again in a second");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
    }

    /// Reads the database's change counter; a change another replica made bumps
    /// [`Store::config_epoch`]. Returns whether it did.
    /// Also measures the database's clock for the queue (see [`crate::clock`]).
    pub async fn poll_config_changes(&self) -> Result<bool> {
        let sent = crate::clock::local_now_ms();
        let (generation, db_ms): (i64, i64) = sqlx::query_as(
            "SELECT generation, CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) \
             FROM config_changes WHERE id = 1",
        )
        .fetch_one(counted::on_pool(self.relaxed()))
        .await?;
        crate::clock::measured(db_ms, sent, crate::clock::local_now_ms());
        let before = self.changes.seen.swap(generation, Ordering::AcqRel);
        if before != generation {
            self.changes.epoch.fetch_add(1, Ordering::AcqRel);
        }
        Ok(before != generation)
    }
}

/// The Postgres channel replicas announce changes on.
const CHANGES_CHANNEL: &str = "courier_changes";
pub(super) const NOTIFY_CHANGES: &str = "SELECT pg_notify('courier_changes', '')";

/// Pages in SQLite's log past which a checkpoint starts it over (256 MiB of 4 KiB pages: each
/// restart pauses the writer while readers finish, so not too often).
const WAL_RESTART_FRAMES: i64 = 65_536;

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// Whether a table of `live` rows, `before` when this process last analyzed it, is still
/// young and has grown by half since.
fn young_and_grown(live: i64, before: i64) -> bool {
    const ENOUGH: i64 = 1_000;
    const GROWN_UP: i64 = 1_000_000;
    (ENOUGH..GROWN_UP).contains(&live) && live * 2 >= before * 3
}

#[cfg(test)]
mod tests {
    #[test]
    fn young_tables_are_analyzed_as_they_double() {
        assert!(!super::young_and_grown(500, 0), "too few rows to bother");
        assert!(super::young_and_grown(1_000, 0), "never analyzed");
        assert!(!super::young_and_grown(1_400, 1_000), "grown by little");
        assert!(super::young_and_grown(1_500, 1_000));
        assert!(
            !super::young_and_grown(50_000, 50_000),
            "kept small by retention: churn, not growth"
        );
        assert!(
            !super::young_and_grown(5_000_000, 1_000_000),
            "autovacuum's job"
        );
    }

    use super::redact_url;

    #[test]
    fn database_passwords_are_not_shown() {
        assert_eq!(
            redact_url("postgres://courier:hunter2@db:5432/courier"),
            "postgres://courier:***@db:5432/courier"
        );
        assert_eq!(redact_url("sqlite://./x.db"), "sqlite://./x.db");
    }
}

//! Destinations' rate limits, shared by replicas: one row per limited destination holding the
//! start times of its latest attempts (at most its burst), from which each replica reserves
//! start times for itself in blocks.

use anyhow::{Context, Result};

use super::{Store, counted};
use crate::delivery::throttle::{Limit, schedule};

impl Store {
    /// Reserves `want` attempt start times (queue clock, epoch ms, ascending, some perhaps in
    /// the future) for `destination_id` under `limit`, after every start already reserved by
    /// any replica and not before a pause its answers asked for.
    pub(crate) async fn reserve_starts(
        &self,
        destination_id: &str,
        limit: Limit,
        want: usize,
        now_ms: i64,
    ) -> Result<Vec<i64>> {
        use sqlx::{Connection, Row};
        let mut conn = self.pool().acquire().await?;
        let mut tx = conn.begin().await?;
        // Writing first makes this a write transaction from its start (SQLite), and the row
        // exists to be locked (Postgres).
        sqlx::query(
            "INSERT INTO destination_rates (destination_id, starts, not_before_ms) VALUES ($1, '[]', 0) \
             ON CONFLICT (destination_id) DO NOTHING",
        )
        .bind(destination_id)
        .execute(counted::on(&mut tx))
        .await?;
        let lock = if self.is_postgres() {
            " FOR UPDATE"
        } else {
            ""
        };
        let row = sqlx::query(&format!(
            "SELECT starts, not_before_ms FROM destination_rates WHERE destination_id = $1{lock}"
        ))
        .bind(destination_id)
        .fetch_one(counted::on(&mut tx))
        .await?;
        let stored: String = row.try_get("starts")?;
        let not_before_ms: i64 = row.try_get("not_before_ms")?;
        // A log this build cannot read (damaged) starts again: its destination may see one
        // burst early, once.
        let mut starts: Vec<i64> = serde_json::from_str(&stored).unwrap_or_default();
        let reserved = schedule(&mut starts, limit, want, now_ms.max(not_before_ms));
        sqlx::query("UPDATE destination_rates SET starts = $2 WHERE destination_id = $1")
            .bind(destination_id)
            .bind(serde_json::to_string(&starts).context("writing the start log")?)
            .execute(counted::on(&mut tx))
            .await?;
        counted::commit(tx).await?;
        Ok(reserved)
    }

    /// Holds a limited destination's attempts until `until_ms` on every replica (its answer
    /// asked for a pause: `Retry-After`).
    pub(crate) async fn pause_starts(&self, destination_id: &str, until_ms: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO destination_rates (destination_id, starts, not_before_ms) VALUES ($1, '[]', $2) \
             ON CONFLICT (destination_id) DO UPDATE SET not_before_ms = \
             CASE WHEN destination_rates.not_before_ms > $2 THEN destination_rates.not_before_ms ELSE $2 END",
        )
        .bind(destination_id)
        .bind(until_ms)
        .execute(counted::on_pool(self.pool()))
        .await?;
        Ok(())
    }
}

//! Forgetting old history: ended deliveries with their attempts, then events nothing live
//! refers to, created before a cutoff. Rows are found by id (UUIDv7: the id orders by creation
//! time, so the primary keys serve as the age index) in small batches, so pruning never holds
//! the database for long.

use anyhow::Result;

use super::{Store, counted};

/// What one batch removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub deliveries: u64,
    pub attempts: u64,
    pub events: u64,
}

/// The smallest UUIDv7 of millisecond `ms`: every id made before it sorts below it.
pub fn id_boundary(ms: i64) -> String {
    let ms = ms.max(0) as u64 & 0xffff_ffff_ffff;
    format!(
        "{:08x}-{:04x}-7000-8000-000000000000",
        ms >> 16,
        ms & 0xffff
    )
}

/// A delivery that has ended: only these are forgotten (a delivery still waiting or retrying,
/// however old, keeps its event and itself).
const ENDED: &str = "status IN ('delivered', 'failed')";
const LIVE: &str = "status IN ('pending', 'retry_scheduled', 'in_flight')";

impl Store {
    /// Removes up to `batch` ended deliveries created before `before_ms` with their attempts,
    /// and up to `batch` events created before it that no live delivery refers to.
    pub async fn prune_history(&self, before_ms: i64, batch: i64) -> Result<Pruned> {
        let boundary = id_boundary(before_ms);
        let mut tx = self.pool().begin().await?;
        let oldest =
            format!("SELECT id FROM deliveries WHERE id < $1 AND {ENDED} ORDER BY id LIMIT $2");
        let attempts = sqlx::query(&format!(
            "DELETE FROM attempts WHERE delivery_id IN ({oldest})"
        ))
        .bind(&boundary)
        .bind(batch)
        .execute(counted::on(&mut tx))
        .await?
        .rows_affected();
        let deliveries = sqlx::query(&format!("DELETE FROM deliveries WHERE id IN ({oldest})"))
            .bind(&boundary)
            .bind(batch)
            .execute(counted::on(&mut tx))
            .await?
            .rows_affected();
        // Events go once their ended deliveries (as old as they are) are gone; the deliveries
        // still older than the cutoff are then the live ones, which keep their events.
        let events = if deliveries < batch as u64 {
            sqlx::query(&format!(
                "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE id < $1 \
                 AND id NOT IN (SELECT event_id FROM deliveries WHERE id < $1 AND {LIVE}) \
                 ORDER BY id LIMIT $2)"
            ))
            .bind(&boundary)
            .bind(batch)
            .execute(counted::on(&mut tx))
            .await?
            .rows_affected()
        } else {
            0
        };
        counted::commit(tx).await?;
        Ok(Pruned {
            deliveries,
            attempts,
            events,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::id_boundary;

    #[test]
    fn the_boundary_sorts_between_ids_of_its_millisecond_and_before() {
        let at = |ms: u64| {
            let id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
                uuid::NoContext,
                ms / 1000,
                (ms % 1000) as u32 * 1_000_000,
            ));
            id.to_string()
        };
        let ms = 1_764_763_200_123_i64;
        let boundary = id_boundary(ms);
        assert!(
            at(ms as u64 - 1) < boundary,
            "{} {boundary}",
            at(ms as u64 - 1)
        );
        assert!(at(ms as u64) >= boundary);
        assert!(at(ms as u64 + 1) > boundary);
        assert_eq!(id_boundary(0), "00000000-0000-7000-8000-000000000000");
    }
}

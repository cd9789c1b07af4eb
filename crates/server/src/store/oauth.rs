//! OAuth state in the database: authorizations waiting for their redirect (by the hash of
//! their state, single use, expiring), and each destination's sealed tokens.

use anyhow::Result;
use sqlx::Row;

use super::{Store, counted};

/// An authorization started and not yet returned.
#[derive(Debug, Clone)]
pub struct PendingRow {
    /// SHA-256 of the state, hex: the state itself is a bearer secret and is not stored.
    pub state_hash: String,
    pub workspace_id: String,
    pub destination_id: String,
    pub verifier_sealed: String,
    pub redirect_uri: String,
    /// Where the browser goes once the callback is done (a front end), if anywhere.
    pub return_to: Option<String>,
    pub expires_ms: i64,
    /// The key that started it (id, name), for the audit log's record of the connection.
    pub started_by: Option<(String, String)>,
}

impl Store {
    /// Stores a pending authorization, dropping the expired ones.
    pub async fn insert_oauth_pending(&self, p: &PendingRow, now_ms: i64) -> Result<()> {
        sqlx::query("DELETE FROM oauth_pending WHERE expires_ms < $1")
            .bind(now_ms)
            .execute(counted::on_pool(self.pool()))
            .await?;
        sqlx::query(
            "INSERT INTO oauth_pending (state_hash, workspace_id, destination_id, verifier_sealed, redirect_uri, return_to, expires_ms, started_by_id, started_by_name) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&p.state_hash)
        .bind(&p.workspace_id)
        .bind(&p.destination_id)
        .bind(&p.verifier_sealed)
        .bind(&p.redirect_uri)
        .bind(&p.return_to)
        .bind(p.expires_ms)
        .bind(p.started_by.as_ref().map(|(id, _)| id))
        .bind(p.started_by.as_ref().map(|(_, name)| name))
        .execute(counted::on_pool(self.pool()))
        .await?;
        Ok(())
    }

    /// Takes the pending authorization with this state hash: it can be completed once.
    pub async fn take_oauth_pending(&self, state_hash: &str) -> Result<Option<PendingRow>> {
        let row = sqlx::query(
            "DELETE FROM oauth_pending WHERE state_hash = $1 RETURNING state_hash, workspace_id, destination_id, verifier_sealed, redirect_uri, return_to, expires_ms, started_by_id, started_by_name",
        )
        .bind(state_hash)
        .fetch_optional(counted::on_pool(self.pool()))
        .await?;
        row.map(|r| {
            Ok(PendingRow {
                state_hash: r.try_get("state_hash")?,
                workspace_id: r.try_get("workspace_id")?,
                destination_id: r.try_get("destination_id")?,
                verifier_sealed: r.try_get("verifier_sealed")?,
                redirect_uri: r.try_get("redirect_uri")?,
                return_to: r.try_get("return_to")?,
                expires_ms: r.try_get("expires_ms")?,
                started_by: r
                    .try_get::<Option<String>, _>("started_by_id")?
                    .zip(r.try_get::<Option<String>, _>("started_by_name")?),
            })
        })
        .transpose()
    }

    /// A destination's sealed OAuth tokens.
    pub async fn oauth_tokens(&self, destination_id: &str) -> Result<Option<String>> {
        let sealed: Option<Option<String>> =
            sqlx::query_scalar("SELECT oauth_tokens_sealed FROM destinations WHERE id = $1")
                .bind(destination_id)
                .fetch_optional(counted::on_pool(self.pool()))
                .await?;
        Ok(sealed.flatten())
    }

    /// Replaces (or with `None` forgets) a destination's sealed OAuth tokens. Only this column
    /// is written, so a concurrent edit of the destination is neither lost nor blocked.
    pub async fn save_oauth_tokens(
        &self,
        destination_id: &str,
        sealed: Option<&str>,
    ) -> Result<()> {
        sqlx::query("UPDATE destinations SET oauth_tokens_sealed = $2 WHERE id = $1")
            .bind(destination_id)
            .bind(sealed)
            .execute(counted::on_pool(self.pool()))
            .await?;
        Ok(())
    }
}

//! Portal sessions in the database: found by the SHA-256 of their one-time URL token until it
//! is exchanged (once: an atomic update), then by that of their cookie's secret; expiring, and
//! ending with the key that made them (revoked, expired, or no longer admin or operator).

use anyhow::Result;
use sqlx::Row;

use super::api_keys::rfc3339_ms;
use super::{Store, counted};

/// A portal session as stored (the secrets only as hashes, which are not part of it).
#[derive(Debug, Clone)]
pub struct PortalSessionRow {
    pub id: String,
    pub workspace_id: String,
    /// What the session may do, as JSON (see `api::capabilities::PortalScope`).
    pub capabilities: String,
    /// How the portal looks, as JSON.
    pub theme: String,
    pub return_url: Option<String>,
    /// The key that made it (id, name).
    pub created_by_id: String,
    pub created_by_name: String,
    pub created_at: String,
    /// The one-time token must be exchanged before this (Unix ms).
    pub token_expires_ms: i64,
    /// The session ends at this (Unix ms).
    pub expires_ms: i64,
}

/// A live session, as its cookie finds it.
#[derive(Debug, Clone)]
pub struct PortalSession {
    pub row: PortalSessionRow,
}

const COLUMNS: &str = "id, workspace_id, capabilities, theme, return_url, created_by_id, \
     created_by_name, created_at, token_expires_ms, expires_ms";

fn row_of(r: &sqlx::any::AnyRow) -> Result<PortalSessionRow> {
    Ok(PortalSessionRow {
        id: r.try_get("id")?,
        workspace_id: r.try_get("workspace_id")?,
        capabilities: r.try_get("capabilities")?,
        theme: r.try_get("theme")?,
        return_url: r.try_get("return_url")?,
        created_by_id: r.try_get("created_by_id")?,
        created_by_name: r.try_get("created_by_name")?,
        created_at: r.try_get("created_at")?,
        token_expires_ms: r.try_get("token_expires_ms")?,
        expires_ms: r.try_get("expires_ms")?,
    })
}

impl Store {
    /// Stores a new session waiting for its token (`token_hash`) to be exchanged, dropping
    /// the sessions that have ended.
    pub async fn insert_portal_session(
        &self,
        row: &PortalSessionRow,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<()> {
        sqlx::query("DELETE FROM portal_sessions WHERE expires_ms < $1")
            .bind(now_ms)
            .execute(counted::on_pool(self.pool()))
            .await?;
        sqlx::query(&format!(
            "INSERT INTO portal_sessions ({COLUMNS}, token_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&row.id)
        .bind(&row.workspace_id)
        .bind(&row.capabilities)
        .bind(&row.theme)
        .bind(&row.return_url)
        .bind(&row.created_by_id)
        .bind(&row.created_by_name)
        .bind(&row.created_at)
        .bind(row.token_expires_ms)
        .bind(row.expires_ms)
        .bind(token_hash)
        .execute(counted::on_pool(self.pool()))
        .await?;
        Ok(())
    }

    /// The session whose one-time token hashes to `token_hash`, while the token may still be
    /// exchanged (nothing is changed: the exchange itself takes it).
    pub async fn pending_portal_session(
        &self,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<Option<PortalSessionRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM portal_sessions \
             WHERE token_hash = $1 AND token_expires_ms > $2 AND expires_ms > $2"
        ))
        .bind(token_hash)
        .bind(now_ms)
        .fetch_optional(counted::on_pool(self.pool()))
        .await?;
        row.as_ref().map(row_of).transpose()
    }

    /// Trades a one-time token for a session secret: the token (by its hash) is cleared and
    /// the secret's hash set in one statement, so a token works once, on any replica. `None`
    /// for a token unknown, used, or past its deadline.
    pub async fn exchange_portal_token(
        &self,
        token_hash: &str,
        session_hash: &str,
        now_ms: i64,
    ) -> Result<Option<PortalSessionRow>> {
        let row = sqlx::query(&format!(
            "UPDATE portal_sessions SET token_hash = NULL, session_hash = $2 \
             WHERE token_hash = $1 AND token_expires_ms > $3 AND expires_ms > $3 \
             RETURNING {COLUMNS}"
        ))
        .bind(token_hash)
        .bind(session_hash)
        .bind(now_ms)
        .fetch_optional(counted::on_pool(self.pool()))
        .await?;
        row.as_ref().map(row_of).transpose()
    }

    /// The live session whose cookie secret hashes to `session_hash`: not ended, and its
    /// creator's key still there, unexpired, and admin or operator.
    pub async fn portal_session(
        &self,
        session_hash: &str,
        now_ms: i64,
    ) -> Result<Option<PortalSession>> {
        let row = sqlx::query(&format!(
            "SELECT {}, k.expires_at AS key_expires_at FROM portal_sessions p \
             JOIN api_keys k ON k.id = p.created_by_id AND k.role IN ('admin', 'operator') \
             WHERE p.session_hash = $1 AND p.expires_ms > $2",
            COLUMNS
                .split(", ")
                .map(|c| format!("p.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .bind(session_hash)
        .bind(now_ms)
        .fetch_optional(counted::on_pool(self.pool()))
        .await?;
        let Some(r) = row else { return Ok(None) };
        let key_expires: Option<String> = r.try_get("key_expires_at")?;
        // An expiry that cannot be read has passed.
        if key_expires.is_some_and(|at| rfc3339_ms(&at).unwrap_or(0) <= now_ms) {
            return Ok(None);
        }
        Ok(Some(PortalSession { row: row_of(&r)? }))
    }

    /// Ends the session whose cookie secret hashes to `session_hash`.
    pub async fn end_portal_session(&self, session_hash: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM portal_sessions WHERE session_hash = $1")
            .bind(session_hash)
            .execute(counted::on_pool(self.pool()))
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

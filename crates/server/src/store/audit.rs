//! The audit log: every change made through the API (who, what, to which resource, how it
//! ended, under which request id), per workspace, newest first. It holds names and ids only:
//! no request body, so no secret or payload, ever reaches it.

use anyhow::Result;
use sqlx::Row;

use super::retention::id_boundary;
use super::{Store, counted};

/// One recorded change.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct AuditEntry {
    pub id: String,
    pub workspace_id: String,
    #[schemars(with = "crate::api::model::Timestamp")]
    pub at: String,
    pub key_id: String,
    pub key_name: String,
    /// What was done, such as `destination.update`.
    pub action: String,
    /// The id of what it was done to, when there is one.
    pub resource_id: Option<String>,
    /// `succeeded`, `denied` (403) or `failed` (any other error).
    #[schemars(with = "crate::api::audit::Outcome")]
    pub outcome: String,
    /// The HTTP status the change was answered with.
    pub status: i64,
    pub request_id: Option<String>,
}

/// Which entries to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub key_id: Option<String>,
    pub resource_id: Option<String>,
    pub outcome: Option<String>,
    /// Entries older than this id (the previous page's cursor).
    pub before: Option<String>,
}

impl Store {
    pub async fn record_audit(&self, entry: &AuditEntry) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (id, workspace_id, at, key_id, key_name, action, resource_id, outcome, status, request_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&entry.id)
        .bind(&entry.workspace_id)
        .bind(&entry.at)
        .bind(&entry.key_id)
        .bind(&entry.key_name)
        .bind(&entry.action)
        .bind(&entry.resource_id)
        .bind(&entry.outcome)
        .bind(entry.status)
        .bind(&entry.request_id)
        .execute(counted::on_pool(self.pool()))
        .await?;
        Ok(())
    }

    /// A workspace's entries, newest first, `limit` at most.
    pub async fn audit_log(
        &self,
        workspace_id: &str,
        filter: &AuditFilter,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, workspace_id, at, key_id, key_name, action, resource_id, outcome, status, request_id \
             FROM audit_log WHERE workspace_id = $1 \
             AND ($2 IS NULL OR action = $2) AND ($3 IS NULL OR key_id = $3) \
             AND ($4 IS NULL OR resource_id = $4) AND ($5 IS NULL OR outcome = $5) \
             AND ($6 IS NULL OR id < $6) \
             ORDER BY id DESC LIMIT $7",
        )
        .bind(workspace_id)
        .bind(&filter.action)
        .bind(&filter.key_id)
        .bind(&filter.resource_id)
        .bind(&filter.outcome)
        .bind(&filter.before)
        .bind(limit)
        .fetch_all(counted::on_pool(self.pool()))
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    workspace_id: r.try_get("workspace_id")?,
                    at: r.try_get("at")?,
                    key_id: r.try_get("key_id")?,
                    key_name: r.try_get("key_name")?,
                    action: r.try_get("action")?,
                    resource_id: r.try_get("resource_id")?,
                    outcome: r.try_get("outcome")?,
                    status: r.try_get("status")?,
                    request_id: r.try_get("request_id")?,
                })
            })
            .collect()
    }

    /// Removes up to `batch` entries recorded before `before_ms`; how many.
    pub async fn prune_audit(&self, before_ms: i64, batch: i64) -> Result<u64> {
        let deleted = sqlx::query(
            "DELETE FROM audit_log WHERE id IN \
             (SELECT id FROM audit_log WHERE id < $1 ORDER BY id LIMIT $2)",
        )
        .bind(id_boundary(before_ms))
        .bind(batch)
        .execute(counted::on_pool(self.pool()))
        .await?
        .rows_affected();
        Ok(deleted)
    }
}

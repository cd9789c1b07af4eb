//! Destinations as stored: config and policy as JSON text, secrets sealed (see `crypto`).

use anyhow::{Context, Result};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, counted};

/// One destination row. Sealed columns hold ciphertext only.
#[derive(Debug, Clone, PartialEq)]
pub struct DestinationRow {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub slug: String,
    pub destination_type: String,
    pub config: Value,
    pub auth_config_sealed: Option<String>,
    pub signing_secret_sealed: Option<String>,
    pub previous_secret_sealed: Option<String>,
    pub previous_secret_expires_at: Option<String>,
    pub status: String,
    pub status_error: String,
    pub is_active: bool,
    pub payload_cap_bytes: Option<i64>,
    pub policy: Value,
    pub permissions: Value,
    pub event_count: i64,
    pub last_delivery_at: Option<String>,
    pub last_delivery_status: Option<String>,
    pub created_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Whether OAuth tokens are stored (read-only here: the token store writes them).
    pub has_oauth_tokens: bool,
    /// Deliveries that ended failed, and since when it has been failing (read-only here: the
    /// delivery statistics write them).
    pub failed_count: i64,
    pub failing_since: Option<String>,
}

const COLUMNS: &str = "id, workspace_id, name, slug, destination_type, config, auth_config_sealed, \
    signing_secret_sealed, previous_secret_sealed, previous_secret_expires_at, status, status_error, \
    is_active, payload_cap_bytes, policy, permissions, event_count, last_delivery_at, \
    last_delivery_status, created_by, created_at, updated_at";

/// What reads select: the columns, and whether tokens are stored (never the tokens).
fn select_columns() -> String {
    format!(
        "{COLUMNS}, CASE WHEN oauth_tokens_sealed IS NULL THEN 0 ELSE 1 END AS has_oauth_tokens, \
         failed_count, failing_since"
    )
}

fn json(row: &AnyRow, column: &str) -> Result<Value> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).with_context(|| format!("stored {column} is not JSON"))
}

fn from_row(r: AnyRow) -> Result<DestinationRow> {
    Ok(DestinationRow {
        id: r.try_get("id")?,
        workspace_id: r.try_get("workspace_id")?,
        name: r.try_get("name")?,
        slug: r.try_get("slug")?,
        destination_type: r.try_get("destination_type")?,
        config: json(&r, "config")?,
        auth_config_sealed: r.try_get("auth_config_sealed")?,
        signing_secret_sealed: r.try_get("signing_secret_sealed")?,
        previous_secret_sealed: r.try_get("previous_secret_sealed")?,
        previous_secret_expires_at: r.try_get("previous_secret_expires_at")?,
        status: r.try_get("status")?,
        status_error: r.try_get("status_error")?,
        is_active: r.try_get::<i64, _>("is_active")? != 0,
        payload_cap_bytes: r.try_get("payload_cap_bytes")?,
        policy: json(&r, "policy")?,
        permissions: json(&r, "permissions")?,
        event_count: r.try_get("event_count")?,
        last_delivery_at: r.try_get("last_delivery_at")?,
        last_delivery_status: r.try_get("last_delivery_status")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        has_oauth_tokens: r.try_get::<i64, _>("has_oauth_tokens")? != 0,
        failed_count: r.try_get("failed_count")?,
        failing_since: r.try_get("failing_since")?,
    })
}

/// Which destinations a list shows.
#[derive(Debug, Clone, Default)]
pub struct DestinationFilter {
    pub destination_type: Option<String>,
    pub status: Option<String>,
    /// Part of the name, any case.
    pub name_contains: Option<String>,
    /// Destinations after this id (the previous page's cursor).
    pub after: Option<String>,
    /// Only these types (a portal session's), when set.
    pub types: Option<Vec<String>>,
}

/// A list of destination types as one SQL parameter (`,a,b,`; `''` for no limit), matched
/// by [`type_in_list`].
pub fn type_list(types: Option<&[String]>) -> String {
    match types {
        None => String::new(),
        Some(types) => format!(",{},", types.join(",")),
    }
}

/// SQL true when `column` is a type in the list bound as `param` (or the list is `''`). A
/// type's `_` is escaped: in LIKE it would match any character.
pub fn type_in_list(column: &str, param: &str) -> String {
    format!(
        "({param} = '' OR {param} LIKE '%,' || REPLACE({column}, '_', '\\_') || ',%' ESCAPE '\\')"
    )
}

impl Store {
    /// One page of a workspace's destinations, by id.
    pub async fn destinations_page(
        &self,
        workspace_id: &str,
        filter: &DestinationFilter,
        limit: i64,
    ) -> Result<Vec<DestinationRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM destinations WHERE workspace_id = $1 \
             AND ($2 = '' OR destination_type = $2) AND ($3 = '' OR status = $3) \
             AND ($4 = '' OR LOWER(name) LIKE LOWER($4) ESCAPE '\\') AND ($5 = '' OR id > $5) \
             AND {} ORDER BY id LIMIT $6",
            select_columns(),
            type_in_list("destination_type", "$7")
        ))
        .bind(workspace_id)
        .bind(filter.destination_type.as_deref().unwrap_or_default())
        .bind(filter.status.as_deref().unwrap_or_default())
        .bind(
            filter
                .name_contains
                .as_deref()
                .map(super::routes::contains_pattern)
                .unwrap_or_default(),
        )
        .bind(filter.after.as_deref().unwrap_or_default())
        .bind(limit)
        .bind(type_list(filter.types.as_deref()))
        .fetch_all(counted::on_pool(self.pool()))
        .await?;
        rows.into_iter().map(from_row).collect()
    }

    pub async fn list_destinations(&self, workspace_id: &str) -> Result<Vec<DestinationRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM destinations WHERE workspace_id = $1 ORDER BY id",
            select_columns()
        ))
        .bind(workspace_id)
        .fetch_all(counted::on_pool(self.pool()))
        .await?;
        rows.into_iter().map(from_row).collect()
    }

    /// The destination with `id` in `workspace_id` (another workspace's is not found).
    pub async fn destination(
        &self,
        workspace_id: &str,
        id: &str,
    ) -> Result<Option<DestinationRow>> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM destinations WHERE workspace_id = $1 AND id = $2",
            select_columns()
        ))
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(counted::on_pool(self.pool()))
        .await?;
        row.map(from_row).transpose()
    }

    /// Whether another destination of the workspace already has this name or slug.
    pub async fn name_taken(
        &self,
        workspace_id: &str,
        name: &str,
        slug: &str,
        except_id: &str,
    ) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM destinations WHERE workspace_id = $1 AND (name = $2 OR slug = $3) AND id <> $4",
        )
        .bind(workspace_id)
        .bind(name)
        .bind(slug)
        .bind(except_id)
        .fetch_one(counted::on_pool(self.pool()))
        .await?;
        Ok(n > 0)
    }

    pub async fn insert_destination(&self, d: &DestinationRow) -> Result<(), super::WriteError> {
        sqlx::query(&format!(
            "INSERT INTO destinations ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)"
        ))
        .bind(&d.id)
        .bind(&d.workspace_id)
        .bind(&d.name)
        .bind(&d.slug)
        .bind(&d.destination_type)
        .bind(d.config.to_string())
        .bind(&d.auth_config_sealed)
        .bind(&d.signing_secret_sealed)
        .bind(&d.previous_secret_sealed)
        .bind(&d.previous_secret_expires_at)
        .bind(&d.status)
        .bind(&d.status_error)
        .bind(i64::from(d.is_active))
        .bind(d.payload_cap_bytes)
        .bind(d.policy.to_string())
        .bind(d.permissions.to_string())
        .bind(d.event_count)
        .bind(&d.last_delivery_at)
        .bind(&d.last_delivery_status)
        .bind(&d.created_by)
        .bind(&d.created_at)
        .bind(&d.updated_at)
        .execute(counted::on_pool(self.pool()))
        .await?;
        self.config_changed().await?;
        Ok(())
    }

    /// Writes every mutable column of `d` if the row is still as it was read (`read_at` is the
    /// `updated_at` read); false when something else changed it meanwhile (a test, the worker
    /// suspending it, another request). A person's edit also restarts the failing clock.
    pub async fn update_destination(
        &self,
        d: &DestinationRow,
        read_at: &str,
    ) -> Result<bool, super::WriteError> {
        let changed = sqlx::query(
            "UPDATE destinations SET name = $3, slug = $4, config = $5, auth_config_sealed = $6, \
             signing_secret_sealed = $7, previous_secret_sealed = $8, previous_secret_expires_at = $9, \
             status = $10, status_error = $11, is_active = $12, payload_cap_bytes = $13, policy = $14, \
             permissions = $15, updated_at = $16, failing_since = NULL \
             WHERE workspace_id = $1 AND id = $2 AND updated_at = $17",
        )
        .bind(&d.workspace_id)
        .bind(&d.id)
        .bind(&d.name)
        .bind(&d.slug)
        .bind(d.config.to_string())
        .bind(&d.auth_config_sealed)
        .bind(&d.signing_secret_sealed)
        .bind(&d.previous_secret_sealed)
        .bind(&d.previous_secret_expires_at)
        .bind(&d.status)
        .bind(&d.status_error)
        .bind(i64::from(d.is_active))
        .bind(d.payload_cap_bytes)
        .bind(d.policy.to_string())
        .bind(d.permissions.to_string())
        .bind(&d.updated_at)
        .bind(read_at)
        .execute(counted::on_pool(self.pool()))
        .await
        .map(|done| done.rows_affected() > 0)?;
        if changed {
            self.config_changed().await?;
        }
        Ok(changed)
    }

    /// Records a connection test's result.
    pub async fn set_destination_status(
        &self,
        workspace_id: &str,
        id: &str,
        status: &str,
        error: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE destinations SET status = $3, status_error = $4, updated_at = $5 WHERE workspace_id = $1 AND id = $2",
        )
        .bind(workspace_id)
        .bind(id)
        .bind(status)
        .bind(error)
        .bind(crate::ids::now())
        .execute(counted::on_pool(self.pool()))
        .await?;
        self.config_changed().await?;
        Ok(())
    }

    /// Takes a destination out of delivery with a reason (a 410 from the target, a revoked
    /// grant): `disabled` or `reauth_required`.
    /// Takes a destination out of delivery, unless it changed since `built_at` (its
    /// `updated_at` when the failing attempts' client was built): a fixed destination is not
    /// suspended for what its old config did.
    pub async fn suspend_destination(
        &self,
        id: &str,
        status: &str,
        reason: &str,
        built_at: &str,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE destinations SET status = $2, status_error = $3, is_active = CASE WHEN $2 = 'disabled' THEN 0 ELSE is_active END, updated_at = $4 WHERE id = $1 AND updated_at = $5",
        )
        .bind(id)
        .bind(status)
        .bind(reason)
        .bind(crate::ids::now())
        .bind(built_at)
        .execute(counted::on_pool(self.pool()))
        .await?;
        if done.rows_affected() > 0 {
            self.config_changed().await?;
        }
        Ok(())
    }

    /// Since when the destination has been failing without a success in between (`None`: its
    /// last attempt succeeded, or it was re-enabled or reconfigured since).
    pub async fn failing_since(&self, id: &str) -> Result<Option<String>> {
        let since: Option<Option<String>> =
            sqlx::query_scalar("SELECT failing_since FROM destinations WHERE id = $1")
                .bind(id)
                .fetch_optional(counted::on_pool(self.pool()))
                .await?;
        Ok(since.flatten())
    }

    /// A destination by id alone (workers deliver for every workspace).
    pub async fn destination_by_id(&self, id: &str) -> Result<Option<DestinationRow>> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM destinations WHERE id = $1",
            select_columns()
        ))
        .bind(id)
        .fetch_optional(counted::on_pool(self.pool()))
        .await?;
        row.map(from_row).transpose()
    }

    /// Deletes a destination; false when there was none.
    pub async fn delete_destination(&self, workspace_id: &str, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM destinations WHERE workspace_id = $1 AND id = $2")
            .bind(workspace_id)
            .bind(id)
            .execute(counted::on_pool(self.pool()))
            .await?;
        self.config_changed().await?;
        Ok(done.rows_affected() > 0)
    }
}

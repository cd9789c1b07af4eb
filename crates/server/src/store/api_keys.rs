//! API keys: stored by their SHA-256 (the key itself is shown once, at creation) with a short
//! visible prefix, a role, an optional expiry and when they were last used.

use anyhow::Result;
use sqlx::Row;

use super::{Role, Store, counted};
use crate::ids;

/// A stored key: never its value.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct ApiKey {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub role: Role,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    #[schemars(with = "crate::api::model::Timestamp")]
    pub created_at: String,
    #[schemars(with = "Option<crate::api::model::Timestamp>")]
    pub expires_at: Option<String>,
    /// When it was last used (written at most once a minute).
    #[schemars(with = "Option<crate::api::model::Timestamp>")]
    pub last_used_at: Option<String>,
    /// `expires_at` in Unix milliseconds, for the check on every request.
    #[serde(skip)]
    pub expires_ms: Option<i64>,
}

/// A key to create: its name, role and expiry (RFC 3339), checked by the caller.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub name: String,
    pub role: Role,
    pub expires_at: Option<String>,
}

/// Fields to change on a key (`None`: unchanged; `expires_at: Some(None)` removes the expiry).
#[derive(Debug, Clone, Default)]
pub struct KeyChange {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub expires_at: Option<Option<String>>,
}

const KEY_COLUMNS: &str =
    "id, workspace_id, name, role, key_prefix, created_at, expires_at, last_used_at";

/// Milliseconds since the Unix epoch of an RFC 3339 time.
pub fn rfc3339_ms(text: &str) -> Option<i64> {
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

fn key_of(r: &sqlx::any::AnyRow) -> Result<Option<ApiKey>> {
    let role: String = r.try_get("role")?;
    // A role this build does not know grants nothing.
    let Some(role) = Role::parse(&role) else {
        return Ok(None);
    };
    let expires_at: Option<String> = r.try_get("expires_at")?;
    Ok(Some(ApiKey {
        id: r.try_get("id")?,
        workspace_id: r.try_get("workspace_id")?,
        name: r.try_get("name")?,
        role,
        prefix: r.try_get("key_prefix")?,
        created_at: r.try_get("created_at")?,
        // An expiry that cannot be read has passed.
        expires_ms: expires_at.as_deref().map(|t| rfc3339_ms(t).unwrap_or(0)),
        expires_at,
        last_used_at: r.try_get("last_used_at")?,
    }))
}

impl Store {
    /// Stores a key (by its hash) for `workspace_id`.
    pub async fn add_api_key(
        &self,
        workspace_id: &str,
        name: &str,
        role: Role,
        key: &str,
        expires_at: Option<&str>,
    ) -> Result<ApiKey> {
        let stored = ApiKey {
            id: ids::new_id(),
            workspace_id: workspace_id.to_string(),
            name: name.to_string(),
            role,
            prefix: key.chars().take(12).collect(),
            created_at: ids::now(),
            expires_at: expires_at.map(str::to_string),
            expires_ms: expires_at.and_then(rfc3339_ms),
            last_used_at: None,
        };
        sqlx::query(
            "INSERT INTO api_keys (id, workspace_id, name, role, key_hash, key_prefix, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&stored.id)
        .bind(&stored.workspace_id)
        .bind(&stored.name)
        .bind(role.as_str())
        .bind(ids::hash_api_key(key))
        .bind(&stored.prefix)
        .bind(&stored.created_at)
        .bind(&stored.expires_at)
        .execute(counted::on_pool(self.pool()))
        .await?;
        Ok(stored)
    }

    /// The key with this value, if any.
    pub async fn api_key(&self, key: &str) -> Result<Option<ApiKey>> {
        let row = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1"
        ))
        .bind(ids::hash_api_key(key))
        .fetch_optional(counted::on_pool(self.pool()))
        .await?;
        Ok(row.as_ref().map(key_of).transpose()?.flatten())
    }

    /// A workspace's keys, oldest first.
    /// A page of a workspace's keys by id (ids are UUIDv7: oldest first), after `after`, of
    /// one role when asked.
    pub async fn api_keys(
        &self,
        workspace_id: &str,
        role: Option<Role>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ApiKey>> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE workspace_id = $1 AND ($2 = '' OR role = $2) \
             AND ($3 = '' OR id > $3) ORDER BY id LIMIT $4"
        ))
        .bind(workspace_id)
        .bind(role.map(Role::as_str).unwrap_or_default())
        .bind(after.unwrap_or_default())
        .bind(limit)
        .fetch_all(counted::on_pool(self.pool()))
        .await?;
        Ok(rows
            .iter()
            .map(key_of)
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect())
    }

    /// One key of a workspace, by id.
    pub async fn api_key_by_id(&self, workspace_id: &str, id: &str) -> Result<Option<ApiKey>> {
        let row = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE workspace_id = $1 AND id = $2"
        ))
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(counted::on_pool(self.pool()))
        .await?;
        Ok(row.as_ref().map(key_of).transpose()?.flatten())
    }

    /// Applies `change` to a key; it as it now is. Caches here and on other replicas drop
    /// what they hold of keys.
    pub async fn update_api_key(
        &self,
        workspace_id: &str,
        id: &str,
        change: &KeyChange,
    ) -> Result<Option<ApiKey>> {
        let Some(mut key) = self.api_key_by_id(workspace_id, id).await? else {
            return Ok(None);
        };
        // The portal sessions a key made end for good when it may no longer make them, or
        // when it had expired: promoting it again, or giving it a later expiry, does not bring
        // them back.
        let had_expired = key.expires_ms.is_some_and(|at| at <= ids::now_ms());
        let demoted = change
            .role
            .is_some_and(|r| !matches!(r, Role::Admin | Role::Operator));
        let ends_sessions = demoted || (had_expired && change.expires_at.is_some());
        if let Some(name) = &change.name {
            key.name = name.clone();
        }
        if let Some(role) = change.role {
            key.role = role;
        }
        if let Some(expires_at) = &change.expires_at {
            key.expires_ms = expires_at.as_deref().and_then(rfc3339_ms);
            key.expires_at = expires_at.clone();
        }
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE api_keys SET name = $1, role = $2, expires_at = $3 WHERE id = $4")
            .bind(&key.name)
            .bind(key.role.as_str())
            .bind(&key.expires_at)
            .bind(&key.id)
            .execute(counted::on(&mut tx))
            .await?;
        if ends_sessions {
            sqlx::query("DELETE FROM portal_sessions WHERE created_by_id = $1")
                .bind(&key.id)
                .execute(counted::on(&mut tx))
                .await?;
        }
        counted::commit(tx).await?;
        self.config_changed().await?;
        Ok(Some(key))
    }

    /// Revokes a key: it stops working here at once and on other replicas within the change
    /// poll. Whether there was one.
    pub async fn delete_api_key(&self, workspace_id: &str, id: &str) -> Result<bool> {
        let deleted = sqlx::query("DELETE FROM api_keys WHERE workspace_id = $1 AND id = $2")
            .bind(workspace_id)
            .bind(id)
            .execute(counted::on_pool(self.pool()))
            .await?
            .rows_affected();
        self.config_changed().await?;
        Ok(deleted > 0)
    }

    /// Records that a key was used (the caller writes at most once a minute per key).
    pub async fn touch_api_key(&self, id: &str, at: &str) -> Result<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(counted::on_pool(self.relaxed()))
            .await?;
        Ok(())
    }
}

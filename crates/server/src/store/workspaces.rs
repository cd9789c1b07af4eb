//! Workspaces and the API keys scoped to them (stored hashed, shown once).

use anyhow::Result;
use sqlx::Row;

use super::{Store, counted};
use crate::ids;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    pub created_at: String,
}

/// What a key may do in its workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
}

/// A stored key: never its value.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub role: Role,
}

impl Store {
    /// A stored setting.
    pub async fn setting(&self, name: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                .bind(name)
                .fetch_optional(counted::on_pool(self.pool()))
                .await?,
        )
    }

    /// Stores a setting unless it is already set; returns the value in force.
    pub async fn setting_or_insert(&self, name: &str, value: &str) -> Result<String> {
        if let Some(existing) = self.setting(name).await? {
            return Ok(existing);
        }
        let inserted = sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2)")
            .bind(name)
            .bind(value)
            .execute(counted::on_pool(self.pool()))
            .await;
        match inserted {
            Ok(_) => Ok(value.to_string()),
            // Another replica stored it first.
            Err(_) => self
                .setting(name)
                .await?
                .ok_or_else(|| anyhow::anyhow!("cannot store the {name} setting")),
        }
    }

    pub async fn workspace_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM workspaces")
            .fetch_one(counted::on_pool(self.pool()))
            .await?)
    }

    pub async fn create_workspace(&self, name: &str) -> Result<Workspace> {
        let w = Workspace {
            id: ids::new_id(),
            name: name.to_string(),
            created_at: ids::now(),
        };
        sqlx::query("INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&w.id)
            .bind(&w.name)
            .bind(&w.created_at)
            .execute(counted::on_pool(self.pool()))
            .await?;
        Ok(w)
    }

    pub async fn workspace(&self, id: &str) -> Result<Option<Workspace>> {
        let row = sqlx::query("SELECT id, name, created_at FROM workspaces WHERE id = $1")
            .bind(id)
            .fetch_optional(counted::on_pool(self.pool()))
            .await?;
        row.map(|r| {
            Ok(Workspace {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .transpose()
    }

    /// Stores a key (by its hash) for `workspace_id`.
    pub async fn add_api_key(
        &self,
        workspace_id: &str,
        name: &str,
        role: Role,
        key: &str,
    ) -> Result<ApiKey> {
        let stored = ApiKey {
            id: ids::new_id(),
            workspace_id: workspace_id.to_string(),
            name: name.to_string(),
            role,
        };
        sqlx::query(
            "INSERT INTO api_keys (id, workspace_id, name, role, key_hash, key_prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&stored.id)
        .bind(&stored.workspace_id)
        .bind(&stored.name)
        .bind(role.as_str())
        .bind(ids::hash_api_key(key))
        .bind(key.chars().take(7).collect::<String>())
        .bind(ids::now())
        .execute(counted::on_pool(self.pool()))
        .await?;
        Ok(stored)
    }

    /// The key with this value, if any.
    pub async fn api_key(&self, key: &str) -> Result<Option<ApiKey>> {
        let row =
            sqlx::query("SELECT id, workspace_id, name, role FROM api_keys WHERE key_hash = $1")
                .bind(ids::hash_api_key(key))
                .fetch_optional(counted::on_pool(self.pool()))
                .await?;
        row.map(|r| {
            let role: String = r.try_get("role")?;
            Ok(ApiKey {
                id: r.try_get("id")?,
                workspace_id: r.try_get("workspace_id")?,
                name: r.try_get("name")?,
                role: Role::parse(&role).unwrap_or(Role::Member),
            })
        })
        .transpose()
    }
}

//! Workspaces (the host's tenants) and the roles keys hold in them.

use anyhow::Result;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Store, counted};
use crate::ids;

/// A workspace: one of the host's tenants.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    /// The host's own id for this tenant; unique where set.
    pub external_id: Option<String>,
    /// Free-form JSON the host keeps with it.
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    pub metadata: serde_json::Value,
    /// Its own limits, over the operator's defaults.
    pub limits: Limits,
    #[schemars(with = "crate::api::model::Timestamp")]
    pub created_at: String,
    #[schemars(with = "crate::api::model::Timestamp")]
    pub updated_at: String,
}

/// A workspace's own limits (each absent: the operator's default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Destinations it may hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u64", range(max = 1_000_000_000))]
    pub max_destinations: Option<u64>,
    /// Routes it may hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u64", range(max = 1_000_000_000))]
    pub max_routes: Option<u64>,
    /// Events per second for the whole workspace (fractions allowed; 0: no workspace limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "f64", range(min = 0, max = 1_000_000_000))]
    pub events_per_second: Option<f64>,
    /// The largest request body it may send, in bytes, 1 KiB or more (never above the
    /// server's max_body_bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u64", range(min = 1024, max = 1_000_000_000_000u64))]
    pub max_request_bytes: Option<u64>,
}

/// What a workspace holds that its limits count.
#[derive(Debug, Clone, Copy)]
pub enum Held {
    Destinations,
    Routes,
}

/// Fields to set on a workspace (`None`: unchanged; `external_id: Some(None)` clears it).
#[derive(Debug, Clone, Default)]
pub struct WorkspaceChange {
    pub name: Option<String>,
    pub external_id: Option<Option<String>>,
    pub metadata: Option<serde_json::Value>,
    pub limits: Option<Limits>,
}

/// What a key may do. Every route declares the [`Access`](crate::api::Access) it needs and
/// the router checks the caller's role against it before the handler runs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The operator's key (the bootstrap key): workspaces themselves, and anything in any of
    /// them.
    Operator,
    /// Everything in its workspace, including keys and permissions.
    Admin,
    /// Destinations and routes, subject to each destination's member permissions.
    Member,
    /// Sending events only: for a customer's backend.
    Publisher,
    /// Reading only.
    Viewer,
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 5] = [
        Role::Operator,
        Role::Admin,
        Role::Member,
        Role::Publisher,
        Role::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Publisher => "publisher",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

const WORKSPACE_COLUMNS: &str = "id, name, external_id, metadata, limits, created_at, updated_at";

fn workspace_of(r: &sqlx::any::AnyRow) -> Result<Workspace> {
    let created_at: String = r.try_get("created_at")?;
    let metadata: String = r.try_get("metadata")?;
    let limits: String = r.try_get("limits")?;
    Ok(Workspace {
        // Limits that cannot be read are the operator's defaults.
        limits: serde_json::from_str(&limits).unwrap_or_default(),
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        external_id: r.try_get("external_id")?,
        metadata: serde_json::from_str(&metadata).unwrap_or_else(|_| serde_json::json!({})),
        updated_at: r
            .try_get::<Option<String>, _>("updated_at")?
            .unwrap_or_else(|| created_at.clone()),
        created_at,
    })
}

/// The tables holding a workspace's data, in the order a deletion empties them.
const WORKSPACE_TABLES: &[&str] = &[
    "DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE workspace_id = $1)",
    "DELETE FROM deliveries WHERE workspace_id = $1",
    "DELETE FROM idempotency_keys WHERE workspace_id = $1",
    "DELETE FROM events WHERE workspace_id = $1",
    "DELETE FROM routes WHERE workspace_id = $1",
    "DELETE FROM event_types WHERE workspace_id = $1",
    "DELETE FROM oauth_pending WHERE workspace_id = $1",
    "DELETE FROM portal_sessions WHERE workspace_id = $1",
    "DELETE FROM destinations WHERE workspace_id = $1",
    "DELETE FROM api_keys WHERE workspace_id = $1",
    "DELETE FROM audit_log WHERE workspace_id = $1",
    "DELETE FROM workspaces WHERE id = $1",
];

impl Store {
    /// How many rows of `table` (destinations, routes) a workspace holds.
    pub async fn count_in_workspace(&self, table: Held, workspace_id: &str) -> Result<i64> {
        let table = match table {
            Held::Destinations => "destinations",
            Held::Routes => "routes",
        };
        Ok(sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM {table} WHERE workspace_id = $1"
        ))
        .bind(workspace_id)
        .fetch_one(counted::on_pool(self.pool()))
        .await?)
    }

    pub async fn workspace_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM workspaces")
            .fetch_one(counted::on_pool(self.pool()))
            .await?)
    }

    /// A new workspace (`name` required; the caller checked it).
    pub async fn create_workspace(
        &self,
        change: &WorkspaceChange,
    ) -> Result<Workspace, super::WriteError> {
        let now = ids::now();
        let w = Workspace {
            id: ids::new_id(),
            name: change.name.clone().unwrap_or_default(),
            external_id: change.external_id.clone().flatten(),
            metadata: change
                .metadata
                .clone()
                .unwrap_or_else(|| serde_json::json!({})),
            limits: change.limits.unwrap_or_default(),
            created_at: now.clone(),
            updated_at: now,
        };
        sqlx::query(
            "INSERT INTO workspaces (id, name, external_id, metadata, limits, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&w.id)
        .bind(&w.name)
        .bind(&w.external_id)
        .bind(w.metadata.to_string())
        .bind(serde_json::to_string(&w.limits).map_err(anyhow::Error::from)?)
        .bind(&w.created_at)
        .bind(&w.updated_at)
        .execute(counted::on_pool(self.pool()))
        .await?;
        // Caches of which workspaces exist (here and on other replicas) learn of it.
        self.config_changed().await?;
        Ok(w)
    }

    pub async fn workspace(&self, id: &str) -> Result<Option<Workspace>> {
        let row = sqlx::query(&format!(
            "SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(counted::on_pool(self.pool()))
        .await?;
        row.as_ref().map(workspace_of).transpose()
    }

    /// Workspaces by id, `limit` after `after` (a cursor), optionally by `external_id`.
    pub async fn workspaces(
        &self,
        external_id: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Workspace>> {
        let rows = sqlx::query(&format!(
            "SELECT {WORKSPACE_COLUMNS} FROM workspaces \
             WHERE ($1 IS NULL OR external_id = $1) AND ($2 IS NULL OR id > $2) \
             ORDER BY id LIMIT $3"
        ))
        .bind(external_id)
        .bind(after)
        .bind(limit)
        .fetch_all(counted::on_pool(self.pool()))
        .await?;
        rows.iter().map(workspace_of).collect()
    }

    /// Applies `change`; the workspace as it now is, or `None` if there is none.
    pub async fn update_workspace(
        &self,
        id: &str,
        change: &WorkspaceChange,
    ) -> Result<Option<Workspace>, super::WriteError> {
        let Some(mut w) = self.workspace(id).await? else {
            return Ok(None);
        };
        if let Some(name) = &change.name {
            w.name = name.clone();
        }
        if let Some(external_id) = &change.external_id {
            w.external_id = external_id.clone();
        }
        if let Some(metadata) = &change.metadata {
            w.metadata = metadata.clone();
        }
        if let Some(limits) = change.limits {
            w.limits = limits;
        }
        w.updated_at = ids::now();
        sqlx::query(
            "UPDATE workspaces SET name = $1, external_id = $2, metadata = $3, limits = $4, \
             updated_at = $5 WHERE id = $6",
        )
        .bind(&w.name)
        .bind(&w.external_id)
        .bind(w.metadata.to_string())
        .bind(serde_json::to_string(&w.limits).map_err(anyhow::Error::from)?)
        .bind(&w.updated_at)
        .bind(&w.id)
        .execute(counted::on_pool(self.pool()))
        .await?;
        // Replicas cache each workspace's limits.
        self.config_changed().await?;
        Ok(Some(w))
    }

    /// Deletes a workspace and everything in it (destinations with their sealed secrets and
    /// tokens, routes, events, deliveries and attempts, keys) in one transaction; caches here
    /// and on other replicas drop what they hold of it. On SQLite the deleted rows are
    /// overwritten (`secure_delete`) and the log is emptied into the database, so nothing of
    /// it stays readable in the files. Whether there was one.
    pub async fn delete_workspace(&self, id: &str) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let mut deleted = 0;
        for statement in WORKSPACE_TABLES {
            deleted = sqlx::query(statement)
                .bind(id)
                .execute(counted::on(&mut tx))
                .await?
                .rows_affected();
        }
        sqlx::query("UPDATE config_changes SET generation = generation + 1 WHERE id = 1")
            .execute(counted::on(&mut tx))
            .await?;
        counted::commit(tx).await?;
        if self.is_postgres() {
            // Heard by the other replicas at once (the counter is their safety net).
            sqlx::query(super::NOTIFY_CHANGES)
                .execute(counted::on_pool(self.pool()))
                .await?;
        }
        self.note_config_change();
        if deleted > 0 && !self.is_postgres() {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(counted::on_pool(self.pool()))
                .await?;
        }
        Ok(deleted > 0)
    }
}

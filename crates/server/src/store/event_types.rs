//! A workspace's event types: a name, a description, an optional JSON Schema of the payload
//! (checked at intake when `validate` is on) and whether the type is deprecated.

use anyhow::{Context, Result};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, counted};

/// One event type, as stored and shown.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EventTypeRow {
    #[serde(skip)]
    pub workspace_id: String,
    /// The type events carry, e.g. `order.created`.
    pub name: String,
    pub description: Option<String>,
    /// A JSON Schema (2020-12) of the payload.
    #[schemars(with = "Option<serde_json::Map<String, Value>>")]
    pub schema: Option<Value>,
    /// Events of this type whose payload does not match `schema` are refused at intake.
    pub validate: bool,
    /// Still accepted and routed; shown as deprecated to those who choose types.
    pub deprecated: bool,
    #[schemars(with = "crate::api::model::Timestamp")]
    pub created_at: String,
    #[schemars(with = "crate::api::model::Timestamp")]
    pub updated_at: String,
}

const COLUMNS: &str =
    "workspace_id, name, description, schema, validate, deprecated, created_at, updated_at";

fn from_row(r: AnyRow) -> Result<EventTypeRow> {
    let schema: Option<String> = r.try_get("schema")?;
    Ok(EventTypeRow {
        workspace_id: r.try_get("workspace_id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        schema: schema
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .context("stored event type schema")?,
        validate: r.try_get::<i64, _>("validate")? != 0,
        deprecated: r.try_get::<i64, _>("deprecated")? != 0,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    /// Every event type of a workspace, by name.
    pub async fn list_event_types(&self, workspace_id: &str) -> Result<Vec<EventTypeRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM event_types WHERE workspace_id = $1 ORDER BY name"
        ))
        .bind(workspace_id)
        .fetch_all(counted::on_pool(self.pool()))
        .await?;
        rows.into_iter().map(from_row).collect()
    }

    /// The names of a workspace's event types, by name (without their schemas).
    pub async fn event_type_names(&self, workspace_id: &str) -> Result<Vec<String>> {
        let rows =
            sqlx::query("SELECT name FROM event_types WHERE workspace_id = $1 ORDER BY name")
                .bind(workspace_id)
                .fetch_all(counted::on_pool(self.pool()))
                .await?;
        rows.iter()
            .map(|r| r.try_get("name").map_err(Into::into))
            .collect()
    }

    pub async fn event_type(&self, workspace_id: &str, name: &str) -> Result<Option<EventTypeRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM event_types WHERE workspace_id = $1 AND name = $2"
        ))
        .bind(workspace_id)
        .bind(name)
        .fetch_optional(counted::on_pool(self.pool()))
        .await?;
        row.map(from_row).transpose()
    }

    /// Inserts (`insert`) or replaces an event type; routing reloads it (config epoch).
    pub async fn save_event_type(
        &self,
        t: &EventTypeRow,
        insert: bool,
    ) -> Result<(), super::WriteError> {
        let sql = if insert {
            format!("INSERT INTO event_types ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        } else {
            "UPDATE event_types SET description = $3, schema = $4, validate = $5, deprecated = $6, \
             updated_at = $8 WHERE workspace_id = $1 AND name = $2 AND created_at = $7"
                .to_string()
        };
        sqlx::query(&sql)
            .bind(&t.workspace_id)
            .bind(&t.name)
            .bind(&t.description)
            .bind(t.schema.as_ref().map(Value::to_string))
            .bind(i64::from(t.validate))
            .bind(i64::from(t.deprecated))
            .bind(&t.created_at)
            .bind(&t.updated_at)
            .execute(counted::on_pool(self.pool()))
            .await?;
        self.config_changed().await?;
        Ok(())
    }

    pub async fn delete_event_type(&self, workspace_id: &str, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM event_types WHERE workspace_id = $1 AND name = $2")
            .bind(workspace_id)
            .bind(name)
            .execute(counted::on_pool(self.pool()))
            .await?;
        self.config_changed().await?;
        Ok(done.rows_affected() > 0)
    }
}

//! Routes: which events go to which destination, with what field mapping.

use anyhow::{Context, Result};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, counted};

/// A route: stored, and as the API shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[schemars(rename = "Route")]
pub struct RouteRow {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub destination_id: String,
    /// Event types it takes: exact, `prefix.*` or `*`.
    pub event_types: Vec<String>,
    pub action: Option<String>,
    #[schemars(with = "Vec<crate::api::event_routes::MappingRule>")]
    pub field_mapping: Value,
    /// Only events whose payload matches this filter take the route (null: every event of its
    /// types).
    #[schemars(with = "Option<crate::api::event_routes::ContentFilter>")]
    pub filter: Option<Value>,
    pub is_active: bool,
    #[schemars(with = "crate::api::model::Timestamp")]
    pub created_at: String,
    #[schemars(with = "crate::api::model::Timestamp")]
    pub updated_at: String,
}

const COLUMNS: &str = "id, workspace_id, name, destination_id, event_types, action, field_mapping, is_active, created_at, updated_at, filter";

fn from_row(r: AnyRow) -> Result<RouteRow> {
    let types: String = r.try_get("event_types")?;
    let mapping: String = r.try_get("field_mapping")?;
    let filter: Option<String> = r.try_get("filter")?;
    Ok(RouteRow {
        id: r.try_get("id")?,
        workspace_id: r.try_get("workspace_id")?,
        name: r.try_get("name")?,
        destination_id: r.try_get("destination_id")?,
        event_types: serde_json::from_str(&types).context("stored event_types")?,
        action: r.try_get("action")?,
        field_mapping: serde_json::from_str(&mapping).context("stored field_mapping")?,
        filter: filter
            .map(|f| serde_json::from_str(&f))
            .transpose()
            .context("stored filter")?,
        is_active: r.try_get::<i64, _>("is_active")? != 0,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// The prefix of the event types Courier emits about a workspace's destinations.
pub const OPERATIONAL_PREFIX: &str = "courier.";

/// Whether an event type matches a route's filter: exact, `prefix.*`, or `*` (every type but
/// Courier's own operational events, which a route takes only by naming them).
pub fn matches(filter: &str, event_type: &str) -> bool {
    match filter.strip_suffix('*') {
        Some("") => !event_type.starts_with(OPERATIONAL_PREFIX),
        Some(prefix) => event_type.starts_with(prefix) && event_type.len() > prefix.len(),
        None => filter == event_type,
    }
}

/// Which routes a list shows.
#[derive(Debug, Clone, Default)]
pub struct RouteFilter {
    pub destination_id: Option<String>,
    pub is_active: Option<bool>,
    /// Part of the name, any case.
    pub name_contains: Option<String>,
    /// Routes after this id (the previous page's cursor).
    pub after: Option<String>,
    /// Only routes to destinations of these types (a portal session's), when set.
    pub destination_types: Option<Vec<String>>,
}

/// `text` as a `LIKE` pattern that finds it anywhere (`\` escapes). The database lowers both
/// sides (`LOWER(name) LIKE LOWER($n)`), so each folds case the same way on both.
pub fn contains_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

impl Store {
    /// One page of a workspace's routes, by id.
    pub async fn routes_page(
        &self,
        workspace_id: &str,
        filter: &RouteFilter,
        limit: i64,
    ) -> Result<Vec<RouteRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM routes WHERE workspace_id = $1 \
             AND ($2 = '' OR destination_id = $2) AND ($3 < 0 OR is_active = $3) \
             AND ($4 = '' OR LOWER(name) LIKE LOWER($4) ESCAPE '\\') AND ($5 = '' OR id > $5) \
             AND ($7 = '' OR destination_id IN (SELECT t.id FROM destinations t \
                  WHERE t.workspace_id = $1 AND {})) \
             ORDER BY id LIMIT $6",
            super::destinations::type_in_list("t.destination_type", "$7")
        ))
        .bind(workspace_id)
        .bind(filter.destination_id.as_deref().unwrap_or_default())
        .bind(filter.is_active.map_or(-1, i64::from))
        .bind(
            filter
                .name_contains
                .as_deref()
                .map(contains_pattern)
                .unwrap_or_default(),
        )
        .bind(filter.after.as_deref().unwrap_or_default())
        .bind(limit)
        .bind(super::destinations::type_list(
            filter.destination_types.as_deref(),
        ))
        .fetch_all(counted::on_pool(self.pool()))
        .await?;
        rows.into_iter().map(from_row).collect()
    }

    pub async fn list_routes(&self, workspace_id: &str) -> Result<Vec<RouteRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM routes WHERE workspace_id = $1 ORDER BY id"
        ))
        .bind(workspace_id)
        .fetch_all(counted::on_pool(self.pool()))
        .await?;
        rows.into_iter().map(from_row).collect()
    }

    pub async fn route(&self, workspace_id: &str, id: &str) -> Result<Option<RouteRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM routes WHERE workspace_id = $1 AND id = $2"
        ))
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(counted::on_pool(self.pool()))
        .await?;
        row.map(from_row).transpose()
    }

    /// Active routes of a destination (a destination they use cannot be deleted).
    pub async fn routes_of_destination(
        &self,
        workspace_id: &str,
        destination_id: &str,
    ) -> Result<Vec<RouteRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM routes WHERE workspace_id = $1 AND destination_id = $2 AND is_active = 1 ORDER BY id"
        ))
        .bind(workspace_id)
        .bind(destination_id)
        .fetch_all(counted::on_pool(self.pool()))
        .await?;
        rows.into_iter().map(from_row).collect()
    }

    pub async fn save_route(&self, r: &RouteRow, insert: bool) -> Result<(), super::WriteError> {
        let sql = if insert {
            format!(
                "INSERT INTO routes ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            )
        } else {
            "UPDATE routes SET name = $3, destination_id = $4, event_types = $5, action = $6, \
             field_mapping = $7, is_active = $8, updated_at = $10, filter = $11 WHERE id = $1 AND workspace_id = $2 AND created_at = $9"
                .to_string()
        };
        sqlx::query(&sql)
            .bind(&r.id)
            .bind(&r.workspace_id)
            .bind(&r.name)
            .bind(&r.destination_id)
            .bind(serde_json::to_string(&r.event_types).unwrap_or_default())
            .bind(&r.action)
            .bind(r.field_mapping.to_string())
            .bind(i64::from(r.is_active))
            .bind(&r.created_at)
            .bind(&r.updated_at)
            .bind(r.filter.as_ref().map(Value::to_string))
            .execute(counted::on_pool(self.pool()))
            .await?;
        self.config_changed().await?;
        Ok(())
    }

    pub async fn delete_route(&self, workspace_id: &str, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM routes WHERE workspace_id = $1 AND id = $2")
            .bind(workspace_id)
            .bind(id)
            .execute(counted::on_pool(self.pool()))
            .await?;
        self.config_changed().await?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn filters_match_exactly_or_by_prefix() {
        assert!(matches("order.created", "order.created"));
        assert!(!matches("order.created", "order.created.v2"));
        assert!(matches("order.*", "order.created"));
        assert!(!matches("order.*", "order."));
        assert!(!matches("order.*", "orders.created"));
        assert!(matches("*", "anything"));
        assert!(!matches("*", "courier.destination.disabled"));
        assert!(matches("courier.*", "courier.destination.disabled"));
        assert!(matches(
            "courier.destination.*",
            "courier.destination.disabled"
        ));
    }
}

//! Settings the server keeps in its database (the sealing key's check value, ...): one value per
//! name, set once by whichever replica gets there first.

use anyhow::Result;

use super::{Store, counted};

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
}

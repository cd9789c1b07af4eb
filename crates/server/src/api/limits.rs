//! Per-workspace limits: how many destinations and routes a workspace may hold, how many events
//! a second it may send (429 with `Retry-After` past that) and how large one request may be
//! (413). The operator's defaults come from the config; a workspace's `limits` override them.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use crate::config::ServerConfig;
use crate::store::Limits;

/// The limits in force: the workspace's own, else the operator's. The guard puts them in the
/// request's extensions for every route under a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Effective {
    pub max_destinations: u64,
    pub max_routes: u64,
    /// `None`: no workspace-wide event rate (each key's intake limit still applies).
    pub events_per_second: Option<f64>,
    pub max_request_bytes: u64,
}

/// The limits in force for a workspace with `own` limits.
pub fn effective(own: &Limits, config: &ServerConfig) -> Effective {
    Effective {
        max_destinations: own
            .max_destinations
            .unwrap_or(config.workspace_max_destinations),
        max_routes: own.max_routes.unwrap_or(config.workspace_max_routes),
        events_per_second: own
            .events_per_second
            .or(config.workspace_events_per_second)
            .filter(|r| *r > 0.0),
        max_request_bytes: own
            .max_request_bytes
            .unwrap_or(config.max_body_bytes as u64)
            .min(config.max_body_bytes as u64),
    }
}

/// Each workspace's limits in force (and whether it exists), cached until the change counter
/// moves (a workspace made, changed or deleted here, or on another replica once this one has
/// read the counter), so the hot path reads no workspace row.
#[derive(Debug, Default)]
pub struct LimitsCache(Mutex<HashMap<String, (Option<Effective>, u64)>>);

impl LimitsCache {
    /// The limits in force for `workspace_id`; `None` if there is no such workspace.
    pub async fn find(
        &self,
        state: &AppState,
        workspace_id: &str,
    ) -> Result<Option<Effective>, ApiError> {
        let epoch = state.store.config_epoch();
        if let Some((limits, seen)) = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(workspace_id)
            && *seen == epoch
        {
            return Ok(*limits);
        }
        let limits = state
            .store
            .workspace(workspace_id)
            .await?
            .map(|w| effective(&w.limits, &state.config));
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.retain(|_, (_, seen)| *seen == epoch);
        }
        cache.insert(workspace_id.to_string(), (limits, epoch));
        Ok(limits)
    }
}

/// Refuses (409) a new destination or route past the workspace's limit of `what`.
pub fn room_for(what: &str, held: i64, limit: u64) -> Result<(), ApiError> {
    if held >= 0 && (held as u64) < limit {
        Ok(())
    } else {
        Err(ApiError::limit_reached(format!(
            "this workspace holds {held} {what}, its limit; delete some or ask the operator to raise limits.max_{what}"
        )))
    }
}

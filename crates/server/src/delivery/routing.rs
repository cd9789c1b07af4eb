//! Where a workspace's events go: its active routes (with their parsed field mappings) and, per
//! routed destination, how long a delivery may wait to share a batch. Cached per workspace until
//! destinations or routes change ([`Store::config_epoch`]), so accepting an event reads nothing
//! but the cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use courier_catalog::Catalog;
use courier_core::Category;
use courier_runtime::DeliveryPolicy;
use serde_json::Value;

use super::mapping;
use crate::store::{NewDelivery, RouteRow, SAME_AS_EVENT, Store, route_matches};

/// A workspace's routing, as of one config epoch.
#[derive(Debug)]
pub struct Routes {
    epoch: u64,
    /// Each active route with its parsed field mapping, or why the stored mapping cannot be
    /// read (its deliveries then fail with that reason rather than go out unmapped).
    routes: Vec<(RouteRow, Result<Vec<mapping::Rule>, String>)>,
    /// For batching (file and stream) destinations: how long a delivery may wait, in ms.
    waits: HashMap<String, i64>,
}

impl Routes {
    /// The deliveries an event fans out to: one per active route whose filter matches, with the
    /// route's mapping applied (a route that maps nothing carries the event's payload as is).
    /// How many deliveries an event of `event_type` fans out to (no mapping is run).
    pub fn fan_out(&self, event_type: &str) -> usize {
        self.routes
            .iter()
            .filter(|(r, _)| r.event_types.iter().any(|f| route_matches(f, event_type)))
            .count()
    }

    /// A route taking `event_type` that reshapes payloads with a field mapping (which needs an
    /// object payload), by name.
    pub fn mapping_route(&self, event_type: &str) -> Option<&str> {
        self.routes
            .iter()
            .filter(|(r, _)| r.event_types.iter().any(|f| route_matches(f, event_type)))
            .find(|(_, rules)| rules.as_ref().is_ok_and(|r| !r.is_empty()))
            .map(|(r, _)| r.name.as_str())
    }

    pub fn deliveries_for(&self, event_type: &str, payload: &Value) -> Vec<NewDelivery> {
        self.routes
            .iter()
            .filter(|(r, _)| r.event_types.iter().any(|f| route_matches(f, event_type)))
            .map(|(r, rules)| NewDelivery {
                destination_id: r.destination_id.clone(),
                route_id: r.id.clone(),
                payload: match rules {
                    Err(unreadable) => Err(unreadable.clone()),
                    Ok(rules) if rules.is_empty() => Ok(SAME_AS_EVENT.to_string()),
                    Ok(rules) => mapping::apply(rules, payload).map(|v| v.to_string()),
                },
                wait_ms: self.waits.get(&r.destination_id).copied().unwrap_or(0),
            })
            .collect()
    }
}

/// Every workspace's routing this process has needed lately.
#[derive(Debug, Default)]
pub struct Routing {
    cache: Mutex<HashMap<String, Arc<Routes>>>,
}

impl Routing {
    /// The routing of `workspace_id`, loaded again when destinations or routes changed.
    pub async fn of(
        &self,
        store: &Store,
        catalog: &Catalog,
        workspace_id: &str,
    ) -> Result<Arc<Routes>> {
        let epoch = store.config_epoch();
        if let Some(routes) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(workspace_id)
            && routes.epoch == epoch
        {
            return Ok(routes.clone());
        }
        let routes: Vec<_> = store
            .list_routes(workspace_id)
            .await?
            .into_iter()
            .filter(|r| r.is_active)
            .map(|r| {
                let rules = mapping::parse(&r.field_mapping).map_err(|errors| {
                    let first = errors.first().map(|e| e.to_string()).unwrap_or_default();
                    format!("the route's stored field_mapping cannot be read ({first}); fix the route and replay")
                });
                (r, rules)
            })
            .collect();
        let mut waits = HashMap::new();
        for destination in store.list_destinations(workspace_id).await? {
            if !routes
                .iter()
                .any(|(r, _)| r.destination_id == destination.id)
            {
                continue;
            }
            let batches = catalog
                .get(&destination.destination_type)
                .is_ok_and(|c| c.metadata().category != Category::Http);
            if batches {
                // An unreadable policy holds the lane (see the lane's build); waiting the
                // default batch age meanwhile loses nothing.
                let wait = DeliveryPolicy::from_json(&destination.policy, "")
                    .unwrap_or_default()
                    .batch_max_age_ms;
                waits.insert(destination.id.clone(), wait as i64);
            }
        }
        let loaded = Arc::new(Routes {
            epoch,
            routes,
            waits,
        });
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        // Workspaces come and go; a full sweep now and then keeps the cache to the active ones.
        if cache.len() > 10_000 {
            cache.retain(|_, r| r.epoch == epoch);
        }
        cache.insert(workspace_id.to_string(), loaded.clone());
        Ok(loaded)
    }
}

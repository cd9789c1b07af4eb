//! Where a workspace's events go: its active routes (with their parsed field mappings) and, per
//! routed destination, how long a delivery may wait to share a batch and which lane (fifo
//! order) it joins. Cached per workspace until destinations or routes change
//! ([`Store::config_epoch`]), so accepting an event reads nothing but the cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use courier_catalog::Catalog;
use courier_core::Category;
use courier_messages::KeyTemplate;
use courier_runtime::{DeliveryPolicy, OrderingMode};
use serde_json::Value;

use super::filter::Filter;
use super::mapping;
use crate::store::{NewDelivery, RouteRow, SAME_AS_EVENT, Store, route_matches};

/// A workspace's routing, as of one config epoch.
#[derive(Debug)]
pub struct Routes {
    epoch: u64,
    /// Each active route with its parsed field mapping and content filter.
    routes: Vec<Route>,
    /// For batching (file and stream) destinations: how long a delivery may wait, in ms.
    waits: HashMap<String, i64>,
    /// For destinations in fifo order: how an event's lane is named (`None`: one lane).
    lanes: HashMap<String, Option<KeyTemplate>>,
    /// Payload validators of the event types that validate, by type name.
    validators: HashMap<String, Arc<jsonschema::Validator>>,
}

/// An active route, parsed. A stored mapping or filter that cannot be read (written by another
/// version, say) is kept as the reason: the route's deliveries then fail with it, replayable
/// once the route is fixed, rather than go out unmapped or unfiltered, or silently nowhere.
#[derive(Debug)]
struct Route {
    row: RouteRow,
    rules: Result<Vec<mapping::Rule>, String>,
    filter: Option<Result<Filter, String>>,
}

impl Route {
    fn parse(row: RouteRow) -> Route {
        let unreadable = |what: &str, errors: Vec<courier_core::FieldError>| {
            let first = errors.first().map(|e| e.to_string()).unwrap_or_default();
            format!("the route's stored {what} cannot be read ({first}); fix the route and replay")
        };
        let rules = mapping::parse(&row.field_mapping).map_err(|e| unreadable("field_mapping", e));
        let filter = row
            .filter
            .as_ref()
            .map(|f| Filter::parse(f, "/filter").map_err(|e| unreadable("filter", e)));
        Route { row, rules, filter }
    }

    /// Whether an event of `event_type` with `payload` takes this route.
    fn takes(&self, event_type: &str, payload: &Value) -> bool {
        self.row
            .event_types
            .iter()
            .any(|f| route_matches(f, event_type))
            && match &self.filter {
                None | Some(Err(_)) => true,
                Some(Ok(filter)) => filter.matches(payload),
            }
    }
}

impl Routes {
    /// Why `payload` does not match the schema of its event type, each problem at its JSON
    /// pointer within the payload (none when the type does not validate).
    pub fn payload_errors(&self, event_type: &str, payload: &Value) -> Vec<(String, String)> {
        let Some(validator) = self.validators.get(event_type) else {
            return Vec::new();
        };
        validator
            .iter_errors(payload)
            .take(MAX_PAYLOAD_ERRORS)
            .map(|e| (e.instance_path().to_string(), e.to_string()))
            .collect()
    }

    /// How many deliveries an event fans out to (no mapping is run).
    pub fn fan_out(&self, event_type: &str, payload: &Value) -> usize {
        self.routes
            .iter()
            .filter(|r| r.takes(event_type, payload))
            .count()
    }

    /// A route the event takes that reshapes payloads with a field mapping (which needs an
    /// object payload), by name.
    pub fn mapping_route(&self, event_type: &str, payload: &Value) -> Option<&str> {
        self.routes
            .iter()
            .filter(|r| r.takes(event_type, payload))
            .find(|r| r.rules.as_ref().is_ok_and(|r| !r.is_empty()))
            .map(|r| r.row.name.as_str())
    }

    /// The deliveries an event fans out to: one per active route of its type whose filter the
    /// payload passes, with the route's mapping applied (a route that maps nothing carries the
    /// event's payload as is). An event no route takes is accepted and delivered nowhere.
    pub fn deliveries_for(&self, event_type: &str, payload: &Value) -> Vec<NewDelivery> {
        self.routes
            .iter()
            .filter(|r| r.takes(event_type, payload))
            .map(|r| NewDelivery {
                destination_id: r.row.destination_id.clone(),
                route_id: r.row.id.clone(),
                payload: match (&r.rules, &r.filter) {
                    (Err(unreadable), _) | (_, Some(Err(unreadable))) => Err(unreadable.clone()),
                    (Ok(rules), _) if rules.is_empty() => Ok(SAME_AS_EVENT.to_string()),
                    (Ok(rules), _) => mapping::apply(rules, payload).map(|v| v.to_string()),
                },
                wait_ms: self.waits.get(&r.row.destination_id).copied().unwrap_or(0),
                lane_key: self
                    .lanes
                    .get(&r.row.destination_id)
                    .map(|template| lane_key(template.as_ref(), payload)),
            })
            .collect()
    }
}

/// Lane names longer than this are stored as their SHA-256 (an ordering key may render a
/// long payload value; the lane index stays small).
const LANE_KEY_MAX: usize = 200;

/// The lane of an event with `payload`: the template rendered, or the empty string when the
/// payload lacks its value (or the destination is one lane).
fn lane_key(template: Option<&KeyTemplate>, payload: &Value) -> String {
    let key = template
        .and_then(|t| t.render(payload).ok())
        .unwrap_or_default();
    if key.len() <= LANE_KEY_MAX {
        return key;
    }
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The most schema problems reported for one payload.
const MAX_PAYLOAD_ERRORS: usize = 20;

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
            .map(Route::parse)
            .collect();
        let mut waits = HashMap::new();
        let mut lanes = HashMap::new();
        for destination in store.list_destinations(workspace_id).await? {
            if !routes
                .iter()
                .any(|r| r.row.destination_id == destination.id)
            {
                continue;
            }
            let batches = catalog
                .get(&destination.destination_type)
                .is_ok_and(|c| c.metadata().category != Category::Http);
            // An unreadable policy holds the destination's deliveries (see the lane's build);
            // waiting the default batch age meanwhile loses nothing.
            let policy = DeliveryPolicy::from_json(&destination.policy, "").ok();
            if batches {
                let wait = policy
                    .as_ref()
                    .map_or(DeliveryPolicy::default().batch_max_age_ms, |p| {
                        p.batch_max_age_ms
                    });
                waits.insert(destination.id.clone(), wait as i64);
            }
            if let Some(policy) = policy
                && policy.ordering == OrderingMode::Fifo
            {
                let template = policy
                    .ordering_key
                    .as_deref()
                    .and_then(|k| KeyTemplate::parse(k).ok());
                lanes.insert(destination.id.clone(), template);
            }
        }
        let mut validators = HashMap::new();
        for t in store.list_event_types(workspace_id).await? {
            let (true, Some(schema)) = (t.validate, &t.schema) else {
                continue;
            };
            // Schemas are compiled when saved; one this build cannot compile checks nothing
            // rather than refuse every event of its type.
            match crate::api::event_types::compile(schema) {
                Ok(v) => {
                    validators.insert(t.name, Arc::new(v));
                }
                Err(e) => {
                    tracing::warn!(workspace_id, event_type = %t.name, error = %e, "stored event type schema cannot be compiled; payloads of this type are not checked")
                }
            }
        }
        let loaded = Arc::new(Routes {
            epoch,
            routes,
            waits,
            lanes,
            validators,
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

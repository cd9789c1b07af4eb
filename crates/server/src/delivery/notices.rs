//! Operational events: Courier tells a workspace, as ordinary events routed by its ordinary
//! routes (`event_types: ["courier.*"]`), when one of its destinations is disabled, needs
//! reauthorization, is failing, recovers, or dead-letters a delivery. `*` does not take them,
//! and an event about a destination is never routed to that same destination.

use serde_json::{Value, json};

use super::lane::LaneContext;
use crate::store::{NewEvent, OPERATIONAL_PREFIX};

/// A destination was disabled (a 410 Gone, or failing for too long).
pub const DISABLED: &str = "courier.destination.disabled";
/// A destination's authorization was revoked; deliveries wait until it is reconnected.
pub const REAUTH_REQUIRED: &str = "courier.destination.reauth_required";
/// A destination has failed without a success for 50, 70 or 90 % of the time that disables it.
pub const FAILING: &str = "courier.destination.failing";
/// A destination that was failing delivered again.
pub const RECOVERED: &str = "courier.destination.recovered";
/// A delivery ended failed (dead-lettered, replayable).
pub const DELIVERY_FAILED: &str = "courier.delivery.failed";

/// Every operational event type, as routes and event-type checks know them.
pub const TYPES: &[&str] = &[
    DISABLED,
    REAUTH_REQUIRED,
    FAILING,
    RECOVERED,
    DELIVERY_FAILED,
];

/// The destination an operational event is about.
#[derive(Debug, Clone)]
pub(crate) struct About {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub destination_type: String,
}

/// Whether a delivery of an event of `event_type` may produce operational events: those about
/// operational events themselves would echo between two failing destinations for ever.
pub(crate) fn may_report(event_type: &str) -> bool {
    !event_type.starts_with(OPERATIONAL_PREFIX)
}

/// Stores an operational event about `about` in its workspace, routed like any event but never
/// to the destination it is about. Runs beside the lane; a failure to store it is logged.
pub(crate) fn emit(
    ctx: &std::sync::Arc<LaneContext>,
    about: &About,
    event_type: &'static str,
    details: Value,
) {
    let ctx = ctx.clone();
    let about = about.clone();
    tokio::spawn(async move {
        let mut payload = json!({
            "destination": {
                "id": about.id,
                "name": about.name,
                "type": about.destination_type,
            },
            "at": crate::ids::now(),
        });
        if let (Some(p), Value::Object(extra)) = (payload.as_object_mut(), details) {
            p.extend(extra);
        }
        let routes = match ctx
            .routing
            .of(&ctx.store, &ctx.catalog, &about.workspace_id)
            .await
        {
            Ok(routes) => routes,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), event_type, "routing an operational event failed");
                return;
            }
        };
        let deliveries = routes
            .deliveries_for(event_type, &payload)
            .into_iter()
            .filter(|d| d.destination_id != about.id)
            .collect();
        let event = NewEvent {
            event_type: event_type.to_string(),
            payload: payload.to_string(),
            idempotency_key: None,
            body_hash: None,
            deliveries,
        };
        if let Err(e) = ctx
            .writer
            .accept(about.workspace_id.clone(), vec![event])
            .await
        {
            tracing::warn!(error = %format!("{e:#}"), event_type, "storing an operational event failed");
        }
    });
}

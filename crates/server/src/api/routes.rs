//! Every route with its documentation, in one table: the router is built from it and so is the
//! OpenAPI document, so the two cannot disagree.

use std::sync::Arc;

use axum::routing::{MethodRouter, delete, get, patch, post, put};
use schemars::JsonSchema;

use super::access::Access;
use super::capabilities::PortalClass;
use super::model::{SchemaFn, schema};
use super::{
    AppState, api_keys, audit, catalog, deliveries, destinations, event_routes, event_types,
    events, health, oauth, observe, openapi, permissions, portal_sessions, secrets, testing,
    workspaces,
};

/// What the OpenAPI document says about one operation.
#[derive(Debug, Clone, Copy)]
pub struct Doc {
    pub method: &'static str,
    pub summary: &'static str,
    pub description: Option<&'static str>,
    pub tag: &'static str,
    /// Who may call it (the router refuses to start with a route that declares none).
    pub access: Option<Access>,
    /// The action the audit log records for a call (routes that change something).
    pub audit: Option<&'static str>,
    /// The request body's type.
    pub body: Option<SchemaFn>,
    /// The body may be left out (every field of its type is optional).
    pub body_optional: bool,
    /// The query string's type.
    pub query: Option<SchemaFn>,
    /// The success status and the response body's type (`None`: no body).
    pub ok: (u16, Option<SchemaFn>),
    pub ok_description: Option<&'static str>,
    /// A success body that is not JSON: its media type.
    pub content_type: Option<&'static str>,
    /// The response is a Server-Sent Events stream of these events (name, data type).
    pub sse: Option<&'static [(&'static str, SchemaFn)]>,
    /// Error statuses the handler itself answers, beyond those of access, body and query.
    pub errors: &'static [u16],
    /// What the route is to portal sessions (closed to them unless
    /// [`super::capabilities::class_of`] opens it).
    pub portal: PortalClass,
}

fn doc(method: &'static str, summary: &'static str, tag: &'static str) -> Doc {
    Doc {
        method,
        summary,
        description: None,
        tag,
        access: None,
        audit: None,
        body: None,
        body_optional: false,
        query: None,
        ok: (200, None),
        ok_description: None,
        content_type: None,
        sse: None,
        errors: &[],
        portal: PortalClass::No,
    }
}

impl Doc {
    /// The access the route needs.
    fn with(self, access: Access) -> Doc {
        Doc {
            access: Some(access),
            ..self
        }
    }

    /// Calls are recorded in the audit log as `action`.
    fn audited(self, action: &'static str) -> Doc {
        Doc {
            audit: Some(action),
            ..self
        }
    }

    /// The request body is a `T`.
    fn body<T: JsonSchema>(self) -> Doc {
        Doc {
            body: Some(schema::<T>),
            ..self
        }
    }

    /// The request body is a `T`, or nothing (`T`'s fields are all optional).
    fn optional_body<T: JsonSchema>(self) -> Doc {
        Doc {
            body: Some(schema::<T>),
            body_optional: true,
            ..self
        }
    }

    /// The query string is a `T`.
    fn query<T: JsonSchema>(self) -> Doc {
        Doc {
            query: Some(schema::<T>),
            ..self
        }
    }

    /// Success is `status` with a `T`.
    fn returns<T: JsonSchema>(self, status: u16) -> Doc {
        Doc {
            ok: (status, Some(schema::<T>)),
            ..self
        }
    }

    /// Success is `status` without a body.
    fn empty(self, status: u16, meaning: &'static str) -> Doc {
        Doc {
            ok: (status, None),
            ok_description: Some(meaning),
            ..self
        }
    }

    /// Success is a stream of these events.
    fn streams(self, events: &'static [(&'static str, SchemaFn)]) -> Doc {
        Doc {
            sse: Some(events),
            ..self
        }
    }

    /// Success is text of `media_type`.
    fn text(self, media_type: &'static str) -> Doc {
        Doc {
            content_type: Some(media_type),
            ..self
        }
    }

    /// The handler may also answer these statuses.
    fn may_answer(self, errors: &'static [u16]) -> Doc {
        Doc { errors, ..self }
    }

    /// Whether the route needs `Authorization: Bearer <key>`.
    pub fn needs_key(&self) -> bool {
        !matches!(self.access, Some(Access::Open))
    }
}

type Route = (Doc, &'static str, MethodRouter<Arc<AppState>>);

/// Every route's method, path and access, in table order.
pub fn access_list() -> Vec<(&'static str, &'static str, Option<Access>)> {
    table()
        .into_iter()
        .map(|(doc, path, _)| (doc.method, path, doc.access))
        .collect()
}

/// The permission table as the README shows it: each route, its access, and which roles may
/// call it.
pub fn access_table_markdown() -> String {
    let mut out = String::from(
        "| Route | Access | operator | admin | member | publisher | viewer | portal |\n|---|---|---|---|---|---|---|---|\n",
    );
    for (doc, path, _) in table() {
        let (method, access) = (doc.method, doc.access);
        let Some(access) = access else { continue };
        let cells: Vec<&str> = crate::store::Role::ALL
            .iter()
            .map(|role| match access {
                Access::Open => "no key",
                a if a.allows(*role) => "yes",
                _ => "–",
            })
            .collect();
        out.push_str(&format!(
            "| `{} {path}` | {} | {} | {} |\n",
            method.to_uppercase(),
            access.as_str(),
            cells.join(" | "),
            doc.portal.as_str()
        ));
    }
    out
}

/// Refuses a table with a route that declares no access: it would ship unguarded.
pub fn check(table: &[Route]) -> Result<(), String> {
    match table.iter().find(|(doc, _, _)| doc.access.is_none()) {
        Some((doc, path, _)) => Err(format!(
            "{} {path} declares no access: every route says who may call it",
            doc.method.to_uppercase()
        )),
        None => Ok(()),
    }
}

pub fn table() -> Vec<Route> {
    use super::{
        api_keys::{ApiKeyCreate, ApiKeyPatch, CreatedApiKey, ListQuery as ApiKeyQuery},
        audit::ListQuery as AuditQuery,
        deliveries::{DeliveryQuery, EventQuery, Queued, ReplayInput},
        destinations::{GetQuery as DestinationGetQuery, ListQuery as DestinationQuery},
        event_routes::{ListQuery as RouteQuery, RouteInput, RoutePatch},
        event_types::{EventTypeInput, EventTypeSpec},
        events::{AcceptedAnswer, EventInput},
        health::Health,
        input::{DestinationCreate, DestinationUpdate},
        model::Page,
        oauth::{CallbackQuery, OAuthStart, OAuthStarted},
        permissions::{PermissionChanges, RolePermissions},
        portal_sessions::{PortalSessionCreate, PortalSessionCreated, PortalSessionView},
        secrets::Rotated,
        testing::{TestDone, TestInput},
        view::DestinationView,
        workspaces::{ListQuery as WorkspaceQuery, WorkspaceCreate, WorkspacePatch, WorkspaceView},
    };
    use crate::store::{
        ApiKey, AuditEntry, Delivery, DeliveryDetail, Event, EventDetail, EventTypeRow, RouteRow,
    };
    use courier_catalog::{CatalogDocument, ConnectorEntry};
    use courier_core::{Field, StepReport};

    let ws = "/api/v1/workspaces/{ws}";
    let destinations = "/api/v1/workspaces/{ws}/destinations";
    let destination = "/api/v1/workspaces/{ws}/destinations/{dest}";
    let routes = "/api/v1/workspaces/{ws}/routes";
    let route = "/api/v1/workspaces/{ws}/routes/{route}";
    let event_types = "/api/v1/workspaces/{ws}/event-types";
    let event_type = "/api/v1/workspaces/{ws}/event-types/{name}";
    let test_stream: &'static [(&'static str, SchemaFn)] =
        &[("step", schema::<StepReport>), ("done", schema::<TestDone>)];
    vec![
        (
            doc("get", "Liveness: answers while the process runs", "health")
                .with(Access::Open)
                .returns::<Health>(200),
            "/healthz",
            get(health::healthz),
        ),
        (
            doc("get", "Readiness: 200 once the database answers", "health")
                .with(Access::Open)
                .returns::<Health>(200)
                .may_answer(&[503]),
            "/readyz",
            get(health::readyz),
        ),
        (
            doc("get", "Prometheus metrics (behind COURIER_METRICS_TOKEN when set)", "health")
                .with(Access::Open)
                .text("text/plain")
                .may_answer(&[401]),
            "/metrics",
            get(observe::metrics),
        ),
        (
            doc("get", "This OpenAPI 3.1 document", "health")
                .with(Access::Open)
                .returns::<serde_json::Map<String, serde_json::Value>>(200),
            "/api/v1/openapi.json",
            get(openapi::serve),
        ),
        (
            doc(
                "get",
                "The catalog: every connector with its config and auth_config JSON Schemas",
                "catalog",
            )
            .with(Access::AnyKey)
            .returns::<CatalogDocument>(200),
            "/api/v1/catalog/connectors",
            get(catalog::list),
        ),
        (
            doc("get", "One connector's catalog entry", "catalog")
                .with(Access::AnyKey)
                .returns::<ConnectorEntry>(200),
            "/api/v1/catalog/connectors/{type}",
            get(catalog::one),
        ),
        (
            doc(
                "get",
                "Workspaces: every one for the operator (?external_id= finds one), else the key's own",
                "workspaces",
            )
            .with(Access::AnyKey)
            .query::<WorkspaceQuery>()
            .returns::<Page<WorkspaceView>>(200),
            "/api/v1/workspaces",
            get(workspaces::list),
        ),
        (
            doc("post", "Create a workspace (operator)", "workspaces")
                .with(Access::Operator)
                .audited("workspace.create")
                .body::<WorkspaceCreate>()
                .returns::<WorkspaceView>(201)
                .may_answer(&[409]),
            "/api/v1/workspaces",
            post(workspaces::create),
        ),
        (
            doc("get", "Get a workspace", "workspaces")
                .with(Access::AnyKey)
                .returns::<WorkspaceView>(200),
            ws,
            get(workspaces::get),
        ),
        (
            doc(
                "patch",
                "Update a workspace's name, external_id, metadata or limits (operator)",
                "workspaces",
            )
            .with(Access::Operator)
            .audited("workspace.update")
            .body::<WorkspacePatch>()
            .returns::<WorkspaceView>(200)
            .may_answer(&[409]),
            ws,
            patch(workspaces::patch),
        ),
        (
            doc(
                "delete",
                "Delete a workspace with everything in it: destinations, secrets, routes, events, deliveries, keys (operator)",
                "workspaces",
            )
            .with(Access::Operator)
            .audited("workspace.delete")
            .empty(204, "deleted")
            .may_answer(&[409]),
            ws,
            delete(workspaces::delete),
        ),
        (
            doc(
                "get",
                "The audit log: changes made through the API, newest first",
                "audit",
            )
            .with(Access::Admin)
            .query::<AuditQuery>()
            .returns::<Page<AuditEntry>>(200),
            "/api/v1/workspaces/{ws}/audit-log",
            get(audit::list),
        ),
        (
            doc(
                "get",
                "List the workspace's API keys (never the keys themselves)",
                "api-keys",
            )
            .with(Access::Admin)
            .query::<ApiKeyQuery>()
            .returns::<Page<ApiKey>>(200),
            "/api/v1/workspaces/{ws}/api-keys",
            get(api_keys::list),
        ),
        (
            doc(
                "post",
                "Create an API key; the key is in this answer only",
                "api-keys",
            )
            .with(Access::Admin)
            .audited("api_key.create")
            .body::<ApiKeyCreate>()
            .returns::<CreatedApiKey>(201),
            "/api/v1/workspaces/{ws}/api-keys",
            post(api_keys::create),
        ),
        (
            doc("get", "Get an API key's name, role, prefix and use", "api-keys")
                .with(Access::Admin)
                .returns::<ApiKey>(200),
            "/api/v1/workspaces/{ws}/api-keys/{key}",
            get(api_keys::get),
        ),
        (
            doc("patch", "Change an API key's name, role or expiry", "api-keys")
                .with(Access::Admin)
                .audited("api_key.update")
                .body::<ApiKeyPatch>()
                .returns::<ApiKey>(200),
            "/api/v1/workspaces/{ws}/api-keys/{key}",
            patch(api_keys::patch),
        ),
        (
            doc("delete", "Revoke an API key (401 for it at once)", "api-keys")
                .with(Access::Admin)
                .audited("api_key.revoke")
                .empty(204, "revoked"),
            "/api/v1/workspaces/{ws}/api-keys/{key}",
            delete(api_keys::delete),
        ),
        (
            doc("get", "List destinations", "destinations")
                .with(Access::Read)
                .query::<DestinationQuery>()
                .returns::<Page<DestinationView>>(200),
            destinations,
            get(destinations::list),
        ),
        (
            doc(
                "post",
                "Create a destination (a webhook without signing_secret gets one, returned once)",
                "destinations",
            )
            .with(Access::Write)
            .audited("destination.create")
            .body::<DestinationCreate>()
            .returns::<DestinationView>(201)
            .may_answer(&[409]),
            destinations,
            post(destinations::create),
        ),
        (
            doc(
                "post",
                "Test a new connection (Server-Sent Events: step per step, then done)",
                "destinations",
            )
            .with(Access::Write)
            .body::<TestInput>()
            .streams(test_stream),
            "/api/v1/workspaces/{ws}/destinations/test",
            post(testing::test_new),
        ),
        (
            doc("get", "Get a destination", "destinations")
                .with(Access::Read)
                .query::<DestinationGetQuery>()
                .returns::<DestinationView>(200),
            destination,
            get(destinations::get),
        ),
        (
            doc(
                "put",
                "Update a destination: given fields replace stored ones; an omitted auth_config is kept",
                "destinations",
            )
            .with(Access::Write)
            .audited("destination.update")
            .body::<DestinationUpdate>()
            .returns::<DestinationView>(200)
            .may_answer(&[409]),
            destination,
            put(destinations::put),
        ),
        (
            doc(
                "patch",
                "Update a destination: config and auth_config are merged (RFC 7396)",
                "destinations",
            )
            .with(Access::Write)
            .audited("destination.update")
            .body::<DestinationUpdate>()
            .returns::<DestinationView>(200)
            .may_answer(&[409]),
            destination,
            patch(destinations::patch),
        ),
        (
            doc(
                "delete",
                "Delete a destination (409 while active routes send to it)",
                "destinations",
            )
            .with(Access::Write)
            .audited("destination.delete")
            .empty(204, "deleted")
            .may_answer(&[409]),
            destination,
            delete(destinations::delete),
        ),
        (
            doc(
                "post",
                "Test a stored destination and record its status (Server-Sent Events)",
                "destinations",
            )
            .with(Access::Write)
            .streams(test_stream)
            .may_answer(&[409]),
            "/api/v1/workspaces/{ws}/destinations/{dest}/test",
            post(testing::test_existing),
        ),
        (
            doc("get", "The fields the destination accepts", "destinations")
                .with(Access::Read)
                .returns::<Vec<Field>>(200)
                .may_answer(&[409]),
            "/api/v1/workspaces/{ws}/destinations/{dest}/fields",
            get(testing::fields),
        ),
        (
            doc(
                "post",
                "Rotate the webhook signing secret (the old one signs too for 24 hours)",
                "destinations",
            )
            .with(Access::Write)
            .audited("destination.rotate_secret")
            .returns::<Rotated>(200)
            .may_answer(&[409]),
            "/api/v1/workspaces/{ws}/destinations/{dest}/rotate-secret",
            post(secrets::rotate),
        ),
        (
            doc(
                "post",
                "Discard the destination's waiting deliveries (held while it is disabled or awaiting reauthorization); they end failed and stay replayable",
                "destinations",
            )
            .with(Access::Write)
            .audited("destination.discard_held")
            .returns::<deliveries::Discarded>(200),
            "/api/v1/workspaces/{ws}/destinations/{dest}/discard-held",
            post(deliveries::discard_held),
        ),
        (
            doc(
                "post",
                "Start connecting an OAuth destination: the provider's authorization URL",
                "oauth",
            )
            .with(Access::Write)
            .audited("oauth.start")
            .body::<OAuthStart>()
            .returns::<OAuthStarted>(200)
            .may_answer(&[409]),
            "/api/v1/workspaces/{ws}/oauth/{type}/start",
            post(oauth::start),
        ),
        (
            doc(
                "get",
                "Where the provider sends the browser back: checks state and PKCE, stores the tokens sealed, marks the destination connected",
                "oauth",
            )
            .with(Access::Open)
            .query::<CallbackQuery>()
            .text("text/html")
            .may_answer(&[303, 400]),
            "/api/v1/oauth/callback",
            get(oauth::callback),
        ),
        (
            doc("get", "Role permissions on a destination", "destinations")
                .with(Access::Read)
                .returns::<Vec<RolePermissions>>(200),
            "/api/v1/workspaces/{ws}/destinations/{dest}/permissions",
            get(permissions::get),
        ),
        (
            doc(
                "put",
                "Change the member role's permissions (admins only)",
                "destinations",
            )
            .with(Access::Admin)
            .audited("destination.permissions.update")
            .body::<PermissionChanges>()
            .returns::<Vec<RolePermissions>>(200)
            .may_answer(&[409]),
            "/api/v1/workspaces/{ws}/destinations/{dest}/permissions",
            put(permissions::put),
        ),
        (
            doc(
                "post",
                "Accept an event, or {\"events\": [...]} (up to 1,000), once stored with its deliveries",
                "events",
            )
            .with(Access::Publish)
            .body::<EventInput>()
            .returns::<AcceptedAnswer>(202)
            .may_answer(&[409, 503]),
            "/api/v1/workspaces/{ws}/events",
            post(events::create),
        ),
        (
            doc("get", "Accepted events, newest first", "events")
                .with(Access::Read)
                .query::<EventQuery>()
                .returns::<Page<Event>>(200),
            "/api/v1/workspaces/{ws}/events",
            get(deliveries::events),
        ),
        (
            doc("get", "One event with its payload and deliveries", "events")
                .with(Access::Read)
                .returns::<EventDetail>(200),
            "/api/v1/workspaces/{ws}/events/{event}",
            get(deliveries::event),
        ),
        (
            doc("get", "List the workspace's event types, by name", "event-types")
                .with(Access::Read)
                .returns::<Page<EventTypeRow>>(200),
            event_types,
            get(event_types::list),
        ),
        (
            doc(
                "post",
                "Define an event type: description, payload schema, validation",
                "event-types",
            )
            .with(Access::Write)
            .audited("event_type.create")
            .body::<EventTypeInput>()
            .returns::<EventTypeRow>(201)
            .may_answer(&[409]),
            event_types,
            post(event_types::create),
        ),
        (
            doc("get", "Get an event type", "event-types")
                .with(Access::Read)
                .returns::<EventTypeRow>(200),
            event_type,
            get(event_types::get),
        ),
        (
            doc("put", "Replace an event type (all but its name)", "event-types")
                .with(Access::Write)
                .audited("event_type.update")
                .body::<EventTypeSpec>()
                .returns::<EventTypeRow>(200),
            event_type,
            put(event_types::put),
        ),
        (
            doc("delete", "Delete an event type", "event-types")
                .with(Access::Write)
                .audited("event_type.delete")
                .empty(204, "deleted"),
            event_type,
            delete(event_types::delete),
        ),
        (
            doc("get", "List routes", "routes")
                .with(Access::Read)
                .query::<RouteQuery>()
                .returns::<Page<RouteRow>>(200),
            routes,
            get(event_routes::list),
        ),
        (
            doc(
                "post",
                "Create a route: event types to a destination, with a field mapping",
                "routes",
            )
            .with(Access::Write)
            .audited("route.create")
            .body::<RouteInput>()
            .returns::<RouteRow>(201)
            .may_answer(&[409]),
            routes,
            post(event_routes::create),
        ),
        (
            doc("get", "Get a route", "routes")
                .with(Access::Read)
                .returns::<RouteRow>(200),
            route,
            get(event_routes::get),
        ),
        (
            doc("put", "Replace a route (the body is the whole route)", "routes")
                .with(Access::Write)
                .audited("route.update")
                .body::<RouteInput>()
                .returns::<RouteRow>(200)
                .may_answer(&[409]),
            route,
            put(event_routes::put),
        ),
        (
            doc("patch", "Update a route (given fields replace stored ones)", "routes")
                .with(Access::Write)
                .audited("route.update")
                .body::<RoutePatch>()
                .returns::<RouteRow>(200)
                .may_answer(&[409]),
            route,
            patch(event_routes::patch),
        ),
        (
            doc("delete", "Delete a route", "routes")
                .with(Access::Write)
                .audited("route.delete")
                .empty(204, "deleted"),
            route,
            delete(event_routes::delete),
        ),
        (
            doc(
                "get",
                "The attempt log: deliveries, newest first",
                "deliveries",
            )
            .with(Access::Read)
            .query::<DeliveryQuery>()
            .returns::<Page<Delivery>>(200),
            "/api/v1/workspaces/{ws}/deliveries",
            get(deliveries::list),
        ),
        (
            doc(
                "post",
                "Replay ended deliveries by filter (failed ones by default)",
                "deliveries",
            )
            .with(Access::Write)
            .audited("delivery.replay")
            .optional_body::<ReplayInput>()
            .returns::<Queued>(200),
            "/api/v1/workspaces/{ws}/deliveries/replay",
            post(deliveries::replay),
        ),
        (
            doc("get", "One delivery with every attempt", "deliveries")
                .with(Access::Read)
                .returns::<DeliveryDetail>(200),
            "/api/v1/workspaces/{ws}/deliveries/{delivery}",
            get(deliveries::get),
        ),
        (
            doc(
                "post",
                "Retry one delivery now, with a fresh attempt budget",
                "deliveries",
            )
            .with(Access::Write)
            .audited("delivery.retry")
            .returns::<Queued>(200)
            .may_answer(&[409]),
            "/api/v1/workspaces/{ws}/deliveries/{delivery}/retry",
            post(deliveries::retry),
        ),
        (
            doc(
                "post",
                "Make a portal session: a URL (with a one-time token) that opens the workspace's destinations portal with these capabilities",
                "portal",
            )
            .with(Access::Admin)
            .audited("portal_session.create")
            .body::<PortalSessionCreate>()
            .returns::<PortalSessionCreated>(201),
            "/api/v1/workspaces/{ws}/portal-sessions",
            post(portal_sessions::create),
        ),
        (
            doc(
                "get",
                "The calling portal session: its workspace, capabilities, theme and CSRF token (an API key has none: 404)",
                "portal",
            )
            .with(Access::AnyKey)
            .returns::<PortalSessionView>(200)
            .may_answer(&[404]),
            "/api/v1/portal/session",
            get(portal_sessions::current),
        ),
        (
            doc("delete", "End the calling portal session", "portal")
                .with(Access::AnyKey)
                .empty(204, "Ended; the cookie is cleared")
                .may_answer(&[404]),
            "/api/v1/portal/session",
            delete(portal_sessions::end),
        ),
        (
            doc(
                "get",
                "Where a portal URL leads: a page naming the portal, with the button that opens it (fetching the URL does not use the token)",
                "portal",
            )
            .with(Access::Open)
            .query::<crate::portal::exchange::ExchangeQuery>()
            .text("text/html")
            .may_answer(&[400]),
            "/portal/open",
            get(crate::portal::exchange::show),
        ),
        (
            doc(
                "post",
                "The portal page's button (a form with `token`, from this origin only): trades the one-time token for the session's HttpOnly cookie and sends the browser on to /portal/ without it",
                "portal",
            )
            .with(Access::Open)
            .text("text/html")
            .may_answer(&[303, 400, 403]),
            "/portal/open",
            post(crate::portal::exchange::exchange),
        ),
    ]
    .into_iter()
    .map(|(doc, path, method_router)| {
        let portal = super::capabilities::class_of(doc.method, path);
        (Doc { portal, ..doc }, path, method_router)
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_declares_its_access_and_a_route_without_is_refused() {
        assert_eq!(check(&table()), Ok(()));
        let mut unguarded = table();
        unguarded[0].0.access = None;
        let refused = check(&unguarded).unwrap_err();
        assert!(
            refused.contains("/healthz") && refused.contains("declares no access"),
            "{refused}"
        );
    }

    #[test]
    fn the_readme_shows_the_permission_table() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"));
        let table = access_table_markdown();
        assert!(
            readme.contains(&table),
            "README.md's permission table is out of date; replace it with:\n\n{table}"
        );
    }
}

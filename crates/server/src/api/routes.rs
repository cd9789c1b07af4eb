//! Every route with its documentation, in one table: the router is built from it and so is the
//! OpenAPI document, so the two cannot disagree.

use std::sync::Arc;

use axum::routing::{MethodRouter, delete, get, patch, post, put};

use super::{
    AppState, catalog, deliveries, destinations, event_routes, events, health, oauth, observe,
    openapi, permissions, secrets, testing,
};

/// What the OpenAPI document says about one operation.
#[derive(Debug, Clone, Copy)]
pub struct Doc {
    pub method: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    /// Needs `Authorization: Bearer <key>`.
    pub auth: bool,
    /// The request body's schema, by name in `components.schemas`.
    pub body: Option<&'static str>,
    /// The success status and the response schema's name (`None`: free-form).
    pub ok: (u16, Option<&'static str>),
    /// The response is a Server-Sent Events stream.
    pub sse: bool,
}

const fn doc(method: &'static str, summary: &'static str, tag: &'static str) -> Doc {
    Doc {
        method,
        summary,
        tag,
        auth: true,
        body: None,
        ok: (200, None),
        sse: false,
    }
}

type Route = (Doc, &'static str, MethodRouter<Arc<AppState>>);

pub fn table() -> Vec<Route> {
    let destinations_path = "/api/v1/workspaces/{ws}/destinations";
    let destination_path = "/api/v1/workspaces/{ws}/destinations/{dest}";
    vec![
        (
            Doc {
                auth: false,
                ..doc("get", "Liveness: answers while the process runs", "health")
            },
            "/healthz",
            get(health::healthz),
        ),
        (
            Doc {
                auth: false,
                ..doc("get", "Readiness: 200 once the database answers", "health")
            },
            "/readyz",
            get(health::readyz),
        ),
        (
            Doc {
                auth: false,
                ..doc("get", "Prometheus metrics", "health")
            },
            "/metrics",
            get(observe::metrics),
        ),
        (
            Doc {
                auth: false,
                ..doc("get", "This OpenAPI 3.1 document", "health")
            },
            "/api/v1/openapi.json",
            get(openapi::serve),
        ),
        (
            doc(
                "get",
                "The catalog: every connector with its config and auth_config JSON Schemas",
                "catalog",
            ),
            "/api/v1/catalog/connectors",
            get(catalog::list),
        ),
        (
            doc("get", "One connector's catalog entry", "catalog"),
            "/api/v1/catalog/connectors/{type}",
            get(catalog::one),
        ),
        (
            doc("get", "The workspaces this key can see", "workspaces"),
            "/api/v1/workspaces",
            get(catalog::workspaces),
        ),
        (
            Doc {
                ok: (200, Some("DestinationList")),
                ..doc("get", "List destinations", "destinations")
            },
            destinations_path,
            get(destinations::list),
        ),
        (
            Doc {
                body: Some("DestinationInput"),
                ok: (201, Some("Destination")),
                ..doc(
                    "post",
                    "Create a destination (a webhook without signing_secret gets one, returned once)",
                    "destinations",
                )
            },
            destinations_path,
            post(destinations::create),
        ),
        (
            Doc {
                body: Some("TestInput"),
                sse: true,
                ..doc(
                    "post",
                    "Test a new connection (Server-Sent Events: step*, done)",
                    "destinations",
                )
            },
            "/api/v1/workspaces/{ws}/destinations/test",
            post(testing::test_new),
        ),
        (
            Doc {
                ok: (200, Some("Destination")),
                ..doc("get", "Get a destination", "destinations")
            },
            destination_path,
            get(destinations::get),
        ),
        (
            Doc {
                body: Some("DestinationInput"),
                ok: (200, Some("Destination")),
                ..doc(
                    "put",
                    "Update a destination: given fields replace stored ones; an omitted auth_config is kept",
                    "destinations",
                )
            },
            destination_path,
            put(destinations::put),
        ),
        (
            Doc {
                body: Some("DestinationInput"),
                ok: (200, Some("Destination")),
                ..doc(
                    "patch",
                    "Update a destination: config and auth_config are merged (RFC 7396)",
                    "destinations",
                )
            },
            destination_path,
            patch(destinations::patch),
        ),
        (
            doc("delete", "Delete a destination", "destinations"),
            destination_path,
            delete(destinations::delete),
        ),
        (
            Doc {
                sse: true,
                ..doc(
                    "post",
                    "Test a stored destination and record its status (Server-Sent Events)",
                    "destinations",
                )
            },
            "/api/v1/workspaces/{ws}/destinations/{dest}/test",
            post(testing::test_existing),
        ),
        (
            doc("get", "The fields the destination accepts", "destinations"),
            "/api/v1/workspaces/{ws}/destinations/{dest}/fields",
            get(testing::fields),
        ),
        (
            doc(
                "post",
                "Rotate the webhook signing secret (the old one signs too for 24 hours)",
                "destinations",
            ),
            "/api/v1/workspaces/{ws}/destinations/{dest}/rotate-secret",
            post(secrets::rotate),
        ),
        (
            Doc {
                body: Some("OAuthStart"),
                ok: (200, Some("OAuthStarted")),
                ..doc(
                    "post",
                    "Start connecting an OAuth destination: the provider's authorization URL",
                    "oauth",
                )
            },
            "/api/v1/workspaces/{ws}/oauth/{type}/start",
            post(oauth::start),
        ),
        (
            Doc {
                auth: false,
                ..doc(
                    "get",
                    "Where the provider sends the browser back: checks state and PKCE, stores the tokens sealed, marks the destination connected",
                    "oauth",
                )
            },
            "/api/v1/oauth/callback",
            get(oauth::callback),
        ),
        (
            Doc {
                ok: (200, Some("Permissions")),
                ..doc("get", "Role permissions on a destination", "destinations")
            },
            "/api/v1/workspaces/{ws}/destinations/{dest}/permissions",
            get(permissions::get),
        ),
        (
            Doc {
                body: Some("Permissions"),
                ok: (200, Some("Permissions")),
                ..doc(
                    "put",
                    "Change the member role's permissions (admins only)",
                    "destinations",
                )
            },
            "/api/v1/workspaces/{ws}/destinations/{dest}/permissions",
            put(permissions::put),
        ),
        (
            Doc {
                body: Some("EventInput"),
                ok: (202, Some("Accepted")),
                ..doc(
                    "post",
                    "Accept an event, or {\"events\": [...]} (up to 1,000), once stored with its deliveries",
                    "events",
                )
            },
            "/api/v1/workspaces/{ws}/events",
            post(events::create),
        ),
        (
            doc("get", "List routes", "routes"),
            "/api/v1/workspaces/{ws}/routes",
            get(event_routes::list),
        ),
        (
            Doc {
                body: Some("RouteInput"),
                ok: (201, None),
                ..doc(
                    "post",
                    "Create a route: event types to a destination, with a field mapping",
                    "routes",
                )
            },
            "/api/v1/workspaces/{ws}/routes",
            post(event_routes::create),
        ),
        (
            doc("get", "Get a route", "routes"),
            "/api/v1/workspaces/{ws}/routes/{route}",
            get(event_routes::get),
        ),
        (
            Doc {
                body: Some("RouteInput"),
                ..doc(
                    "put",
                    "Update a route (given fields replace stored ones)",
                    "routes",
                )
            },
            "/api/v1/workspaces/{ws}/routes/{route}",
            put(event_routes::put),
        ),
        (
            doc("delete", "Delete a route", "routes"),
            "/api/v1/workspaces/{ws}/routes/{route}",
            delete(event_routes::delete),
        ),
        (
            doc(
                "get",
                "The attempt log: deliveries by destination_id and status, newest first (cursor paging)",
                "deliveries",
            ),
            "/api/v1/workspaces/{ws}/deliveries",
            get(deliveries::list),
        ),
        (
            doc(
                "post",
                "Replay deliveries by filter ({destination_id?, status: failed|delivered})",
                "deliveries",
            ),
            "/api/v1/workspaces/{ws}/deliveries/replay",
            post(deliveries::replay),
        ),
        (
            doc("get", "One delivery with every attempt", "deliveries"),
            "/api/v1/workspaces/{ws}/deliveries/{delivery}",
            get(deliveries::get),
        ),
        (
            doc(
                "post",
                "Retry one delivery now, with a fresh attempt budget",
                "deliveries",
            ),
            "/api/v1/workspaces/{ws}/deliveries/{delivery}/retry",
            post(deliveries::retry),
        ),
    ]
}

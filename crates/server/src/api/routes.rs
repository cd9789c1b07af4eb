//! Every route with its documentation, in one table: the router is built from it and so is the
//! OpenAPI document, so the two cannot disagree.

use std::sync::Arc;

use axum::routing::{MethodRouter, delete, get, patch, post, put};

use super::access::Access;
use super::{
    AppState, api_keys, audit, catalog, deliveries, destinations, event_routes, events, health,
    oauth, observe, openapi, permissions, secrets, testing, workspaces,
};

/// What the OpenAPI document says about one operation.
#[derive(Debug, Clone, Copy)]
pub struct Doc {
    pub method: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    /// Who may call it (the router refuses to start with a route that declares none).
    pub access: Option<Access>,
    /// The action the audit log records for a call (routes that change something).
    pub audit: Option<&'static str>,
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
        access: None,
        audit: None,
        body: None,
        ok: (200, None),
        sse: false,
    }
}

impl Doc {
    /// The access the route needs.
    const fn with(self, access: Access) -> Doc {
        Doc {
            access: Some(access),
            ..self
        }
    }

    /// Calls are recorded in the audit log as `action`.
    const fn audited(self, action: &'static str) -> Doc {
        Doc {
            audit: Some(action),
            ..self
        }
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
        "| Route | Access | operator | admin | member | publisher | viewer |\n|---|---|---|---|---|---|---|\n",
    );
    for (method, path, access) in access_list() {
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
            "| `{} {path}` | {} | {} |\n",
            method.to_uppercase(),
            access.as_str(),
            cells.join(" | ")
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
    let destinations_path = "/api/v1/workspaces/{ws}/destinations";
    let destination_path = "/api/v1/workspaces/{ws}/destinations/{dest}";
    vec![
        (
            doc("get", "Liveness: answers while the process runs", "health").with(Access::Open),
            "/healthz",
            get(health::healthz),
        ),
        (
            doc("get", "Readiness: 200 once the database answers", "health").with(Access::Open),
            "/readyz",
            get(health::readyz),
        ),
        (
            doc("get", "Prometheus metrics", "health").with(Access::Open),
            "/metrics",
            get(observe::metrics),
        ),
        (
            doc("get", "This OpenAPI 3.1 document", "health").with(Access::Open),
            "/api/v1/openapi.json",
            get(openapi::serve),
        ),
        (
            doc(
                "get",
                "The catalog: every connector with its config and auth_config JSON Schemas",
                "catalog",
            ).with(Access::AnyKey),
            "/api/v1/catalog/connectors",
            get(catalog::list),
        ),
        (
            doc("get", "One connector's catalog entry", "catalog").with(Access::AnyKey),
            "/api/v1/catalog/connectors/{type}",
            get(catalog::one),
        ),
        (
            Doc {
                ok: (200, Some("WorkspaceList")),
                ..doc(
                    "get",
                    "Workspaces: every one for the operator (?external_id=, cursor paging), else the key's own",
                    "workspaces",
                )
            }
            .with(Access::AnyKey),
            "/api/v1/workspaces",
            get(workspaces::list),
        ),
        (
            Doc {
                body: Some("WorkspaceInput"),
                ok: (201, Some("Workspace")),
                ..doc(
                    "post",
                    "Create a workspace ({name, external_id?, metadata?, limits?}; operator)",
                    "workspaces",
                )
            }
            .with(Access::Operator).audited("workspace.create"),
            "/api/v1/workspaces",
            post(workspaces::create),
        ),
        (
            Doc {
                ok: (200, Some("Workspace")),
                ..doc("get", "Get a workspace", "workspaces")
            }
            .with(Access::AnyKey),
            "/api/v1/workspaces/{ws}",
            get(workspaces::get),
        ),
        (
            Doc {
                body: Some("WorkspaceInput"),
                ok: (200, Some("Workspace")),
                ..doc(
                    "patch",
                    "Update a workspace's name, external_id, metadata or limits (operator)",
                    "workspaces",
                )
            }
            .with(Access::Operator).audited("workspace.update"),
            "/api/v1/workspaces/{ws}",
            patch(workspaces::patch),
        ),
        (
            Doc {
                ok: (204, None),
                ..doc(
                    "delete",
                    "Delete a workspace with everything in it: destinations, secrets, routes, events, deliveries, keys (operator)",
                    "workspaces",
                )
            }
            .with(Access::Operator).audited("workspace.delete"),
            "/api/v1/workspaces/{ws}",
            delete(workspaces::delete),
        ),
        (
            Doc {
                ok: (200, Some("AuditLog")),
                ..doc(
                    "get",
                    "The audit log: changes made through the API, newest first (?action=&key_id=&resource_id=&outcome=, cursor paging)",
                    "audit",
                )
            }
            .with(Access::Admin),
            "/api/v1/workspaces/{ws}/audit-log",
            get(audit::list),
        ),
        (
            Doc {
                ok: (200, Some("ApiKeyList")),
                ..doc(
                    "get",
                    "List the workspace's API keys (never the keys themselves)",
                    "api-keys",
                )
            }
            .with(Access::Admin),
            "/api/v1/workspaces/{ws}/api-keys",
            get(api_keys::list),
        ),
        (
            Doc {
                body: Some("ApiKeyInput"),
                ok: (201, Some("ApiKey")),
                ..doc(
                    "post",
                    "Create an API key ({name, role: admin|member|publisher|viewer, expires_at?}); the key is in this answer only",
                    "api-keys",
                )
            }
            .with(Access::Admin).audited("api_key.create"),
            "/api/v1/workspaces/{ws}/api-keys",
            post(api_keys::create),
        ),
        (
            Doc {
                ok: (200, Some("ApiKey")),
                ..doc("get", "Get an API key's name, role, prefix and use", "api-keys")
            }
            .with(Access::Admin),
            "/api/v1/workspaces/{ws}/api-keys/{key}",
            get(api_keys::get),
        ),
        (
            Doc {
                body: Some("ApiKeyInput"),
                ok: (200, Some("ApiKey")),
                ..doc("patch", "Change an API key's name, role or expiry", "api-keys")
            }
            .with(Access::Admin).audited("api_key.update"),
            "/api/v1/workspaces/{ws}/api-keys/{key}",
            patch(api_keys::patch),
        ),
        (
            Doc {
                ok: (204, None),
                ..doc("delete", "Revoke an API key (401 for it at once)", "api-keys")
            }
            .with(Access::Admin).audited("api_key.revoke"),
            "/api/v1/workspaces/{ws}/api-keys/{key}",
            delete(api_keys::delete),
        ),
        (
            Doc {
                ok: (200, Some("DestinationList")),
                ..doc("get", "List destinations", "destinations")
            }.with(Access::Read),
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
            }.with(Access::Write).audited("destination.create"),
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
            }.with(Access::Write),
            "/api/v1/workspaces/{ws}/destinations/test",
            post(testing::test_new),
        ),
        (
            Doc {
                ok: (200, Some("Destination")),
                ..doc("get", "Get a destination", "destinations")
            }.with(Access::Read),
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
            }.with(Access::Write).audited("destination.update"),
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
            }.with(Access::Write).audited("destination.update"),
            destination_path,
            patch(destinations::patch),
        ),
        (
            doc("delete", "Delete a destination", "destinations").with(Access::Write).audited("destination.delete"),
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
            }.with(Access::Write),
            "/api/v1/workspaces/{ws}/destinations/{dest}/test",
            post(testing::test_existing),
        ),
        (
            doc("get", "The fields the destination accepts", "destinations").with(Access::Read),
            "/api/v1/workspaces/{ws}/destinations/{dest}/fields",
            get(testing::fields),
        ),
        (
            doc(
                "post",
                "Rotate the webhook signing secret (the old one signs too for 24 hours)",
                "destinations",
            ).with(Access::Write).audited("destination.rotate_secret"),
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
            }.with(Access::Write).audited("oauth.start"),
            "/api/v1/workspaces/{ws}/oauth/{type}/start",
            post(oauth::start),
        ),
        (
            doc(
                    "get",
                    "Where the provider sends the browser back: checks state and PKCE, stores the tokens sealed, marks the destination connected",
                    "oauth",
                ).with(Access::Open),
            "/api/v1/oauth/callback",
            get(oauth::callback),
        ),
        (
            Doc {
                ok: (200, Some("Permissions")),
                ..doc("get", "Role permissions on a destination", "destinations")
            }.with(Access::Read),
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
            }.with(Access::Admin).audited("destination.permissions.update"),
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
            }.with(Access::Publish),
            "/api/v1/workspaces/{ws}/events",
            post(events::create),
        ),
        (
            doc("get", "List routes", "routes").with(Access::Read),
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
            }.with(Access::Write).audited("route.create"),
            "/api/v1/workspaces/{ws}/routes",
            post(event_routes::create),
        ),
        (
            doc("get", "Get a route", "routes").with(Access::Read),
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
            }.with(Access::Write).audited("route.update"),
            "/api/v1/workspaces/{ws}/routes/{route}",
            put(event_routes::put),
        ),
        (
            doc("delete", "Delete a route", "routes").with(Access::Write).audited("route.delete"),
            "/api/v1/workspaces/{ws}/routes/{route}",
            delete(event_routes::delete),
        ),
        (
            doc(
                "get",
                "The attempt log: deliveries by destination_id and status, newest first (cursor paging)",
                "deliveries",
            ).with(Access::Read),
            "/api/v1/workspaces/{ws}/deliveries",
            get(deliveries::list),
        ),
        (
            doc(
                "post",
                "Replay deliveries by filter ({destination_id?, status: failed|delivered})",
                "deliveries",
            ).with(Access::Write).audited("delivery.replay"),
            "/api/v1/workspaces/{ws}/deliveries/replay",
            post(deliveries::replay),
        ),
        (
            doc("get", "One delivery with every attempt", "deliveries").with(Access::Read),
            "/api/v1/workspaces/{ws}/deliveries/{delivery}",
            get(deliveries::get),
        ),
        (
            doc(
                "post",
                "Retry one delivery now, with a fresh attempt budget",
                "deliveries",
            ).with(Access::Write).audited("delivery.retry"),
            "/api/v1/workspaces/{ws}/deliveries/{delivery}/retry",
            post(deliveries::retry),
        ),
    ]
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

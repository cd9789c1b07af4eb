//! What a portal session may do. Every route declares its [`PortalClass`] (closed to portal
//! sessions unless it says otherwise), and a session carries its [`PortalScope`]: read only or
//! not, the destination types it sees, whether it manages routes. The guard checks the class;
//! destination types are checked where destinations are loaded, listed and created.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a route is to a portal session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PortalClass {
    /// Not for portal sessions: keys, permissions, audit, events, workspaces, sessions.
    #[default]
    No,
    /// Reading destinations, routes, deliveries, event types and the catalog.
    Read,
    /// Changing, testing, connecting destinations and retrying their deliveries.
    Destinations,
    /// Changing routes.
    Routes,
    /// The session itself (what it may do; ending it).
    Session,
}

/// What a portal session may do, as its creator chose.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalScope {
    /// Reading only: nothing can be created, changed, tested or retried.
    #[serde(default)]
    pub read_only: bool,
    /// The destination types the session sees and may create (absent: every type in the
    /// catalog). Destinations of other types are not found.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub destination_types: Option<Vec<String>>,
    /// Whether routes may be created, changed and deleted (they are always readable).
    #[serde(default)]
    pub manage_routes: bool,
}

/// What a portal session may do, as it reads it back.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PortalScopeView {
    pub read_only: bool,
    /// The destination types it sees (null: every type).
    pub destination_types: Option<Vec<String>>,
    pub manage_routes: bool,
}

impl From<&PortalScope> for PortalScopeView {
    fn from(scope: &PortalScope) -> Self {
        PortalScopeView {
            read_only: scope.read_only,
            destination_types: scope.destination_types.clone(),
            manage_routes: scope.manage_routes,
        }
    }
}

impl PortalClass {
    /// As the README's permission table shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            PortalClass::No => "–",
            PortalClass::Read => "read",
            PortalClass::Destinations => "destinations",
            PortalClass::Routes => "routes",
            PortalClass::Session => "session",
        }
    }
}

/// The class of the route `method path`: the routes a portal works with, listed here in one
/// place; every other route (and any route added later) is closed to portal sessions.
pub fn class_of(method: &str, path: &str) -> PortalClass {
    const WS: &str = "/api/v1/workspaces/{ws}";
    let Some(rest) = path.strip_prefix(WS) else {
        return match (method, path) {
            ("get", "/api/v1/catalog/connectors" | "/api/v1/catalog/connectors/{type}") => {
                PortalClass::Read
            }
            ("get" | "delete", "/api/v1/portal/session") => PortalClass::Session,
            _ => PortalClass::No,
        };
    };
    match (method, rest) {
        (
            "get",
            "/destinations"
            | "/destinations/{dest}"
            | "/event-types"
            | "/event-types/{name}"
            | "/routes"
            | "/routes/{route}"
            | "/deliveries"
            | "/deliveries/{delivery}",
        ) => PortalClass::Read,
        ("post", "/destinations" | "/destinations/test")
        | ("put" | "patch" | "delete", "/destinations/{dest}")
        | (
            "post",
            "/destinations/{dest}/test"
            | "/destinations/{dest}/rotate-secret"
            | "/destinations/{dest}/discard-held"
            | "/oauth/{type}/start"
            | "/deliveries/replay"
            | "/deliveries/{delivery}/retry",
        ) => PortalClass::Destinations,
        // Reading a destination's fields may connect to it: only route editors need them.
        ("post", "/routes")
        | ("put" | "patch" | "delete", "/routes/{route}")
        | ("get", "/destinations/{dest}/fields") => PortalClass::Routes,
        _ => PortalClass::No,
    }
}

impl PortalScope {
    /// Why a route of `class` is refused to this session, if it is.
    pub fn refuses(&self, class: PortalClass) -> Option<&'static str> {
        match class {
            PortalClass::No => Some("this route is not open to portal sessions"),
            PortalClass::Read | PortalClass::Session => None,
            PortalClass::Destinations | PortalClass::Routes if self.read_only => {
                Some("this portal session is read only")
            }
            PortalClass::Routes if !self.manage_routes => {
                Some("this portal session may not manage routes")
            }
            PortalClass::Destinations | PortalClass::Routes => None,
        }
    }

    /// Whether the session sees destinations of type `destination_type`.
    pub fn sees_type(&self, destination_type: &str) -> bool {
        self.destination_types
            .as_ref()
            .is_none_or(|types| types.iter().any(|t| t == destination_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scope_opens_only_its_classes() {
        let full = PortalScope {
            read_only: false,
            destination_types: None,
            manage_routes: true,
        };
        let read_only = PortalScope {
            read_only: true,
            ..full.clone()
        };
        let no_routes = PortalScope {
            manage_routes: false,
            ..full.clone()
        };
        for scope in [&full, &read_only, &no_routes] {
            assert!(scope.refuses(PortalClass::No).is_some());
            assert!(scope.refuses(PortalClass::Read).is_none());
            assert!(scope.refuses(PortalClass::Session).is_none());
        }
        assert!(full.refuses(PortalClass::Destinations).is_none());
        assert!(full.refuses(PortalClass::Routes).is_none());
        assert!(read_only.refuses(PortalClass::Destinations).is_some());
        assert!(read_only.refuses(PortalClass::Routes).is_some());
        assert!(no_routes.refuses(PortalClass::Destinations).is_none());
        assert!(no_routes.refuses(PortalClass::Routes).is_some());
    }

    #[test]
    fn every_class_names_routes_that_exist_and_the_rest_are_closed() {
        let table = crate::api::routes::table();
        let opened: Vec<_> = table
            .iter()
            .filter(|(doc, _, _)| doc.portal != PortalClass::No)
            .map(|(doc, path, _)| (doc.method, *path, doc.portal))
            .collect();
        // 10 reads, 11 destination changes, 4 route changes and the destination fields route
        // editors read, 2 session calls.
        let count = |class| opened.iter().filter(|(_, _, c)| *c == class).count();
        assert_eq!(count(PortalClass::Read), 10, "{opened:#?}");
        assert_eq!(count(PortalClass::Destinations), 11, "{opened:#?}");
        assert_eq!(count(PortalClass::Routes), 5, "{opened:#?}");
        assert_eq!(count(PortalClass::Session), 2, "{opened:#?}");
        for (doc, path, _) in &table {
            let closed = path.contains("/api-keys")
                || path.contains("/permissions")
                || path.contains("/audit-log")
                || path.contains("/events")
                || path.ends_with("/portal-sessions")
                // The workspace holds the platform's own metadata about its customer.
                || *path == "/api/v1/workspaces"
                || *path == "/api/v1/workspaces/{ws}"
                || (path.contains("/event-types") && doc.method != "get");
            if closed {
                assert_eq!(doc.portal, PortalClass::No, "{} {path}", doc.method);
            }
        }
    }

    #[test]
    fn types_limit_what_is_seen() {
        let all = PortalScope::default();
        assert!(all.sees_type("s3"));
        let webhooks = PortalScope {
            destination_types: Some(vec!["webhook".into()]),
            ..PortalScope::default()
        };
        assert!(webhooks.sees_type("webhook"));
        assert!(!webhooks.sees_type("s3"));
    }

    #[test]
    fn unknown_capabilities_are_refused() {
        let parsed: Result<PortalScope, _> =
            serde_json::from_value(serde_json::json!({"read_only": true, "admin": true}));
        assert!(parsed.is_err());
    }
}

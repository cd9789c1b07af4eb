//! The permission table: every route declares the [`Access`] it needs, and [`guard`] checks the
//! caller before the handler runs: the key (401), its rate limit (429), its workspace (another
//! workspace's routes are 404, never a hint that they exist), its role (403) and the
//! workspace's request size limit (413). Handlers then take the checked [`Principal`](super::auth::Principal);
//! per-destination member permissions are theirs to check.
//! A portal session (by its cookie) is checked against the route's [`PortalClass`] and, for
//! calls that change something, against CSRF.
//! Calls to routes that change something are recorded in the audit log once answered.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::audit::Pending;
use super::auth::caller;
use super::capabilities::PortalClass;
use super::error::ApiError;
use crate::store::Role;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No key: health, metrics (behind their own token), the API document, the OAuth callback
    /// (checked by its state).
    Open,
    /// Any valid key: the catalog, the workspaces a key can see.
    AnyKey,
    /// Reading a workspace's destinations, routes and deliveries: every role but publisher.
    Read,
    /// Sending events: operator, admin, member, publisher.
    Publish,
    /// Changing destinations and routes, testing, replaying: operator, admin, member (a member
    /// subject to each destination's permissions).
    Write,
    /// Keys and permissions of a workspace: operator and admin.
    Admin,
    /// Workspaces themselves: the operator.
    Operator,
}

impl Access {
    /// Every kind, for the table in the README and the tests.
    pub const ALL: [Access; 7] = [
        Access::Open,
        Access::AnyKey,
        Access::Read,
        Access::Publish,
        Access::Write,
        Access::Admin,
        Access::Operator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Access::Open => "open",
            Access::AnyKey => "any key",
            Access::Read => "read",
            Access::Publish => "publish",
            Access::Write => "write",
            Access::Admin => "admin",
            Access::Operator => "operator",
        }
    }

    /// Whether a key with `role` may call a route needing this.
    pub fn allows(self, role: Role) -> bool {
        use Role::*;
        match self {
            Access::Open | Access::AnyKey => true,
            Access::Read => matches!(role, Operator | Admin | Member | Viewer),
            Access::Publish => matches!(role, Operator | Admin | Member | Publisher),
            Access::Write => matches!(role, Operator | Admin | Member),
            Access::Admin => matches!(role, Operator | Admin),
            Access::Operator => role == Operator,
        }
    }
}

/// The workspace a request's path names (`/api/v1/workspaces/{ws}/...`), if any.
fn workspace_in(path: &str) -> Option<&str> {
    path.strip_prefix("/api/v1/workspaces/")
        .and_then(|rest| rest.split('/').next())
        .filter(|ws| !ws.is_empty())
}

/// What the guard of one route checks and records.
#[derive(Debug, Clone, Copy)]
pub struct Guarded {
    pub access: Access,
    /// The audit log's action for calls to the route.
    pub audit: Option<&'static str>,
    /// What the route is to portal sessions.
    pub portal: PortalClass,
}

/// The middleware every route runs behind, with the route's declared access.
pub async fn guard(
    route: Guarded,
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let access = route.access;
    if access == Access::Open {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let principal = match caller(&parts, &state).await {
        Ok(principal) => principal,
        Err(e) => return e.into_response(),
    };
    if let Some(portal) = &principal.portal {
        if let Some(why) = portal.scope.refuses(route.portal) {
            return ApiError::forbidden(why).into_response();
        }
        if let Err(e) = crate::portal::csrf::check(&parts, &state.config, &portal.csrf) {
            return e.into_response();
        }
    }
    let key = &principal.key;
    // Event intake has its own limit, apart from the management API's.
    let limiter = match access {
        Access::Publish => &state.intake_limiter,
        _ => &state.limiter,
    };
    if let Err(wait) = limiter.check(&key.id) {
        return ApiError::rate_limited(wait).into_response();
    }
    // A portal session has no key row to mark.
    if principal.portal.is_none() && state.key_use.due(&key.id) {
        let (store, id) = (state.store.clone(), key.id.clone());
        tokio::spawn(async move {
            if let Err(e) = store.touch_api_key(&id, &crate::ids::now()).await {
                tracing::debug!(error = %format!("{e:#}"), "recording a key's use failed");
            }
        });
    }
    let workspace = workspace_in(parts.uri.path()).map(str::to_string);
    let mut body = body;
    if let Some(ws) = &workspace {
        // Another workspace's key: 404. The operator enters any workspace that exists; one
        // cached read answers that and gives the workspace's limits.
        if principal.key.role != Role::Operator && principal.key.workspace_id != *ws {
            return ApiError::not_found("workspace").into_response();
        }
        let limits = match state.limits.find(&state, ws).await {
            Ok(Some(limits)) => limits,
            Ok(None) => return ApiError::not_found("workspace").into_response(),
            Err(e) => return e.into_response(),
        };
        // The server's own body limit applies to every request already.
        if (limits.max_request_bytes as usize) < state.config.max_body_bytes {
            let max = limits.max_request_bytes as usize;
            let declared = parts
                .headers
                .get(axum::http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok());
            if declared.is_some_and(|n| n > max) {
                return ApiError::payload_too_large().into_response();
            }
            body = axum::body::Body::new(http_body_util::Limited::new(body, max));
        }
        // For handlers that check a count or a rate against them.
        parts.extensions.insert(limits);
    }
    let audit = route
        .audit
        .map(|action| Pending::start(action, &principal.key, workspace.as_deref(), &parts));
    let response = if access.allows(principal.key.role) {
        parts.extensions.insert(principal);
        next.run(Request::from_parts(parts, body)).await
    } else {
        ApiError::forbidden(format!(
            "the {} role cannot call this route (it needs {} access)",
            principal.key.role.as_str(),
            access.as_str()
        ))
        .into_response()
    };
    match audit {
        Some(pending) => pending.finish(&state, response).await,
        None => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_may_do_everything_and_each_role_only_its_part() {
        for access in Access::ALL {
            assert!(access.allows(Role::Operator), "{access:?}");
        }
        assert!(!Access::Operator.allows(Role::Admin));
        assert!(!Access::Admin.allows(Role::Member));
        assert!(!Access::Write.allows(Role::Publisher));
        assert!(!Access::Write.allows(Role::Viewer));
        assert!(!Access::Read.allows(Role::Publisher));
        assert!(!Access::Publish.allows(Role::Viewer));
        assert!(Access::Publish.allows(Role::Publisher));
        assert!(Access::Read.allows(Role::Viewer));
    }

    #[test]
    fn the_workspace_is_read_from_the_path() {
        assert_eq!(workspace_in("/api/v1/workspaces/w1/events"), Some("w1"));
        assert_eq!(workspace_in("/api/v1/workspaces/w1"), Some("w1"));
        assert_eq!(workspace_in("/api/v1/workspaces"), None);
        assert_eq!(workspace_in("/api/v1/workspaces/"), None);
        assert_eq!(workspace_in("/api/v1/catalog/connectors"), None);
    }
}

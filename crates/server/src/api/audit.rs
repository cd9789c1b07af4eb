//! The audit log over HTTP: the guard records each call to a route that changes something
//! (who, the action, the resource, the outcome, the request id; never a body), and
//! `GET /workspaces/{ws}/audit-log` lists a workspace's entries, newest first, with filters
//! and cursor paging.

use axum::Json;
use axum::body::Body;
use axum::extract::{MatchedPath, Path};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ApiResult;
use super::model::{Cursor, Limit, Page, page_size};
use super::query::Params;
use super::{AppState, State};
use crate::ids;
use crate::store::{ApiKey, AuditEntry, AuditFilter};

/// The most of a create's answer read to learn the new resource's id.
const CREATED_BODY_CAP: usize = 1 << 20;

/// A change under way, recorded once it is answered.
#[derive(Debug)]
pub(super) struct Pending {
    action: &'static str,
    key: ApiKey,
    workspace_id: Option<String>,
    resource_id: Option<String>,
    request_id: Option<String>,
    /// A POST to a collection: the new resource's id is in the answer.
    creates: bool,
}

/// The value of the last `{param}` of the matched route in `path`.
fn last_param(template: &str, path: &str) -> Option<String> {
    template
        .split('/')
        .zip(path.split('/'))
        .filter(|(t, _)| t.starts_with('{'))
        .last()
        .map(|(_, value)| value.to_string())
}

impl Pending {
    pub(super) fn start(
        action: &'static str,
        key: &ApiKey,
        workspace_id: Option<&str>,
        parts: &Parts,
    ) -> Pending {
        let template = parts
            .extensions
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        let path = parts.uri.path();
        let creates = parts.method == axum::http::Method::POST
            && !template.ends_with('}')
            && !template.contains("/replay");
        Pending {
            action,
            key: key.clone(),
            workspace_id: workspace_id.map(str::to_string),
            resource_id: (!creates).then(|| last_param(&template, path)).flatten(),
            request_id: parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            creates,
        }
    }

    /// Records the change as answered; the answer goes on unchanged.
    pub(super) async fn finish(self, state: &AppState, response: Response) -> Response {
        let status = response.status();
        let (response, created) = if self.creates && status == StatusCode::CREATED {
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, CREATED_BODY_CAP)
                .await
                .unwrap_or_default();
            let id = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_string));
            (Response::from_parts(parts, Body::from(bytes)), id)
        } else {
            (response, None)
        };
        let home = self.key.workspace_id.clone();
        // A new workspace's log starts with its creation; a deleted one's log went with it,
        // so its deletion is kept in the operator's own.
        let workspace_id = match (self.action, &created) {
            ("workspace.create", Some(id)) => id.clone(),
            ("workspace.delete", _) => home,
            _ => self.workspace_id.unwrap_or(home),
        };
        let change = Change {
            workspace_id,
            key_id: self.key.id.clone(),
            key_name: self.key.name.clone(),
            action: self.action,
            resource_id: self.resource_id.or(created),
            status,
            request_id: self.request_id,
        };
        record(state, change).await;
        response
    }
}

/// A change to record.
#[derive(Debug)]
pub(super) struct Change {
    pub workspace_id: String,
    pub key_id: String,
    pub key_name: String,
    pub action: &'static str,
    pub resource_id: Option<String>,
    /// How it was answered.
    pub status: StatusCode,
    pub request_id: Option<String>,
}

/// Records a change; a failure to record is logged, not passed on (the change is done).
pub(super) async fn record(state: &AppState, change: Change) {
    let outcome = if change.status.is_success() {
        "succeeded"
    } else if change.status == StatusCode::FORBIDDEN {
        "denied"
    } else {
        "failed"
    };
    let entry = AuditEntry {
        id: ids::new_id(),
        workspace_id: change.workspace_id,
        at: ids::now(),
        key_id: change.key_id,
        key_name: change.key_name,
        action: change.action.to_string(),
        resource_id: change.resource_id,
        outcome: outcome.to_string(),
        status: i64::from(change.status.as_u16()),
        request_id: change.request_id,
    };
    if let Err(e) = state.store.record_audit(&entry).await {
        tracing::warn!(error = %format!("{e:#}"), action = entry.action, "recording a change in the audit log failed");
    }
}

/// How a recorded change ended.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    /// Refused for the key's role (403).
    Denied,
    /// Any other error.
    Failed,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

/// `?action=&key_id=&resource_id=&outcome=&limit=&cursor=`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this action, such as `destination.update`.
    #[schemars(length(min = 1, max = 100))]
    action: Option<String>,
    /// Only changes made with this key.
    #[schemars(length(min = 1, max = 100))]
    key_id: Option<String>,
    /// Only changes to this resource.
    #[schemars(length(min = 1, max = 100))]
    resource_id: Option<String>,
    outcome: Option<Outcome>,
    limit: Option<Limit>,
    cursor: Option<Cursor>,
}

/// `GET /workspaces/{ws}/audit-log`: newest first.
pub async fn list(
    state: State,
    Path(ws): Path<String>,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<Page<AuditEntry>>> {
    let limit = page_size(q.limit);
    let filter = AuditFilter {
        action: q.action,
        key_id: q.key_id,
        resource_id: q.resource_id,
        outcome: q.outcome.map(|o| o.as_str().to_string()),
        before: q.cursor.map(|c| c.0),
    };
    let data = state
        .store
        .audit_log(&ws, &filter, i64::from(limit))
        .await?;
    Ok(Json(Page::of(data, limit, |e| &e.id)))
}

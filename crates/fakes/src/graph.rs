//! A fake of Microsoft Graph's drive uploads: the drive (`/me/drive`, `/drives/{id}`), items by
//! path (`/root:/a/b`), simple upload (`:/content`, up to 4 MiB) with a conflict behavior, and
//! upload sessions (`createUploadSession`, fragments in 320 KiB multiples with the total in
//! `Content-Range`, `nextExpectedRanges`, no Authorization header on the upload URL, DELETE to
//! cancel), Graph-shaped errors, and the OAuth provider on the same port.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Method, Request};
use axum::response::Response;
use serde_json::{Value, json};

use crate::faults::{Fault, Logged, Script, Target, fault_response, lock};
use crate::http::{Incoming, content_range, json, router, serve};
use crate::oauth::OAuthFake;

/// Graph's fragment unit: every fragment but the last is a multiple of it.
pub const FRAGMENT_UNIT: usize = 320 * 1024;
/// The largest simple upload Graph accepts.
pub const SIMPLE_LIMIT: usize = 4 * 1024 * 1024;
pub const DRIVE_ID: &str = "drive-fake-1";
/// The SharePoint site whose default library is the fake's drive.
pub const SITE_ID: &str = "fake.sharepoint.com,1111,2222";

/// A stored file.
#[derive(Debug, Clone)]
pub struct GraphItem {
    pub id: String,
    /// The path from the drive's root, without a leading `/`.
    pub path: String,
    pub content: Vec<u8>,
    pub version: u32,
}

#[derive(Debug)]
struct Session {
    path: String,
    behavior: String,
    total: Option<u64>,
    received: Vec<u8>,
}

#[derive(Debug, Default)]
struct Inner {
    folders: BTreeSet<String>,
    items: BTreeMap<String, GraphItem>,
    sessions: HashMap<String, Session>,
    cancelled: u32,
    next: u64,
}

#[derive(Debug, Default)]
struct State {
    oauth: OAuthFake,
    script: Script,
    inner: Mutex<Inner>,
    base: Mutex<String>,
}

/// A running Graph fake; stops when dropped.
#[derive(Debug)]
pub struct GraphFake {
    state: Arc<State>,
    url: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl GraphFake {
    pub async fn start() -> Self {
        let state = Arc::new(State::default());
        lock(&state.inner).folders.insert(String::new());
        let app = router(state.clone(), |s: Arc<State>, req| async move {
            handle(&s, req).await
        });
        let (addr, stop) = serve(app).await;
        let url = format!("http://{addr}");
        *lock(&state.base) = url.clone();
        GraphFake {
            state,
            url,
            _stop: stop,
        }
    }

    /// The Graph base (`graph_base_url`); the token endpoint is `{url}/token`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn oauth(&self) -> &OAuthFake {
        &self.state.oauth
    }

    /// Creates a folder (and its parents) at `path`, e.g. `exports/courier`.
    pub fn add_folder(&self, path: &str) {
        let mut inner = lock(&self.state.inner);
        let mut at = String::new();
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            if !at.is_empty() {
                at.push('/');
            }
            at.push_str(segment);
            inner.folders.insert(at.clone());
        }
    }

    pub fn fail_next(&self, target: Target, fault: Fault) {
        self.state.script.push(target, fault);
    }

    pub fn items(&self) -> Vec<GraphItem> {
        lock(&self.state.inner).items.values().cloned().collect()
    }

    pub fn open_sessions(&self) -> usize {
        lock(&self.state.inner).sessions.len()
    }

    /// Upload sessions cancelled with DELETE.
    pub fn cancelled_sessions(&self) -> u32 {
        lock(&self.state.inner).cancelled
    }

    pub fn requests(&self) -> Vec<Logged> {
        self.state.script.log()
    }
}

fn graph_error(status: u16, code: &str, message: &str) -> Response {
    json(status, json!({"error": {"code": code, "message": message}}))
}

async fn handle(state: &State, req: Request<Body>) -> Response {
    let req = match Incoming::read(req, &state.script).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match (req.method.clone(), req.path.as_str()) {
        (Method::GET, "/authorize") => return state.oauth.authorize(&req),
        (Method::POST, "/token") => return state.oauth.token(&req, &state.script),
        _ => {}
    }
    if let Some(id) = req.path.strip_prefix("/upload-sessions/") {
        return session_request(state, &req, id);
    }
    if !req
        .bearer()
        .is_some_and(|t| state.oauth.is_valid_access(&t))
    {
        return graph_error(
            401,
            "InvalidAuthenticationToken",
            "Access token has expired or is not yet valid.",
        );
    }
    let rest = if let Some(rest) = req.path.strip_prefix("/me/drive") {
        rest.to_string()
    } else if let Some(rest) = req.path.strip_prefix(&format!("/drives/{DRIVE_ID}")) {
        rest.to_string()
    } else if let Some(rest) = req.path.strip_prefix(&format!("/sites/{SITE_ID}/drive")) {
        // A SharePoint site's default document library: the same drive here.
        rest.to_string()
    } else if req.path.starts_with("/drives/") || req.path.starts_with("/sites/") {
        return graph_error(404, "itemNotFound", "The drive could not be found.");
    } else {
        return graph_error(400, "BadRequest", "Resource not found for the segment.");
    };
    let upload = rest.ends_with(":/content") || rest.ends_with(":/createUploadSession");
    let target = if upload {
        Target::Upload
    } else {
        Target::Metadata
    };
    if let Some(resp) = state
        .script
        .take(target)
        .and_then(|f| fault_response(f, graph_error))
    {
        return resp;
    }
    match (req.method.clone(), rest.as_str()) {
        (Method::GET, "") => json(
            200,
            json!({"id": DRIVE_ID, "driveType": "personal",
                "owner": {"user": {"displayName": "Fake User", "id": "user-1"}}}),
        ),
        (Method::GET, "/root") => folder_json(""),
        (method, r) if r.starts_with("/root:/") => {
            let addressed = &r["/root:/".len()..];
            if let (&Method::PUT, Some(path)) = (&method, addressed.strip_suffix(":/content")) {
                return simple_upload(state, &req, path);
            }
            if let (&Method::POST, Some(path)) =
                (&method, addressed.strip_suffix(":/createUploadSession"))
            {
                return create_session(state, &req, path);
            }
            if method == Method::GET {
                return get_item(state, addressed.trim_end_matches(':'));
            }
            graph_error(405, "invalidRequest", "method not supported by the fake")
        }
        _ => graph_error(400, "BadRequest", "Resource not found for the segment."),
    }
}

fn folder_json(path: &str) -> Response {
    let name = path
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("root");
    json(
        200,
        json!({"id": format!("folder:{path}"), "name": name, "folder": {"childCount": 0}}),
    )
}

fn item_json(item: &GraphItem) -> Value {
    let name = item.path.rsplit('/').next().unwrap_or_default();
    json!({"id": item.id, "name": name, "size": item.content.len(),
        "eTag": format!("\"{{{}}},{}\"", item.id, item.version),
        "file": {"mimeType": "application/octet-stream"},
        "webUrl": format!("https://onedrive.fake/{}", item.path)})
}

fn get_item(state: &State, path: &str) -> Response {
    let inner = lock(&state.inner);
    if inner.folders.contains(path) {
        return folder_json(path);
    }
    match inner.items.get(path) {
        Some(item) => json(200, item_json(item)),
        None => graph_error(404, "itemNotFound", "The resource could not be found."),
    }
}

fn behavior(req: &Incoming, body: Option<&Value>) -> String {
    body.and_then(|b| b["item"]["@microsoft.graph.conflictBehavior"].as_str())
        .map(String::from)
        .or_else(|| req.query.get("@microsoft.graph.conflictBehavior").cloned())
        .unwrap_or_else(|| "fail".into())
}

/// Where a file at `path` would be stored under `behavior`, or the error.
fn place(inner: &Inner, path: &str, behavior: &str) -> Result<String, Box<Response>> {
    let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
    if !inner.folders.contains(parent) {
        return Err(Box::new(graph_error(
            404,
            "itemNotFound",
            "The parent folder does not exist.",
        )));
    }
    if !inner.items.contains_key(path) {
        return Ok(path.to_string());
    }
    match behavior {
        "replace" => Ok(path.to_string()),
        "rename" => {
            let (stem, ext) = match path.rsplit_once('.') {
                Some((s, e)) if !s.ends_with('/') => (s.to_string(), format!(".{e}")),
                _ => (path.to_string(), String::new()),
            };
            (1..)
                .map(|n| format!("{stem} {n}{ext}"))
                .find(|p| !inner.items.contains_key(p))
                .ok_or_else(|| Box::new(graph_error(500, "generalException", "no free name")))
        }
        _ => Err(Box::new(graph_error(
            409,
            "nameAlreadyExists",
            "The specified item name already exists.",
        ))),
    }
}

fn commit(inner: &mut Inner, path: String, content: Vec<u8>) -> Response {
    inner.next += 1;
    let next = inner.next;
    let created = !inner.items.contains_key(&path);
    let item = inner
        .items
        .entry(path.clone())
        .or_insert_with(|| GraphItem {
            id: format!("item-{next}"),
            path,
            content: Vec::new(),
            version: 0,
        });
    item.content = content;
    item.version += 1;
    json(if created { 201 } else { 200 }, item_json(item))
}

fn simple_upload(state: &State, req: &Incoming, path: &str) -> Response {
    if req.body.len() > SIMPLE_LIMIT {
        return graph_error(413, "requestTooLarge", "simple upload is limited to 4 MB");
    }
    let mut inner = lock(&state.inner);
    match place(&inner, path, &behavior(req, None)) {
        Ok(at) => commit(&mut inner, at, req.body.to_vec()),
        Err(resp) => *resp,
    }
}

fn create_session(state: &State, req: &Incoming, path: &str) -> Response {
    let body: Option<Value> = serde_json::from_slice(&req.body).ok();
    let behavior = behavior(req, body.as_ref());
    let mut inner = lock(&state.inner);
    if let Err(resp) = place(&inner, path, &behavior) {
        return *resp;
    }
    inner.next += 1;
    let id = format!("session-{}", inner.next);
    inner.sessions.insert(
        id.clone(),
        Session {
            path: path.to_string(),
            behavior,
            total: None,
            received: Vec::new(),
        },
    );
    let upload_url = format!("{}/upload-sessions/{id}", lock(&state.base));
    json(
        200,
        json!({"uploadUrl": upload_url, "expirationDateTime": "2099-01-01T00:00:00Z",
            "nextExpectedRanges": ["0-"]}),
    )
}

fn expected(received: usize) -> Value {
    json!({"expirationDateTime": "2099-01-01T00:00:00Z", "nextExpectedRanges": [format!("{received}-")]})
}

fn session_request(state: &State, req: &Incoming, id: &str) -> Response {
    if req.has_authorization() {
        // Graph documents that the upload URL must not be sent an Authorization header.
        return graph_error(
            401,
            "unauthenticated",
            "Authorization header sent to the upload URL",
        );
    }
    let mut inner = lock(&state.inner);
    match req.method {
        Method::DELETE => {
            if inner.sessions.remove(id).is_some() {
                inner.cancelled += 1;
            }
            return json(204, Value::Null);
        }
        Method::GET => {
            return match inner.sessions.get(id) {
                Some(s) => json(200, expected(s.received.len())),
                None => graph_error(404, "itemNotFound", "The upload session was not found."),
            };
        }
        Method::PUT => {}
        _ => return graph_error(405, "invalidRequest", "method not supported"),
    }
    let fault = state.script.take(Target::Chunk);
    if let Some(resp) = fault.clone().and_then(|f| fault_response(f, graph_error)) {
        return resp;
    }
    let Some(session) = inner.sessions.get_mut(id) else {
        return graph_error(404, "itemNotFound", "The upload session was not found.");
    };
    let Some((Some((start, end)), Some(total))) = req
        .header("content-range")
        .as_deref()
        .and_then(content_range)
    else {
        return graph_error(
            400,
            "invalidRange",
            "Content-Range with the total size is required",
        );
    };
    let len = req.body.len() as u64;
    if end + 1 - start != len || end >= total || session.total.is_some_and(|t| t != total) {
        return graph_error(400, "invalidRange", "Content-Range does not match the body");
    }
    if start != session.received.len() as u64 {
        return graph_error(
            416,
            "invalidRange",
            "The fragment does not start at the next expected byte.",
        );
    }
    let last = end + 1 == total;
    if !last && !(len as usize).is_multiple_of(FRAGMENT_UNIT) {
        return graph_error(
            400,
            "invalidRange",
            "fragments must be multiples of 320 KiB",
        );
    }
    session.total = Some(total);
    if let Some(Fault::Partial { keep }) = fault {
        let keep = (keep / FRAGMENT_UNIT * FRAGMENT_UNIT).min(req.body.len());
        session.received.extend_from_slice(&req.body[..keep]);
        return graph_error(
            503,
            "serviceNotAvailable",
            "the connection dropped mid-fragment",
        );
    }
    session.received.extend_from_slice(&req.body);
    if !last {
        return json(202, expected(session.received.len()));
    }
    let session = inner.sessions.remove(id).expect("present");
    let answer = match place(&inner, &session.path, &session.behavior) {
        Ok(at) => commit(&mut inner, at, session.received),
        Err(resp) => *resp,
    };
    match state.script.take(Target::LastChunk) {
        Some(Fault::LostAnswer) => graph_error(
            503,
            "serviceNotAvailable",
            "the connection dropped before the answer",
        ),
        Some(fault) => fault_response(fault, graph_error).unwrap_or(answer),
        None => answer,
    }
}

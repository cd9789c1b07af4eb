//! A fake of Google Drive API v3's file uploads: `about`, folder lookup, `files.list` by name
//! and parent, multipart `files.create`/`files.update` (up to 5 MiB), and resumable sessions
//! (`Location` header, chunks in 256 KiB multiples, 308 with `Range`, status queries with
//! `bytes */total`), Google-shaped errors, and the OAuth provider on the same port.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::faults::{Fault, Logged, Script, Target, fault_response, lock};
use crate::http::{Incoming, content_range, json, router, serve};
use crate::oauth::OAuthFake;

/// Drive's unit for resumable chunks: every chunk but the last is a multiple of it.
pub const CHUNK_UNIT: usize = 256 * 1024;
/// The largest multipart upload the fake accepts (Drive documents 5 MiB).
pub const MULTIPART_LIMIT: usize = 5 * 1024 * 1024;
pub const FOLDER_MIME: &str = "application/vnd.google-apps.folder";

/// A file as stored.
#[derive(Debug, Clone)]
pub struct DriveFile {
    pub id: String,
    pub name: String,
    pub parents: Vec<String>,
    /// The Drive type (`application/vnd.google-apps.spreadsheet` for converted CSV).
    pub mime_type: String,
    /// The Content-Type the bytes were uploaded with.
    pub media_type: String,
    pub content: Vec<u8>,
    /// 1 when created, +1 on every content update.
    pub version: u32,
}

#[derive(Debug)]
struct Session {
    /// `Some` when the session updates an existing file.
    target: Option<String>,
    metadata: Value,
    media_type: String,
    received: Vec<u8>,
}

#[derive(Debug, Default)]
struct Inner {
    files: BTreeMap<String, DriveFile>,
    /// Folder id → (name, whether the user can add files, parent id).
    folders: HashMap<String, (String, bool, String)>,
    sessions: HashMap<String, Session>,
    /// Completed session id → the file it wrote.
    completed: HashMap<String, String>,
    next: u64,
}

#[derive(Debug, Default)]
struct State {
    oauth: OAuthFake,
    script: Script,
    inner: Mutex<Inner>,
    base: Mutex<String>,
}

/// A running Drive fake; stops when dropped.
#[derive(Debug)]
pub struct DriveFake {
    state: Arc<State>,
    url: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl DriveFake {
    pub async fn start() -> Self {
        let state = Arc::new(State::default());
        lock(&state.inner)
            .folders
            .insert("root".into(), ("My Drive".into(), true, String::new()));
        let app = router(state.clone(), |s: Arc<State>, req| async move {
            handle(&s, req).await
        });
        let (addr, stop) = serve(app).await;
        let url = format!("http://{addr}");
        *lock(&state.base) = url.clone();
        DriveFake {
            state,
            url,
            _stop: stop,
        }
    }

    /// The API base (`api_base_url`); the token endpoint is `{url}/token`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn oauth(&self) -> &OAuthFake {
        &self.state.oauth
    }

    /// A folder in My Drive's root; its id.
    pub fn add_folder(&self, name: &str, writable: bool) -> String {
        self.add_folder_in("root", name, writable)
    }

    /// A folder inside folder `parent`; its id.
    pub fn add_folder_in(&self, parent: &str, name: &str, writable: bool) -> String {
        let mut inner = lock(&self.state.inner);
        inner.next += 1;
        let id = format!("folder-{}", inner.next);
        inner
            .folders
            .insert(id.clone(), (name.into(), writable, parent.into()));
        id
    }

    pub fn fail_next(&self, target: Target, fault: Fault) {
        self.state.script.push(target, fault);
    }

    pub fn files(&self) -> Vec<DriveFile> {
        lock(&self.state.inner).files.values().cloned().collect()
    }

    /// Upload sessions opened and not completed.
    pub fn open_sessions(&self) -> usize {
        lock(&self.state.inner).sessions.len()
    }

    pub fn requests(&self) -> Vec<Logged> {
        self.state.script.log()
    }
}

fn google_error(code: u16, reason: &str, message: &str) -> Response {
    json(
        code,
        json!({"error": {"code": code, "message": message,
            "errors": [{"domain": "global", "reason": reason, "message": message}]}}),
    )
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
    let session = req.query.get("upload_id").cloned();
    if let (&Method::PUT, Some(id)) = (&req.method, session) {
        // Session URIs carry their own authorization (the upload id).
        return chunk(state, &req, &id);
    }
    let authorized = req
        .bearer()
        .is_some_and(|t| state.oauth.is_valid_access(&t));
    if !authorized {
        return google_error(
            401,
            "authError",
            "Request had invalid authentication credentials.",
        );
    }
    let target = if req.path.starts_with("/upload/") {
        Target::Upload
    } else {
        Target::Metadata
    };
    if let Some(resp) = state
        .script
        .take(target)
        .and_then(|f| fault_response(f, google_error))
    {
        return resp;
    }
    let path = req.path.clone();
    match (req.method.clone(), path.as_str()) {
        (Method::GET, "/drive/v3/about") => json(
            200,
            json!({"user": {"displayName": "Fake User", "emailAddress": "fake.user@example.com"}}),
        ),
        (Method::GET, "/drive/v3/files") => list(state, &req),
        (Method::GET, p) if p.starts_with("/drive/v3/files/") => {
            get_file(state, &p["/drive/v3/files/".len()..])
        }
        (Method::POST, "/upload/drive/v3/files") => upload(state, &req, None),
        (Method::PATCH, p) if p.starts_with("/upload/drive/v3/files/") => {
            let id = p["/upload/drive/v3/files/".len()..].to_string();
            upload(state, &req, Some(id))
        }
        _ => google_error(404, "notFound", "no such method in the fake"),
    }
}

fn get_file(state: &State, id: &str) -> Response {
    let inner = lock(&state.inner);
    if let Some((name, writable, _)) = inner.folders.get(id) {
        return json(
            200,
            json!({"id": id, "name": name, "mimeType": FOLDER_MIME, "trashed": false,
                "capabilities": {"canAddChildren": writable}}),
        );
    }
    match inner.files.get(id) {
        Some(f) => json(200, file_json(f)),
        None => google_error(404, "notFound", &format!("File not found: {id}.")),
    }
}

fn file_json(f: &DriveFile) -> Value {
    json!({"id": f.id, "name": f.name, "mimeType": f.mime_type, "parents": f.parents,
        "size": f.content.len().to_string(), "version": f.version.to_string(),
        "webViewLink": format!("https://drive.fake/file/d/{}/view", f.id)})
}

/// `files.list` for the queries the connector sends: `name = '…' and '…' in parents and
/// trashed = false`, for files, or with `and mimeType = '…folder'`, for folders.
fn list(state: &State, req: &Incoming) -> Response {
    let q = req.query.get("q").cloned().unwrap_or_default();
    let Some((name, parent, rest)) = parse_query(&q) else {
        return google_error(
            400,
            "invalidQuery",
            "the fake understands name+parent queries only",
        );
    };
    let inner = lock(&state.inner);
    let found: Vec<Value> = if rest.contains(&format!("mimeType = '{FOLDER_MIME}'")) {
        inner
            .folders
            .iter()
            .filter(|(_, (n, _, p))| *n == name && *p == parent)
            .map(|(id, (n, _, _))| json!({"id": id, "name": n}))
            .collect()
    } else {
        inner
            .files
            .values()
            .filter(|f| f.name == name && f.parents.contains(&parent))
            .map(|f| json!({"id": f.id, "name": f.name}))
            .collect()
    };
    json(200, json!({"files": found}))
}

fn parse_query(q: &str) -> Option<(String, String, &str)> {
    let rest = q.strip_prefix("name = '")?;
    let (name, rest) = quoted(rest)?;
    let rest = rest.strip_prefix(" and '")?;
    let (parent, rest) = quoted(rest)?;
    let rest = rest.strip_prefix(" in parents")?;
    Some((name, parent, rest))
}

/// Reads a Drive query string literal up to its closing quote (`\'` and `\\` escaped).
fn quoted(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '\'' => return Some((out, &s[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

fn upload(state: &State, req: &Incoming, target: Option<String>) -> Response {
    match req.query.get("uploadType").map(String::as_str) {
        Some("multipart") => multipart(state, req, target),
        Some("resumable") => open_session(state, req, target),
        _ => google_error(
            400,
            "badRequest",
            "uploadType must be multipart or resumable",
        ),
    }
}

fn multipart(state: &State, req: &Incoming, target: Option<String>) -> Response {
    if req.body.len() > MULTIPART_LIMIT + 64 * 1024 {
        return google_error(
            413,
            "uploadTooLarge",
            "multipart uploads are limited to 5 MB",
        );
    }
    let boundary = req.header("content-type").and_then(|ct| {
        ct.split("boundary=")
            .nth(1)
            .map(|b| b.trim_matches('"').to_string())
    });
    let Some((metadata, media_type, media)) = boundary.and_then(|b| split_related(&req.body, &b))
    else {
        return google_error(400, "badContent", "not a multipart/related body");
    };
    let Ok(metadata) = serde_json::from_slice::<Value>(&metadata) else {
        return google_error(400, "parseError", "metadata is not JSON");
    };
    store(state, target, &metadata, media_type, media)
}

/// Splits a multipart/related body into (metadata, media content type, media).
fn split_related(body: &[u8], boundary: &str) -> Option<(Vec<u8>, String, Vec<u8>)> {
    let delimiter = format!("--{boundary}");
    let parts: Vec<&[u8]> = split_on(body, delimiter.as_bytes());
    // ["", part1, part2, "--\r\n"]
    if parts.len() < 4 || !parts[3].starts_with(b"--") {
        return None;
    }
    let part = |p: &[u8]| -> Option<(String, Vec<u8>)> {
        let p = p.strip_prefix(b"\r\n")?;
        let at = find(p, b"\r\n\r\n")?;
        let headers = String::from_utf8(p[..at].to_vec()).ok()?;
        let content = p[at + 4..].strip_suffix(b"\r\n")?.to_vec();
        let ct = headers
            .lines()
            .find_map(|l| {
                l.strip_prefix("Content-Type: ")
                    .or(l.strip_prefix("content-type: "))
            })?
            .to_string();
        Some((ct, content))
    };
    let (_, metadata) = part(parts[1])?;
    let (media_type, media) = part(parts[2])?;
    Some((metadata, media_type, media))
}

fn split_on<'a>(mut body: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    while let Some(at) = find(body, delimiter) {
        out.push(&body[..at]);
        body = &body[at + delimiter.len()..];
    }
    out.push(body);
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn store(
    state: &State,
    target: Option<String>,
    metadata: &Value,
    media_type: String,
    content: Vec<u8>,
) -> Response {
    match store_file(state, target, metadata, media_type, content) {
        Ok(file) => json(200, file_json(&file)),
        Err(resp) => *resp,
    }
}

fn store_file(
    state: &State,
    target: Option<String>,
    metadata: &Value,
    media_type: String,
    content: Vec<u8>,
) -> Result<DriveFile, Box<Response>> {
    let mut inner = lock(&state.inner);
    let file = match target {
        Some(id) => {
            let Some(file) = inner.files.get_mut(&id) else {
                return Err(Box::new(google_error(
                    404,
                    "notFound",
                    &format!("File not found: {id}."),
                )));
            };
            if metadata.get("parents").is_some() {
                return Err(Box::new(google_error(
                    403,
                    "fieldNotWritable",
                    "The resource body includes fields which are not directly writable.",
                )));
            }
            file.content = content;
            file.media_type = media_type;
            file.version += 1;
            file.clone()
        }
        None => {
            let parents: Vec<String> = metadata["parents"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_else(|| vec!["root".into()]);
            for p in &parents {
                match inner.folders.get(p) {
                    Some((_, true, _)) => {}
                    Some((_, false, _)) => {
                        return Err(Box::new(google_error(
                            403,
                            "insufficientFilePermissions",
                            "The user does not have sufficient permissions for this file.",
                        )));
                    }
                    None => {
                        return Err(Box::new(google_error(
                            404,
                            "notFound",
                            &format!("File not found: {p}."),
                        )));
                    }
                }
            }
            inner.next += 1;
            let file = DriveFile {
                id: format!("file-{}", inner.next),
                name: metadata["name"].as_str().unwrap_or("Untitled").to_string(),
                parents,
                mime_type: metadata["mimeType"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| media_type.clone()),
                media_type,
                content,
                version: 1,
            };
            inner.files.insert(file.id.clone(), file.clone());
            file
        }
    };
    Ok(file)
}

fn open_session(state: &State, req: &Incoming, target: Option<String>) -> Response {
    let metadata = if req.body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(v) => v,
            Err(_) => return google_error(400, "parseError", "metadata is not JSON"),
        }
    };
    let media_type = req
        .header("x-upload-content-type")
        .unwrap_or_else(|| "application/octet-stream".into());
    let mut inner = lock(&state.inner);
    inner.next += 1;
    let id = format!("session-{}", inner.next);
    inner.sessions.insert(
        id.clone(),
        Session {
            target,
            metadata,
            media_type,
            received: Vec::new(),
        },
    );
    let location = format!(
        "{}/upload/drive/v3/files?uploadType=resumable&upload_id={id}",
        lock(&state.base)
    );
    (StatusCode::OK, [(header::LOCATION, location)]).into_response()
}

fn resume_incomplete(received: usize) -> Response {
    let mut resp = (StatusCode::PERMANENT_REDIRECT, "").into_response();
    if received > 0 {
        let range = format!("bytes=0-{}", received - 1);
        resp.headers_mut()
            .insert(header::RANGE, range.parse().expect("ascii"));
    }
    resp
}

fn chunk(state: &State, req: &Incoming, id: &str) -> Response {
    let Some((range, total)) = req
        .header("content-range")
        .as_deref()
        .and_then(content_range)
    else {
        return google_error(400, "badRequest", "Content-Range is required");
    };
    // Scripted faults hit chunks, not status queries.
    let fault = range.and_then(|_| state.script.take(Target::Chunk));
    if let Some(resp) = fault.clone().and_then(|f| fault_response(f, google_error)) {
        return resp;
    }
    let mut inner = lock(&state.inner);
    if range.is_none()
        && let Some(file) = inner.completed.get(id).and_then(|f| inner.files.get(f))
    {
        // A completed upload's status is its file, as Drive answers.
        return json(200, file_json(file));
    }
    let Some(session) = inner.sessions.get_mut(id) else {
        return google_error(404, "notFound", "no such upload session");
    };
    let received = session.received.len();
    let Some((start, end)) = range else {
        // A status query.
        return resume_incomplete(received);
    };
    let len = req.body.len() as u64;
    if end + 1 - start != len || start > received as u64 {
        return google_error(
            400,
            "badRequest",
            "Content-Range does not match the body or skips bytes",
        );
    }
    let last = total == Some(end + 1);
    if !last && !(len as usize).is_multiple_of(CHUNK_UNIT) {
        return google_error(400, "badRequest", "chunks must be multiples of 256 KiB");
    }
    let skip = (received as u64 - start) as usize;
    let mut data = &req.body[skip.min(req.body.len())..];
    if let Some(Fault::Partial { keep }) = fault {
        let keep = (keep / CHUNK_UNIT * CHUNK_UNIT).min(data.len());
        data = &data[..keep];
        session.received.extend_from_slice(data);
        return google_error(503, "backendError", "the connection dropped mid-chunk");
    }
    session.received.extend_from_slice(data);
    if !last {
        return resume_incomplete(session.received.len());
    }
    let session = inner.sessions.remove(id).expect("present");
    drop(inner);
    let file = match store_file(
        state,
        session.target,
        &session.metadata,
        session.media_type,
        session.received,
    ) {
        Ok(file) => file,
        Err(resp) => return *resp,
    };
    lock(&state.inner)
        .completed
        .insert(id.to_string(), file.id.clone());
    match state.script.take(Target::LastChunk) {
        Some(Fault::LostAnswer) => google_error(
            503,
            "backendError",
            "the connection dropped before the answer",
        ),
        Some(fault) => {
            fault_response(fault, google_error).unwrap_or_else(|| json(200, file_json(&file)))
        }
        None => json(200, file_json(&file)),
    }
}

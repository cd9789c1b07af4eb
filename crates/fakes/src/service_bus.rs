//! A fake of Azure Service Bus's REST API (no emulator installs without Docker): queues and
//! topics in memory; Send Message (`POST /{entity}/messages`, body as the payload and a
//! `BrokerProperties` header) and Send Message Batch (the same path with
//! `application/vnd.microsoft.servicebus.json` and a JSON array); SAS tokens verified as
//! Service Bus verifies them; Entra ID bearer tokens from a client-credentials token endpoint
//! on the same port; the entity description (`GET /{entity}`, an ATOM entry); duplicate
//! detection by `MessageId`; sessions; size limits; scripted failures; and what was stored, for
//! tests to read back.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde_json::{Map, Value, json};
use sha2::Sha256;

use crate::faults::{Logged, Script, lock};
use crate::http::{Incoming, json, router, serve, with_retry_after};

/// The scope Entra ID tokens for Service Bus are requested with.
pub const SCOPE: &str = "https://servicebus.azure.net/.default";
/// The content type that makes a send a batch (Send Message Batch).
pub const BATCH_CONTENT_TYPE: &str = "application/vnd.microsoft.servicebus.json";
/// The largest message and the largest request the fake accepts (Standard tier: 256 KiB).
pub const MAX_BYTES: usize = 256 * 1024;

/// What `sr` and `sig` are encoded with: everything but letters, digits and `-_.~`, as the
/// Azure SDKs' `quote_plus` does.
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A SAS token as the Service Bus documentation builds one: `sig` is the base64 HMAC-SHA256,
/// keyed with the key's text, of the URL-encoded resource URI, a newline and the expiry (Unix
/// seconds). For tests' own clients.
pub fn sas_token(resource_uri: &str, key_name: &str, key: &str, expiry: u64) -> String {
    let encoded = utf8_percent_encode(resource_uri, ENCODE).to_string();
    let sig = sign(key, &format!("{encoded}\n{expiry}"));
    format!(
        "SharedAccessSignature sr={encoded}&sig={}&se={expiry}&skn={}",
        utf8_percent_encode(&sig, ENCODE),
        utf8_percent_encode(key_name, ENCODE)
    )
}

fn sign(key: &str, text: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(text.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// How an entity behaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct EntityOptions {
    /// A topic rather than a queue (its description is a `TopicDescription`).
    pub topic: bool,
    /// Every message must carry a `SessionId` (queues only).
    pub requires_session: bool,
    /// A message whose `MessageId` was seen before is accepted and dropped.
    pub duplicate_detection: bool,
    /// Partitioned: a batch must share its `MessageId` (with duplicate detection) and its
    /// `SessionId`, as Service Bus refuses batches of distinct ones on such entities.
    pub partitioned: bool,
}

/// The rights of a SAS policy or of an Entra ID role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rights {
    pub send: bool,
    pub manage: bool,
}

impl Rights {
    /// A Send-only policy (Azure Service Bus Data Sender).
    pub const SEND: Rights = Rights {
        send: true,
        manage: false,
    };
    /// Manage, which includes Send (RootManageSharedAccessKey, Data Owner).
    pub const MANAGE: Rights = Rights {
        send: true,
        manage: true,
    };
    /// Neither (Listen only, for sending purposes).
    pub const NONE: Rights = Rights {
        send: false,
        manage: false,
    };
}

/// A message as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    /// The body, byte for byte.
    pub body: Vec<u8>,
    /// `BrokerProperties.MessageId`, or one the fake made up.
    pub message_id: String,
    pub session_id: Option<String>,
    /// Application (user) properties; values that were not strings as their JSON text.
    pub user_properties: BTreeMap<String, String>,
    /// The request's `Content-Type` for a single send; `None` in a batch.
    pub content_type: Option<String>,
}

/// A scripted answer to the next send.
#[derive(Debug, Clone)]
pub struct SendFault {
    pub status: u16,
    pub retry_after: Option<u64>,
    pub detail: &'static str,
}

impl SendFault {
    /// 503 Server Busy, as Service Bus throttles.
    pub fn server_busy(retry_after: Option<u64>) -> Self {
        SendFault {
            status: 503,
            retry_after,
            detail: "ServerBusy: The server is busy. Please retry the operation.",
        }
    }
}

#[derive(Debug)]
struct Entity {
    name: String,
    options: EntityOptions,
    messages: Vec<StoredMessage>,
    seen: HashSet<String>,
}

#[derive(Debug)]
struct Principal {
    tenant: String,
    client_id: String,
    secret: String,
    rights: Rights,
}

#[derive(Debug, Default)]
struct Inner {
    /// Lowercase path → entity (Service Bus names are case-insensitive).
    entities: HashMap<String, Entity>,
    /// Key name → (key, rights).
    keys: HashMap<String, (String, Rights)>,
    principals: Vec<Principal>,
    /// Access token → (expiry, rights).
    tokens: HashMap<String, (Instant, Rights)>,
    faults: VecDeque<SendFault>,
    sends: usize,
    token_requests: usize,
    next: u64,
}

#[derive(Debug, Default)]
struct State {
    inner: Mutex<Inner>,
    script: Script,
}

/// A running Service Bus fake on a loopback port; stops when dropped.
#[derive(Debug)]
pub struct ServiceBusFake {
    state: Arc<State>,
    url: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl ServiceBusFake {
    pub async fn start() -> Self {
        let state = Arc::new(State::default());
        let app = router(state.clone(), |s: Arc<State>, req| async move {
            handle(&s, req).await
        });
        let (addr, stop) = serve(app).await;
        ServiceBusFake {
            state,
            url: format!("http://{addr}"),
            _stop: stop,
        }
    }

    /// The namespace's base URL (`http://127.0.0.1:PORT`); the token endpoint of tenant `t` is
    /// `{url}/{t}/oauth2/v2.0/token`, so `{url}` is also the authority host.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The `host:port` the namespace answers on.
    pub fn host(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// A queue or topic named `path`.
    pub fn add_entity(&self, path: &str, options: EntityOptions) {
        lock(&self.state.inner).entities.insert(
            path.to_ascii_lowercase(),
            Entity {
                name: path.to_string(),
                options,
                messages: Vec::new(),
                seen: HashSet::new(),
            },
        );
    }

    /// A namespace-level shared access policy.
    pub fn add_key(&self, name: &str, key: &str, rights: Rights) {
        lock(&self.state.inner)
            .keys
            .insert(name.to_string(), (key.to_string(), rights));
    }

    /// `Endpoint=sb://HOST/;SharedAccessKeyName=NAME;SharedAccessKey=KEY` for a policy added
    /// with [`ServiceBusFake::add_key`].
    pub fn connection_string(&self, key_name: &str) -> String {
        let key = lock(&self.state.inner)
            .keys
            .get(key_name)
            .map(|(k, _)| k.clone())
            .unwrap_or_default();
        format!(
            "Endpoint=sb://{}/;SharedAccessKeyName={key_name};SharedAccessKey={key}",
            self.host()
        )
    }

    /// An Entra ID application the token endpoint knows, with the role `rights` on the
    /// namespace.
    pub fn add_principal(&self, tenant: &str, client_id: &str, secret: &str, rights: Rights) {
        lock(&self.state.inner).principals.push(Principal {
            tenant: tenant.into(),
            client_id: client_id.into(),
            secret: secret.into(),
            rights,
        });
    }

    /// The next `n` sends (after authorization) get `fault` instead of being stored.
    pub fn fail_next_sends(&self, n: usize, fault: SendFault) {
        let mut inner = lock(&self.state.inner);
        inner.faults.extend(std::iter::repeat_n(fault, n));
    }

    /// The messages `path` holds, in the order they were accepted.
    pub fn messages(&self, path: &str) -> Vec<StoredMessage> {
        lock(&self.state.inner)
            .entities
            .get(&path.to_ascii_lowercase())
            .map(|e| e.messages.clone())
            .unwrap_or_default()
    }

    /// Send requests that reached the fake (single or batch, accepted or not).
    pub fn send_requests(&self) -> usize {
        lock(&self.state.inner).sends
    }

    /// Requests to the token endpoint.
    pub fn token_requests(&self) -> usize {
        lock(&self.state.inner).token_requests
    }

    pub fn requests(&self) -> Vec<Logged> {
        self.state.script.log()
    }
}

/// A Service Bus error: the status and an XML body with the detail, as the REST API answers.
fn error(status: u16, detail: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = format!(
        "<Error><Code>{status}</Code><Detail>{}. TrackingId:00000000-0000-0000-0000-000000000000_G0, SystemTracker:fake, Timestamp:2026-01-01T00:00:00</Detail></Error>",
        escape(detail)
    );
    (
        code,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

async fn handle(state: &State, req: Request<Body>) -> Response {
    let req = match Incoming::read(req, &state.script).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let path = req.path.trim_start_matches('/').to_string();
    if req.method == Method::POST && path.ends_with("/oauth2/v2.0/token") {
        let tenant = path.split('/').next().unwrap_or_default().to_string();
        return token(state, &req, &tenant);
    }
    match (&req.method, path.strip_suffix("/messages")) {
        (&Method::POST, Some(entity)) => send(state, &req, entity),
        (&Method::GET, None) if !path.is_empty() => describe(state, &req, &path),
        _ => error(400, "The request is not one this fake serves"),
    }
}

/// Which rights the request's `Authorization` grants on `entity`, or the detail of the 401
/// Service Bus answers.
fn authorize(state: &State, req: &Incoming, entity: &str) -> Result<Rights, &'static str> {
    let Some(value) = req.header("authorization") else {
        return Err("MissingToken: The authorization header was not found");
    };
    if let Some(token) = value.strip_prefix("Bearer ") {
        let inner = lock(&state.inner);
        return match inner.tokens.get(token) {
            Some((expires, rights)) if *expires > Instant::now() => Ok(*rights),
            Some(_) => Err("ExpiredToken: The token is expired"),
            None => Err("InvalidToken: The token is not valid"),
        };
    }
    let Some(fields) = value.strip_prefix("SharedAccessSignature ") else {
        return Err(
            "InvalidAuthorizationHeader: The authorization header is not a SharedAccessSignature or Bearer token",
        );
    };
    let mut sr = None;
    let mut sig = None;
    let mut se = None;
    let mut skn = None;
    for pair in fields.split('&') {
        match pair.split_once('=') {
            Some(("sr", v)) => sr = Some(v),
            Some(("sig", v)) => sig = Some(v),
            Some(("se", v)) => se = Some(v),
            Some(("skn", v)) => skn = Some(v),
            _ => {}
        }
    }
    let (Some(sr), Some(sig), Some(se), Some(skn)) = (sr, sig, se, skn) else {
        return Err("MalformedToken: The token lacks one of sr, sig, se and skn");
    };
    let decode = |v: &str| percent_decode_str(v).decode_utf8_lossy().into_owned();
    let Some((key, rights)) = lock(&state.inner).keys.get(&decode(skn)).cloned() else {
        return Err("InvalidSignature: The token has an invalid signature");
    };
    // The signature covers `sr` exactly as the token spells it.
    if sign(&key, &format!("{sr}\n{se}")) != decode(sig) {
        return Err("InvalidSignature: The token has an invalid signature");
    }
    match se.parse::<u64>() {
        Ok(expiry) if expiry > unix_now() => {}
        _ => return Err("ExpiredToken: The token is expired"),
    }
    // The token's resource must be the entity or a path above it (the scheme does not matter).
    let normalize = |uri: &str| {
        let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
        rest.trim_end_matches('/').to_ascii_lowercase()
    };
    let granted = normalize(&decode(sr));
    let host = req.header("host").unwrap_or_default();
    let wanted = normalize(&format!("{host}/{entity}"));
    if !(wanted == granted || wanted.starts_with(&format!("{granted}/"))) {
        return Err("InvalidAudience: The token's resource does not cover this entity");
    }
    Ok(rights)
}

fn lacks(claims: &str) -> Response {
    error(
        401,
        &format!("Unauthorized access. '{claims}' claim(s) are required to perform this operation"),
    )
}

fn send(state: &State, req: &Incoming, entity: &str) -> Response {
    lock(&state.inner).sends += 1;
    let rights = match authorize(state, req, entity) {
        Ok(r) => r,
        Err(detail) => return error(401, detail),
    };
    if !rights.send {
        return lacks("Send");
    }
    let mut inner = lock(&state.inner);
    if let Some(fault) = inner.faults.pop_front() {
        return with_retry_after(error(fault.status, fault.detail), fault.retry_after);
    }
    if req.body.len() > MAX_BYTES {
        return error(
            413,
            &format!("The request is larger than the limit of {MAX_BYTES} bytes"),
        );
    }
    let batch = req
        .header("content-type")
        .is_some_and(|t| t.starts_with(BATCH_CONTENT_TYPE));
    let messages = if batch {
        parse_batch(&req.body)
    } else {
        parse_single(req)
    };
    let mut messages = match messages {
        Ok(m) => m,
        Err(detail) => return error(400, &detail),
    };
    let key = entity.to_ascii_lowercase();
    let Some(stored) = inner.entities.get(&key) else {
        // Send Message Batch documents 410 for a queue or topic that does not exist.
        return error(
            410,
            &format!("MessagingEntityNotFound: Entity '{entity}' was not found"),
        );
    };
    let requires_session = stored.options.requires_session && !stored.options.topic;
    for m in &messages {
        let size = m.body.len()
            + m.user_properties
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        if size > MAX_BYTES {
            return error(
                403,
                &format!("MessageSizeExceeded: The message is larger than {MAX_BYTES} bytes"),
            );
        }
        if requires_session && m.session_id.is_none() {
            return error(
                400,
                "The SessionId was not set on a message, and it cannot be sent to the entity. Entities that have session support enabled can only receive messages that have the SessionId set to a valid value",
            );
        }
    }
    let distinct = |ids: Vec<Option<&String>>| ids.windows(2).any(|w| w[0] != w[1]);
    if stored.options.partitioned
        && ((stored.options.duplicate_detection
            && distinct(messages.iter().map(|m| Some(&m.message_id)).collect()))
            || distinct(messages.iter().map(|m| m.session_id.as_ref()).collect()))
    {
        return error(
            400,
            "Batching brokered messages with distinct SessionId, PartitionKey, or MessageId is not supported for an entity with partitioning and duplicate detection enabled.",
        );
    }
    for m in &mut messages {
        if m.message_id.is_empty() {
            inner.next += 1;
            m.message_id = format!("fake-{}", inner.next);
        }
    }
    let entity = inner.entities.get_mut(&key).expect("looked up above");
    for m in messages {
        if entity.options.duplicate_detection && !entity.seen.insert(m.message_id.clone()) {
            continue;
        }
        entity.messages.push(m);
    }
    StatusCode::CREATED.into_response()
}

/// The broker properties the fake reads: `MessageId` and `SessionId`.
fn broker_properties(value: &Value) -> Result<(String, Option<String>), String> {
    let Some(props) = value.as_object() else {
        return Err("BrokerProperties is not a JSON object".into());
    };
    let text = |name: &str| match props.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= 128 => Ok(Some(s.clone())),
        Some(_) => Err(format!(
            "BrokerProperties.{name} is not a string of at most 128 characters"
        )),
    };
    Ok((text("MessageId")?.unwrap_or_default(), text("SessionId")?))
}

fn user_properties(props: &Map<String, Value>) -> BTreeMap<String, String> {
    props
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

fn parse_batch(body: &[u8]) -> Result<Vec<StoredMessage>, String> {
    let parsed: Value =
        serde_json::from_slice(body).map_err(|_| "The batch is not valid JSON".to_string())?;
    let Some(items) = parsed.as_array() else {
        return Err("The batch is not a JSON array of messages".into());
    };
    items
        .iter()
        .map(|item| {
            let Some(body) = item.get("Body").and_then(Value::as_str) else {
                return Err("A message in the batch has no Body string".to_string());
            };
            let (message_id, session_id) = match item.get("BrokerProperties") {
                Some(p) => broker_properties(p)?,
                None => (String::new(), None),
            };
            let props = match item.get("UserProperties") {
                None => BTreeMap::new(),
                Some(Value::Object(p)) => user_properties(p),
                Some(_) => return Err("UserProperties is not a JSON object".into()),
            };
            Ok(StoredMessage {
                body: body.as_bytes().to_vec(),
                message_id,
                session_id,
                user_properties: props,
                content_type: None,
            })
        })
        .collect()
}

/// Headers that are the request's own, not custom message properties.
const STANDARD_HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "content-length",
    "host",
    "brokerproperties",
    "user-agent",
    "accept",
    "accept-encoding",
    "connection",
    "expect",
    "x-ms-retrypolicy",
];

fn parse_single(req: &Incoming) -> Result<Vec<StoredMessage>, String> {
    let (message_id, session_id) = match req.header("brokerproperties") {
        Some(text) => broker_properties(
            &serde_json::from_str(&text)
                .map_err(|_| "The BrokerProperties header is not JSON".to_string())?,
        )?,
        None => (String::new(), None),
    };
    // Custom headers are the message's properties; a quoted value is a string.
    let mut props = BTreeMap::new();
    for (name, value) in &req.headers {
        let name = name.as_str();
        if STANDARD_HEADERS.contains(&name) {
            continue;
        }
        let Ok(text) = value.to_str() else { continue };
        let text = match serde_json::from_str::<Value>(text) {
            Ok(Value::String(s)) => s,
            _ => text.to_string(),
        };
        props.insert(name.to_string(), text);
    }
    Ok(vec![StoredMessage {
        body: req.body.to_vec(),
        message_id,
        session_id,
        user_properties: props,
        content_type: req.header("content-type"),
    }])
}

/// Get Entity: an ATOM entry with the queue's or topic's description (Manage rights needed).
fn describe(state: &State, req: &Incoming, path: &str) -> Response {
    let rights = match authorize(state, req, path) {
        Ok(r) => r,
        Err(detail) => return error(401, detail),
    };
    if !rights.manage {
        return lacks("Manage,EntityRead");
    }
    let inner = lock(&state.inner);
    let Some(entity) = inner.entities.get(&path.to_ascii_lowercase()) else {
        return error(
            404,
            &format!("MessagingEntityNotFound: Entity '{path}' was not found"),
        );
    };
    let o = entity.options;
    let (kind, session) = if o.topic {
        ("TopicDescription", String::new())
    } else {
        (
            "QueueDescription",
            format!("<RequiresSession>{}</RequiresSession>", o.requires_session),
        )
    };
    let host = req.header("host").unwrap_or_default();
    let name = escape(&entity.name);
    let body = format!(
        "<entry xmlns=\"http://www.w3.org/2005/Atom\"><id>https://{host}/{name}</id><title type=\"text\">{name}</title>\
         <content type=\"application/xml\"><{kind} xmlns=\"http://schemas.microsoft.com/netservices/2010/10/servicebus/connect\" \
         xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\"><MaxSizeInMegabytes>1024</MaxSizeInMegabytes>\
         <RequiresDuplicateDetection>{}</RequiresDuplicateDetection>{session}<Status>Active</Status></{kind}></content></entry>",
        o.duplicate_detection
    );
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/atom+xml;type=entry;charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// Entra ID's token endpoint for the client-credentials grant, with its error shapes.
fn token(state: &State, req: &Incoming, tenant: &str) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect();
    let mut inner = lock(&state.inner);
    inner.token_requests += 1;
    let entra = |status: u16, code: &str, number: i32, text: &str| {
        json(
            status,
            json!({"error": code, "error_description": format!("AADSTS{number}: {text}"),
                   "error_codes": [number]}),
        )
    };
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return entra(
            400,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type",
        );
    }
    let client_id = form.get("client_id").cloned().unwrap_or_default();
    let Some(principal) = inner
        .principals
        .iter()
        .find(|p| p.tenant == tenant && p.client_id == client_id)
    else {
        return entra(
            400,
            "unauthorized_client",
            700016,
            "Application not found in the directory",
        );
    };
    if form.get("client_secret") != Some(&principal.secret) {
        return entra(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided",
        );
    }
    if form.get("scope").map(String::as_str) != Some(SCOPE) {
        return entra(
            400,
            "invalid_scope",
            70011,
            "The provided scope is not valid",
        );
    }
    let rights = principal.rights;
    inner.next += 1;
    let access = format!("sb-token-{}", inner.next);
    inner.tokens.insert(
        access.clone(),
        (Instant::now() + Duration::from_secs(3600), rights),
    );
    json(
        200,
        json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
               "access_token": access}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn post(
        fake: &ServiceBusFake,
        path: &str,
        auth: &str,
        content_type: &str,
        body: &str,
    ) -> (u16, String) {
        let headers = [("Authorization", auth), ("Content-Type", content_type)];
        raw(fake, "POST", path, &headers, body).await
    }

    async fn get(fake: &ServiceBusFake, path: &str, auth: &str) -> (u16, String) {
        raw(fake, "GET", path, &[("Authorization", auth)], "").await
    }

    /// A minimal HTTP/1.1 exchange, so the fake's tests need no HTTP client.
    async fn raw(
        fake: &ServiceBusFake,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(fake.host()).await.unwrap();
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", fake.host());
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ));
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        let status = answer[9..12].parse().unwrap();
        (status, answer)
    }

    #[tokio::test]
    async fn sas_tokens_are_checked_as_service_bus_checks_them() {
        let fake = ServiceBusFake::start().await;
        fake.add_entity("orders", EntityOptions::default());
        fake.add_entity("other", EntityOptions::default());
        fake.add_key("send", "c2VjcmV0", Rights::SEND);
        let later = unix_now() + 600;
        let base = format!("https://{}", fake.host());
        let body = r#"[{"Body":"{}","BrokerProperties":{"MessageId":"m1"}}]"#;
        let ok = sas_token(&format!("{base}/orders"), "send", "c2VjcmV0", later);
        assert_eq!(
            post(&fake, "/orders/messages", &ok, BATCH_CONTENT_TYPE, body)
                .await
                .0,
            201
        );
        // The namespace's URI covers every entity; another entity's does not.
        let namespace = sas_token(&format!("{base}/"), "send", "c2VjcmV0", later);
        assert_eq!(
            post(
                &fake,
                "/orders/messages",
                &namespace,
                BATCH_CONTENT_TYPE,
                body
            )
            .await
            .0,
            201
        );
        let elsewhere = sas_token(&format!("{base}/other"), "send", "c2VjcmV0", later);
        let (status, text) = post(
            &fake,
            "/orders/messages",
            &elsewhere,
            BATCH_CONTENT_TYPE,
            body,
        )
        .await;
        assert_eq!(status, 401, "{text}");
        for bad in [
            sas_token(&format!("{base}/orders"), "send", "d3Jvbmc=", later),
            sas_token(
                &format!("{base}/orders"),
                "send",
                "c2VjcmV0",
                unix_now() - 1,
            ),
            sas_token(&format!("{base}/orders"), "nobody", "c2VjcmV0", later),
        ] {
            let (status, _) = post(&fake, "/orders/messages", &bad, BATCH_CONTENT_TYPE, body).await;
            assert_eq!(status, 401, "{bad}");
        }
        // Send rights do not read the entity's description.
        let (status, text) = get(&fake, "/orders", &ok).await;
        assert_eq!(status, 401);
        assert!(text.contains("claim(s) are required"), "{text}");
        assert_eq!(fake.messages("orders").len(), 2);
    }

    #[tokio::test]
    async fn sessions_duplicates_sizes_and_single_sends() {
        let fake = ServiceBusFake::start().await;
        fake.add_entity(
            "s",
            EntityOptions {
                requires_session: true,
                duplicate_detection: true,
                ..EntityOptions::default()
            },
        );
        fake.add_key("root", "k", Rights::MANAGE);
        let auth = sas_token(
            &format!("http://{}/", fake.host()),
            "root",
            "k",
            unix_now() + 60,
        );
        let no_session = r#"[{"Body":"a","BrokerProperties":{"MessageId":"1"}}]"#;
        let (status, _) = post(&fake, "/s/messages", &auth, BATCH_CONTENT_TYPE, no_session).await;
        assert_eq!(status, 400);
        let two = r#"[{"Body":"a","BrokerProperties":{"MessageId":"1","SessionId":"x"},"UserProperties":{"k":"v","n":1}},
                      {"Body":"b","BrokerProperties":{"MessageId":"1","SessionId":"x"}}]"#;
        assert_eq!(
            post(&fake, "/s/messages", &auth, BATCH_CONTENT_TYPE, two)
                .await
                .0,
            201
        );
        let stored = fake.messages("S");
        assert_eq!(stored.len(), 1, "the duplicate MessageId was dropped");
        assert_eq!(stored[0].user_properties["n"], "1");
        let big = format!(r#"[{{"Body":"{}"}}]"#, "x".repeat(MAX_BYTES));
        assert_eq!(
            post(&fake, "/s/messages", &auth, BATCH_CONTENT_TYPE, &big)
                .await
                .0,
            413
        );
        let (status, text) = get(&fake, "/s", &auth).await;
        assert_eq!(status, 200);
        assert!(
            text.contains("<RequiresSession>true</RequiresSession>"),
            "{text}"
        );
        assert_eq!(get(&fake, "/missing", &auth).await.0, 404);
        assert_eq!(
            post(&fake, "/missing/messages", &auth, BATCH_CONTENT_TYPE, two)
                .await
                .0,
            410
        );
        fake.fail_next_sends(1, SendFault::server_busy(Some(2)));
        let (status, text) = post(&fake, "/s/messages", &auth, BATCH_CONTENT_TYPE, two).await;
        assert_eq!(status, 503);
        assert!(
            text.to_ascii_lowercase().contains("retry-after: 2"),
            "{text}"
        );
        // A single send: the body as it came, the broker properties from their header and
        // custom headers as properties.
        let headers = [
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
            (
                "BrokerProperties",
                r#"{"MessageId":"single","SessionId":"y"}"#,
            ),
            ("Priority", "\"high\""),
        ];
        assert_eq!(
            raw(&fake, "POST", "/s/messages", &headers, "{\"n\":1}")
                .await
                .0,
            201
        );
        let single = fake.messages("s").pop().unwrap();
        assert_eq!(
            (single.body.as_slice(), single.message_id.as_str()),
            (&b"{\"n\":1}"[..], "single")
        );
        assert_eq!(single.session_id.as_deref(), Some("y"));
        assert_eq!(single.user_properties["priority"], "high");
        assert_eq!(single.content_type.as_deref(), Some("application/json"));
        assert_eq!(fake.send_requests(), 6);
    }
}

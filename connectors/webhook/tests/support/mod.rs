//! A real local webhook receiver (axum on 127.0.0.1) for the webhook tests: it records every
//! request, verifies Standard Webhooks signatures independently, and answers as scripted.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
pub const TOKEN: &str = "tok-sentinel-6f1c9a0e";

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
    pub signature_ok: bool,
}

/// A scripted answer for `/script`.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub delay: Duration,
}

impl Scripted {
    pub fn status(status: u16) -> Self {
        Scripted {
            status,
            headers: vec![],
            delay: Duration::ZERO,
        }
    }
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    accepted: HashMap<String, Bytes>,
    script: VecDeque<Scripted>,
}

#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { addr, inner }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn script(&self, answers: impl IntoIterator<Item = Scripted>) {
        self.inner.lock().unwrap().script.extend(answers);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// Bodies accepted (2xx on `/auth` or `/ok`), by `webhook-id`.
    pub fn accepted(&self, id: &str) -> Option<Bytes> {
        self.inner.lock().unwrap().accepted.get(id).cloned()
    }

    pub fn accepted_count(&self) -> usize {
        self.inner.lock().unwrap().accepted.len()
    }
}

/// Verifies `webhook-signature` as a receiver would, with its own HMAC code.
pub fn verify(headers: &HeaderMap, body: &[u8], secret: &str) -> bool {
    let get = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (Some(id), Some(ts), Some(sigs)) = (
        get("webhook-id"),
        get("webhook-timestamp"),
        get("webhook-signature"),
    ) else {
        return false;
    };
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    let fresh = ts.parse::<i64>().is_ok_and(|t| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        (now - t).abs() < 300
    });
    fresh && sigs.split(' ').any(|s| s == expected)
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let signature_ok = verify(&headers, &body, SECRET);
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    inner.lock().unwrap().received.push(Received {
        path: path.clone(),
        headers: headers.clone(),
        body: body.clone(),
        at: Instant::now(),
        signature_ok,
    });
    let accept = |inner: &Arc<Mutex<Inner>>| {
        inner
            .lock()
            .unwrap()
            .accepted
            .insert(id.clone(), body.clone());
    };
    match path.as_str() {
        "/ok" => {
            accept(&inner);
            (StatusCode::OK, "ok").into_response()
        }
        "/auth" => {
            let bearer = headers.get("authorization").and_then(|v| v.to_str().ok())
                == Some(&format!("Bearer {TOKEN}"));
            if bearer && signature_ok {
                accept(&inner);
                (StatusCode::OK, "{\"received\":true}").into_response()
            } else {
                (StatusCode::UNAUTHORIZED, "bad credentials").into_response()
            }
        }
        "/hang" => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK.into_response()
        }
        "/redirect" => (
            StatusCode::FOUND,
            [("location", "https://elsewhere.example/hook?token=abc")],
        )
            .into_response(),
        "/big" => (StatusCode::OK, "y".repeat(100_000)).into_response(),
        "/script" => {
            let next = inner
                .lock()
                .unwrap()
                .script
                .pop_front()
                .unwrap_or(Scripted::status(200));
            tokio::time::sleep(next.delay).await;
            if (200..300).contains(&next.status) {
                accept(&inner);
            }
            let mut resp = (
                StatusCode::from_u16(next.status).unwrap(),
                format!("scripted {}", next.status),
            )
                .into_response();
            for (n, v) in next.headers {
                resp.headers_mut().insert(n, v.parse().unwrap());
            }
            resp
        }
        _ => (StatusCode::NOT_FOUND, "no such path").into_response(),
    }
}

/// A port on 127.0.0.1 with nothing listening.
pub async fn closed_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

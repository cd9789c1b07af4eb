//! The plumbing the fakes share: serving on a loopback port, reading a request, answering JSON.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::faults::{Logged, Script};

/// A request, read whole.
#[derive(Debug)]
pub struct Incoming {
    pub method: Method,
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Incoming {
    pub async fn read(req: Request<Body>, script: &Script) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, 256 * 1024 * 1024)
            .await
            .map_err(|_| status(StatusCode::BAD_REQUEST, "unreadable body"))?;
        let raw_query = parts.uri.query().unwrap_or_default().to_string();
        let query = url::form_urlencoded::parse(raw_query.as_bytes())
            .into_owned()
            .collect();
        let path = percent_encoding::percent_decode_str(parts.uri.path())
            .decode_utf8()
            .map_err(|_| status(StatusCode::BAD_REQUEST, "path is not UTF-8"))?
            .into_owned();
        script.record(Logged {
            method: parts.method.to_string(),
            path: path.clone(),
            query: raw_query,
            content_range: header_str(&parts.headers, header::CONTENT_RANGE.as_str()),
            has_authorization: parts.headers.contains_key(header::AUTHORIZATION),
            body_len: body.len(),
        });
        Ok(Incoming {
            method: parts.method,
            path,
            query,
            headers: parts.headers,
            body,
        })
    }

    pub fn header(&self, name: &str) -> Option<String> {
        header_str(&self.headers, name)
    }

    pub fn has_authorization(&self) -> bool {
        self.headers.contains_key(header::AUTHORIZATION)
    }

    pub fn bearer(&self) -> Option<String> {
        self.header("authorization")?
            .strip_prefix("Bearer ")
            .map(str::to_string)
    }
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

pub fn json(code: u16, value: Value) -> Response {
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

pub fn status(code: StatusCode, text: &'static str) -> Response {
    (code, text).into_response()
}

pub fn with_retry_after(mut response: Response, retry_after: Option<u64>) -> Response {
    if let Some(secs) = retry_after {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            secs.to_string().parse().expect("digits"),
        );
    }
    response
}

/// A parsed `Content-Range`: the inclusive byte range (`None` for `*`) and the total (`None`
/// for `*`).
pub type ContentRange = (Option<(u64, u64)>, Option<u64>);

/// `bytes a-b/total`, `bytes */total` or with `*` totals.
pub fn content_range(value: &str) -> Option<ContentRange> {
    let rest = value.strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let total = match total {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    let range = match range {
        "*" => None,
        r => {
            let (a, b) = r.split_once('-')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        }
    };
    Some((range, total))
}

/// Serves `app` on a loopback port until the returned sender is dropped.
pub async fn serve(app: axum::Router) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
    });
    (addr, stop)
}

/// Runs `f` for every request (the fakes route by hand: Graph paths such as
/// `/root:/a/b.csv:/content` do not fit a router's segments).
pub fn router<S, F, Fut>(state: S, f: F) -> axum::Router
where
    S: Clone + Send + Sync + 'static,
    F: Fn(S, Request<Body>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    axum::Router::new().fallback(move |req: Request<Body>| {
        let (f, state) = (f.clone(), state.clone());
        async move { f(state, req).await }
    })
}

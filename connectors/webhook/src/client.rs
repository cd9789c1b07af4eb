//! The webhook HTTP client: builds signed requests, sends them through the SSRF-guarded
//! resolver, keeps the first 4 KiB of each response, and classifies every failure.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use courier_core::retry_after::parse_retry_after;
use courier_core::{ConnectorError, Delivered, ErrorKind, PayloadCap, Response};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

use crate::config::{Credentials, WebhookAuth, WebhookConfig};
use crate::guard::{self, GuardedResolver, ResolveError};
use crate::signing::{SigningKey, signature_header};

/// How much of a response body is kept in an outcome.
pub const RESPONSE_BODY_LIMIT: usize = 4096;

pub struct WebhookClient {
    pub config: WebhookConfig,
    pub url: Url,
    pub destination_id: String,
    pub cap: PayloadCap,
    http: reqwest::Client,
    keys: Vec<SigningKey>,
    /// Configured headers plus the credential header, values marked sensitive.
    headers: HeaderMap,
}

impl fmt::Debug for WebhookClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the origin: paths and queries sometimes carry tokens.
        f.debug_struct("WebhookClient")
            .field("endpoint", &origin(&self.url))
            .field("method", &self.config.method)
            .field("body", &self.config.body)
            .field("signing_keys", &self.keys.len())
            .field("allow_private_network", &self.config.allow_private_network)
            .finish_non_exhaustive()
    }
}

/// `scheme://host:port` of a URL, the only part of it messages show.
pub fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// What the endpoint answered.
#[derive(Debug)]
pub struct Answer {
    pub status: reqwest::StatusCode,
    pub retry_after: Option<Duration>,
    pub location: Option<String>,
    pub body: Option<String>,
    pub latency: Duration,
}

impl WebhookClient {
    pub fn new(
        config: WebhookConfig,
        auth: WebhookAuth,
        destination_id: String,
        cap: PayloadCap,
    ) -> Result<Self, ConnectorError> {
        let url = crate::config::parse_url(&config.url).map_err(|m| {
            ConnectorError::new(
                ErrorKind::InvalidConfig,
                format!("url {m}"),
                "correct config.url",
            )
        })?;
        let keys = auth
            .signing_secret
            .as_ref()
            .map(|s| {
                s.as_slice()
                    .iter()
                    .map(SigningKey::parse)
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()
            .map_err(|m| {
                ConnectorError::new(
                    ErrorKind::InvalidConfig,
                    format!("signing_secret {m}"),
                    "set auth_config.signing_secret to whsec_ + base64",
                )
            })?
            .unwrap_or_default();
        let headers = build_headers(&config, auth.credentials.as_ref())?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .connect_timeout(Duration::from_millis(config.timeout_ms.min(10_000)))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would make the connection on our behalf, past the address checks.
            .no_proxy()
            .dns_resolver(GuardedResolver::shared(config.allow_private_network))
            .user_agent(concat!("Courier/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| {
                ConnectorError::internal("could not build the HTTP client")
                    .with_source(e.without_url())
            })?;
        Ok(WebhookClient {
            config,
            url,
            destination_id,
            cap,
            http,
            keys,
            headers,
        })
    }

    pub fn signing_key_count(&self) -> usize {
        self.keys.len()
    }

    /// Refuses a literal non-public address before any I/O (names are checked by the resolver).
    fn check_literal(&self) -> Result<(), ConnectorError> {
        if self.config.allow_private_network {
            return Ok(());
        }
        if let Some(ip) = guard::literal_ip(&self.url) {
            if let Err(reason) = guard::check_ip(ip) {
                return Err(ssrf_error(&format!("{ip} is {reason}")));
            }
        }
        Ok(())
    }

    /// Sends one signed request and returns what the endpoint answered (any status).
    pub async fn send(
        &self,
        msg_id: &str,
        body: Bytes,
        content_type: &'static str,
    ) -> Result<Answer, ConnectorError> {
        self.check_literal()?;
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let mut request = self
            .http
            .request(self.config.method.as_reqwest(), self.url.clone())
            .headers(self.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", timestamp.to_string());
        if !self.keys.is_empty() {
            request = request.header(
                "webhook-signature",
                signature_header(&self.keys, msg_id, timestamp, &body),
            );
        }
        let started = Instant::now();
        let mut response = request
            .body(body)
            .send()
            .await
            .map_err(|e| self.send_error(e))?;
        let status = response.status();
        let headers = response.headers();
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let location = headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| l.split(['?', '#']).next().unwrap_or_default().to_string());
        let mut kept = Vec::new();
        while kept.len() < RESPONSE_BODY_LIMIT {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = RESPONSE_BODY_LIMIT - kept.len();
                    kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                // The status is what counts; a body cut short does not change the verdict.
                Ok(None) | Err(_) => break,
            }
        }
        let body = (!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned());
        Ok(Answer {
            status,
            retry_after,
            location,
            body,
            latency: started.elapsed(),
        })
    }

    /// Sends and classifies: a delivery receipt for 2xx; otherwise the classified error with
    /// what the endpoint answered, if it answered.
    pub async fn deliver(
        &self,
        msg_id: &str,
        body: Bytes,
        content_type: &'static str,
    ) -> Result<Delivered, (ConnectorError, Option<Response>)> {
        let answer = self
            .send(msg_id, body, content_type)
            .await
            .map_err(|e| (e, None))?;
        match classify_status(&answer) {
            None => Ok(Delivered {
                reference: format!("HTTP {}", answer.status.as_u16()),
                status: Some(answer.status.as_u16()),
                latency: answer.latency,
                response_body: answer.body,
            }),
            Some(e) => Err((
                e,
                Some(Response {
                    status: answer.status.as_u16(),
                    latency: answer.latency,
                    body: answer.body,
                }),
            )),
        }
    }

    fn send_error(&self, e: reqwest::Error) -> ConnectorError {
        let origin = origin(&self.url);
        let e = e.without_url();
        if let Some(r) = find_source::<ResolveError>(&e) {
            return match r {
                ResolveError::Refused { .. } => ssrf_error(&r.to_string()),
                ResolveError::Lookup { .. } => ConnectorError::new(
                    ErrorKind::Unavailable,
                    r.to_string(),
                    "check the host name in config.url and that DNS resolves it from here",
                ),
            }
            .with_source(e);
        }
        if e.is_timeout() {
            return ConnectorError::new(
                ErrorKind::Timeout,
                format!("{origin} did not answer within timeout_ms ({} ms)", self.config.timeout_ms),
                "check that the endpoint answers promptly (acknowledge first, process later), or raise timeout_ms",
            )
            .with_source(e);
        }
        if e.is_connect() {
            return ConnectorError::new(
                ErrorKind::Unavailable,
                format!("could not connect to {origin}"),
                "check that the endpoint is running and reachable from here (host, port, firewall, TLS)",
            )
            .with_source(e);
        }
        ConnectorError::new(
            ErrorKind::Unavailable,
            format!("the request to {origin} failed: {e}"),
            "check that the endpoint is reachable and speaks HTTP",
        )
        .with_source(e)
    }
}

fn ssrf_error(detail: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::InvalidConfig,
        format!("{detail}; refused by the SSRF guard"),
        "use a public endpoint, or set allow_private_network: true for a trusted internal receiver",
    )
}

fn find_source<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<T>() {
            return Some(t);
        }
        cur = err.source();
    }
    None
}

fn build_headers(
    config: &WebhookConfig,
    credentials: Option<&Credentials>,
) -> Result<HeaderMap, ConnectorError> {
    let invalid = |what: &str| {
        ConnectorError::new(
            ErrorKind::InvalidConfig,
            format!("{what} is not a valid HTTP header"),
            "correct it",
        )
    };
    let mut map = HeaderMap::new();
    for (name, value) in &config.headers {
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid(&format!("headers/{name}")))?;
        let v = HeaderValue::from_str(value).map_err(|_| invalid(&format!("headers/{name}")))?;
        map.insert(n, v);
    }
    let secret_header =
        |name: HeaderName, value: String| -> Result<(HeaderName, HeaderValue), ConnectorError> {
            let mut v = HeaderValue::from_str(&value).map_err(|_| invalid("the credential"))?;
            v.set_sensitive(true);
            Ok((name, v))
        };
    let credential = match credentials {
        None => None,
        Some(Credentials::Bearer { token }) => Some(secret_header(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", token.expose()),
        )?),
        Some(Credentials::Basic { username, password }) => {
            use base64::Engine;
            let raw = format!("{username}:{}", password.expose());
            Some(secret_header(
                reqwest::header::AUTHORIZATION,
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                ),
            )?)
        }
        Some(Credentials::ApiKey { header, value }) => {
            let n = HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| invalid("credentials.header"))?;
            Some(secret_header(n, value.expose().to_string())?)
        }
    };
    if let Some((n, v)) = credential {
        map.insert(n, v);
    }
    Ok(map)
}

/// `None` for 2xx; otherwise the classified error. 3xx is never followed.
pub fn classify_status(answer: &Answer) -> Option<ConnectorError> {
    let status = answer.status;
    let code = status.as_u16();
    if status.is_success() {
        return None;
    }
    let what = format!(
        "the endpoint answered HTTP {code}{}",
        status
            .canonical_reason()
            .map(|r| format!(" {r}"))
            .unwrap_or_default()
    );
    let (kind, hint): (ErrorKind, String) = match code {
        300..=399 => (
            ErrorKind::Rejected,
            match &answer.location {
                Some(l) => format!("redirects are not followed: set config.url to the final address ({l})"),
                None => "redirects are not followed: set config.url to the final address".to_string(),
            },
        ),
        401 => (ErrorKind::Unauthenticated, "check auth_config: the credentials or the signing secret the receiver expects".into()),
        403 => (ErrorKind::Forbidden, "the receiver refused these credentials for this endpoint; check its access rules".into()),
        404 => (ErrorKind::NotFound, "check the path in config.url".into()),
        408 => (ErrorKind::Timeout, "the receiver timed out reading the request; it will be retried".into()),
        409 => (ErrorKind::Conflict, "the receiver reports a conflict with existing state".into()),
        410 => (ErrorKind::Rejected, "the receiver says this endpoint is gone for good: update config.url or disable the destination".into()),
        413 => (ErrorKind::PayloadTooLarge, "send smaller records, use body: json, or lower payload_cap_bytes to the receiver's limit".into()),
        429 => (ErrorKind::RateLimited, "the receiver is rate limiting; deliveries are retried after Retry-After".into()),
        400..=499 => (ErrorKind::Rejected, "the receiver refused this payload; see the response body".into()),
        _ => (ErrorKind::Unavailable, "the receiver is failing; deliveries are retried with backoff".into()),
    };
    let mut message = what;
    if matches!(code, 300..=399) {
        message.push_str(" (a redirect, which is not followed)");
    }
    let error = ConnectorError::new(kind, message, hint);
    // Retry-After is meaningful on 429 and 503 (and harmless on other retryable answers).
    let retry_after = if kind.is_retryable() {
        answer.retry_after
    } else {
        None
    };
    Some(error.with_retry_after(retry_after))
}

//! The webhook HTTP client: builds signed requests, sends them on a hyper connection pool whose
//! resolver is the SSRF guard, keeps the first 4 KiB of each response, and classifies failures.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use courier_core::retry_after::parse_retry_after;
use courier_core::{ConnectorError, Delivered, ErrorKind, EventRef, PayloadCap, Response};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use url::Url;

use crate::config::{Credentials, WebhookAuth, WebhookConfig};
use crate::guard::{self, GuardedResolver, PRIVATE_NETWORK_HINT, ResolveError};
use crate::signing::{SigningKey, signature_header};

/// How much of a response body is kept in an outcome.
pub const RESPONSE_BODY_LIMIT: usize = 4096;

/// Names the event type of the record a `json`-mode request carries (batch bodies mix events).
pub const EVENT_TYPE_HEADER: &str = "courier-event-type";
/// Names the event id of the record a `json`-mode request carries (shared by its fan-out).
pub const EVENT_ID_HEADER: &str = "courier-event-id";

const USER_AGENT: &str = concat!("Courier/", env!("CARGO_PKG_VERSION"));

type Http = Client<HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>;

/// A webhook destination's client: the parsed endpoint, signing keys, headers and a connection
/// pool whose resolver is the SSRF guard. Debug shows only the endpoint's origin.
pub struct WebhookClient {
    /// The destination's config.
    pub config: WebhookConfig,
    /// The endpoint, parsed and checked from `config.url`.
    pub url: Url,
    /// The host's id of the destination (sent in the connection test's event).
    pub destination_id: String,
    /// The largest request body to send, in bytes; larger ones fail before any request.
    pub cap: PayloadCap,
    /// The TLS settings the pool uses, shared with the connection test's TLS step.
    pub tls: Arc<rustls::ClientConfig>,
    uri: http::Uri,
    http: Http,
    keys: Vec<SigningKey>,
    /// Configured headers plus the credential header (marked sensitive) and fixed headers.
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
    pub status: StatusCode,
    pub retry_after: Option<Duration>,
    pub location: Option<String>,
    pub body: Option<String>,
    pub latency: Duration,
}

impl WebhookClient {
    /// Builds the client without I/O: parses the URL and signing secrets, prepares the headers
    /// (the credential's marked sensitive) and TLS. Fails when the URL, a signing secret or a
    /// header is invalid, or TLS cannot be set up.
    pub fn new(
        config: WebhookConfig,
        auth: WebhookAuth,
        destination_id: String,
        cap: PayloadCap,
    ) -> Result<Self, ConnectorError> {
        let invalid = |m: String| {
            ConnectorError::new(
                ErrorKind::InvalidConfig,
                m,
                "correct the destination's config",
            )
        };
        let url = crate::config::parse_url(&config.url).map_err(|m| invalid(format!("url {m}")))?;
        let uri: http::Uri = url
            .as_str()
            .parse()
            .map_err(|_| invalid("url is not a valid HTTP URI".into()))?;
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
            .map_err(|m| invalid(format!("signing_secret {m}")))?
            .unwrap_or_default();
        let headers = build_headers(&config, auth.credentials.as_ref())?;

        let tls = Arc::new(tls_config()?);
        let mut connector = HttpConnector::new_with_resolver(GuardedResolver {
            allow_private: config.allow_private_network,
        });
        // https is handled by the TLS layer wrapped around this connector.
        connector.enforce_http(false);
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_millis(config.timeout_ms.min(10_000))));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        // hyper never follows redirects and uses no proxy, so the guard sees every connection.
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(https);
        Ok(WebhookClient {
            config,
            url,
            destination_id,
            cap,
            tls,
            uri,
            http,
            keys,
            headers,
        })
    }

    /// How many signing secrets sign each request (one signature each); 0: requests are
    /// unsigned.
    pub fn signing_key_count(&self) -> usize {
        self.keys.len()
    }

    /// Refuses a literal non-public address before any I/O (names are checked by the resolver).
    fn check_literal(&self) -> Result<(), ConnectorError> {
        if self.config.allow_private_network {
            return Ok(());
        }
        if let Some(ip) = guard::literal_ip(&self.url)
            && let Err(reason) = guard::check_ip(ip)
        {
            return Err(ssrf_error(&format!("{ip} is {reason}")));
        }
        Ok(())
    }

    /// Sends one signed request and returns what the endpoint answered (any status).
    pub async fn send(
        &self,
        msg_id: &str,
        event: Option<&EventRef>,
        body: Bytes,
        content_type: &'static str,
    ) -> Result<Answer, ConnectorError> {
        self.check_literal()?;
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let mut headers = self.headers.clone();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert("webhook-id", header_value(msg_id)?);
        headers.insert("webhook-timestamp", HeaderValue::from(timestamp));
        if let Some(event) = event {
            headers.insert(EVENT_TYPE_HEADER, header_value(&event.event_type)?);
            headers.insert(EVENT_ID_HEADER, header_value(&event.event_id)?);
        }
        if !self.keys.is_empty() {
            let signature = signature_header(&self.keys, msg_id, timestamp, &body);
            headers.insert("webhook-signature", header_value(&signature)?);
        }
        let mut request = Request::builder()
            .method(self.config.method.as_http())
            .uri(self.uri.clone())
            .body(Full::new(body))
            .map_err(|_| ConnectorError::internal("could not build the HTTP request"))?;
        *request.headers_mut() = headers;

        let started = Instant::now();
        let timeout = Duration::from_millis(self.config.timeout_ms);
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| self.send_error(e))?;
            let status = response.status();
            let headers = response.headers();
            let retry_after = headers
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            let location = headers
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(|l| l.split(['?', '#']).next().unwrap_or_default().to_string());
            let body = read_prefix(response.into_body()).await;
            Ok::<_, ConnectorError>(Answer {
                status,
                retry_after,
                location,
                body,
                latency: started.elapsed(),
            })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(ConnectorError::new(
                ErrorKind::Timeout,
                format!(
                    "{} did not answer within timeout_ms ({} ms)",
                    origin(&self.url),
                    self.config.timeout_ms
                ),
                "check that the endpoint answers promptly (acknowledge first, process later), or raise timeout_ms",
            )),
        }
    }

    /// Sends and classifies: a delivery receipt for 2xx; otherwise the classified error with
    /// what the endpoint answered, if it answered.
    pub async fn deliver(
        &self,
        msg_id: &str,
        event: Option<&EventRef>,
        body: Bytes,
        content_type: &'static str,
    ) -> Result<Delivered, (ConnectorError, Option<Response>)> {
        let answer = self
            .send(msg_id, event, body, content_type)
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

    fn send_error(&self, e: hyper_util::client::legacy::Error) -> ConnectorError {
        let origin = origin(&self.url);
        if let Some(r) = find_source::<ResolveError>(&e) {
            let error = match r {
                ResolveError::Refused { .. } => ssrf_error(&r.to_string()),
                ResolveError::Lookup { .. } => ConnectorError::new(
                    ErrorKind::Unavailable,
                    r.to_string(),
                    "check the host name in config.url and that DNS resolves it from here",
                ),
            };
            return error.with_source(e);
        }
        if e.is_connect() {
            let detail = find_source::<std::io::Error>(&e)
                .map(|io| format!(": {io}"))
                .unwrap_or_default();
            return ConnectorError::new(
                ErrorKind::Unavailable,
                format!("could not connect to {origin}{detail}"),
                "check that the endpoint is running and reachable from here (host, port, firewall, TLS certificate)",
            )
            .with_source(e);
        }
        ConnectorError::new(
            ErrorKind::Unavailable,
            format!("the exchange with {origin} failed before a complete answer"),
            "check that the endpoint is reachable and speaks HTTP/1.1",
        )
        .with_source(e)
    }
}

/// TLS with an explicit crypto provider (aws-lc-rs) and the platform's certificate verifier.
/// Explicit, because when another crate in the build enables rustls' `ring` feature too, rustls
/// can no longer pick a process-wide default on its own.
fn tls_config() -> Result<rustls::ClientConfig, ConnectorError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectorError::internal("could not set up TLS").with_source(e))?
        .with_platform_verifier()
        .map(|b| b.with_no_client_auth())
        .map_err(|e| {
            ConnectorError::internal("could not load the platform's certificate verifier")
                .with_source(e)
        })
}

/// Reads at most `RESPONSE_BODY_LIMIT` bytes of a body. The status decides the outcome, so a
/// body cut short or broken off does not change it.
async fn read_prefix(mut body: hyper::body::Incoming) -> Option<String> {
    let mut kept = Vec::new();
    while kept.len() < RESPONSE_BODY_LIMIT {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(chunk) = frame.data_ref() {
                    let room = RESPONSE_BODY_LIMIT - kept.len();
                    kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
            }
            Some(Err(_)) | None => break,
        }
    }
    (!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned())
}

fn header_value(s: &str) -> Result<HeaderValue, ConnectorError> {
    HeaderValue::from_str(s).map_err(|_| {
        ConnectorError::new(
            ErrorKind::Rejected,
            "a record id cannot be sent as the webhook-id header (control characters)",
            "use record ids of printable ASCII",
        )
    })
}

fn ssrf_error(detail: &str) -> ConnectorError {
    // Resolver errors already say the guard refused them.
    let message = if detail.ends_with("refused by the SSRF guard") {
        detail.to_string()
    } else {
        format!("{detail}; refused by the SSRF guard")
    };
    ConnectorError::new(ErrorKind::InvalidConfig, message, PRIVATE_NETWORK_HINT)
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
    map.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
    for (name, value) in &config.headers {
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid(&format!("headers/{name}")))?;
        let v = HeaderValue::from_str(value).map_err(|_| invalid(&format!("headers/{name}")))?;
        map.insert(n, v);
    }
    let secret_header = |value: String| -> Result<HeaderValue, ConnectorError> {
        let mut v = HeaderValue::from_str(&value).map_err(|_| invalid("the credential"))?;
        v.set_sensitive(true);
        Ok(v)
    };
    match credentials {
        None => {}
        Some(Credentials::Bearer { token }) => {
            map.insert(
                header::AUTHORIZATION,
                secret_header(format!("Bearer {}", token.expose()))?,
            );
        }
        Some(Credentials::Basic { username, password }) => {
            use base64::Engine;
            let raw = format!("{username}:{}", password.expose());
            let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
            map.insert(
                header::AUTHORIZATION,
                secret_header(format!("Basic {encoded}"))?,
            );
        }
        Some(Credentials::ApiKey { header, value }) => {
            let n = HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| invalid("credentials.header"))?;
            map.insert(n, secret_header(value.expose().to_string())?);
        }
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
    let mut message = format!(
        "the endpoint answered HTTP {code}{}",
        status
            .canonical_reason()
            .map(|r| format!(" {r}"))
            .unwrap_or_default()
    );
    let (kind, hint): (ErrorKind, String) = match code {
        300..=399 => {
            message.push_str(" (a redirect, which is not followed)");
            let target = answer.location.as_deref().map(|l| format!(" ({l})")).unwrap_or_default();
            (ErrorKind::Rejected, format!("redirects are not followed: set config.url to the final address{target}"))
        }
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
    // Retry-After is meaningful on 429 and 503 (and harmless on other retryable answers).
    let retry_after = if kind.is_retryable() {
        answer.retry_after
    } else {
        None
    };
    Some(ConnectorError::new(kind, message, hint).with_retry_after(retry_after))
}

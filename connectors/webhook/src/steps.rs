//! The webhook connection test: dns → connect → tls → a signed `webhook.test` request →
//! the authentication verdict. Every step touches the real endpoint.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use courier_core::{ConnectorError, ErrorKind, Probe, StepSpec};
use tokio::net::TcpStream;

use crate::body;
use crate::client::{Answer, WebhookClient, classify_status, origin};
use crate::config::BodyMode;
use crate::guard::{self, PRIVATE_NETWORK_HINT, ResolveError};

pub const STEPS: &[StepSpec] = &[
    StepSpec {
        name: "dns",
        label: "Host name resolves to an allowed address",
    },
    StepSpec {
        name: "connect",
        label: "TCP connection",
    },
    StepSpec {
        name: "tls",
        label: "TLS handshake and certificate",
    },
    StepSpec {
        name: "request",
        label: "Signed webhook.test request answered",
    },
    StepSpec {
        name: "authentication",
        label: "Endpoint accepts the credentials and signature",
    },
];

pub async fn run(client: &WebhookClient, probe: &mut Probe) -> Result<(), ConnectorError> {
    let url = &client.url;
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let allow = client.config.allow_private_network;
    let timeout = Duration::from_millis(client.config.timeout_ms);

    let addrs: Vec<SocketAddr> = probe
        .step("dns", async {
            if let Some(ip) = guard::literal_ip(url) {
                if !allow {
                    guard::check_ip(ip).map_err(|reason| refused(&format!("{ip} is {reason}")))?;
                }
                return Ok((
                    vec![SocketAddr::new(ip, port)],
                    format!("no lookup needed: the URL names {ip}"),
                ));
            }
            match guard::resolve_checked(&host, port, allow).await {
                Ok(addrs) => {
                    let list: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
                    Ok((addrs, format!("{host} resolves to {}", list.join(", "))))
                }
                Err(e @ ResolveError::Refused { .. }) => Err(refused(&e.to_string())),
                Err(e) => Err(ConnectorError::new(
                    ErrorKind::NotFound,
                    e.to_string(),
                    "check the host name in config.url and that DNS resolves it from here",
                )),
            }
        })
        .await?;

    let stream = probe
        .step("connect", async {
            let mut last = None;
            for addr in &addrs {
                match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                    Ok(Ok(s)) => return Ok((s, format!("connected to {addr}"))),
                    Ok(Err(e)) => last = Some(format!("{addr}: {e}")),
                    Err(_) => {
                        last = Some(format!(
                            "{addr}: no answer within {} ms",
                            timeout.as_millis()
                        ))
                    }
                }
            }
            Err(ConnectorError::new(
                ErrorKind::Unavailable,
                format!(
                    "could not connect to {} ({})",
                    origin(url),
                    last.unwrap_or_default()
                ),
                "check that the endpoint is running and reachable from here (port, firewall)",
            ))
        })
        .await?;

    if url.scheme() == "https" {
        probe
            .step(
                "tls",
                tls_handshake(client.tls.clone(), stream, &host, timeout),
            )
            .await?;
    } else {
        drop(stream);
        probe.skip(
            "tls",
            "plain http: there is no TLS to check (use https in production)",
        );
    }

    let answer: Answer = probe
        .step("request", async {
            let answer = send_test_event(client).await?;
            let code = answer.status.as_u16();
            if !matches!(code, 401 | 403)
                && let Some(e) = classify_status(&answer)
            {
                return Err(e);
            }
            let message = format!(
                "{} answered HTTP {code} in {} ms",
                origin(url),
                answer.latency.as_millis()
            );
            Ok((answer, message))
        })
        .await?;

    probe
        .step("authentication", async {
            match classify_status(&answer) {
                Some(e) => Err(ConnectorError::new(
                    e.kind,
                    format!("{} refused the request: {}", origin(url), e.message),
                    "check auth_config: the credentials and signing secret must match what the receiver expects",
                )),
                None => {
                    let signed = match client.signing_key_count() {
                        0 => "unsigned (no signing_secret configured)".to_string(),
                        1 => "signed with 1 secret".to_string(),
                        n => format!("signed with {n} secrets"),
                    };
                    Ok(((), format!("the endpoint accepted the request, {signed}")))
                }
            }
        })
        .await
}

fn refused(detail: &str) -> ConnectorError {
    // Resolver errors already say the guard refused them.
    let message = if detail.ends_with("refused by the SSRF guard") {
        detail.to_string()
    } else {
        format!("{detail}; refused by the SSRF guard")
    };
    ConnectorError::new(ErrorKind::InvalidConfig, message, PRIVATE_NETWORK_HINT)
}

async fn tls_handshake(
    config: Arc<rustls::ClientConfig>,
    stream: TcpStream,
    host: &str,
    timeout: Duration,
) -> Result<((), String), ConnectorError> {
    let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|_| {
        ConnectorError::new(
            ErrorKind::InvalidConfig,
            format!("{host} is not a valid TLS server name"),
            "correct config.url",
        )
    })?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let tls = match tokio::time::timeout(timeout, connector.connect(name, stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            let cert_problem = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_)));
            return Err(if cert_problem {
                ConnectorError::new(
                    ErrorKind::InvalidConfig,
                    format!("the certificate of {host} is not trusted: {e}"),
                    "install a certificate valid for this host name, issued by a public CA, on the receiver",
                )
            } else {
                ConnectorError::new(
                    ErrorKind::Unavailable,
                    format!("TLS handshake with {host} failed: {e}"),
                    "check that the port speaks TLS (https) and supports TLS 1.2 or 1.3",
                )
            });
        }
        Err(_) => {
            return Err(ConnectorError::new(
                ErrorKind::Timeout,
                format!(
                    "TLS handshake with {host} did not finish within {} ms",
                    timeout.as_millis()
                ),
                "check that the port speaks TLS (https)",
            ));
        }
    };
    let version = tls
        .get_ref()
        .1
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_else(|| "TLS".into());
    Ok((
        (),
        format!("{version} handshake complete; certificate valid for {host}"),
    ))
}

async fn send_test_event(client: &WebhookClient) -> Result<Answer, ConnectorError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let msg_id = format!("msg_test_{}", now.as_nanos());
    let event = serde_json::json!({
        "type": "webhook.test",
        "timestamp": now.as_secs(),
        "data": { "destination_id": client.destination_id },
    })
    .to_string();
    let (body, content_type) = match client.config.body {
        BodyMode::Json => (Bytes::from(event), body::JSON),
        BodyMode::JsonArray => (Bytes::from(format!("[{event}]")), body::JSON),
        BodyMode::Ndjson => (Bytes::from(format!("{event}\n")), body::NDJSON),
    };
    client.send(&msg_id, None, body, content_type).await
}

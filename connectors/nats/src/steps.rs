//! The NATS connection test: a server answers (its INFO, read over a plain TCP connection)
//! → it accepts the credentials → a JetStream stream captures the subject → a test publish
//! shows publish permission without storing anything (the stream refuses it, as the publish
//! asks with `Nats-Expected-Stream`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::header::NATS_EXPECTED_STREAM;
use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::context::RequestErrorKind as JetStreamRequestErrorKind;
use async_nats::{HeaderMap, RequestErrorKind};
use courier_core::net::{ResolveError, resolve_checked};
use courier_core::{ConnectorError, ErrorKind, Probe, StepSpec};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

use crate::client::{NatsClient, NatsRemote, Session, refused};
use crate::errors;
use crate::subject::{SAMPLE_TOKEN, SubjectTemplate};

/// The steps, in order.
pub const STEPS: &[StepSpec] = &[
    StepSpec {
        name: "connection",
        label: "A NATS server answers",
    },
    StepSpec {
        name: "authentication",
        label: "The server accepts the credentials",
    },
    StepSpec {
        name: "stream",
        label: "A JetStream stream captures the subject",
    },
    StepSpec {
        name: "permission",
        label: "The subject may be published to (a test publish the stream refuses)",
    },
];

/// How long each check may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest INFO line read from a server.
const MAX_INFO_BYTES: usize = 64 * 1024;

/// Runs the steps through `probe`.
pub async fn run(client: &NatsClient, probe: &mut Probe) -> Result<(), ConnectorError> {
    probe.step("connection", reachable(client)).await?;
    let session = probe
        .step("authentication", async {
            let session = client.session().await?;
            let info = session.client.server_info();
            let message = format!(
                "nats-server {} ({}) accepted {}",
                info.version, info.server_name, client.auth_method
            );
            Ok((session, message))
        })
        .await?;
    let subject = &client.subject;
    if !client.config.jetstream {
        probe.skip(
            "stream",
            "JetStream is off (config.jetstream): messages go to core NATS subscribers, at most once, and nothing is stored",
        );
        probe.skip(
            "permission",
            "core NATS cannot show publish permission without delivering a message to the subject's subscribers; a publish the server refuses fails its records as forbidden",
        );
        return Ok(());
    }
    let sample = subject.sample();
    let about = match subject {
        SubjectTemplate::Fixed(_) => String::new(),
        SubjectTemplate::Template(_) => format!(
            " (a sample of the template's subjects: each placeholder filled with {SAMPLE_TOKEN})"
        ),
    };
    let captured = probe
        .step("stream", async {
            if !session.client.server_info().jetstream {
                return Err(ConnectorError::new(
                    ErrorKind::NotFound,
                    "the NATS server runs without JetStream",
                    "enable JetStream on the server, or set config.jetstream to false",
                ));
            }
            stream(&session, subject, &sample, &about).await
        })
        .await?;
    if !captured {
        probe.skip(
            "permission",
            format!("no stream captures {sample}, so no test publish can be refused by one"),
        );
        return Ok(());
    }
    probe
        .step("permission", async {
            match test_publish(&session, &sample).await? {
                TestPublish::Refused => Ok((
                    (),
                    format!(
                        "the stream answered a test publish to {sample} and refused it as asked (Nats-Expected-Stream): publishing is allowed, and nothing was stored"
                    ),
                )),
                TestPublish::Stored(at) => Ok((
                    (),
                    format!("a test publish to {sample} was stored ({at}): publishing is allowed"),
                )),
                TestPublish::NoStream => Err(ConnectorError::new(
                    ErrorKind::NotFound,
                    format!("no stream answered a test publish to {sample}"),
                    errors::create_stream_hint(&sample),
                )),
            }
        })
        .await
}

/// Reads the INFO every server sends on connect, from each configured server.
async fn reachable(client: &NatsRemote) -> Result<((), String), ConnectorError> {
    let mut answered = Vec::new();
    let mut failed = Vec::new();
    for server in &client.servers {
        let (host, port) = (server.host(), server.port());
        let addrs = match resolve_checked(host, port, client.allow_private).await {
            Ok(addrs) => addrs,
            Err(e @ ResolveError::Refused { .. }) => return Err(refused(&e)),
            Err(e) => {
                failed.push(e.to_string());
                continue;
            }
        };
        match tokio::time::timeout(STEP_TIMEOUT, read_info(&addrs)).await {
            Ok(Ok(info)) => {
                let jetstream = if info["jetstream"] == true {
                    ", JetStream on"
                } else {
                    ""
                };
                let tls = if info["tls_required"] == true {
                    ", TLS"
                } else {
                    ""
                };
                let version = info["version"].as_str().unwrap_or("?");
                answered.push(format!(
                    "{host}:{port} (nats-server {version}{jetstream}{tls})"
                ));
            }
            Ok(Err(e)) => failed.push(format!("{host}:{port}: {e}")),
            Err(_) => failed.push(format!("{host}:{port}: no INFO within 5s")),
        }
    }
    if answered.is_empty() {
        return Err(ConnectorError::new(
            ErrorKind::Unavailable,
            format!("no NATS server answered: {}", failed.join("; ")),
            "check config.servers (host and port) and that the servers are reachable from here (firewall)",
        ));
    }
    let mut message = format!("answered: {}", answered.join(", "));
    if !failed.is_empty() {
        message.push_str(&format!("; did not answer: {}", failed.join("; ")));
    }
    Ok(((), message))
}

/// The INFO of the first of `addrs` that answers with one.
async fn read_info(addrs: &[std::net::SocketAddr]) -> Result<Value, String> {
    let mut last = "no address".to_string();
    for addr in addrs {
        let stream = match tokio::net::TcpStream::connect(addr).await {
            Ok(s) => s,
            Err(e) => {
                last = e.to_string();
                continue;
            }
        };
        let mut line = String::new();
        let mut reader = tokio::io::BufReader::new(stream).take(MAX_INFO_BYTES as u64);
        reader
            .read_line(&mut line)
            .await
            .map_err(|e| e.to_string())?;
        return line
            .strip_prefix("INFO ")
            .and_then(|json| serde_json::from_str(json.trim()).ok())
            .ok_or_else(|| "answered, but not as a NATS server".to_string());
    }
    Err(last)
}

/// Whether a stream captures the subject (its name when the user may list streams): the
/// step's value is whether the permission step can run.
async fn stream(
    session: &Session,
    subject: &SubjectTemplate,
    sample: &str,
    about: &str,
) -> Result<(bool, String), ConnectorError> {
    match stream_names(session, sample).await {
        Ok(names) if !names.is_empty() => {
            return Ok((
                true,
                format!("stream {} captures {sample}{about}", names.join(", ")),
            ));
        }
        Ok(_) => {}
        Err(_) => {
            // The user may not list streams: a refused test publish still shows whether one
            // captures the subject.
            return match test_publish(session, sample).await? {
                TestPublish::NoStream => Err(missing(sample, &subject.filter())),
                _ => Ok((
                    true,
                    format!(
                        "a stream captures {sample}{about} (the user may not list streams, so its name is not shown)"
                    ),
                )),
            };
        }
    }
    let filter = subject.filter();
    if filter != sample
        && let Ok(names) = stream_names(session, &filter).await
        && !names.is_empty()
    {
        return Ok((
            false,
            format!(
                "no stream captures the sample subject {sample}, but {} capture some subjects of {filter}; records whose subject no stream captures fail alone as not_found",
                names.join(", ")
            ),
        ));
    }
    Err(missing(sample, &filter))
}

/// No stream captures `sample`, nor (for a template) any subject of `filter`.
fn missing(sample: &str, filter: &str) -> ConnectorError {
    let message = if filter == sample {
        format!("no JetStream stream captures subject {sample}")
    } else {
        format!("no JetStream stream captures {sample} nor any other subject of {filter}")
    };
    ConnectorError::new(
        ErrorKind::NotFound,
        message,
        errors::create_stream_hint(filter),
    )
}

/// The streams whose subjects overlap `filter` (`$JS.API.STREAM.NAMES`).
async fn stream_names(session: &Session, filter: &str) -> Result<Vec<String>, ConnectorError> {
    let body = json!({ "subject": filter });
    let asked = session
        .jetstream
        .request::<_, _, Value>("STREAM.NAMES", &body);
    let answer = tokio::time::timeout(STEP_TIMEOUT, asked)
        .await
        .map_err(|_| ConnectorError::new(ErrorKind::Timeout, "no answer", "retry"))?
        .map_err(|e| {
            let kind = if e.kind() == JetStreamRequestErrorKind::NoResponders {
                ErrorKind::NotFound
            } else {
                ErrorKind::Unavailable
            };
            ConnectorError::new(kind, format!("listing streams failed: {e}"), "retry")
        })?;
    if let Some(error) = answer.get("error") {
        return Err(ConnectorError::new(
            ErrorKind::Rejected,
            format!("listing streams failed: {error}"),
            "retry",
        ));
    }
    Ok(answer["streams"]
        .as_array()
        .map(|names| {
            names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

/// What a test publish found.
enum TestPublish {
    /// A stream captured the subject and refused the message as asked.
    Refused,
    /// A stream stored it (a server ignoring the expectation): where.
    Stored(String),
    /// Nothing captures the subject.
    NoStream,
}

/// Publishes one message to `subject` that the stream capturing it must refuse: it expects a
/// stream name no stream has. The answer shows that the user may publish there and that a
/// stream listens, without storing anything.
async fn test_publish(session: &Session, subject: &str) -> Result<TestPublish, ConnectorError> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mut headers = HeaderMap::new();
    headers.insert(
        NATS_EXPECTED_STREAM,
        format!("courier-connection-test-{nanos}").as_str(),
    );
    let request = async_nats::Request::new()
        .headers(headers)
        .payload(r#"{"type":"courier.connection_test"}"#.into())
        .timeout(Some(STEP_TIMEOUT));
    let mut denials = session.signals.denials.subscribe();
    // Refusals reported before this publish are not about it.
    let since = *denials.borrow();
    let refusal = async {
        // The server reports a refused publish beside the request, which then goes unanswered.
        loop {
            if denials.changed().await.is_err() {
                return std::future::pending().await;
            }
            if session.signals.publish_denied(subject, since) {
                return errors::publish_denied(subject);
            }
            if session.signals.inbox_denied(since) {
                return errors::inbox_denied();
            }
        }
    };
    let answer = tokio::select! {
        answer = session.client.send_request(subject.to_string(), request) => answer,
        error = refusal => return Err(error),
    };
    let message = match answer {
        Ok(message) => message,
        Err(e) if e.kind() == RequestErrorKind::NoResponders => return Ok(TestPublish::NoStream),
        Err(e) if e.kind() == RequestErrorKind::TimedOut => {
            return Err(if session.signals.publish_denied(subject, since) {
                errors::publish_denied(subject)
            } else {
                ConnectorError::new(
                    ErrorKind::Timeout,
                    format!("no answer to a test publish to {subject} within 5s"),
                    format!(
                        "check that the user may publish to {subject} and subscribe to _INBOX.>, and the stream's health"
                    ),
                )
            });
        }
        Err(e) => {
            return Err(ConnectorError::new(
                ErrorKind::Unavailable,
                format!("the test publish to {subject} failed: {e}"),
                "check the connection to the servers",
            ));
        }
    };
    let answer: Value = serde_json::from_slice(&message.payload).unwrap_or(Value::Null);
    if answer["error"]["err_code"] == ErrorCode::STREAM_NOT_MATCH.0 {
        return Ok(TestPublish::Refused);
    }
    if let Some(stream) = answer["stream"].as_str() {
        return Ok(TestPublish::Stored(format!(
            "stream {stream}, sequence {}",
            answer["seq"]
        )));
    }
    Err(ConnectorError::new(
        ErrorKind::Rejected,
        format!(
            "the test publish to {subject} was refused: {}",
            answer["error"]["description"]
                .as_str()
                .unwrap_or("no reason given")
        ),
        format!("check the stream that captures {subject}"),
    ))
}

//! The Kafka connection test: bootstrap (a bootstrap broker accepts TCP connections, each
//! address checked against the trust boundary) → authentication (the cluster answers a
//! metadata request over the configured TLS and SASL, and its advertised brokers pass the
//! trust boundary) → metadata (the topic exists, with its partitions and their leaders) →
//! authorization (what can be shown without writing: see [`authorization`]).

use std::time::Duration;

use courier_core::{ConnectorError, ErrorKind, Probe, StepSpec};
use rdkafka::types::RDKafkaRespErr;

use crate::KafkaClient;
use crate::client::metadata;
use crate::errors::{SERVICE, classify};

/// The steps, in order.
pub const STEPS: &[StepSpec] = &[
    StepSpec {
        name: "bootstrap",
        label: "A bootstrap broker accepts connections",
    },
    StepSpec {
        name: "authentication",
        label: "The cluster accepts the connection and credentials",
    },
    StepSpec {
        name: "metadata",
        label: "The topic exists and its partitions have leaders",
    },
    StepSpec {
        name: "authorization",
        label: "The producer may write (checked without writing)",
    },
];

/// Runs the steps through `probe`.
pub async fn run(client: &KafkaClient, probe: &mut Probe) -> Result<(), ConnectorError> {
    probe.step("bootstrap", bootstrap(client)).await?;
    let producer = probe
        .step("authentication", async {
            let producer = client.producer().await?;
            let m = metadata(&producer, client.watch(), None).await?;
            let detail = format!(
                "the cluster answered: {} broker(s), {} topic(s) visible",
                m.brokers().len(),
                m.topics().len()
            );
            Ok((producer, detail))
        })
        .await?;
    let topic = client.config.topic.clone();
    probe
        .step("metadata", async {
            let m = metadata(&producer, client.watch(), Some(&topic)).await?;
            let Some(t) = m.topics().iter().find(|t| t.name() == topic) else {
                return Err(missing(&topic));
            };
            match t.error() {
                None => {}
                Some(e) => return Err(topic_error(&topic, e)),
            }
            if t.partitions().is_empty() {
                return Err(missing(&topic));
            }
            let leaderless = t.partitions().iter().filter(|p| p.leader() < 0).count();
            if leaderless > 0 {
                return Err(ConnectorError::new(
                    ErrorKind::Unavailable,
                    format!("{SERVICE}: {leaderless} of topic {topic}'s partitions have no leader"),
                    "the cluster is electing leaders or has lost brokers; try again",
                ));
            }
            Ok((
                (),
                format!(
                    "topic {topic} has {} partition(s), each with a leader",
                    t.partitions().len()
                ),
            ))
        })
        .await?;
    probe
        .step("authorization", authorization(client, &producer))
        .await
}

/// Connects to the bootstrap brokers in turn until one accepts.
async fn bootstrap(client: &KafkaClient) -> Result<((), String), ConnectorError> {
    let mut last = None;
    for server in &client.config.bootstrap_servers {
        let Some((host, port)) = crate::client::host_port(server) else {
            continue;
        };
        let addrs =
            match courier_core::net::resolve_checked(host, port, client.allow_private()).await {
                Ok(a) => a,
                Err(e) => {
                    last = Some(courier_net::refused(SERVICE, &e));
                    continue;
                }
            };
        for addr in addrs {
            match tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
                .await
            {
                Ok(Ok(_)) => return Ok(((), format!("{server} accepts connections"))),
                Ok(Err(e)) => last = Some(unreachable(server, &e.to_string())),
                Err(_) => last = Some(unreachable(server, "no answer within 5 s")),
            }
        }
    }
    Err(last.unwrap_or_else(|| unreachable("the bootstrap servers", "no address to try")))
}

fn unreachable(server: &str, why: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Unavailable,
        format!("{SERVICE}: cannot connect to {server}: {why}"),
        "check config.bootstrap_servers and that the brokers accept connections from this server",
    )
}

fn missing(topic: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::NotFound,
        format!("{SERVICE}: topic {topic} does not exist"),
        "create the topic, or correct config.topic (Courier does not create topics)",
    )
}

fn topic_error(topic: &str, e: RDKafkaRespErr) -> ConnectorError {
    let code: rdkafka::types::RDKafkaErrorCode = e.into();
    match code {
        rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition => missing(topic),
        other => classify(Some(other), &format!("topic {topic}")),
    }
}

/// Kafka has no way to ask whether a produce would be allowed without producing. What this
/// step shows without writing: the topic's metadata was authorized (DESCRIBE), and the
/// idempotent producer has not been refused its producer id (brokers from 2.8 give one only
/// to principals that may WRITE a topic; older ones need IDEMPOTENT_WRITE on the cluster). A
/// produce refused for this topic alone is reported as `forbidden` on the first delivery.
async fn authorization(
    client: &KafkaClient,
    producer: &std::sync::Arc<crate::client::Producer>,
) -> Result<((), String), ConnectorError> {
    let fatal = rdkafka::producer::Producer::client(&**producer).fatal_error();
    if let Some((code, reason)) = fatal {
        return Err(classify(Some(code), &reason));
    }
    let what = if client.config.idempotent {
        "topic metadata was authorized and the idempotent producer was not refused; Kafka cannot check a produce without writing, so a refusal for this topic shows on the first delivery"
    } else {
        "topic metadata was authorized; Kafka cannot check a produce without writing, so a refusal for this topic shows on the first delivery"
    };
    Ok(((), what.to_string()))
}

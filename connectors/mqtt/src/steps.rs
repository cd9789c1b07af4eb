//! The MQTT connection test: the broker is reachable (TCP, and TLS with its certificate
//! verified) → it accepts the credentials (CONNACK) → a test message to a topic of the
//! configured shape is acknowledged (with MQTT 5 a refusal for lack of permission fails here;
//! MQTT 3.1.1 brokers acknowledge messages they drop, which the step says).

use std::time::Duration;

use bytes::Bytes;
use courier_core::{ConnectorError, ErrorKind, Probe, StepSpec};

use crate::client::MqttClient;
use crate::config::Protocol;
use crate::errors;
use crate::publish::ACK_TIMEOUT;
use crate::session::{Failure, Link};
use crate::topic::probe_topic;
use crate::wire::{CONNECT_TIMEOUT_SECS, Outgoing};

/// The steps, in order.
pub const STEPS: &[StepSpec] = &[
    StepSpec {
        name: "connection",
        label: "Broker reachable (TCP, and TLS with its certificate verified)",
    },
    StepSpec {
        name: "authentication",
        label: "Broker accepts the credentials",
    },
    StepSpec {
        name: "publish_permission",
        label: "A test message is acknowledged on a topic of the configured shape",
    },
];

/// Runs the steps through `probe`.
pub async fn run(client: &MqttClient, probe: &mut Probe) -> Result<(), ConnectorError> {
    probe.step("connection", reach(client)).await?;
    probe
        .step("authentication", async {
            match client.link().await {
                Link::Up(grant) => {
                    let limit = grant
                        .max_packet
                        .map(|n| format!("; it takes packets up to {n} bytes"))
                        .unwrap_or_default();
                    Ok((
                        (),
                        format!(
                            "{} accepted the connection as {}{limit}",
                            client.broker(),
                            client.client_id()
                        ),
                    ))
                }
                Link::Down(e) => Err(e),
                Link::Idle => Err(errors::timeout(client.broker())),
            }
        })
        .await?;
    probe
        .step("publish_permission", publish_test_message(client))
        .await
}

/// Resolves the broker (through the SSRF guard), opens a TCP connection and, for `mqtts://`,
/// completes a TLS handshake with the certificate verified.
async fn reach(client: &MqttClient) -> Result<((), String), ConnectorError> {
    let settings = &client.settings;
    let broker = client.broker();
    let addrs =
        courier_core::net::resolve_checked(&settings.host, settings.port, settings.allow_private)
            .await
            .map_err(|e| errors::resolve(broker, &e))?;
    let wait = Duration::from_secs(CONNECT_TIMEOUT_SECS);
    let tcp = tokio::time::timeout(wait, tokio::net::TcpStream::connect(addrs[0]))
        .await
        .map_err(|_| errors::timeout(broker))?
        .map_err(|e| errors::io(broker, &e))?;
    let Some(tls) = &settings.tls else {
        return Ok(((), format!("{broker} accepts TCP connections")));
    };
    let name = rustls::pki_types::ServerName::try_from(settings.host.clone()).map_err(|_| {
        ConnectorError::new(
            ErrorKind::InvalidConfig,
            format!("the host of MQTT broker {broker} is not a name TLS can verify"),
            "use the broker's DNS name in broker_url",
        )
    })?;
    let connector = rumqttc::tokio_rustls::TlsConnector::from(tls.clone());
    tokio::time::timeout(wait, connector.connect(name, tcp))
        .await
        .map_err(|_| errors::timeout(broker))?
        .map_err(|e| errors::handshake(broker, &e))?;
    Ok((
        (),
        format!("{broker} completed a TLS handshake with a trusted certificate"),
    ))
}

/// Publishes one `courier.connection_test` message (never retained, QoS 1 or the configured
/// 2) and waits for its acknowledgement.
async fn publish_test_message(client: &MqttClient) -> Result<((), String), ConnectorError> {
    let topic = probe_topic(&client.config.topic_template);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let message = Outgoing {
        topic: topic.clone(),
        payload: Bytes::from(format!(
            r#"{{"type":"courier.connection_test","at_ns":{nanos}}}"#
        )),
        properties: Vec::new(),
    };
    let qos = client.config.qos.max(1);
    let session = client.session();
    let mark = session.mark();
    // One deadline for queueing and the acknowledgement.
    let deadline = tokio::time::Instant::now() + ACK_TIMEOUT;
    let answer = session.publish(message, qos, false, deadline).await?;
    let Ok(answered) = tokio::time::timeout_at(deadline, answer).await else {
        session.reset_if_stalled(mark);
        return Err(errors::timeout(client.broker()));
    };
    match answered {
        Ok(Ok(())) => Ok((
            (),
            match client.config.protocol {
                Protocol::V5 => format!(
                    "the broker acknowledged a courier.connection_test message to {topic} (QoS {qos})"
                ),
                Protocol::V311 => format!(
                    "the broker acknowledged a courier.connection_test message to {topic} (QoS {qos}); MQTT 3.1.1 brokers also acknowledge messages they drop for lack of permission, so only protocol v5 proves the permission"
                ),
            },
        )),
        Ok(Err(Failure::Refused(refusal, reason))) => Err(errors::refused_message(
            client.broker(),
            &topic,
            refusal,
            reason.as_deref(),
        )),
        Ok(Err(Failure::Link(e))) => Err(e),
        Err(_) => Err(errors::unavailable(
            client.broker(),
            "the connection ended before the test message was acknowledged",
        )),
    }
}

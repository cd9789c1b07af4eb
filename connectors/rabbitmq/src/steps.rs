//! The RabbitMQ connection test: the broker is reachable (TCP, and TLS verified) → the user
//! logs in to the vhost → the exchange (or, on the default exchange with a fixed routing key,
//! the queue) exists → the user may publish to it, proven by a publish inside a transaction
//! that is rolled back, so no message is delivered; and publisher confirms work.

use std::sync::Arc;

use courier_core::{ConnectorError, ErrorKind, Probe, StepSpec};
use lapin::options::{BasicPublishOptions, ExchangeDeclareOptions, QueueDeclareOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, ExchangeKind};

use crate::RabbitmqClient;

/// The steps, in order.
pub const STEPS: &[StepSpec] = &[
    StepSpec {
        name: "connection",
        label: "Broker reachable (TCP, and TLS when amqps://)",
    },
    StepSpec {
        name: "authentication",
        label: "RabbitMQ accepts the login to the virtual host",
    },
    StepSpec {
        name: "exchange",
        label: "Exchange exists",
    },
    StepSpec {
        name: "write_permission",
        label: "Messages may be published (checked in a rolled-back transaction: nothing is delivered)",
    },
];

/// The routing key of the permission probe when the config has no fixed one.
const PROBE_ROUTING_KEY: &str = "courier.connection_test";

/// Runs the steps through `probe`.
pub async fn run(client: &RabbitmqClient, probe: &mut Probe) -> Result<(), ConnectorError> {
    let broker = client.broker_label();
    probe
        .step("connection", async {
            let how = reach(client).await?;
            Ok(((), format!("reached {broker} {how}")))
        })
        .await?;

    probe
        .step("authentication", async {
            client.connection().await?;
            Ok((
                (),
                format!(
                    "user `{}` logged in to virtual host `{}`",
                    client.username, client.broker.vhost
                ),
            ))
        })
        .await?;

    let exchange = client.config.exchange_name();
    probe
        .step("exchange", async {
            if !exchange.is_empty() {
                let what = format!("the passive declare of exchange `{exchange}`");
                let channel = client.plain_channel(&what).await?;
                let passive = ExchangeDeclareOptions {
                    passive: true,
                    ..ExchangeDeclareOptions::default()
                };
                let declare = channel.exchange_declare(
                    ShortString::from(exchange),
                    ExchangeKind::Direct,
                    passive,
                    FieldTable::default(),
                );
                client
                    .call(&what, exchange, declare)
                    .await
                    .map_err(|e| missing(client, e, "exchange", exchange))?;
                return Ok(((), format!("exchange `{exchange}` exists")));
            }
            match &client.config.routing_key {
                Some(queue) => {
                    let what = format!("the passive declare of queue `{queue}`");
                    let channel = client.plain_channel(&what).await?;
                    let passive = QueueDeclareOptions {
                        passive: true,
                        ..QueueDeclareOptions::default()
                    };
                    let declare = channel.queue_declare(
                        ShortString::from(queue.as_str()),
                        passive,
                        FieldTable::default(),
                    );
                    let found = client
                        .call(&what, exchange, declare)
                        .await
                        .map_err(|e| missing(client, e, "queue", queue))?;
                    Ok((
                        (),
                        format!(
                            "the default exchange routes to queue `{queue}`, which exists ({} messages ready)",
                            found.message_count()
                        ),
                    ))
                }
                None => Ok((
                    (),
                    "the default exchange (always present): each record's routing key names its queue"
                        .to_string(),
                )),
            }
        })
        .await?;

    probe
        .step("write_permission", async {
            let routing_key = client
                .config
                .routing_key
                .as_deref()
                .unwrap_or(PROBE_ROUTING_KEY);
            publish_and_roll_back(client, exchange, routing_key).await?;
            // The channel deliveries use: confirm mode on.
            client.confirm_channel().await?.release();
            let target = if exchange.is_empty() {
                "the default exchange".to_string()
            } else {
                format!("exchange `{exchange}`")
            };
            Ok((
                (),
                format!(
                    "publishing to {target} is permitted (a courier.connection_test message was published in a transaction and rolled back: nothing was delivered); publisher confirms are on"
                ),
            ))
        })
        .await
}

/// A refusal of a passive declare: 404 means the exchange or queue is missing.
fn missing(
    client: &RabbitmqClient,
    error: ConnectorError,
    what: &str,
    name: &str,
) -> ConnectorError {
    if error.kind != ErrorKind::NotFound {
        return error;
    }
    let hint = match what {
        "queue" => format!("create queue `{name}` (durable), or correct config.routing_key"),
        _ => format!("declare exchange `{name}` on the broker, or correct config.exchange"),
    };
    ConnectorError::new(
        ErrorKind::NotFound,
        format!(
            "{what} `{name}` does not exist in virtual host `{}`",
            client.broker.vhost
        ),
        hint,
    )
}

/// Publishes one marked message in a transaction and rolls it back. RabbitMQ checks the
/// user's write permission on the exchange when the publish arrives; the rollback discards the
/// message, so nothing reaches a queue. A refusal closes the channel, which the rollback then
/// reports.
async fn publish_and_roll_back(
    client: &RabbitmqClient,
    exchange: &str,
    routing_key: &str,
) -> Result<(), ConnectorError> {
    let what = "a test publish (rolled back)";
    let channel = client.plain_channel(what).await?;
    client
        .call(
            "tx.select for a test publish",
            exchange,
            channel.tx_select(),
        )
        .await?;
    let properties = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_type("courier.connection_test".into());
    let routing_key =
        ShortString::try_new(routing_key).unwrap_or_else(|_| ShortString::from(PROBE_ROUTING_KEY));
    let publish = channel.basic_publish(
        ShortString::from(exchange),
        routing_key,
        BasicPublishOptions::default(),
        br#"{"type":"courier.connection_test"}"#,
        properties,
    );
    // The publish is written to the socket before the rollback is queued: lapin sends method
    // frames ahead of queued publishes, so a rollback queued beside the publish could reach the
    // broker first and succeed, and the refusal would then come after the step had passed.
    client.call(what, exchange, publish).await?;
    let rolled_back = client.call(what, exchange, channel.tx_rollback()).await;
    match rolled_back {
        Ok(()) => Ok(()),
        Err(e) if e.kind == ErrorKind::Unavailable && !channel.status().connected() => {
            // The broker closed the channel on the publish without the reason reaching the
            // rollback; the exchange exists (the previous step), so the publish was refused.
            Err(ConnectorError::new(
                ErrorKind::Forbidden,
                format!(
                    "RabbitMQ closed the channel on a test publish to {}: the user may not write to it ({})",
                    crate::errors::exchange_label(exchange),
                    e.message
                ),
                "grant the user write permission on the exchange (rabbitmqctl set_permissions)",
            ))
        }
        Err(e) => Err(e),
    }
}

/// Connects to the broker's checked addresses, and completes a verified TLS handshake for
/// `amqps://`; says how.
async fn reach(client: &RabbitmqClient) -> Result<&'static str, ConnectorError> {
    let broker = client.broker_label();
    let unreachable = |detail: String| {
        ConnectorError::new(
            ErrorKind::Unavailable,
            format!("could not connect to {broker}: {detail}"),
            "check the host and port in config.url, and that RabbitMQ runs and is reachable from here",
        )
    };
    let addresses = client.checked_addresses().await?;
    let connect_timeout = client.deadlines.connect;
    let tcp = tokio::time::timeout(
        connect_timeout,
        tokio::net::TcpStream::connect(&addresses[..]),
    )
    .await
    .map_err(|_| unreachable(format!("no answer within {connect_timeout:?}")))?
    .map_err(|e| unreachable(e.to_string()))?;
    let Some(tls) = &client.tls else {
        return Ok("over TCP");
    };
    let name =
        rustls::pki_types::ServerName::try_from(client.broker.host.clone()).map_err(|_| {
            ConnectorError::new(
                ErrorKind::InvalidConfig,
                format!(
                    "`{}` cannot be checked against a TLS certificate",
                    client.broker.host
                ),
                "use the broker's DNS name in config.url",
            )
        })?;
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(tls));
    tokio::time::timeout(connect_timeout, connector.connect(name, tcp))
        .await
        .map_err(|_| unreachable(format!("no TLS handshake within {connect_timeout:?}")))?
        .map_err(|e| {
            ConnectorError::new(
                ErrorKind::Unavailable,
                format!("the TLS handshake with {broker} failed: {e}"),
                "check that the broker's certificate matches the host in config.url and is signed by a trusted CA (or set config.ca_pem)",
            )
        })?;
    Ok("over TLS (certificate verified)")
}

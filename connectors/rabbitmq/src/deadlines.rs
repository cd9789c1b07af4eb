//! How long the connector waits on RabbitMQ. Every network wait has a deadline: a connection
//! the broker has blocked (a memory or disk alarm stops it reading from publishers) or a peer
//! gone without closing the socket would otherwise hold a delivery forever.

use std::future::Future;
use std::time::Duration;

use courier_core::{ConnectorError, ErrorKind};

use crate::errors::{During, classify};

/// The AMQP heartbeat Courier asks for, in seconds: a broker silent for two of these is taken
/// for gone and its connection dropped, failing what waited on it.
pub const HEARTBEAT_SECONDS: u16 = 30;

/// The deadlines of a [`crate::RabbitmqRemote`]; [`Deadlines::default`] suits real brokers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Reaching the broker: TCP, TLS and the AMQP handshake with login.
    pub connect: Duration,
    /// One channel call: opening a channel, `confirm.select`, a declare, a transaction step.
    pub call: Duration,
    /// One request: publishing all its messages and receiving all their confirms. Records
    /// still unconfirmed then fail as `timeout` (retried) and their channel is closed.
    pub request: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            connect: Duration::from_secs(15),
            call: Duration::from_secs(15),
            request: Duration::from_secs(60),
        }
    }
}

/// Awaits one channel call (`what`, on `exchange`) for at most `limit`: its failure
/// classified, its silence a timeout naming the call and the broker.
pub(crate) async fn call<T>(
    limit: Duration,
    broker: &str,
    what: &str,
    exchange: &str,
    answer: impl Future<Output = lapin::Result<T>>,
) -> Result<T, ConnectorError> {
    match tokio::time::timeout(limit, answer).await {
        Ok(answered) => answered.map_err(|e| classify(&e, During::Channel { what, exchange })),
        Err(_) => Err(ConnectorError::new(
            ErrorKind::Timeout,
            format!("RabbitMQ at {broker} did not answer {what} within {limit:?}"),
            "the broker may be blocked by a memory or disk alarm, overloaded or unreachable; the records are retried",
        )),
    }
}

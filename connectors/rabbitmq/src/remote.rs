//! The connection to the broker: opened at first use (never in `connect`), through the
//! address guard, reused by every delivery and opened again once it breaks; and a pool of
//! channels in publisher-confirm mode, one lent to each request at a time.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use courier_core::{ConnectorError, Env, ErrorKind, Secret};
use lapin::options::ConfirmSelectOptions;
use lapin::tcp::{AsyncTcpStream, RustlsConnector};
use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo};
use lapin::{Channel, Connection, ConnectionProperties};

use crate::broker_url::BrokerUrl;
use crate::config::{RabbitmqAuth, RabbitmqConfig};
use crate::deadlines::{self, Deadlines, HEARTBEAT_SECONDS};
use crate::errors::{During, classify};
use crate::tls;

/// Idle confirm channels kept for the next requests; more are closed when handed back.
const IDLE_CHANNELS: usize = 32;

/// What the connector talks to RabbitMQ with. Its Debug output shows the broker and the user,
/// never the password.
pub struct RabbitmqRemote {
    pub(crate) broker: BrokerUrl,
    pub(crate) username: String,
    password: Secret,
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    allow_private_network: bool,
    connection_name: String,
    /// How long each wait on the broker may last.
    pub(crate) deadlines: Deadlines,
    /// The open connection, if any; the lock also makes reconnecting single-flight.
    connection: tokio::sync::Mutex<Option<Arc<Connection>>>,
    /// Confirm channels between requests.
    idle: Mutex<Vec<Channel>>,
    /// The broker's `max_message_size` as learned from its refusal of a message (0: none yet).
    learned_max_message: AtomicU64,
}

impl fmt::Debug for RabbitmqRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RabbitmqRemote")
            .field("broker", &self.broker.authority())
            .field("vhost", &self.broker.vhost)
            .field("tls", &self.broker.tls)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl RabbitmqRemote {
    /// The remote for a validated config: TLS is set up here, nothing is contacted.
    pub fn new(
        config: &RabbitmqConfig,
        auth: RabbitmqAuth,
        env: &Env,
    ) -> Result<RabbitmqRemote, ConnectorError> {
        let broker = BrokerUrl::parse(&config.url).map_err(|m| {
            ConnectorError::new(
                ErrorKind::InvalidConfig,
                format!("config.url {m}"),
                "correct config.url",
            )
        })?;
        let tls = match broker.tls {
            true => Some(tls::client_config(config.ca_pem.as_deref())?),
            false => None,
        };
        Ok(RabbitmqRemote {
            broker,
            username: auth.username,
            password: auth.password,
            tls,
            allow_private_network: env.allow_private_network,
            connection_name: format!("courier {}", env.destination_id),
            deadlines: Deadlines::default(),
            connection: tokio::sync::Mutex::new(None),
            idle: Mutex::new(Vec::new()),
            learned_max_message: AtomicU64::new(0),
        })
    }

    /// The same remote with other deadlines (a host with its own timeout policy, or a test
    /// that cannot wait out the defaults).
    pub fn with_deadlines(mut self, deadlines: Deadlines) -> RabbitmqRemote {
        self.deadlines = deadlines;
        self
    }

    /// The broker's addresses, every one checked against the network rule.
    pub(crate) async fn checked_addresses(&self) -> Result<Vec<SocketAddr>, ConnectorError> {
        courier_core::net::resolve_checked(
            &self.broker.host,
            self.broker.port,
            self.allow_private_network,
        )
        .await
        .map_err(|e| match e {
            courier_core::net::ResolveError::Refused { .. } => ConnectorError::new(
                ErrorKind::InvalidConfig,
                format!("RabbitMQ: {e}"),
                "use public endpoints: this server does not allow destinations on private networks",
            ),
            courier_core::net::ResolveError::Lookup { .. } => ConnectorError::new(
                ErrorKind::Unavailable,
                format!("RabbitMQ: {e}"),
                "check the host name in config.url and that DNS resolves it from here",
            ),
        })
    }

    /// `host:port`, for messages.
    pub(crate) fn broker_label(&self) -> String {
        self.broker.authority()
    }

    /// The open connection, opening one when there is none or the last one broke.
    pub(crate) async fn connection(&self) -> Result<Arc<Connection>, ConnectorError> {
        let mut slot = self.connection.lock().await;
        if let Some(open) = slot.as_ref()
            && open.status().connected()
        {
            return Ok(open.clone());
        }
        // The channels of a broken connection are useless; drop them with it.
        self.lock_idle().clear();
        *slot = None;
        let opened = Arc::new(self.open().await?);
        *slot = Some(opened.clone());
        Ok(opened)
    }

    /// Opens a connection: the broker's checked addresses, then TCP (and TLS, verified against
    /// the host name in the URL), then the AMQP handshake and login.
    async fn open(&self) -> Result<Connection, ConnectorError> {
        let broker = self.broker_label();
        let during = During::Login {
            broker: &broker,
            user: &self.username,
            vhost: &self.broker.vhost,
        };
        let addresses = self.checked_addresses().await?;
        let uri = AMQPUri {
            scheme: if self.broker.tls {
                AMQPScheme::AMQPS
            } else {
                AMQPScheme::AMQP
            },
            authority: AMQPAuthority {
                userinfo: AMQPUserInfo {
                    username: self.username.clone(),
                    password: self.password.expose().to_string(),
                },
                host: self.broker.host.clone(),
                port: self.broker.port,
            },
            vhost: self.broker.vhost.clone(),
            // Heartbeats make a peer that vanished without closing the socket noticed, and
            // the connection dropped, instead of waited on.
            query: AMQPQueryString {
                heartbeat: Some(HEARTBEAT_SECONDS),
                ..AMQPQueryString::default()
            },
        };
        let tls = self.tls.clone().map(RustlsConnector::from);
        let host = self.broker.host.clone();
        let connect_timeout = self.deadlines.connect;
        let runtime = lapin::runtime::default_runtime().map_err(|e| classify(&e, during))?;
        // The connection goes to the addresses checked above, not to a fresh lookup of the
        // name; TLS still verifies the certificate against the name.
        let transport = async move |_: AMQPUri, runtime| {
            let connecting = async {
                let stream = AsyncTcpStream::connect(&runtime, addresses.clone()).await?;
                match &tls {
                    Some(tls) => stream.into_rustls(tls, &host).await,
                    None => Ok(stream),
                }
            };
            match tokio::time::timeout(connect_timeout, connecting).await {
                Ok(connected) => connected.map_err(lapin::Error::from),
                Err(_) => Err(lapin::Error::from(std::io::Error::from(
                    std::io::ErrorKind::TimedOut,
                ))),
            }
        };
        let properties = ConnectionProperties::default()
            .with_connection_name(self.connection_name.clone().into());
        let opening = Connection::connector(uri, runtime, transport, properties);
        match tokio::time::timeout(connect_timeout, opening).await {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(e)) => Err(classify(&e, during)),
            Err(_) => Err(ConnectorError::new(
                ErrorKind::Timeout,
                format!("{broker} did not complete the AMQP handshake within {connect_timeout:?}"),
                "check that config.url names RabbitMQ's AMQP port and that the broker is healthy",
            )),
        }
    }

    /// A channel in publisher-confirm mode, lent to one request: an idle one, or a new one.
    pub(crate) async fn confirm_channel(&self) -> Result<LentChannel<'_>, ConnectorError> {
        let connection = self.connection().await?;
        if connection.status().blocked() {
            return Err(ConnectorError::new(
                ErrorKind::Unavailable,
                format!(
                    "RabbitMQ at {} has blocked publishing (a memory or disk alarm)",
                    self.broker_label()
                ),
                "the records are retried; free memory or disk space on the broker",
            ));
        }
        let idle = {
            let mut idle = self.lock_idle();
            std::iter::from_fn(|| idle.pop()).find(|c| c.status().connected())
        };
        let channel = match idle {
            Some(channel) => channel,
            None => {
                let (limit, broker) = (self.deadlines.call, self.broker_label());
                let what = "opening a confirm channel";
                let channel =
                    deadlines::call(limit, &broker, what, "", connection.create_channel()).await?;
                // A channel left without an answer here is dropped, and so closed.
                let what = "confirm.select (publisher confirms) on a new channel";
                let confirming = channel.confirm_select(ConfirmSelectOptions::default());
                deadlines::call(limit, &broker, what, "", confirming).await?;
                channel
            }
        };
        Ok(LentChannel {
            remote: self,
            channel,
        })
    }

    /// A channel of its own (not in confirm mode), for the connection test.
    pub(crate) async fn plain_channel(&self, what: &str) -> Result<Channel, ConnectorError> {
        let connection = self.connection().await?;
        let what = format!("opening a channel for {what}");
        self.call(&what, "", connection.create_channel()).await
    }

    /// Awaits one channel call (`what`, on `exchange`) within the call deadline.
    pub(crate) async fn call<T>(
        &self,
        what: &str,
        exchange: &str,
        answer: impl Future<Output = lapin::Result<T>>,
    ) -> Result<T, ConnectorError> {
        deadlines::call(
            self.deadlines.call,
            &self.broker_label(),
            what,
            exchange,
            answer,
        )
        .await
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Channel>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The broker's `max_message_size`, when a refusal has told it.
    pub(crate) fn learned_max_message(&self) -> Option<u64> {
        match self.learned_max_message.load(Ordering::Relaxed) {
            0 => None,
            n => Some(n),
        }
    }

    /// Keeps the limit a refusal named, for the next deliveries to check before sending.
    pub(crate) fn learn_max_message(&self, max: u64) {
        self.learned_max_message
            .store(max.max(1), Ordering::Relaxed);
    }
}

/// A confirm channel lent to one request. Handed back with [`LentChannel::release`] once every
/// confirm of the request has come; dropped (and so closed) otherwise, so a channel with
/// confirms outstanding is never shared.
pub(crate) struct LentChannel<'a> {
    remote: &'a RabbitmqRemote,
    pub(crate) channel: Channel,
}

impl LentChannel<'_> {
    /// Hands the channel back for the next request, if it is still open.
    pub(crate) fn release(self) {
        if self.channel.status().connected() {
            let mut idle = self.remote.lock_idle();
            if idle.len() < IDLE_CHANNELS {
                idle.push(self.channel);
            }
        }
    }
}

//! The connection to Redis: built without I/O by `connect`, opened at first use, shared by
//! every delivery (one multiplexed connection carries concurrent pipelines), and opened anew
//! after it breaks. Every address it dials has passed the network guard: the client's own
//! resolver is replaced by one that checks each answer, so no window opens between the check
//! and the connection, and TLS still verifies the certificate against the host name.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use courier_core::net::{ResolveError, resolve_checked};
use courier_core::{ConnectorError, Env, ErrorKind};
use courier_messages::MessageClient;
use redis::aio::MultiplexedConnection;
use redis::io::AsyncDNSResolver;
use redis::{
    AsyncConnectionConfig, Client, ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo,
    RedisError, RedisFuture, TlsCertificates,
};

use crate::config::{RedisStreamsAuth, RedisStreamsConfig};
use crate::errors::{Action, breaks_connection, classify};
use crate::target::Target;

/// How long opening a connection (TCP, TLS, AUTH) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one answer (a whole pipeline's) may take; the runtime's own deadline is usually
/// shorter.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// A Redis Streams destination's client: config, key templates and the Redis side.
pub type RedisStreamsClient = MessageClient<crate::RedisStreamsMessages>;

/// The Redis side of a [`RedisStreamsClient`].
pub struct RedisRemote {
    target: Target,
    username: Option<String>,
    /// Holds the credentials (its Debug output redacts the password; it is never printed).
    client: Client,
    /// The same server without credentials, for the connection test's first step.
    anonymous: Client,
    settings: AsyncConnectionConfig,
    live: tokio::sync::Mutex<Option<Live>>,
    generations: AtomicU64,
    /// Why the guarded resolver last refused a host, to classify the connection's failure.
    refusal: Arc<std::sync::Mutex<Option<ResolveError>>>,
}

/// The open connection and which one it is.
struct Live {
    generation: u64,
    connection: MultiplexedConnection,
}

/// A connection handed to one use, with what is needed to report it broken.
#[derive(Clone)]
pub struct Lease {
    generation: u64,
    /// The connection (clones share it).
    pub connection: MultiplexedConnection,
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for RedisRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRemote")
            .field("target", &self.target.to_string())
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The resolver the connection dials through: every address a name resolves to must pass
/// the network guard.
struct GuardedResolver {
    allow_private: bool,
    refusal: Arc<std::sync::Mutex<Option<ResolveError>>>,
}

impl AsyncDNSResolver for GuardedResolver {
    fn resolve<'a, 'b: 'a>(
        &'a self,
        host: &'b str,
        port: u16,
    ) -> RedisFuture<'a, Box<dyn Iterator<Item = SocketAddr> + Send + 'a>> {
        Box::pin(async move {
            match resolve_checked(host, port, self.allow_private).await {
                Ok(addrs) => {
                    Ok(Box::new(addrs.into_iter()) as Box<dyn Iterator<Item = SocketAddr> + Send>)
                }
                Err(e) => {
                    let io = std::io::Error::other(e.to_string());
                    if let Ok(mut slot) = self.refusal.lock() {
                        *slot = Some(e);
                    }
                    Err(RedisError::from(io))
                }
            }
        })
    }
}

/// The redis client decides its TLS settings with the process's default rustls provider, which
/// rustls cannot pick by itself when more than one is compiled in (as in Courier's builds):
/// name aws-lc-rs, as the rest of Courier uses, unless the process named one already.
fn ensure_tls_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: a provider is in place either way.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

impl RedisRemote {
    /// The remote for `config` and `auth`, without network I/O.
    pub fn new(
        config: &RedisStreamsConfig,
        auth: RedisStreamsAuth,
        env: &Env,
    ) -> Result<Self, ConnectorError> {
        let target = Target::parse(&config.url).map_err(|m| {
            ConnectorError::new(
                ErrorKind::InvalidConfig,
                format!("config.url {m}"),
                "correct config.url",
            )
        })?;
        if target.tls {
            ensure_tls_provider();
        }
        let mut redis_settings = RedisConnectionInfo::default().set_db(target.db);
        if let Some(username) = &auth.username {
            redis_settings = redis_settings.set_username(username);
        }
        if let Some(password) = &auth.password {
            redis_settings = redis_settings.set_password(password.expose());
        }
        let build = |settings: RedisConnectionInfo| -> Result<Client, ConnectorError> {
            let addr = if target.tls {
                ConnectionAddr::TcpTls {
                    host: target.host.clone(),
                    port: target.port,
                    insecure: false,
                    tls_params: None,
                }
            } else {
                ConnectionAddr::Tcp(target.host.clone(), target.port)
            };
            let info = addr
                .into_connection_info()
                .map(|i| i.set_redis_settings(settings))
                .and_then(|info| match &config.ca_pem {
                    Some(pem) => Client::build_with_tls(
                        info,
                        TlsCertificates {
                            client_tls: None,
                            root_cert: Some(pem.as_bytes().to_vec()),
                        },
                    ),
                    None => Client::open(info),
                });
            info.map_err(|e| classify(&e, &target.to_string(), Action::Connect))
        };
        let client = build(redis_settings)?;
        let anonymous = build(RedisConnectionInfo::default().set_skip_set_lib_name())?;
        let refusal = Arc::new(std::sync::Mutex::new(None));
        let settings = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_dns_resolver(GuardedResolver {
                allow_private: env.allow_private_network,
                refusal: refusal.clone(),
            });
        Ok(RedisRemote {
            target,
            username: auth.username,
            client,
            anonymous,
            settings,
            live: tokio::sync::Mutex::new(None),
            generations: AtomicU64::new(0),
            refusal,
        })
    }

    /// The server, for messages (`redis://host:port/db`; the URL never holds credentials).
    pub fn target(&self) -> String {
        self.target.to_string()
    }

    /// The ACL user, if the auth_config names one.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The open connection, opened now (and authenticated) if there is none.
    pub async fn lease(&self) -> Result<Lease, ConnectorError> {
        let mut live = self.live.lock().await;
        if let Some(l) = live.as_ref() {
            return Ok(Lease {
                generation: l.generation,
                connection: l.connection.clone(),
            });
        }
        let connection = self.open(&self.client).await?;
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        *live = Some(Live {
            generation,
            connection: connection.clone(),
        });
        Ok(Lease {
            generation,
            connection,
        })
    }

    /// A connection without credentials (the connection test's first step): it proves a Redis
    /// server answers at the URL before credentials are judged.
    pub async fn anonymous(&self) -> Result<MultiplexedConnection, ConnectorError> {
        self.open(&self.anonymous).await
    }

    async fn open(&self, client: &Client) -> Result<MultiplexedConnection, ConnectorError> {
        let opened = client
            .get_multiplexed_async_connection_with_config(&self.settings)
            .await;
        opened.map_err(|e| {
            let refusal = self.refusal.lock().ok().and_then(|mut slot| slot.take());
            match refusal {
                Some(r @ ResolveError::Refused { .. }) => courier_net::refused("Redis", &r),
                Some(r @ ResolveError::Lookup { .. }) => ConnectorError::new(
                    ErrorKind::Unavailable,
                    format!("Redis: {r}"),
                    "check the host in config.url",
                ),
                None => classify(&e, &self.target(), Action::Connect),
            }
        })
    }

    /// Classifies `error` from a command sent on `lease`, and drops the connection when the
    /// error leaves it unusable, so the next use opens a new one.
    pub async fn failed(
        &self,
        lease: &Lease,
        error: &RedisError,
        action: Action<'_>,
    ) -> ConnectorError {
        if breaks_connection(error) {
            let mut live = self.live.lock().await;
            if live
                .as_ref()
                .is_some_and(|l| l.generation == lease.generation)
            {
                *live = None;
            }
        }
        classify(error, &self.target(), action)
    }
}

//! The connection to NATS: options built from config and credentials without I/O, the client
//! connected at first use and shared by every delivery (the client re-establishes a broken
//! connection itself), server names checked against the network rule before each (re)connect,
//! and what the connection reports on the side (a lost connection, a refused publish).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_nats::client::Client;
use async_nats::connection::State;
use async_nats::{
    ClientError, ConnectOptions, Event, HeaderName, ReconnectToServer, Server, ServerAddr,
    ServerError, ServerInfo, Subject, jetstream,
};
use courier_core::net::{ResolveError, resolve_checked};
use courier_core::{ConnectorError, Env, ErrorKind};
use courier_messages::MessageClient;
use tokio::sync::{OnceCell, watch};
use tokio::task::JoinHandle;

use crate::config::{NatsAuth, NatsConfig, parse_server};
use crate::errors;
use crate::subject::SubjectTemplate;

/// A NATS destination's client: config, parsed templates and the NATS side.
pub type NatsClient = MessageClient<crate::NatsMessages>;

/// How long one server may take to accept a connection (TCP, TLS, INFO, CONNECT).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long connecting to the whole list may take.
const CONNECT_ALL_TIMEOUT: Duration = Duration::from_secs(15);
/// How long JetStream may take to acknowledge a message (and to answer API requests).
pub const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages waiting for their acknowledgement on one connection, across deliveries.
const MAX_ACKS_IN_FLIGHT: usize = 16_384;
/// How long a failed connection attempt is answered from memory: the limits lookup and the
/// send of one delivery then make one attempt, not two.
const FAILURE_MEMORY: Duration = Duration::from_secs(1);
/// The most refused subjects remembered per connection.
const MAX_DENIED_SUBJECTS: usize = 1024;

/// The NATS side of a [`NatsClient`].
pub struct NatsRemote {
    /// The servers, as the config lists them.
    pub(crate) servers: Vec<ServerAddr>,
    /// The subject template, parsed.
    pub(crate) subject: SubjectTemplate,
    /// The subject of every message, when the template has no placeholders (shared, not
    /// copied, by each message).
    pub(crate) fixed_subject: Option<Subject>,
    /// Whether the connections may reach non-public addresses.
    pub(crate) allow_private: bool,
    /// What kind of credential signs in, for messages.
    pub(crate) auth_method: &'static str,
    /// The configured header names (in the order of `config.headers`), each with its parsed
    /// form: parsed once, not for every message.
    pub(crate) header_names: Vec<(String, HeaderName)>,
    options: ConnectOptions,
    session: OnceCell<Arc<Session>>,
    last_failure: Mutex<Option<(Instant, ConnectorError)>>,
    /// The largest message the stream of a fixed subject takes, once looked up.
    pub(crate) stream_max_message: OnceCell<Option<usize>>,
}

impl fmt::Debug for NatsRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let servers: Vec<&str> = self.servers.iter().map(ServerAddr::as_url_str).collect();
        f.debug_struct("NatsRemote")
            .field("servers", &servers)
            .field("subject", &self.subject)
            .field("auth", &self.auth_method)
            .field("connected", &self.session.initialized())
            .finish_non_exhaustive()
    }
}

/// One connection: the client, its JetStream context and what it reported.
#[derive(Debug)]
pub struct Session {
    /// The core NATS client.
    pub client: Client,
    /// JetStream publishing and API requests over the same connection.
    pub jetstream: jetstream::Context,
    /// What the connection reported on the side.
    pub signals: Arc<Signals>,
    /// Held by the session alone: once the session is gone, the reconnect chooser (which the
    /// client's connection task keeps) sees it gone and stops.
    _in_use: Arc<()>,
}

impl Session {
    /// The error to fail a request with when the connection is down at its start.
    pub fn down(&self) -> Option<ConnectorError> {
        (self.client.connection_state() == State::Disconnected)
            .then(|| errors::disconnected(self.signals.last_reconnect_error().as_deref()))
    }
}

/// Reports the client makes beside requests: a lost connection, a publish or subscription the
/// server refused (the server answers those with `-ERR`, never on the request itself).
///
/// Each refusal is numbered; a request notes the number it started at ([`Signals::since`]) and
/// counts only the refusals numbered after it, so a refusal the operator has since fixed (by
/// changing the user's permissions) does not fail later requests. A new connection forgets them.
#[derive(Debug)]
pub struct Signals {
    /// Counts the connections lost.
    pub disconnects: watch::Sender<u64>,
    /// The number of the latest permission violation reported (0: none yet).
    pub denials: watch::Sender<u64>,
    /// The subjects refused, each with the number of its latest refusal.
    denied_subjects: Mutex<HashMap<String, u64>>,
    /// The number of the latest refusal of the reply inbox (0: none on this connection).
    inbox_denied: AtomicU64,
    last_reconnect_error: Mutex<Option<String>>,
}

impl Signals {
    fn new() -> Self {
        Signals {
            disconnects: watch::channel(0).0,
            denials: watch::channel(0).0,
            denied_subjects: Mutex::new(HashMap::new()),
            inbox_denied: AtomicU64::new(0),
            last_reconnect_error: Mutex::new(None),
        }
    }

    /// The number of the latest refusal so far: a request started now counts only refusals
    /// numbered after it.
    pub fn since(&self) -> u64 {
        *self.denials.borrow()
    }

    /// Whether the server refused a publish to `subject` after refusal number `since`.
    pub fn publish_denied(&self, subject: &str, since: u64) -> bool {
        self.denied_subjects
            .lock()
            .is_ok_and(|denied| denied.get(subject).is_some_and(|&n| n > since))
    }

    /// Whether the server refused the subscription replies arrive on after refusal number
    /// `since`.
    pub fn inbox_denied(&self, since: u64) -> bool {
        self.inbox_denied.load(Ordering::Acquire) > since
    }

    /// Why the connection could not be re-established lately, if it could not.
    pub fn last_reconnect_error(&self) -> Option<String> {
        self.last_reconnect_error
            .lock()
            .ok()
            .and_then(|l| l.clone())
    }

    fn on_event(&self, event: Event) {
        match event {
            Event::Disconnected => self.disconnects.send_modify(|n| *n += 1),
            Event::Connected => {
                if let Ok(mut last) = self.last_reconnect_error.lock() {
                    *last = None;
                }
                // Permissions may have changed while the connection was down (a server
                // restarted with a new config): what the last connection was refused no
                // longer says anything.
                if let Ok(mut denied) = self.denied_subjects.lock() {
                    denied.clear();
                }
                self.inbox_denied.store(0, Ordering::Release);
            }
            Event::ServerError(ServerError::Other(text)) => self.on_server_error(&text),
            Event::ClientError(ClientError::Other(text)) => {
                if let Ok(mut last) = self.last_reconnect_error.lock() {
                    *last = Some(text);
                }
            }
            _ => {}
        }
    }

    /// `Permissions Violation for Publish to "orders.eu"` and its subscription twin.
    fn on_server_error(&self, text: &str) {
        let quoted = |t: &str| {
            let start = t.find('"')? + 1;
            let end = t.rfind('"')?;
            (end > start).then(|| t[start..end].to_string())
        };
        let Ok(mut denied) = self.denied_subjects.lock() else {
            return;
        };
        // Numbered and recorded under the lock, before waiters are told: a waiter woken by
        // the new number finds the refusal already recorded.
        let number = self.since() + 1;
        if text.starts_with("Permissions Violation for Publish") {
            if let Some(subject) = quoted(text)
                && (denied.len() < MAX_DENIED_SUBJECTS || denied.contains_key(&subject))
            {
                denied.insert(subject, number);
            }
        } else if text.starts_with("Permissions Violation for Subscription")
            && quoted(text).is_some_and(|s| s.starts_with("_INBOX."))
        {
            self.inbox_denied.store(number, Ordering::Release);
        } else {
            return;
        }
        self.denials.send_replace(number);
        drop(denied);
    }
}

impl NatsRemote {
    /// The remote for `config` and `auth`; no I/O (the connection is made at first use).
    pub fn new(config: &NatsConfig, auth: NatsAuth, env: &Env) -> Result<Self, ConnectorError> {
        let invalid = |field: &str, message: String| {
            ConnectorError::new(
                ErrorKind::InvalidConfig,
                format!("{field} {message}"),
                format!("correct {field}"),
            )
        };
        let servers = config
            .servers
            .iter()
            .map(|s| parse_server(s).map_err(|m| invalid("config.servers", m)))
            .collect::<Result<Vec<_>, _>>()?;
        let subject = SubjectTemplate::parse(&config.subject_template)
            .map_err(|m| invalid("config.subject_template", m))?;
        let header_names = config
            .headers
            .keys()
            .map(|name| {
                let parsed = HeaderName::from_str(name).map_err(|_| {
                    invalid(
                        &format!("config.headers.{name}"),
                        "is not a header name".into(),
                    )
                })?;
                Ok((name.clone(), parsed))
            })
            .collect::<Result<Vec<_>, ConnectorError>>()?;
        let auth_method = auth.method();
        let options = match auth {
            NatsAuth {
                token: Some(token), ..
            } => ConnectOptions::with_token(token.expose().to_string()),
            NatsAuth {
                nkey_seed: Some(seed),
                ..
            } => ConnectOptions::with_nkey(seed.expose().trim().to_string()),
            NatsAuth {
                credentials: Some(creds),
                ..
            } => ConnectOptions::with_credentials(creds.expose()).map_err(|_| {
                invalid(
                    "auth_config.credentials",
                    "is not the content of a .creds file".into(),
                )
            })?,
            NatsAuth {
                username: Some(user),
                password: Some(password),
                ..
            } => ConnectOptions::with_user_and_password(user, password.expose().to_string()),
            _ => {
                return Err(invalid(
                    "auth_config",
                    "needs one of token, username + password, nkey_seed or credentials".into(),
                ));
            }
        };
        let options = options
            .name("courier")
            // A cluster's advertised servers are not in the config: they were never checked
            // against the operator's network rule, nor declared as endpoints.
            .ignore_discovered_servers()
            .connection_timeout(CONNECT_TIMEOUT)
            .request_timeout(Some(ACK_TIMEOUT))
            .max_reconnects(None)
            // Always ours: the client's own TLS setup would ask rustls for a default provider,
            // which a build with two providers does not have.
            .tls_client_config(crate::tls::client_config(config.ca_pem.as_deref())?);
        let fixed_subject = match &subject {
            SubjectTemplate::Fixed(s) => Some(Subject::from(s.as_str())),
            SubjectTemplate::Template(_) => None,
        };
        Ok(NatsRemote {
            servers,
            fixed_subject,
            subject,
            allow_private: env.allow_private_network,
            auth_method,
            header_names,
            options,
            session: OnceCell::new(),
            last_failure: Mutex::new(None),
            stream_max_message: OnceCell::new(),
        })
    }

    /// The connection, made at first use and then shared; a failure is not kept (the next
    /// delivery tries again) beyond a second.
    pub async fn session(&self) -> Result<Arc<Session>, ConnectorError> {
        if let Some(session) = self.session.get() {
            return Ok(session.clone());
        }
        if let Ok(last) = self.last_failure.lock()
            && let Some((at, error)) = last.as_ref()
            && at.elapsed() < FAILURE_MEMORY
        {
            return Err(error.detached());
        }
        let made = self
            .session
            .get_or_try_init(|| async { self.connect().await.map(Arc::new) })
            .await
            .cloned();
        if let Err(error) = &made
            && let Ok(mut last) = self.last_failure.lock()
        {
            *last = Some((Instant::now(), error.detached()));
        }
        made
    }

    /// The largest message the stream of a fixed subject takes (its `max_msg_size`), looked
    /// up once; `None` for templates, streams without a limit, or when it cannot be seen (the
    /// stream's refusal of a larger message still fails that record alone).
    pub async fn stream_max_message(&self, session: &Session) -> Option<usize> {
        let SubjectTemplate::Fixed(subject) = &self.subject else {
            return None;
        };
        *self
            .stream_max_message
            .get_or_init(|| async {
                let lookup = async {
                    let name = session
                        .jetstream
                        .stream_by_subject(subject.as_str())
                        .await
                        .ok()?;
                    let stream = session.jetstream.get_stream(name).await.ok()?;
                    let max = stream.cached_info().config.max_message_size;
                    usize::try_from(max).ok().filter(|&m| m > 0)
                };
                tokio::time::timeout(Duration::from_secs(2), lookup)
                    .await
                    .ok()
                    .flatten()
            })
            .await
    }

    async fn connect(&self) -> Result<Session, ConnectorError> {
        self.check_servers().await?;
        let signals = Arc::new(Signals::new());
        let reported = signals.clone();
        let allow_private = self.allow_private;
        let in_use = Arc::new(());
        let session_alive = Arc::downgrade(&in_use);
        let options = self
            .options
            .clone()
            .event_callback(move |event| {
                reported.on_event(event);
                async {}
            })
            .reconnect_to_server_callback(move |servers, info| {
                reconnect_target(servers, info, allow_private, session_alive.clone())
            });
        // The names were checked just now; the client resolves them again to connect, so a
        // resolve-then-connect window remains (it cannot be handed the checked addresses
        // without losing the host name its TLS verification needs).
        let connecting = options.connect(self.servers.clone());
        let client = tokio::time::timeout(CONNECT_ALL_TIMEOUT, connecting)
            .await
            .map_err(|_| {
                ConnectorError::new(
                    ErrorKind::Timeout,
                    "no NATS server completed the connection in time",
                    "check that the servers are reachable from here (host, port, firewall)",
                )
            })?
            .map_err(|e| errors::connect_error(&e))?;
        let jetstream = jetstream::ContextBuilder::new()
            .timeout(ACK_TIMEOUT)
            .ack_timeout(ACK_TIMEOUT)
            .max_ack_inflight(MAX_ACKS_IN_FLIGHT)
            .backpressure_on_inflight(true)
            .build(client.clone());
        Ok(Session {
            client,
            jetstream,
            signals,
            _in_use: in_use,
        })
    }

    /// Resolves every server's name and refuses one reaching a non-public address (unless the
    /// operator allows it). A name that does not resolve fails the check as well: the client
    /// would resolve it again itself, and what it then reached would never have been checked.
    async fn check_servers(&self) -> Result<(), ConnectorError> {
        for (i, server) in self.servers.iter().enumerate() {
            match resolve_checked(server.host(), server.port(), self.allow_private).await {
                Ok(_) => {}
                Err(e @ ResolveError::Refused { .. }) => return Err(refused(&e)),
                Err(e) => {
                    return Err(ConnectorError::new(
                        ErrorKind::Unavailable,
                        format!(
                            "NATS server {}:{} (config.servers[{i}]): {e}",
                            server.host(),
                            server.port()
                        ),
                        format!(
                            "check the host name in config.servers[{i}]; the records are retried"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A server the network rule refuses, as a connector error (never retried: the answer will not
/// change by itself). The address a name resolved to is not named.
pub fn refused(e: &ResolveError) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::InvalidConfig,
        format!("NATS: {e}"),
        "use public servers: this server does not allow destinations on private networks",
    )
}

/// Picks the server the client reconnects to: the one with the fewest failed attempts whose
/// name resolves to allowed addresses, checked right before the client connects. While none
/// does, it waits (so the client never dials a refused address). The first connection is
/// left to the client: its names were checked just before.
fn reconnect_target(
    servers: Vec<Server>,
    info: ServerInfo,
    allow_private: bool,
    session_alive: Weak<()>,
) -> impl std::future::Future<Output = Option<ReconnectToServer>> + Send + Sync + 'static {
    let reconnecting = !info.server_id.is_empty();
    // Spawned, so the future the client keeps holds only a join handle (it must be Sync); the
    // task ends with that future if the client drops it.
    let choosing = reconnecting.then(|| {
        AbortOnDrop(tokio::spawn(choose_allowed(
            servers,
            allow_private,
            session_alive,
        )))
    });
    async move {
        let mut choosing = choosing?;
        match (&mut choosing.0).await {
            Ok(Some(target)) => Some(target),
            // The session is gone. No answer would make the client pick a server itself,
            // unchecked; its connection task waits here instead, idle (nothing uses it any
            // more, and it stops when the runtime does).
            _ => std::future::pending().await,
        }
    }
}

/// The first server, fewest failed attempts first, that passes the network rule, checked
/// round after round (waiting longer each time) until one does; `None` once the session the
/// connection belongs to is gone.
async fn choose_allowed(
    servers: Vec<Server>,
    allow_private: bool,
    session_alive: Weak<()>,
) -> Option<ReconnectToServer> {
    let mut pool = servers;
    pool.sort_by_key(|s| s.failed_attempts);
    let fewest = pool.first()?.failed_attempts;
    for round in 0usize.. {
        tokio::time::sleep(reconnect_delay(fewest.saturating_add(round))).await;
        if session_alive.strong_count() == 0 {
            return None;
        }
        for server in &pool {
            let host = server.addr.host();
            if resolve_checked(host, server.addr.port(), allow_private)
                .await
                .is_ok()
            {
                return Some(ReconnectToServer {
                    addr: server.addr.clone(),
                    delay: Some(Duration::ZERO),
                });
            }
        }
    }
    None
}

/// A spawned task, aborted when this is dropped.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The wait before reconnect attempt `failed + 1`: none at first, then doubling from 50 ms
/// to a second (a restarted server is back within seconds).
fn reconnect_delay(failed: usize) -> Duration {
    match failed {
        0 => Duration::ZERO,
        n => Duration::from_millis(50u64 << (n - 1).min(5)).min(Duration::from_secs(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_delays_grow_to_a_second() {
        assert_eq!(reconnect_delay(0), Duration::ZERO);
        assert_eq!(reconnect_delay(1), Duration::from_millis(50));
        assert_eq!(reconnect_delay(3), Duration::from_millis(200));
        assert_eq!(reconnect_delay(40), Duration::from_secs(1));
    }

    #[test]
    fn refusals_count_from_the_request_on_and_a_new_connection_forgets_them() {
        let signals = Signals::new();
        let mut denials = signals.denials.subscribe();
        let before = signals.since();
        signals.on_server_error("Permissions Violation for Publish to \"orders.eu\"");
        assert!(signals.publish_denied("orders.eu", before));
        assert!(!signals.publish_denied("orders.us", before));
        assert!(denials.has_changed().unwrap());
        denials.mark_unchanged();

        // A request started after the refusal does not count it (the permission may have
        // been fixed since); a new refusal counts again.
        let later = signals.since();
        assert!(!signals.publish_denied("orders.eu", later));
        signals.on_server_error("Permissions Violation for Subscription to \"_INBOX.abc.*\"");
        assert!(signals.inbox_denied(later));
        assert!(!signals.publish_denied("orders.eu", later));
        signals.on_server_error("Permissions Violation for Publish to \"orders.eu\"");
        assert!(signals.publish_denied("orders.eu", later));
        assert!(denials.has_changed().unwrap());

        // A new connection forgets them all, whenever the request started.
        signals.on_event(Event::Connected);
        assert!(!signals.publish_denied("orders.eu", before));
        assert!(!signals.inbox_denied(before));
        // Other server errors are no refusals.
        let now = signals.since();
        signals.on_server_error("Maximum Payload Violation");
        assert_eq!(signals.since(), now);

        signals.on_event(Event::ClientError(ClientError::Other(
            "authorization violation".into(),
        )));
        assert_eq!(
            signals.last_reconnect_error().as_deref(),
            Some("authorization violation")
        );
    }

    fn pool(url: &str) -> Vec<Server> {
        vec![Server {
            addr: url.parse().unwrap(),
            failed_attempts: 1,
            did_connect: true,
            is_discovered: false,
            last_error: None,
        }]
    }

    fn connected_before() -> ServerInfo {
        ServerInfo {
            server_id: "NSERVER".into(),
            ..ServerInfo::default()
        }
    }

    #[tokio::test]
    async fn the_reconnect_chooser_waits_for_an_allowed_server_and_stops_with_the_session() {
        // Loopback, private networks not allowed: no server passes.
        let in_use = Arc::new(());
        let choosing = tokio::spawn(choose_allowed(
            pool("nats://127.0.0.1:4222"),
            false,
            Arc::downgrade(&in_use),
        ));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !choosing.is_finished(),
            "it waits while the session is in use"
        );
        drop(in_use);
        let chosen = tokio::time::timeout(Duration::from_secs(3), choosing)
            .await
            .expect("the chooser stops once the session is gone")
            .unwrap();
        assert!(chosen.is_none());

        let in_use = Arc::new(());
        let chosen = choose_allowed(pool("nats://127.0.0.1:4222"), true, Arc::downgrade(&in_use))
            .await
            .expect("an allowed server is chosen");
        assert_eq!(chosen.addr.port(), 4222);
    }

    #[tokio::test]
    async fn a_reconnect_without_its_session_never_falls_back_to_the_clients_choice() {
        let gone = Weak::new();
        let target = reconnect_target(
            pool("nats://127.0.0.1:4222"),
            connected_before(),
            true,
            gone,
        );
        // `None` would have the client dial a server of its own choosing, unchecked.
        assert!(
            tokio::time::timeout(Duration::from_millis(1500), target)
                .await
                .is_err()
        );
        // The first connection is the client's: its names were checked just before.
        let first = reconnect_target(
            pool("nats://127.0.0.1:4222"),
            ServerInfo::default(),
            true,
            Weak::new(),
        );
        assert!(first.await.is_none());
    }
}

//! The Kafka client: librdkafka's producer, built at first use (`connect` does no I/O) from the
//! config and credentials, with the cluster's brokers checked against the trust boundary
//! before anything is produced, and the topic's own `max.message.bytes` read once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use courier_core::{ConnectorError, Env, ErrorKind};
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::metadata::Metadata;
use rdkafka::producer::FutureProducer;
use rdkafka::types::RDKafkaErrorCode;
use tokio::sync::OnceCell;

use crate::config::{KafkaAuth, KafkaConfig};
use crate::errors::{SERVICE, classify};
use crate::guard;

/// How long a message may take to be acknowledged, retries within librdkafka included,
/// before its delivery fails (as `timeout`, retried by Courier).
pub const MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a metadata request may take.
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// What librdkafka reported last on its own (an authentication or TLS failure surfaces here,
/// not on the request that met it).
#[derive(Debug, Default, Clone)]
pub struct Watch {
    last_error: Arc<Mutex<Option<Reported>>>,
    /// The last authentication or TLS failure: kept when librdkafka goes on to report the
    /// brokers down (which is what a refused login leads to).
    refused: Arc<Mutex<Option<Reported>>>,
    /// The brokers librdkafka's statistics name (`host:port`), the cluster's current
    /// advertised set: checked before each delivery, see [`crate::guard`].
    pub(crate) advertised: crate::guard::Advertised,
}

/// An error librdkafka reported: its code, when it has one, and its reason.
pub type Reported = (Option<RDKafkaErrorCode>, String);

impl Watch {
    /// What explains a failed request best: a refused login or handshake, else the last
    /// error librdkafka reported, if any.
    pub fn last_error(&self) -> Option<Reported> {
        let refused = self.refused.lock().ok().and_then(|e| e.clone());
        refused.or_else(|| self.last_error.lock().ok().and_then(|e| e.clone()))
    }

    /// The last refused login or handshake, if any.
    pub fn refused(&self) -> Option<Reported> {
        self.refused.lock().ok().and_then(|e| e.clone())
    }

    /// Forgets what was reported (a request succeeded since).
    pub fn clear(&self) {
        for slot in [&self.refused, &self.last_error] {
            if let Ok(mut s) = slot.lock() {
                *s = None;
            }
        }
    }
}

impl ClientContext for Watch {
    fn stats_raw(&self, statistics: &[u8]) {
        self.advertised.update(statistics);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code();
        let refusal = matches!(
            code,
            Some(
                RDKafkaErrorCode::Authentication
                    | RDKafkaErrorCode::SaslAuthenticationFailed
                    | RDKafkaErrorCode::SSL
                    | RDKafkaErrorCode::UnsupportedSASLMechanism
                    | RDKafkaErrorCode::IllegalSASLState
            )
        );
        let slot = if refusal {
            &self.refused
        } else {
            &self.last_error
        };
        if let Ok(mut last) = slot.lock() {
            *last = Some((code, reason.to_string()));
        }
    }
}

/// The producer a delivery uses.
pub type Producer = FutureProducer<Watch>;

/// The connector's side of a built destination.
pub struct KafkaRemote {
    settings: ClientConfig,
    bootstrap_servers: Vec<String>,
    allow_private: bool,
    watch: Watch,
    /// The producer, once built; replaced when librdkafka declares it dead (a fatal error of
    /// the idempotent producer, e.g. after a broker lost its sequence state).
    producer: tokio::sync::Mutex<Option<Arc<Producer>>>,
    /// The advertised brokers already checked against the trust boundary.
    checked: Mutex<guard::Checked>,
    /// The largest message the topic takes, learned once.
    pub(crate) max_message_bytes: OnceCell<usize>,
    /// When asking for it last failed: it is asked again a while later, not on every delivery.
    pub(crate) limit_failed_at: std::sync::Mutex<Option<std::time::Instant>>,
}

impl std::fmt::Debug for KafkaRemote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The settings hold the SASL password: only the brokers are shown.
        f.debug_struct("KafkaRemote")
            .field("bootstrap_servers", &self.settings.get("bootstrap.servers"))
            .finish_non_exhaustive()
    }
}

impl KafkaRemote {
    /// The remote for a destination, without I/O.
    pub fn new(config: &KafkaConfig, auth: &KafkaAuth, env: &Env) -> KafkaRemote {
        KafkaRemote {
            settings: {
                let mut settings = settings(config, auth, &env.destination_id);
                if !env.allow_private_network {
                    // The statistics name the brokers the cluster advertises now, for the
                    // broker guard.
                    settings.set("statistics.interval.ms", guard::STATISTICS_INTERVAL_MS);
                }
                settings
            },
            bootstrap_servers: config.bootstrap_servers.clone(),
            allow_private: env.allow_private_network,
            watch: Watch::default(),
            producer: tokio::sync::Mutex::new(None),
            checked: Mutex::new(guard::Checked::default()),
            max_message_bytes: OnceCell::new(),
            limit_failed_at: std::sync::Mutex::new(None),
        }
    }

    /// librdkafka's settings (they hold the SASL password: never shown).
    pub(crate) fn settings(&self) -> &ClientConfig {
        &self.settings
    }

    /// What librdkafka reported on its own.
    pub(crate) fn watch(&self) -> &Watch {
        &self.watch
    }

    /// Whether destinations on private networks are allowed.
    pub fn allow_private(&self) -> bool {
        self.allow_private
    }

    /// The producer, built and checked at first use, and built again after a fatal error.
    pub async fn producer(&self) -> Result<Arc<Producer>, ConnectorError> {
        let mut slot = self.producer.lock().await;
        if let Some(p) = slot.as_ref() {
            match rdkafka::producer::Producer::client(&**p).fatal_error() {
                None => {
                    // Brokers the cluster advertised since the last check are checked now;
                    // one outside the boundary ends this producer and its connections.
                    let unchecked = self.unchecked_brokers();
                    if unchecked.is_empty() {
                        return Ok(Arc::clone(p));
                    }
                    if let Err(refused) = self.check(unchecked).await {
                        *slot = None;
                        return Err(refused);
                    }
                    return Ok(Arc::clone(p));
                }
                Some((code, reason)) => {
                    tracing::warn!(?code, %reason, "the Kafka producer failed fatally; building another");
                }
            }
        }
        *slot = None;
        check_bootstrap(&self.bootstrap_servers, self.allow_private).await?;
        let producer: Producer = self
            .settings
            .create_with_context(self.watch.clone())
            .map_err(|e| {
                ConnectorError::new(
                    ErrorKind::InvalidConfig,
                    format!("{SERVICE}: the client settings were refused: {e}"),
                    "check the config and auth_config",
                )
            })?;
        let producer = Arc::new(producer);
        let metadata = metadata(&producer, &self.watch, None).await?;
        let advertised = metadata
            .brokers()
            .iter()
            .map(|b| format!("{}:{}", b.host(), b.port()))
            .collect();
        self.check(advertised).await?;
        *slot = Some(Arc::clone(&producer));
        Ok(producer)
    }

    /// The advertised brokers the statistics name that were not checked yet (none when
    /// private networks are allowed: nothing is checked then).
    fn unchecked_brokers(&self) -> Vec<String> {
        if self.allow_private {
            return Vec::new();
        }
        // Compared under the lock: this runs before every delivery, so nothing is copied.
        match self.checked.lock() {
            Ok(checked) => self.watch.advertised.unchecked(&checked),
            Err(_) => Vec::new(),
        }
    }

    /// Checks `brokers` (`host:port`) against the trust boundary, remembering those allowed.
    async fn check(&self, brokers: Vec<String>) -> Result<(), ConnectorError> {
        if self.allow_private {
            return Ok(());
        }
        guard::check_brokers(brokers.clone()).await?;
        if let Ok(mut checked) = self.checked.lock() {
            checked.extend(brokers);
        }
        Ok(())
    }
}

/// librdkafka's settings for a destination.
fn settings(config: &KafkaConfig, auth: &KafkaAuth, destination_id: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", config.bootstrap_servers.join(","))
        .set("client.id", format!("courier-{destination_id}"))
        .set("acks", config.acks.value())
        .set("enable.idempotence", config.idempotent.to_string())
        .set("compression.codec", config.compression.codec())
        .set("message.max.bytes", config.max_message_bytes().to_string())
        .set(
            "message.timeout.ms",
            MESSAGE_TIMEOUT.as_millis().to_string(),
        )
        .set("socket.connection.setup.timeout.ms", "10000")
        // Keys map to partitions as the Java client maps them, so records keyed alike land
        // with what other producers of the topic wrote for that key.
        .set("partitioner", "murmur2_random")
        // A batch's messages are produced together; a short linger lets them share requests.
        .set("linger.ms", "5")
        // A missing topic is the destination's error, never a topic made by accident.
        .set("allow.auto.create.topics", "false")
        .set("topic.metadata.propagation.max.ms", "1000")
        .set("security.protocol", auth.security_protocol.value())
        .set("ssl.endpoint.identification.algorithm", "https")
        .set("enable.ssl.certificate.verification", "true");
    if let Some(m) = auth.sasl_mechanism {
        c.set("sasl.mechanism", m.value());
    }
    if let Some(u) = &auth.username {
        c.set("sasl.username", u);
    }
    if let Some(p) = &auth.password {
        c.set("sasl.password", p.expose());
    }
    if let Some(pem) = &auth.ca_pem {
        c.set("ssl.ca.pem", pem);
    }
    c
}

/// The cluster's metadata (of `topic`, or of every topic), asked on a blocking thread.
pub async fn metadata(
    producer: &Arc<Producer>,
    watch: &Watch,
    topic: Option<&str>,
) -> Result<Metadata, ConnectorError> {
    // Asked in short rounds: a refused login or handshake is reported through the error
    // callback at once, while the request itself would only time out.
    let deadline = std::time::Instant::now() + METADATA_TIMEOUT;
    loop {
        let p = Arc::clone(producer);
        let asked = topic.map(str::to_string);
        let answer = tokio::task::spawn_blocking(move || {
            rdkafka::producer::Producer::client(&*p)
                .fetch_metadata(asked.as_deref(), Duration::from_secs(1))
        })
        .await
        .map_err(|e| ConnectorError::internal(format!("the metadata request stopped: {e}")))?;
        let e = match answer {
            Ok(m) => {
                watch.clear();
                return Ok(m);
            }
            Err(e) => e,
        };
        let refused = watch.refused();
        if refused.is_some() || std::time::Instant::now() >= deadline {
            return Err(match refused.or_else(|| watch.last_error()) {
                Some((code, reason)) => classify(code, &reason),
                None => classify(e.rdkafka_error_code(), &e.to_string()),
            });
        }
    }
}

/// The host and port of a `host:port` bootstrap server (`[v6]:port` too).
pub fn host_port(server: &str) -> Option<(&str, u16)> {
    let (host, port) = server.rsplit_once(':')?;
    Some((
        host.trim_start_matches('[').trim_end_matches(']'),
        port.parse().ok()?,
    ))
}

/// Refuses bootstrap servers whose names resolve outside the trust boundary, before librdkafka
/// is given them. A name that does not resolve now is refused too (retried later): librdkafka
/// would resolve it again itself, unchecked.
pub(crate) async fn check_bootstrap(
    servers: &[String],
    allow_private: bool,
) -> Result<(), ConnectorError> {
    if allow_private {
        return Ok(());
    }
    for server in servers {
        let Some((host, port)) = host_port(server) else {
            return Err(ConnectorError::new(
                ErrorKind::InvalidConfig,
                format!("{SERVICE}: bootstrap server {server} is not host:port"),
                "correct config.bootstrap_servers",
            ));
        };
        match courier_core::net::resolve_checked(host, port, false).await {
            Ok(_) => {}
            Err(e @ courier_core::net::ResolveError::Refused { .. }) => {
                return Err(courier_net::refused(SERVICE, &e));
            }
            Err(e) => {
                return Err(ConnectorError::new(
                    ErrorKind::Unavailable,
                    format!("{SERVICE}: bootstrap server {server}: {e}"),
                    "check config.bootstrap_servers; the records are retried",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use courier_testbed::brokers::kafka;
    use serde_json::json;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_statistics_name_the_brokers_the_cluster_advertises() {
        let broker = tokio::task::spawn_blocking(kafka::own).await.unwrap();
        let config: KafkaConfig = serde_json::from_value(json!({
            "bootstrap_servers": [kafka::bootstrap(broker.port())], "topic": "t"
        }))
        .unwrap();
        let auth: KafkaAuth =
            serde_json::from_value(json!({"security_protocol": "plaintext"})).unwrap();
        let env = Env {
            allow_private_network: true,
            ..Env::default()
        };
        let mut remote = KafkaRemote::new(&config, &auth, &env);
        remote.settings.set("statistics.interval.ms", "100");
        remote.producer().await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let expected = vec![kafka::bootstrap(broker.port())];
        while remote.watch.advertised.unchecked(&guard::Checked::new()) != expected {
            assert!(
                std::time::Instant::now() < deadline,
                "no statistics named {expected:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Once checked, nothing is left to check.
        let checked: guard::Checked = expected.into_iter().collect();
        assert!(remote.watch.advertised.unchecked(&checked).is_empty());
    }
}

//! The MQTT side of a built destination: the connection settings (no I/O at build time) and
//! the session, started at first use and kept for every later delivery.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use courier_core::{ConnectorError, Env, ErrorKind};
use courier_messages::MessageClient;

use crate::config::{MqttAuth, MqttConfig, parse_broker_url};
use crate::session::{Link, Session};
use crate::wire::{self, Settings};

/// An MQTT destination's client: config, key templates and the MQTT side.
pub type MqttClient = MessageClient<crate::MqttMessages>;

/// How long a caller that needs the connection (the connection test, the size limit) waits
/// for it.
pub const LINK_WAIT: Duration = Duration::from_secs(wire::CONNECT_TIMEOUT_SECS + 5);

/// The MQTT side of an [`MqttClient`]: where and how to connect, and the session once started.
/// Debug shows the broker, protocol and client id, never credentials.
pub struct MqttRemote {
    pub(crate) settings: Arc<Settings>,
    session: Mutex<Option<Arc<Session>>>,
}

impl std::fmt::Debug for MqttRemote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttRemote")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl MqttRemote {
    /// The remote for `config` and `auth`, without I/O: the TLS settings are built here, the
    /// connection at first use.
    pub fn new(config: &MqttConfig, auth: MqttAuth, env: &Env) -> Result<Self, ConnectorError> {
        let address = parse_broker_url(&config.broker_url).map_err(|m| {
            ConnectorError::new(
                ErrorKind::InvalidConfig,
                format!("broker_url {m}"),
                "correct config.broker_url",
            )
        })?;
        let tls = if address.tls {
            Some(crate::tls::client_config(
                config.ca_pem.as_deref(),
                auth.client_cert_pem.as_deref(),
                auth.client_key_pem.as_ref(),
            )?)
        } else {
            None
        };
        let client_id = config
            .client_id
            .clone()
            .unwrap_or_else(|| default_client_id(&env.destination_id));
        let settings = Settings {
            label: match address.host.contains(':') {
                true => format!("[{}]:{}", address.host, address.port),
                false => format!("{}:{}", address.host, address.port),
            },
            host: address.host,
            port: address.port,
            protocol: config.protocol,
            client_id,
            username: auth.username,
            password: auth.password,
            tls,
            allow_private: env.allow_private_network,
        };
        Ok(MqttRemote {
            settings: Arc::new(settings),
            session: Mutex::new(None),
        })
    }

    /// The session, started now if there is none (or its driver ended with its runtime).
    pub(crate) fn session(&self) -> Arc<Session> {
        let mut slot = self.session.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(session) = slot.as_ref()
            && !session.is_finished()
        {
            return session.clone();
        }
        let session = Arc::new(Session::start(self.settings.clone()));
        *slot = Some(session.clone());
        session
    }

    /// The connection, made now if needed (waiting up to [`LINK_WAIT`]).
    pub(crate) async fn link(&self) -> Link {
        self.session().link(LINK_WAIT).await
    }

    /// `host:port` of the broker, for messages.
    pub fn broker(&self) -> &str {
        &self.settings.label
    }

    /// The client identifier connections use.
    pub fn client_id(&self) -> &str {
        &self.settings.client_id
    }
}

/// `courier-` with up to 8 letters and digits of the destination id and 6 random hex digits:
/// 23 characters at most, which every MQTT 3.1.1 broker must accept. Random, so no two
/// processes (nor a connection test beside a delivery) take over each other's connection.
fn default_client_id(destination_id: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let suffix = format!("{:06x}", hasher.finish() & 0xff_ffff);
    let prefix: String = destination_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    if prefix.is_empty() {
        format!("courier-{suffix}")
    } else {
        format!("courier-{prefix}-{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_client_ids_are_short_and_distinct() {
        let a = default_client_id("dest_0123456789");
        let b = default_client_id("dest_0123456789");
        assert!(a.starts_with("courier-dest0123-"), "{a}");
        assert!(a.len() <= 23 && b.len() <= 23);
        assert_ne!(a, b);
        assert!(default_client_id("__").starts_with("courier-"));
    }
}

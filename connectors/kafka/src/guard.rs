//! The broker guard: the brokers a cluster advertises (where librdkafka connects after the
//! bootstrap) checked against the trust boundary. They are checked on the producer's first
//! metadata, and again before each delivery whenever librdkafka's statistics name a broker
//! not checked yet, so a cluster that later advertises an address outside the boundary loses
//! its producer and its deliveries fail.
//!
//! What this cannot do: refuse the connection itself. librdkafka resolves and dials the
//! advertised brokers on its own threads, and rust-rdkafka offers no hook before a connect
//! (librdkafka's `connect_cb` needs the native configuration, which rust-rdkafka builds and
//! consumes inside the producer's constructor). A broker advertised between two statistics
//! reports may therefore be dialled once before the guard sees it.

use std::collections::BTreeSet;
use std::net::ToSocketAddrs;
use std::sync::{Arc, Mutex};

use courier_core::{ConnectorError, ErrorKind};
use serde::Deserialize;

use crate::errors::SERVICE;

/// How often librdkafka reports its statistics (milliseconds): at most this long after a
/// cluster advertises a new broker, the next delivery checks it.
pub const STATISTICS_INTERVAL_MS: &str = "5000";

/// Brokers (`host:port`) checked against the trust boundary.
pub type Checked = BTreeSet<String>;

/// The brokers librdkafka's last statistics named: the cluster's advertised set.
#[derive(Debug, Default, Clone)]
pub struct Advertised(Arc<Mutex<BTreeSet<String>>>);

/// The part of librdkafka's statistics JSON the guard reads.
#[derive(Deserialize)]
struct Statistics {
    #[serde(default)]
    brokers: std::collections::HashMap<String, Broker>,
}

#[derive(Deserialize)]
struct Broker {
    /// `host:port` as librdkafka dials it.
    nodename: String,
    /// -1 for the bootstrap entries (checked before librdkafka was given them).
    nodeid: i32,
}

impl Advertised {
    /// Takes the brokers from a statistics report (librdkafka's JSON); a report that does not
    /// parse leaves the last set.
    pub fn update(&self, statistics: &[u8]) {
        let Ok(parsed) = serde_json::from_slice::<Statistics>(statistics) else {
            return;
        };
        let brokers = parsed
            .brokers
            .into_values()
            .filter(|b| b.nodeid >= 0 && !b.nodename.is_empty())
            .map(|b| b.nodename)
            .collect();
        if let Ok(mut set) = self.0.lock() {
            *set = brokers;
        }
    }

    /// The advertised brokers not in `checked`.
    pub fn unchecked(&self, checked: &Checked) -> Vec<String> {
        self.0
            .lock()
            .map(|set| set.difference(checked).cloned().collect())
            .unwrap_or_default()
    }
}

/// Refuses brokers (`host:port`) that resolve outside the trust boundary, or do not resolve.
pub async fn check_brokers(brokers: Vec<String>) -> Result<(), ConnectorError> {
    tokio::task::spawn_blocking(move || brokers.iter().try_for_each(|b| check_broker(b)))
        .await
        .map_err(|e| ConnectorError::internal(format!("the broker check stopped: {e}")))?
}

fn check_broker(broker: &str) -> Result<(), ConnectorError> {
    let addrs = crate::client::host_port(broker)
        .and_then(|(host, port)| (host, port).to_socket_addrs().ok())
        .ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Unavailable,
                format!(
                    "{SERVICE}: the cluster advertises broker {broker}, which does not resolve"
                ),
                "check the brokers' advertised.listeners",
            )
        })?;
    for addr in addrs {
        if let Err(reason) = courier_core::net::check_ip(addr.ip()) {
            return Err(ConnectorError::new(
                ErrorKind::InvalidConfig,
                format!(
                    "{SERVICE}: the cluster advertises broker {broker}, which resolves to {reason}; refused by the SSRF guard"
                ),
                "use public endpoints: this server does not allow destinations on private networks",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(brokers: &[(&str, &str, i32)]) -> Vec<u8> {
        let brokers: serde_json::Map<String, serde_json::Value> = brokers
            .iter()
            .map(|(name, node, id)| {
                (
                    name.to_string(),
                    serde_json::json!({"name": name, "nodename": node, "nodeid": id, "state": "UP"}),
                )
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({"name": "p", "brokers": brokers})).unwrap()
    }

    #[test]
    fn statistics_name_the_advertised_brokers_not_the_bootstrap_entries() {
        let advertised = Advertised::default();
        advertised.update(&report(&[
            ("sasl_ssl://b.example:9092/bootstrap", "b.example:9092", -1),
            ("sasl_ssl://k1.example:9093/1", "k1.example:9093", 1),
            ("sasl_ssl://k2.example:9093/2", "k2.example:9093", 2),
        ]));
        let checked: Checked = ["k1.example:9093".to_string()].into();
        assert_eq!(advertised.unchecked(&checked), ["k2.example:9093"]);

        // A report that does not parse keeps what was known.
        advertised.update(b"{not json");
        assert_eq!(advertised.unchecked(&checked), ["k2.example:9093"]);
        // The cluster stops advertising k2: nothing is left to check.
        advertised.update(&report(&[("x://k1.example:9093/1", "k1.example:9093", 1)]));
        assert!(advertised.unchecked(&checked).is_empty());
    }

    #[tokio::test]
    async fn brokers_outside_the_boundary_are_refused() {
        for broker in [
            "10.1.2.3:9092",
            "127.0.0.1:9092",
            "169.254.169.254:80",
            "[::1]:9092",
        ] {
            let error = check_brokers(vec![broker.to_string()]).await.unwrap_err();
            assert_eq!(error.kind, ErrorKind::InvalidConfig, "{broker}: {error:?}");
            assert!(error.message.contains(broker), "{error:?}");
        }
        let error = check_brokers(vec!["no-such-host.invalid:9092".into()])
            .await
            .unwrap_err();
        assert_eq!(error.kind, ErrorKind::Unavailable);
        check_brokers(vec!["8.8.8.8:9092".into()]).await.unwrap();
    }
}

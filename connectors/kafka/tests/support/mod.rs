//! A tansu broker of the test's own with topics made fresh, the connector's config and
//! credentials for it, and messages read back by a plain librdkafka consumer (not the
//! connector's code).

#![allow(dead_code)] // each test target uses part of it

use std::time::{Duration, Instant};

use courier_core::DestinationSpec;
use courier_testbed::brokers::{OwnBroker, PASSWORD, USERNAME, kafka};
use courier_testbed::tls::{self, TestCa};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Value, json};

/// A message as a consumer read it.
#[derive(Debug, Clone)]
pub struct Read {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl Read {
    /// The value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A broker of the test's own.
pub struct Cluster {
    /// The broker (in a mutex, so a restart test may kill it from another thread).
    pub broker: std::sync::Mutex<OwnBroker>,
    port: u16,
    pub authenticated: bool,
    /// A TLS front before the broker (its port and the CA that signed its certificate): the
    /// broker advertises the front, so every client connection goes through it.
    pub tls: Option<(u16, String)>,
}

impl Cluster {
    /// A broker without authentication.
    pub fn open() -> Cluster {
        Cluster::of(kafka::own(), false)
    }

    /// A broker keeping topics on disk, to be restarted.
    pub fn durable() -> Cluster {
        Cluster::of(kafka::own_durable(), false)
    }

    fn of(broker: OwnBroker, authenticated: bool) -> Cluster {
        Cluster {
            port: broker.port(),
            broker: std::sync::Mutex::new(broker),
            authenticated,
            tls: None,
        }
    }

    /// A broker (requiring SASL/SCRAM when `authenticated`) reached only through a TLS front
    /// on `localhost` serving a certificate `ca` signed: the broker advertises the front.
    pub async fn behind_tls(ca: &TestCa, authenticated: bool) -> Cluster {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let front = listener.local_addr().unwrap().port();
        let advertised = format!("tcp://localhost:{front}");
        let broker = tokio::task::spawn_blocking(move || {
            if authenticated {
                kafka::own_authenticated_advertising(&advertised)
            } else {
                kafka::own_advertising(&advertised)
            }
        })
        .await
        .unwrap();
        tls::tls_front_on(listener, &ca.server(), kafka::bootstrap(broker.port()));
        let mut cluster = Cluster::of(broker, authenticated);
        cluster.tls = Some((front, ca.pem.clone()));
        cluster
    }

    /// A broker requiring SASL/SCRAM, with the test user.
    pub fn authenticated() -> Cluster {
        Cluster::of(kafka::own_authenticated(), true)
    }

    pub fn bootstrap(&self) -> String {
        match &self.tls {
            Some((front, _)) => format!("localhost:{front}"),
            None => kafka::bootstrap(self.port),
        }
    }

    /// The connector's config for `topic`.
    pub fn config(&self, topic: &str) -> Value {
        json!({"bootstrap_servers": [self.bootstrap()], "topic": topic})
    }

    /// The connector's credentials.
    pub fn auth(&self) -> Value {
        let mut auth = if self.authenticated {
            json!({"security_protocol": "sasl_plaintext", "sasl_mechanism": "scram-sha-512",
                   "username": USERNAME, "password": PASSWORD})
        } else {
            json!({"security_protocol": "plaintext"})
        };
        if let Some((_, ca)) = &self.tls {
            let protocol = if self.authenticated {
                "sasl_ssl"
            } else {
                "ssl"
            };
            auth["security_protocol"] = json!(protocol);
            auth["ca_pem"] = json!(ca);
        }
        auth
    }

    /// Credentials the broker refuses (the right user, a wrong password).
    pub fn bad_auth(&self) -> Value {
        json!({"security_protocol": "sasl_plaintext", "sasl_mechanism": "scram-sha-512",
               "username": USERNAME, "password": format!("{PASSWORD}-wrong")})
    }

    fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.bootstrap());
        if self.authenticated {
            c.set("security.protocol", "sasl_plaintext")
                .set("sasl.mechanism", "SCRAM-SHA-512")
                .set("sasl.username", USERNAME)
                .set("sasl.password", PASSWORD);
        }
        if let Some((_, ca)) = &self.tls {
            let protocol = if self.authenticated {
                "sasl_ssl"
            } else {
                "ssl"
            };
            c.set("security.protocol", protocol).set("ssl.ca.pem", ca);
        }
        c
    }

    /// Makes a fresh topic with `partitions` partitions; returns its name.
    pub async fn new_topic(&self, partitions: i32) -> String {
        let name = courier_testbed::fresh_name("courier");
        let admin: AdminClient<DefaultClientContext> = self.client_config().create().unwrap();
        let topic = NewTopic::new(&name, partitions, TopicReplication::Fixed(1));
        let made = admin
            .create_topics([&topic], &AdminOptions::new())
            .await
            .expect("CreateTopics");
        for r in made {
            r.expect("topic created");
        }
        name
    }

    /// Every message of `topic` (all partitions, from the start), reading until `expected`
    /// are in or `within` has passed.
    pub async fn read(&self, topic: &str, expected: usize, within: Duration) -> Vec<Read> {
        let config = self.client_config();
        let topic = topic.to_string();
        tokio::task::spawn_blocking(move || read_blocking(config, &topic, expected, within))
            .await
            .unwrap()
    }

    /// A DestinationSpec for `config` with this broker's credentials.
    pub fn spec(&self, config: Value) -> DestinationSpec {
        spec(config, self.auth())
    }
}

pub fn spec(config: Value, auth: Value) -> DestinationSpec {
    DestinationSpec {
        destination_id: "dest_kafka".into(),
        config,
        auth_config: auth,
        allow_private_network: true,
        ..DestinationSpec::default()
    }
}

fn read_blocking(
    mut config: ClientConfig,
    topic: &str,
    expected: usize,
    within: Duration,
) -> Vec<Read> {
    let consumer: BaseConsumer = config
        .set("group.id", courier_testbed::fresh_name("reader"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let partitions = metadata.topics()[0].partitions().len() as i32;
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + within;
    let mut found = Vec::new();
    while found.len() < expected && Instant::now() < deadline {
        let Some(polled) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let Ok(m) = polled else { continue };
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        (
                            h.key.to_string(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        found.push(Read {
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().unwrap_or_default().to_vec(),
            headers,
        });
    }
    found
}

/// The partition the Java client's default partitioner picks for `key` among `partitions`:
/// murmur2 of the key, made positive, modulo the partition count.
pub fn java_partition(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions
}

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`).
fn murmur2(data: &[u8]) -> i32 {
    const M: i32 = 0x5bd1_e995;
    let length = data.len() as i32;
    let mut h: i32 = (0x9747_b28c_u32 as i32) ^ length;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = i32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= ((k as u32) >> 24) as i32;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    if tail.len() >= 3 {
        h ^= (tail[2] as i32) << 16;
    }
    if tail.len() >= 2 {
        h ^= (tail[1] as i32) << 8;
    }
    if !tail.is_empty() {
        h ^= tail[0] as i32;
        h = h.wrapping_mul(M);
    }
    h ^= ((h as u32) >> 13) as i32;
    h = h.wrapping_mul(M);
    h ^= ((h as u32) >> 15) as i32;
    h
}

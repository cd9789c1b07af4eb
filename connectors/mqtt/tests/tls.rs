//! `mqtts://` against mosquitto with a TLS listener whose certificate (for `localhost` and
//! 127.0.0.1) a CA made for the test signed: with that CA in `ca_pem` the connection test passes
//! and messages arrive at a subscriber reading over TLS; without it, or with another CA, the
//! connection step fails on the certificate and nothing is delivered; a listener requiring
//! client certificates takes the configured certificate and refuses a client without one; and
//! `mqtt://` to the TLS port (or `mqtts://` to the plain one) fails with a hint at the scheme.
//! Every failure comes within a bound.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use courier_connector_mqtt::Mqtt;
use courier_core::{Batch, DynConnector, ErrorKind, Record, TestReport};
use courier_testbed::brokers::{OwnBroker, PASSWORD, USERNAME, free_port, mqtt, port_open};
use courier_testbed::tls::TestCa;
use rumqttc::v5::MqttOptions;
use serde_json::{Value, json};
use support::{Subscriber, auth, spec};

/// How long any failure here may take to show: a TLS or MQTT connection attempt is bounded by
/// 10 s, and each of these fails long before that.
const FAILS_WITHIN: Duration = Duration::from_secs(15);

/// Certificates made for one test, as PEM.
struct Pki {
    /// The CA that signed the others.
    ca: String,
    /// The broker's certificate, for `localhost` and 127.0.0.1, and its key.
    server_cert: String,
    server_key: String,
    /// A client certificate whose common name is the test user, and its key.
    client_cert: String,
    client_key: String,
    /// A CA that signed nothing here.
    other_ca: String,
}

fn pki() -> Pki {
    let ca = TestCa::new("Courier test CA");
    let server = ca.server();
    // mosquitto takes the common name as the user name (`use_identity_as_username`).
    let client = ca.client(USERNAME);
    Pki {
        ca: ca.pem,
        server_cert: server.cert,
        server_key: server.key,
        client_cert: client.cert,
        client_key: client.key,
        other_ca: TestCa::new("Another test CA").pem,
    }
}

/// A mosquitto with its usual plain listener and a TLS listener (the returned port) serving
/// the test's certificate. With `require_certificate`, that listener takes only clients with a
/// certificate the test CA signed, and their certificate's common name as their user name.
fn tls_broker(pki: &Pki, require_certificate: bool) -> (OwnBroker, u16) {
    let mut broker = mqtt::own();
    let dir = broker.dir().to_path_buf();
    for (file, pem) in [
        ("ca.pem", &pki.ca),
        ("server.pem", &pki.server_cert),
        ("server.key", &pki.server_key),
    ] {
        std::fs::write(dir.join(file), pem).unwrap();
    }
    let tls_port = free_port();
    let mut settings = format!(
        "listener {tls_port} 127.0.0.1\ncafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key\n",
        dir.display()
    );
    if require_certificate {
        settings.push_str("require_certificate true\nuse_identity_as_username true\n");
    }
    std::fs::create_dir_all(dir.join("conf.d")).unwrap();
    std::fs::write(dir.join("conf.d/tls.conf"), settings).unwrap();
    broker.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !port_open(tls_port) {
        assert!(
            Instant::now() < deadline,
            "mosquitto's TLS listener did not open; its log: {}",
            broker.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (broker, tls_port)
}

/// rustls settings trusting the test CA, with the client certificate when `mutual`.
fn subscriber_tls(pki: &Pki, mutual: bool) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = if mutual {
        builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(pki.client_cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(pki.client_key.as_bytes()).unwrap(),
            )
            .unwrap()
    } else {
        builder.with_no_client_auth()
    };
    Arc::new(config)
}

/// A subscriber on `filter` reading over TLS from `localhost:port` (a plain rumqttc client,
/// not the connector).
async fn tls_subscriber(pki: &Pki, port: u16, filter: &str, mutual: bool) -> Subscriber {
    let id = format!("reader-{}", courier_testbed::fresh_name(""));
    let mut options = MqttOptions::new(id, "localhost", port);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(subscriber_tls(pki, mutual)),
        ));
    if !mutual {
        options.set_credentials(USERNAME, PASSWORD);
    }
    Subscriber::start_with(options, filter).await
}

/// What arrived, without the connection tests' messages.
fn deliveries(got: &[support::Received]) -> Vec<support::Received> {
    got.iter()
        .filter(|m| !m.topic.ends_with("/courier-connection-test"))
        .cloned()
        .collect()
}

fn tls_config(url: String, topic: &str) -> Value {
    json!({"broker_url": url, "topic_template": topic})
}

async fn test_report(config: Value, auth: Value) -> TestReport {
    let (events, _received) = tokio::sync::mpsc::unbounded_channel();
    courier_runtime::run_test(&Mqtt, &spec(config, auth), Duration::from_secs(30), &events).await
}

fn records(prefix: &str, n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            Record::new(
                format!("{prefix}{i}"),
                format!(r#"{{"n":{i},"device":"d{}","note":"über TLS"}}"#, i % 3),
            )
            .with_event("device.seen", format!("evt_{prefix}{i}"))
        })
        .collect()
}

/// Delivers `records` with `config` and `auth`, expecting each to fail; answers the first
/// record's error after checking every record failed with the same kind, within the bound.
async fn delivery_fails(
    config: Value,
    auth: Value,
    records: Vec<Record>,
) -> courier_core::ConnectorError {
    let destination = Mqtt.build(&spec(config, auth)).await.unwrap();
    let started = Instant::now();
    let out = destination.deliver(&Batch::new("b", records)).await;
    assert!(
        started.elapsed() < FAILS_WITHIN,
        "the delivery took {:?}",
        started.elapsed()
    );
    assert_eq!(out.delivered_count(), 0, "{out:?}");
    let first = out.records[0].error().unwrap().clone();
    for r in &out.records {
        assert_eq!(r.error().map(|e| e.kind), Some(first.kind), "{out:?}");
    }
    first
}

/// Runs the connection test, expecting it to fail at step `at` within the bound.
async fn test_fails_at(config: Value, auth: Value, at: &str) -> courier_core::StepReport {
    let started = Instant::now();
    let report = test_report(config, auth).await;
    assert!(
        started.elapsed() < FAILS_WITHIN,
        "the test took {:?}",
        started.elapsed()
    );
    let failed = report.failed_step().expect("a failed step").clone();
    assert_eq!(failed.name, at, "{report:#?}");
    assert!(failed.hint.is_some(), "{failed:?}");
    failed
}

#[tokio::test]
async fn a_private_ca_in_ca_pem_is_trusted_and_messages_arrive_over_tls() {
    let pki = pki();
    let (_broker, port) = tls_broker(&pki, false);
    let subscriber = tls_subscriber(&pki, port, "tls/#", false).await;

    // By name and by address: the certificate names both.
    for host in ["localhost", "127.0.0.1"] {
        let mut config = tls_config(format!("mqtts://{host}:{port}"), "tls/{device}");
        config["ca_pem"] = json!(pki.ca);
        let report = test_report(config, auth()).await;
        assert!(report.success, "{report:#?}");
        let connection = report
            .steps
            .iter()
            .find(|s| s.name == "connection")
            .unwrap();
        assert!(connection.message.contains("TLS"), "{connection:?}");
    }

    // MQTT 5 and 3.1.1 both deliver over TLS, byte for byte.
    let mut expected = Vec::new();
    for (protocol, prefix) in [("v5", "five-"), ("v3.1.1", "three-")] {
        let mut config = tls_config(format!("mqtts://localhost:{port}"), "tls/{device}");
        config["ca_pem"] = json!(pki.ca);
        config["protocol"] = json!(protocol);
        let destination = Mqtt.build(&spec(config, auth())).await.unwrap();
        let batch = records(prefix, 30);
        let out = destination.deliver(&Batch::new("b", batch.clone())).await;
        assert_eq!(out.delivered_count(), batch.len(), "{out:?}");
        expected.extend(batch.into_iter().map(|r| (protocol, r)));
    }
    assert!(
        subscriber
            .wait_until(Duration::from_secs(10), |got| deliveries(got).len()
                >= expected.len())
            .await,
        "{} of {} arrived",
        deliveries(&subscriber.received()).len(),
        expected.len()
    );
    let got = deliveries(&subscriber.received());
    assert_eq!(got.len(), expected.len(), "each record once");
    for (protocol, record) in &expected {
        let m = got
            .iter()
            .find(|m| m.payload == record.payload)
            .unwrap_or_else(|| panic!("record {} did not arrive intact", record.id));
        if *protocol == "v5" {
            assert_eq!(m.property("courier_record_id"), Some(record.id.as_str()));
            let event = record.event.as_ref().unwrap();
            assert_eq!(
                m.property("courier_event_id"),
                Some(event.event_id.as_str())
            );
        }
    }
}

#[tokio::test]
async fn an_untrusted_certificate_fails_at_connection_and_delivers_nothing() {
    let pki = pki();
    let (broker, port) = tls_broker(&pki, false);
    // Listening on the plain port, so a message sent over any listener would show.
    let subscriber = Subscriber::start(broker.port(), "#", None).await;
    let trusting_platform = tls_config(format!("mqtts://localhost:{port}"), "tls/{device}");
    let mut trusting_other_ca = trusting_platform.clone();
    trusting_other_ca["ca_pem"] = json!(pki.other_ca);

    for config in [trusting_platform, trusting_other_ca] {
        let failed = test_fails_at(config.clone(), auth(), "connection").await;
        assert_eq!(
            failed.error_kind,
            Some(ErrorKind::InvalidConfig),
            "{failed:?}"
        );
        assert!(failed.message.contains("certificate"), "{failed:?}");
        assert!(
            failed.hint.as_deref().unwrap().contains("ca_pem"),
            "{failed:?}"
        );
        let error = delivery_fails(config, auth(), records("untrusted-", 5)).await;
        assert_eq!(error.kind, ErrorKind::InvalidConfig, "{error:?}");
        assert!(error.message.contains("certificate"), "{error:?}");
        assert!(error.hint.contains("ca_pem"), "{error:?}");
    }
    // A message published after the failed deliveries arrives after anything they had sent.
    let marker = support::publish_marker(broker.port(), "marker").await;
    let before = subscriber
        .before_marker(&marker, Duration::from_secs(10))
        .await;
    assert!(before.is_empty(), "{before:?}");
}

#[tokio::test]
async fn a_broker_requiring_client_certificates_takes_the_configured_one_only() {
    let pki = pki();
    let (broker, port) = tls_broker(&pki, true);
    let subscriber = tls_subscriber(&pki, port, "mtls/#", true).await;
    let mut config = tls_config(format!("mqtts://localhost:{port}"), "mtls/{device}");
    config["ca_pem"] = json!(pki.ca);

    // The certificate is the credential: no user name or password.
    let with_certificate =
        json!({"client_cert_pem": pki.client_cert, "client_key_pem": pki.client_key});
    let report = test_report(config.clone(), with_certificate.clone()).await;
    assert!(report.success, "{report:#?}");
    let destination = Mqtt
        .build(&spec(config.clone(), with_certificate))
        .await
        .unwrap();
    let batch = records("mtls-", 20);
    let out = destination.deliver(&Batch::new("b", batch.clone())).await;
    assert_eq!(out.delivered_count(), batch.len(), "{out:?}");
    assert!(
        subscriber
            .wait_until(Duration::from_secs(10), |got| deliveries(got).len()
                >= batch.len())
            .await,
        "{} of {} arrived",
        deliveries(&subscriber.received()).len(),
        batch.len()
    );

    // Without a certificate (the password alone does not do here) the broker ends the
    // handshake: the test fails on the credentials, and so does a delivery.
    let failed = test_fails_at(config.clone(), auth(), "authentication").await;
    assert_eq!(
        failed.error_kind,
        Some(ErrorKind::Unauthenticated),
        "{failed:?}"
    );
    assert!(
        failed.hint.as_deref().unwrap().contains("client_cert_pem"),
        "{failed:?}"
    );
    let error = delivery_fails(config, auth(), records("no-cert-", 5)).await;
    assert_eq!(error.kind, ErrorKind::Unauthenticated, "{error:?}");
    assert!(error.hint.contains("client_cert_pem"), "{error:?}");
    // A message published (on the plain listener) after the failed deliveries arrives after
    // anything they had sent: only the first batch came before it.
    let marker = support::publish_marker(broker.port(), "mtls/marker").await;
    let before = subscriber
        .before_marker(&marker, Duration::from_secs(10))
        .await;
    assert_eq!(deliveries(&before).len(), batch.len(), "{before:?}");
}

#[tokio::test]
async fn a_scheme_that_does_not_match_the_port_fails_clearly() {
    let pki = pki();
    let (broker, port) = tls_broker(&pki, false);
    let config = tls_config(format!("mqtt://127.0.0.1:{port}"), "tls/{device}");
    // TCP connects; the broker gets no TLS handshake and drops the connection.
    let failed = test_fails_at(config.clone(), auth(), "authentication").await;
    assert!(
        failed.hint.as_deref().unwrap().contains("mqtts://"),
        "{failed:?}"
    );
    let error = delivery_fails(config, auth(), records("plain-", 5)).await;
    assert!(error.kind.is_retryable(), "{error:?}");
    assert!(error.hint.contains("mqtts://"), "{error:?}");

    // The other way round: TLS to the plain port.
    let mut config = tls_config(
        format!("mqtts://localhost:{}", broker.port()),
        "tls/{device}",
    );
    config["ca_pem"] = json!(pki.ca);
    let failed = test_fails_at(config.clone(), auth(), "connection").await;
    assert!(failed.message.contains("TLS"), "{failed:?}");
    assert!(
        failed.hint.as_deref().unwrap().contains("mqtt://"),
        "{failed:?}"
    );
    let error = delivery_fails(config, auth(), records("tls-to-plain-", 5)).await;
    assert!(error.kind.is_retryable(), "{error:?}");
    assert!(error.hint.contains("mqtt://"), "{error:?}");
}

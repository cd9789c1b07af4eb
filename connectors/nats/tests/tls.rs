//! NATS over TLS against a nats-server of the test's own that requires it, its certificate (for
//! localhost and 127.0.0.1) signed by a CA made for the test: with that CA in `ca_pem` every
//! step passes and records arrive; without it, or with another CA, the certificate is refused
//! where the TLS handshake happens, saying so and pointing at `ca_pem`, and nothing is
//! delivered; a `nats://` URL follows the server into TLS, verified the same way.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use async_nats::rustls;
use courier_connector_nats::Nats;
use courier_core::{Batch, DynConnector, ErrorKind, StepStatus, TestReport};
use courier_testbed::brokers::{OwnBroker, PASSWORD, Recipe, USERNAME, nats};
use courier_testbed::tls::TestCa;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};

/// Where the server's certificate and key are written in its directory.
const CERT_FILE: &str = "server-cert.pem";
const KEY_FILE: &str = "server-key.pem";

/// The longest a connection test refusing a certificate may take: the refusal is immediate,
/// so anything near the connect timeouts means it hung.
const REFUSAL_BOUND: Duration = Duration::from_secs(10);

/// A CA made for the test and what it signed for the server, as PEM.
struct Pki {
    ca: String,
    server_cert: String,
    server_key: String,
}

/// A CA made for the test and the certificate it signed for localhost and 127.0.0.1.
fn pki() -> Pki {
    let ca = TestCa::new("Courier test CA");
    let server = ca.server();
    Pki {
        ca: ca.pem,
        server_cert: server.cert,
        server_key: server.key,
    }
}

/// nats-server requiring TLS of every client, with the certificate and key found in `dir`.
fn tls_server(dir: &Path, port: u16) -> Command {
    let config = format!(
        "{}tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  timeout: 2\n}}\n",
        nats::config(dir, port, &nats::test_user()),
        dir.join(CERT_FILE).display(),
        dir.join(KEY_FILE).display(),
    );
    nats::command_with(dir, &config)
}

/// A TLS nats-server of the test's own serving the certificate `pki` holds.
fn broker(pki: &Pki) -> OwnBroker {
    let recipe = Recipe {
        name: "nats-server (TLS)",
        command: tls_server,
        ..nats::NATS
    };
    OwnBroker::start_prepared(recipe, |dir| {
        std::fs::write(dir.join(CERT_FILE), &pki.server_cert).unwrap();
        std::fs::write(dir.join(KEY_FILE), &pki.server_key).unwrap();
    })
}

/// A plain async-nats client of the test user, trusting `ca` (not the connector's code).
async fn reader(port: u16, ca: &str) -> jetstream::Context {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let client =
        async_nats::ConnectOptions::with_user_and_password(USERNAME.into(), PASSWORD.into())
            .require_tls(true)
            .tls_client_config(tls)
            .connect(format!("tls://127.0.0.1:{port}"))
            .await
            .expect("the test client cannot connect over TLS");
    jetstream::new(client)
}

/// Creates stream ORDERS capturing `orders.>`.
async fn create_stream(js: &jetstream::Context) {
    js.create_stream(jetstream::stream::Config {
        name: "ORDERS".into(),
        subjects: vec!["orders.>".into()],
        ..Default::default()
    })
    .await
    .expect("cannot create stream ORDERS");
}

/// How many messages stream ORDERS holds.
async fn stored(js: &jetstream::Context) -> u64 {
    let mut stream = js.get_stream("ORDERS").await.unwrap();
    stream.info().await.unwrap().state.messages
}

/// A config publishing to `orders.{region}` on `server`, trusting `ca_pem` when given.
fn config(server: String, ca_pem: Option<&str>) -> Value {
    let mut config = json!({ "servers": [server], "subject_template": "orders.{region}" });
    if let Some(pem) = ca_pem {
        config["ca_pem"] = json!(pem);
    }
    config
}

/// Runs the connection test of a destination with `config` and the test user.
async fn test_report(config: Value) -> TestReport {
    let (events, _received) = tokio::sync::mpsc::unbounded_channel();
    courier_runtime::run_test(
        &Nats,
        &common::spec(config, common::auth()),
        Duration::from_secs(30),
        &events,
    )
    .await
}

fn step<'r>(report: &'r TestReport, name: &str) -> &'r courier_core::StepReport {
    report
        .steps
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no step {name}: {report:#?}"))
}

/// Checks that `config` is refused for its certificate: the connection test fails where the
/// handshake happens (the server's INFO comes before TLS, so `connection` passes), in bounded
/// time, and a delivery fails every record with the same advice, storing nothing.
async fn assert_certificate_refused(config: Value, js: &jetstream::Context) {
    let started = Instant::now();
    let report = test_report(config.clone()).await;
    assert!(
        started.elapsed() < REFUSAL_BOUND,
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        step(&report, "connection").status,
        StepStatus::Passed,
        "{report:#?}"
    );
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "authentication", "{report:#?}");
    assert!(failed.message.contains("certificate"), "{failed:#?}");
    // Not the credentials' fault: nothing was sent for them to be judged.
    assert_ne!(failed.error_kind, Some(ErrorKind::Unauthenticated));
    assert!(
        failed.hint.as_deref().is_some_and(|h| h.contains("ca_pem")),
        "{failed:#?}"
    );
    for later in ["stream", "permission"] {
        assert_eq!(step(&report, later).status, StepStatus::Skipped);
    }

    let destination = Nats
        .build(&common::spec(config, common::auth()))
        .await
        .unwrap();
    let started = Instant::now();
    let out = destination
        .deliver(&Batch::new("untrusted", common::records("untrusted", 3)))
        .await;
    assert!(
        started.elapsed() < REFUSAL_BOUND,
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(out.delivered_count(), 0, "{out:?}");
    for record in &out.records {
        let error = record.error().expect("an untrusted certificate");
        assert!(error.message.contains("certificate"), "{error:?}");
        assert!(error.hint.contains("ca_pem"), "{error:?}");
    }
    assert_eq!(stored(js).await, 0);
}

#[tokio::test]
async fn a_private_ca_in_ca_pem_is_trusted() {
    let pki = pki();
    let broker = broker(&pki);
    let port = broker.port();
    let js = reader(port, &pki.ca).await;
    create_stream(&js).await;

    // The certificate names both: each is verified against it.
    for host in ["localhost", "127.0.0.1"] {
        let report = test_report(config(format!("tls://{host}:{port}"), Some(&pki.ca))).await;
        assert!(report.success, "{report:#?}");
        for name in ["connection", "authentication", "stream", "permission"] {
            assert_eq!(
                step(&report, name).status,
                StepStatus::Passed,
                "{report:#?}"
            );
        }
        assert!(
            step(&report, "connection").message.contains("TLS"),
            "{report:#?}"
        );
    }

    let destination = Nats
        .build(&common::spec(
            config(format!("tls://localhost:{port}"), Some(&pki.ca)),
            common::auth(),
        ))
        .await
        .unwrap();
    let records = common::records("tls", 20);
    let out = destination
        .deliver(&Batch::new("b1", records.clone()))
        .await;
    assert_eq!(out.delivered_count(), 20, "{out:?}");

    let stream = js.get_stream("ORDERS").await.unwrap();
    for (seq, record) in (1..).zip(&records) {
        let message = stream.get_raw_message(seq).await.unwrap();
        assert_eq!(message.payload, record.payload, "record {}", record.id);
        let header = |name: &str| message.headers.get(name).map(|v| v.as_str().to_string());
        assert_eq!(header("Nats-Msg-Id").as_deref(), Some(record.id.as_str()));
        let event = record.event.as_ref().unwrap();
        assert_eq!(
            header("courier_event_type").as_deref(),
            Some(event.event_type.as_str())
        );
        assert_eq!(
            header("courier_event_id").as_deref(),
            Some(event.event_id.as_str())
        );
    }
    assert_eq!(stored(&js).await, 20);
}

#[tokio::test]
async fn a_certificate_no_trusted_ca_signed_is_refused() {
    let pki = pki();
    let broker = broker(&pki);
    let port = broker.port();
    let js = reader(port, &pki.ca).await;
    create_stream(&js).await;
    let server = format!("tls://localhost:{port}");

    // The platform's roots do not hold the test's CA.
    assert_certificate_refused(config(server.clone(), None), &js).await;
    // Nor does a CA of someone else's.
    let other_ca = TestCa::new("Another CA").pem;
    assert_certificate_refused(config(server, Some(&other_ca)), &js).await;
}

#[tokio::test]
async fn a_nats_url_follows_the_server_into_tls() {
    // A nats:// URL leaves TLS to the server: this one requires it (its INFO says so), so the
    // client upgrades the connection and verifies the certificate as for tls://.
    let pki = pki();
    let broker = broker(&pki);
    let port = broker.port();
    let js = reader(port, &pki.ca).await;
    create_stream(&js).await;
    let server = format!("nats://localhost:{port}");

    assert_certificate_refused(config(server.clone(), None), &js).await;

    let report = test_report(config(server.clone(), Some(&pki.ca))).await;
    assert!(report.success, "{report:#?}");
    let destination = Nats
        .build(&common::spec(config(server, Some(&pki.ca)), common::auth()))
        .await
        .unwrap();
    let out = destination
        .deliver(&Batch::new("b1", common::records("upgraded", 2)))
        .await;
    assert_eq!(out.delivered_count(), 2, "{out:?}");
    assert_eq!(stored(&js).await, 2);
}

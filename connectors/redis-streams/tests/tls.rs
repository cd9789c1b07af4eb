//! Redis Streams over TLS against a redis-server of the test's own serving only a TLS port, its
//! certificate (for localhost and 127.0.0.1) signed by a CA made for the test: with that CA in
//! `ca_pem` every step passes and records arrive; without it, or with another CA, the
//! certificate is refused at the first step, saying so and pointing at `ca_pem`, and nothing
//! is delivered; a `redis://` URL to the TLS port fails at once instead of waiting.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use courier_conformance::helpers::test_report;
use courier_connector_redis_streams::RedisStreams;
use courier_core::{Batch, ErrorKind, Record, StepStatus, TestReport};
use courier_testbed::brokers::{OwnBroker, PASSWORD, Recipe, USERNAME, redis as redis_server};
use courier_testbed::tls::TestCa;
use redis::aio::MultiplexedConnection;
use serde_json::{Value, json};

/// Where the certificates and key are written in the server's directory.
const CERT_FILE: &str = "server-cert.pem";
const KEY_FILE: &str = "server-key.pem";
const CA_FILE: &str = "ca.pem";

/// The longest a refused connection may take: a refusal is immediate, so anything near the
/// connect timeout means it hung.
const REFUSAL_BOUND: Duration = Duration::from_secs(8);

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

/// redis-server with its plain port off and TLS on `port` (clients need no certificate of
/// their own), the files found in `dir`, and the test user as the only one that can sign in.
fn tls_server(dir: &Path, port: u16) -> Command {
    let mut c = Command::new(redis_server::BINARY);
    c.arg("--bind").arg("127.0.0.1");
    c.args(["--port", "0", "--tls-port", &port.to_string()]);
    c.arg("--tls-cert-file").arg(dir.join(CERT_FILE));
    c.arg("--tls-key-file").arg(dir.join(KEY_FILE));
    c.arg("--tls-ca-cert-file").arg(dir.join(CA_FILE));
    c.args(["--tls-auth-clients", "no"]);
    c.arg("--dir").arg(dir);
    c.args(["--save", ""]);
    c.args([
        "--user",
        USERNAME,
        "on",
        &format!(">{PASSWORD}"),
        "~*",
        "&*",
        "+@all",
    ]);
    // Off, but keeping its permissions, as the testbed's recipe explains.
    c.args(["--user", "default", "off", "~*", "&*", "+@all"]);
    c
}

/// A TLS redis-server of the test's own serving the certificate `pki` holds.
fn broker(pki: &Pki) -> OwnBroker {
    let recipe = Recipe {
        name: "redis-server (TLS)",
        command: tls_server,
        ..redis_server::REDIS
    };
    OwnBroker::start_prepared(recipe, |dir| {
        std::fs::write(dir.join(CERT_FILE), &pki.server_cert).unwrap();
        std::fs::write(dir.join(KEY_FILE), &pki.server_key).unwrap();
        std::fs::write(dir.join(CA_FILE), &pki.ca).unwrap();
    })
}

/// The plain redis client of the test user over TLS, trusting `ca` (not the connector's code).
async fn reader(port: u16, ca: &str) -> MultiplexedConnection {
    // The redis client asks rustls for the process's provider; the build has two.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = redis::Client::build_with_tls(
        format!("rediss://{USERNAME}:{PASSWORD}@127.0.0.1:{port}/0"),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(ca.as_bytes().to_vec()),
        },
    )
    .unwrap();
    client
        .get_multiplexed_async_connection()
        .await
        .expect("the test client cannot connect over TLS")
}

/// A config appending to stream `orders` at `url`, trusting `ca_pem` when given.
fn config(url: String, ca_pem: Option<&str>) -> Value {
    let mut config = json!({"url": url, "stream_key_template": "orders"});
    if let Some(pem) = ca_pem {
        config["ca_pem"] = json!(pem);
    }
    config
}

async fn report(config: Value) -> TestReport {
    test_report(&RedisStreams, &common::spec(config, common::auth())).await
}

fn step<'r>(report: &'r TestReport, name: &str) -> &'r courier_core::StepReport {
    report
        .steps
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no step {name}: {report:#?}"))
}

fn orders(prefix: &str, n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            Record::new(
                format!("{prefix}-{i}"),
                format!(r#"{{"n":{i},"customer":{{"id":"c{i}"}},"name":"Zoë ✓"}}"#),
            )
            .with_event("order.created", format!("evt_{prefix}_{i}"))
        })
        .collect()
}

/// Checks that `config` fails at the connection test's first step in bounded time, saying
/// what `expected` says and pointing at `hint`, and that a delivery fails every record the
/// same way, appending nothing.
async fn assert_refused(
    config: Value,
    expected: &str,
    hint: &str,
    reader: &mut MultiplexedConnection,
) {
    let started = Instant::now();
    let report = report(config.clone()).await;
    assert!(
        started.elapsed() < REFUSAL_BOUND,
        "took {:?}",
        started.elapsed()
    );
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "connection", "{report:#?}");
    assert!(failed.message.contains(expected), "{failed:#?}");
    assert!(
        failed.hint.as_deref().is_some_and(|h| h.contains(hint)),
        "{failed:#?}"
    );
    // Not the credentials' fault: nothing was sent for them to be judged.
    assert_ne!(failed.error_kind, Some(ErrorKind::Unauthenticated));
    for later in ["authentication", "stream", "write_permission"] {
        assert_eq!(step(&report, later).status, StepStatus::Skipped);
    }

    let destination = common::destination(config).await;
    let started = Instant::now();
    let out = destination
        .deliver(&Batch::new("refused", orders("refused", 3)))
        .await;
    assert!(
        started.elapsed() < REFUSAL_BOUND,
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(out.delivered_count(), 0, "{out:?}");
    for record in &out.records {
        let error = record.error().expect("a refused connection");
        assert!(error.message.contains(expected), "{error:?}");
        assert!(error.hint.contains(hint), "{error:?}");
    }
    assert!(common::entries(reader, "orders").await.is_empty());
}

#[tokio::test]
async fn a_private_ca_in_ca_pem_is_trusted() {
    let pki = pki();
    let broker = broker(&pki);
    let port = broker.port();

    // The certificate names both: each is verified against it.
    for host in ["localhost", "127.0.0.1"] {
        let report = report(config(format!("rediss://{host}:{port}/0"), Some(&pki.ca))).await;
        assert!(report.success, "{report:#?}");
        for name in ["connection", "authentication", "stream", "write_permission"] {
            assert_eq!(
                step(&report, name).status,
                StepStatus::Passed,
                "{report:#?}"
            );
        }
        assert!(
            step(&report, "connection").message.contains("over TLS"),
            "{report:#?}"
        );
    }

    let destination = common::destination(config(
        format!("rediss://localhost:{port}/0"),
        Some(&pki.ca),
    ))
    .await;
    let records = orders("tls", 20);
    let out = destination
        .deliver(&Batch::new("b1", records.clone()))
        .await;
    assert_eq!(out.delivered_count(), 20, "{out:?}");

    let mut reader = reader(port, &pki.ca).await;
    let found = common::entries(&mut reader, "orders").await;
    assert_eq!(found.len(), 20);
    for (record, entry) in records.iter().zip(&found) {
        assert_eq!(entry.field("payload"), Some(&record.payload[..]));
        assert_eq!(entry.record_id(), record.id);
        let event = record.event.as_ref().unwrap();
        assert_eq!(
            entry.field("courier_event_type"),
            Some(event.event_type.as_bytes())
        );
        assert_eq!(
            entry.field("courier_event_id"),
            Some(event.event_id.as_bytes())
        );
    }
}

#[tokio::test]
async fn a_certificate_no_trusted_ca_signed_is_refused() {
    let pki = pki();
    let broker = broker(&pki);
    let port = broker.port();
    let mut reader = reader(port, &pki.ca).await;
    let url = format!("rediss://localhost:{port}/0");

    // The platform's roots do not hold the test's CA.
    assert_refused(
        config(url.clone(), None),
        "certificate",
        "ca_pem",
        &mut reader,
    )
    .await;
    // Nor does a CA of someone else's.
    let other_ca = TestCa::new("Another CA").pem;
    assert_refused(
        config(url, Some(&other_ca)),
        "certificate",
        "ca_pem",
        &mut reader,
    )
    .await;
}

#[tokio::test]
async fn a_redis_url_to_the_tls_port_fails_at_once() {
    let pki = pki();
    let broker = broker(&pki);
    let port = broker.port();
    let mut reader = reader(port, &pki.ca).await;
    assert_refused(
        config(format!("redis://127.0.0.1:{port}/0"), None),
        "127.0.0.1",
        "rediss://",
        &mut reader,
    )
    .await;
}

//! Kafka over TLS (`ssl` and `sasl_ssl`) with a private CA in `ca_pem`. tansu cannot serve TLS
//! itself, so a TLS front on `localhost` (a certificate signed by a CA made for the test)
//! forwards to it, and tansu advertises the front: the bootstrap connection and every broker
//! connection librdkafka opens after the metadata go through TLS. With the CA every step
//! passes and messages arrive, read back by a consumer trusting the same CA; without it, or
//! with another CA, the certificate is refused where the handshake happens, pointing at
//! `ca_pem`, and nothing is delivered.

mod support;

use std::time::Duration;

use courier_connector_kafka::Kafka;
use courier_core::{Batch, DynConnector, ErrorKind, Record, TestReport};
use courier_testbed::tls::TestCa;
use serde_json::{Value, json};
use support::Cluster;

async fn test_report(spec: &courier_core::DestinationSpec) -> TestReport {
    let (events, _received) = tokio::sync::mpsc::unbounded_channel();
    courier_runtime::run_test(&Kafka, spec, Duration::from_secs(60), &events).await
}

fn records(prefix: &str, n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            Record::new(
                format!("{prefix}-{i}"),
                format!(r#"{{"over":"tls","n":{i}}}"#),
            )
            .with_event("order.created", format!("evt_{prefix}_{i}"))
        })
        .collect()
}

/// Passes every step, delivers `records` and reads them back over TLS.
async fn delivers_over_tls(cluster: &Cluster, protocol: &str) {
    let topic = cluster.new_topic(2).await;
    let spec = cluster.spec(cluster.config(&topic));
    assert_eq!(spec.auth_config["security_protocol"], protocol);
    let report = test_report(&spec).await;
    assert!(report.success, "{report:#?}");

    let destination = Kafka.build(&spec).await.unwrap();
    let sent = records(protocol, 6);
    let outcome = destination.deliver(&Batch::new("b1", sent.clone())).await;
    assert_eq!(outcome.delivered_count(), 6, "{outcome:?}");
    let found = cluster.read(&topic, 6, Duration::from_secs(20)).await;
    assert_eq!(found.len(), 6, "each record once");
    for r in &sent {
        let m = found
            .iter()
            .find(|m| m.header("courier_record_id") == Some(r.id.as_str()))
            .unwrap_or_else(|| panic!("{} not found", r.id));
        assert_eq!(m.payload, r.payload.to_vec());
    }
}

/// The connection test fails where the TLS handshake happens, naming the certificate and
/// pointing at `ca_pem`, and a delivery fails as retryable without writing.
async fn refused(cluster: &Cluster, auth: Value) {
    let topic = cluster.new_topic(1).await;
    let spec = support::spec(cluster.config(&topic), auth);
    let started = std::time::Instant::now();
    let report = test_report(&spec).await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "authentication", "{report:#?}");
    assert_eq!(
        failed.error_kind,
        Some(ErrorKind::Unavailable),
        "{failed:?}"
    );
    let said = format!(
        "{} {}",
        failed.message,
        failed.hint.as_deref().unwrap_or("")
    );
    assert!(said.contains("certificate"), "{said}");
    assert!(said.contains("ca_pem"), "{said}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a refused certificate is seen at once, took {:?}",
        started.elapsed()
    );

    let destination = Kafka.build(&spec).await.unwrap();
    let outcome = destination
        .deliver(&Batch::new("b2", records("refused", 1)))
        .await;
    let error = outcome.records[0].error().expect("not delivered");
    assert!(error.kind.is_retryable(), "{error:?}");
    assert!(
        cluster
            .read(&topic, 1, Duration::from_secs(2))
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_with_a_private_ca_delivers_and_an_untrusted_certificate_is_refused() {
    let ca = TestCa::new("Courier test CA");
    let cluster = Cluster::behind_tls(&ca, false).await;
    delivers_over_tls(&cluster, "ssl").await;

    let mut without_ca = cluster.auth();
    without_ca.as_object_mut().unwrap().remove("ca_pem");
    refused(&cluster, without_ca).await;

    let mut other_ca = cluster.auth();
    other_ca["ca_pem"] = json!(TestCa::new("Another test CA").pem);
    refused(&cluster, other_ca).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_ssl_logs_in_over_tls_and_delivers() {
    let ca = TestCa::new("Courier test CA");
    let cluster = Cluster::behind_tls(&ca, true).await;
    delivers_over_tls(&cluster, "sasl_ssl").await;

    // A wrong password over a trusted TLS connection fails at authentication as such.
    let mut wrong = cluster.auth();
    wrong["password"] = json!("not-the-password");
    let topic = cluster.new_topic(1).await;
    let report = test_report(&support::spec(cluster.config(&topic), wrong)).await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "authentication", "{report:#?}");
    assert_eq!(
        failed.error_kind,
        Some(ErrorKind::Unauthenticated),
        "{failed:?}"
    );
}

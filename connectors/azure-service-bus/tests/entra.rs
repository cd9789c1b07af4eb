//! The Entra ID service principal end to end: the Service Bus fake's client-credentials token
//! endpoint and its namespace, both behind a local TLS front with a certificate from a
//! throwaway CA trusted through `SSL_CERT_FILE` (azure_identity refuses authority hosts that
//! are not https, and Courier sends bearer tokens over https only). The test runs itself again
//! in a child process with `SSL_CERT_FILE` set, since a test must not change its own
//! process's environment.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use courier_conformance::helpers::{spec, test_report};
use courier_connector_azure_service_bus::AzureServiceBus;
use courier_core::{Batch, DynConnector, ErrorKind, Record, StepStatus};
use courier_fakes::ServiceBusFake;
use courier_fakes::service_bus::{EntityOptions, Rights};
use serde_json::{Value, json};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT_ID: &str = "courier-test-app";
const SECRET: &str = "entra-secret-sentinel-0b7d";
const CHILD: &str = "COURIER_TEST_SB_ENTRA_DIR";

/// A CA and a certificate it signed for 127.0.0.1, as PEM: (ca, cert, key).
fn pki() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Courier test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params
        .signed_by(&key, &Issuer::new(ca_params, ca_key))
        .unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// Terminates TLS on a loopback port and forwards each connection to `backend` (`host:port`).
async fn tls_front(cert_pem: &str, key_pem: &str, backend: String) -> u16 {
    use rustls::pki_types::pem::PemObject;
    let chain =
        vec![rustls::pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap()];
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, backend) = (acceptor.clone(), backend.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(&backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

/// Writes the PKI, then runs the scenario in a child copy of this test binary that trusts the
/// CA, and fails with the child's output when it fails.
#[test]
fn a_service_principal_signs_in_and_sends_over_https() {
    if let Ok(dir) = std::env::var(CHILD) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        return runtime.block_on(scenario(Path::new(&dir)));
    }
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = pki();
    for (name, text) in [("ca.pem", &ca), ("cert.pem", &cert), ("key.pem", &key)] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_service_principal_signs_in_and_sends_over_https",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD, dir.path())
        .env("SSL_CERT_FILE", dir.path().join("ca.pem"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the scenario failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn scenario(dir: &Path) {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let fake = ServiceBusFake::start().await;
    fake.add_entity("orders", EntityOptions::default());
    fake.add_principal(TENANT, CLIENT_ID, SECRET, Rights::MANAGE);
    fake.add_principal(TENANT, "sender-app", SECRET, Rights::SEND);
    let port = tls_front(&read("cert.pem"), &read("key.pem"), fake.host().to_string()).await;
    let base = format!("https://127.0.0.1:{port}");
    let config = json!({"endpoint": base, "entity_path": "orders"});
    let principal = |client_id: &str, secret: &str| -> Value {
        json!({"tenant_id": TENANT, "client_id": client_id, "client_secret": secret,
               "authority_host": base})
    };

    let report = test_report(
        &AzureServiceBus,
        &spec("dest_entra", config.clone(), principal(CLIENT_ID, SECRET)),
    )
    .await;
    assert!(report.success, "{report:#?}");
    let entity = report.steps.iter().find(|s| s.name == "entity").unwrap();
    assert_eq!(entity.status, StepStatus::Passed, "{entity:?}");

    let destination = AzureServiceBus
        .build(&spec(
            "dest_entra",
            config.clone(),
            principal(CLIENT_ID, SECRET),
        ))
        .await
        .unwrap();
    let records: Vec<Record> = (0..3)
        .map(|i| {
            Record::new(format!("e{i}"), format!(r#"{{"n":{i}}}"#))
                .with_event("t.x", format!("ev{i}"))
        })
        .collect();
    let out = destination
        .deliver(&Batch::new("b1", records.clone()))
        .await;
    assert_eq!(out.delivered_count(), 3, "{out:?}");
    let tokens = fake.token_requests();
    let out = destination
        .deliver(&Batch::new("b2", vec![Record::new("e9", "{}")]))
        .await;
    assert_eq!(out.delivered_count(), 1, "{out:?}");
    assert_eq!(
        fake.token_requests(),
        tokens,
        "the token is cached, not fetched per send"
    );
    let stored = fake.messages("orders");
    for r in &records {
        let m = stored
            .iter()
            .find(|m| m.message_id == r.id)
            .expect("stored");
        assert_eq!(m.body, r.payload.to_vec());
        assert_eq!(m.user_properties["courier_event_type"], "t.x");
    }

    // A Data Sender role cannot read the description: the entity step says so, the send works.
    let report = test_report(
        &AzureServiceBus,
        &spec(
            "dest_entra",
            config.clone(),
            principal("sender-app", SECRET),
        ),
    )
    .await;
    assert!(report.success, "{report:#?}");
    let entity = report.steps.iter().find(|s| s.name == "entity").unwrap();
    assert_eq!(entity.status, StepStatus::Skipped, "{entity:?}");

    // A wrong secret fails at authentication, permanently, never echoing either secret.
    let wrong = "not-the-secret-sentinel";
    let report = test_report(
        &AzureServiceBus,
        &spec("dest_entra", config.clone(), principal(CLIENT_ID, wrong)),
    )
    .await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "authentication", "{report:#?}");
    assert_eq!(
        failed.error_kind,
        Some(ErrorKind::Unauthenticated),
        "{failed:?}"
    );
    let destination = AzureServiceBus
        .build(&spec(
            "dest_entra",
            config.clone(),
            principal(CLIENT_ID, wrong),
        ))
        .await
        .unwrap();
    let out = destination
        .deliver(&Batch::new("b3", vec![Record::new("w", "{}")]))
        .await;
    let error = out.records[0].error().expect("refused");
    assert_eq!(error.kind, ErrorKind::Unauthenticated, "{error:?}");
    let shown = format!("{report:?} {out:?} {destination:?}");
    assert!(!shown.contains(wrong) && !shown.contains(SECRET), "{shown}");

    // Bearer tokens never travel over plain http.
    let plain = json!({"endpoint": fake.url(), "entity_path": "orders"});
    let refused = AzureServiceBus
        .build(&spec("dest_entra", plain, principal(CLIENT_ID, SECRET)))
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("https"), "{refused}");
}

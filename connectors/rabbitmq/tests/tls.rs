//! `amqps://` with a private CA: a TLS front on loopback (a certificate for 127.0.0.1 signed by
//! a CA made for the test) forwards to the suite's RabbitMQ. With the CA in `ca_pem` the test
//! passes every step and records arrive; without it the connection step fails, pointing at
//! `ca_pem`.

mod support;

use std::sync::Arc;

use courier_conformance::helpers::test_report;
use courier_connector_rabbitmq::Rabbitmq;
use courier_core::{Batch, DynConnector, ErrorKind, Record};
use courier_testbed::fresh_name;
use serde_json::json;
use support::{Reader, auth, shared_url_with_user, spec};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqps_with_a_private_ca() {
    let shared = url::Url::parse(&shared_url_with_user()).unwrap();
    let backend = format!("127.0.0.1:{}", shared.port().unwrap());
    let (ca, cert, key) = pki();
    let port = tls_front(&cert, &key, backend).await;
    let queue = fresh_name("courier-tls");
    Reader::shared().await.queue(&queue).await;

    let config = json!({
        "url": format!("amqps://127.0.0.1:{port}/%2f"),
        "routing_key": queue,
        "ca_pem": ca,
    });
    let report = test_report(&Rabbitmq, &spec(config.clone(), auth())).await;
    assert!(report.success, "{report:#?}");
    let connection = &report.steps[2];
    assert_eq!(connection.name, "connection");
    assert!(connection.message.contains("TLS"), "{}", connection.message);
    let destination = Rabbitmq.build(&spec(config.clone(), auth())).await.unwrap();
    let outcome = destination
        .deliver(&Batch::new(
            "b1",
            vec![Record::new("tls-1", r#"{"over":"tls"}"#)],
        ))
        .await;
    assert_eq!(outcome.delivered_count(), 1, "{outcome:?}");
    let found = Reader::shared().await.peek(&queue).await;
    assert_eq!(found[0].body, br#"{"over":"tls"}"#);

    // Without the CA the certificate is not trusted: the connection step says so.
    let mut untrusted = config;
    untrusted.as_object_mut().unwrap().remove("ca_pem");
    let report = test_report(&Rabbitmq, &spec(untrusted.clone(), auth())).await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "connection", "{failed:#?}");
    assert!(failed.message.contains("TLS"), "{}", failed.message);
    assert!(failed.hint.as_deref().is_some_and(|h| h.contains("ca_pem")));
    let destination = Rabbitmq.build(&spec(untrusted, auth())).await.unwrap();
    let outcome = destination
        .deliver(&Batch::new("b2", vec![Record::new("tls-2", "{}")]))
        .await;
    let error = outcome.records[0]
        .error()
        .expect("an untrusted certificate");
    assert_eq!(error.kind, ErrorKind::Unavailable, "{error:?}");
    assert!(error.hint.contains("ca_pem"), "{error:?}");
}

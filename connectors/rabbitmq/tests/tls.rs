//! `amqps://` with a private CA: a TLS front on loopback (a certificate for 127.0.0.1 signed by
//! a CA made for the test) forwards to the suite's RabbitMQ. With the CA in `ca_pem` the test
//! passes every step and records arrive; without it the connection step fails, pointing at
//! `ca_pem`.

mod support;

use courier_conformance::helpers::test_report;
use courier_connector_rabbitmq::Rabbitmq;
use courier_core::{Batch, DynConnector, ErrorKind, Record};
use courier_testbed::fresh_name;
use courier_testbed::tls::{TestCa, tls_front};
use serde_json::json;
use support::{Reader, auth, shared_url_with_user, spec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqps_with_a_private_ca() {
    let shared = url::Url::parse(&shared_url_with_user()).unwrap();
    let backend = format!("127.0.0.1:{}", shared.port().unwrap());
    let ca = TestCa::new("Courier test CA");
    let port = tls_front(&ca.server(), backend).await;
    let queue = fresh_name("courier-tls");
    Reader::shared().await.queue(&queue).await;

    let config = json!({
        "url": format!("amqps://127.0.0.1:{port}/%2f"),
        "routing_key": queue,
        "ca_pem": ca.pem,
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

//! The webhook connection test against real local endpoints: every step on a good receiver, the
//! failing step and its hint on bad credentials, a closed port, and an untrusted certificate.

mod support;

use std::sync::Arc;
use std::time::Duration;

use courier_connector_webhook::Webhook;
use courier_core::{DestinationSpec, ErrorKind, StepStatus, TestReport};
use serde_json::{Value, json};
use support::{Receiver, SECRET, TOKEN};

async fn run(config: Value, auth: Value) -> TestReport {
    let spec = DestinationSpec {
        destination_id: "d".into(),
        config,
        auth_config: auth,
        payload_cap_bytes: None,
        token_store: None,
        allow_private_network: true,
    };
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    courier_runtime::run_test(&Webhook, &spec, Duration::from_secs(20), &tx).await
}

fn statuses(r: &TestReport) -> Vec<(String, StepStatus)> {
    r.steps.iter().map(|s| (s.name.clone(), s.status)).collect()
}

#[tokio::test]
async fn every_step_passes_and_the_test_event_is_signed() {
    let r = Receiver::start().await;
    let auth = json!({"signing_secret": SECRET, "credentials": {"type": "bearer", "token": TOKEN}});
    let report = run(
        json!({"url": r.url("/auth"), "allow_private_network": true}),
        auth,
    )
    .await;
    assert!(report.success, "{report:#?}");
    use StepStatus::*;
    let expected = [
        ("validate", Passed),
        ("build", Passed),
        ("dns", Passed),
        ("connect", Passed),
        ("tls", Skipped),
        ("request", Passed),
        ("authentication", Passed),
    ];
    let got = statuses(&report);
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for ((name, status), (want_name, want_status)) in got.iter().zip(expected) {
        assert_eq!((name.as_str(), *status), (want_name, want_status));
    }
    let sent = r.received().pop().unwrap();
    assert!(sent.signature_ok);
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(body["type"], "webhook.test");
    assert_eq!(body["data"]["destination_id"], "d");
}

#[tokio::test]
async fn bad_credentials_fail_at_authentication_with_a_hint() {
    let r = Receiver::start().await;
    let auth =
        json!({"signing_secret": SECRET, "credentials": {"type": "bearer", "token": "nope"}});
    let report = run(
        json!({"url": r.url("/auth"), "allow_private_network": true}),
        auth,
    )
    .await;
    let failed = report.failed_step().unwrap();
    assert_eq!(failed.name, "authentication");
    assert_eq!(failed.error_kind, Some(ErrorKind::Unauthenticated));
    assert!(failed.message.contains("401"), "{failed:?}");
    assert!(failed.hint.as_deref().unwrap().contains("auth_config"));
}

#[tokio::test]
async fn a_closed_port_fails_at_connect_and_later_steps_are_skipped() {
    let port = support::closed_port().await;
    let report = run(json!({"url": format!("http://127.0.0.1:{port}/"), "allow_private_network": true, "timeout_ms": 2000}), json!({})).await;
    let failed = report.failed_step().unwrap();
    assert_eq!(
        (failed.name.as_str(), failed.error_kind),
        ("connect", Some(ErrorKind::Unavailable)),
        "{report:#?}"
    );
    let tail: Vec<_> = statuses(&report)
        .into_iter()
        .skip_while(|(n, s)| !(n == "connect" && *s == StepStatus::Failed))
        .skip(1)
        .collect();
    assert_eq!(
        tail,
        [
            ("tls".to_string(), StepStatus::Skipped),
            ("request".into(), StepStatus::Skipped),
            ("authentication".into(), StepStatus::Skipped)
        ]
    );
}

#[tokio::test]
async fn an_untrusted_certificate_fails_at_tls() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let chain = vec![cert.cert.der().clone()];
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(stream).await;
            });
        }
    });
    let report = run(
        json!({"url": format!("https://localhost:{port}/hook"), "allow_private_network": true}),
        json!({}),
    )
    .await;
    let failed = report.failed_step().unwrap();
    assert_eq!(failed.name, "tls", "{report:#?}");
    assert_eq!(failed.error_kind, Some(ErrorKind::InvalidConfig));
    assert!(failed.message.contains("not trusted"), "{failed:?}");
    assert!(failed.hint.as_deref().unwrap().contains("certificate"));
}

//! Webhook behaviour against a real local receiver: signing, retries through the delivery
//! policy, Retry-After, timeouts, redirects, the SSRF guard and the payload cap.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use courier_connector_webhook::Webhook;
use courier_core::{Batch, Destination, DestinationSpec, DynConnector, ErrorKind, Record};
use courier_runtime::{Deliverer, DeliveryPolicy};
use serde_json::{Value, json};
use support::{Receiver, SECRET, Scripted, TOKEN};

async fn build(config: Value, auth: Value, cap: Option<u64>) -> Arc<dyn Destination> {
    let spec = DestinationSpec {
        destination_id: "d1".into(),
        config,
        auth_config: auth,
        payload_cap_bytes: cap,
        token_store: None,
        allow_private_network: true,
    };
    Webhook.build(&spec).await.unwrap_or_else(|e| panic!("{e}"))
}

/// Built by a host that does not allow private networks.
async fn build_refusing_private(config: Value) -> Arc<dyn Destination> {
    let spec = DestinationSpec {
        destination_id: "d1".into(),
        config,
        auth_config: signed(),
        ..Default::default()
    };
    Webhook.build(&spec).await.unwrap_or_else(|e| panic!("{e}"))
}

fn local(r: &Receiver, path: &str) -> Value {
    json!({"url": r.url(path), "allow_private_network": true, "timeout_ms": 5000})
}

fn signed() -> Value {
    json!({"signing_secret": SECRET})
}

fn one(id: &str, payload: &str) -> Batch {
    Batch::new(
        format!("batch-{id}"),
        vec![Record::new(id, payload.to_string())],
    )
}

fn policy() -> DeliveryPolicy {
    DeliveryPolicy {
        retry_base_ms: 50,
        retry_max_delay_ms: 200,
        ..DeliveryPolicy::default()
    }
}

#[tokio::test]
async fn requests_are_signed_per_standard_webhooks() {
    let r = Receiver::start().await;
    let second = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let dest = build(
        local(&r, "/ok"),
        json!({"signing_secret": [SECRET, second]}),
        None,
    )
    .await;
    let out = dest.deliver(&one("msg_1", r#"{"email":"a@b.c"}"#)).await;
    assert!(out.records[0].is_delivered(), "{:?}", out.records[0]);
    let got = &r.received()[0];
    assert!(
        got.signature_ok,
        "signature must verify with the first secret"
    );
    assert!(
        support::verify(&got.headers, &got.body, second),
        "and with the second"
    );
    assert_eq!(got.headers["webhook-id"], "msg_1");
    assert_eq!(got.headers["content-type"], "application/json");
    assert_eq!(
        got.headers["webhook-signature"]
            .to_str()
            .unwrap()
            .split(' ')
            .count(),
        2
    );
    assert_eq!(
        &got.body[..],
        br#"{"email":"a@b.c"}"#,
        "the payload exactly as given"
    );
}

#[tokio::test]
async fn each_request_names_the_event_it_carries() {
    let r = Receiver::start().await;
    let dest = build(local(&r, "/ok"), signed(), None).await;
    let record = Record::new("msg_ev", "{}").with_event("order.deleted", "evt_9");
    let out = dest.deliver(&Batch::new("batch-ev", vec![record])).await;
    assert!(out.records[0].is_delivered(), "{:?}", out.records[0]);
    let without = dest.deliver(&one("msg_plain", "{}")).await;
    assert!(without.records[0].is_delivered());
    let got = r.received();
    assert_eq!(got[0].headers["courier-event-type"], "order.deleted");
    assert_eq!(got[0].headers["courier-event-id"], "evt_9");
    assert!(got[0].signature_ok);
    assert!(!got[1].headers.contains_key("courier-event-type"));
}

#[tokio::test]
async fn server_error_then_success_is_delivered_on_the_second_attempt_with_the_same_id() {
    let r = Receiver::start().await;
    r.script([Scripted::status(500), Scripted::status(200)]);
    let deliverer = Deliverer::new(build(local(&r, "/script"), signed(), None).await, policy());
    let out = deliverer.deliver(one("msg_retry", "{}")).await;
    assert!(out.records[0].is_delivered());
    assert_eq!(out.records[0].attempts, 2);
    let ids: Vec<String> = r
        .received()
        .iter()
        .map(|x| x.headers["webhook-id"].to_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["msg_retry", "msg_retry"]);
    assert!(r.received().iter().all(|x| x.signature_ok));
}

#[tokio::test]
async fn too_many_requests_waits_for_retry_after() {
    let r = Receiver::start().await;
    r.script([
        Scripted::status(429).header("retry-after", "2"),
        Scripted::status(200),
    ]);
    let deliverer = Deliverer::new(build(local(&r, "/script"), signed(), None).await, policy());
    let out = deliverer.deliver(one("msg_429", "{}")).await;
    assert!(out.records[0].is_delivered());
    let seen = r.received();
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap >= Duration::from_millis(1900) && gap < Duration::from_secs(5),
        "waited {gap:?}"
    );
}

#[tokio::test]
async fn retry_after_is_surfaced_on_429_and_503() {
    let r = Receiver::start().await;
    r.script([
        Scripted::status(429).header("retry-after", "7"),
        Scripted::status(503).header("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT"),
    ]);
    let dest = build(local(&r, "/script"), signed(), None).await;
    let e = dest.deliver(&one("a", "{}")).await.records[0]
        .error()
        .unwrap()
        .clone();
    assert_eq!(
        (e.kind, e.retry_after),
        (ErrorKind::RateLimited, Some(Duration::from_secs(7)))
    );
    let e = dest.deliver(&one("b", "{}")).await.records[0]
        .error()
        .unwrap()
        .clone();
    assert_eq!(
        (e.kind, e.retry_after),
        (ErrorKind::Unavailable, Some(Duration::ZERO)),
        "a past date means now"
    );
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out() {
    let r = Receiver::start().await;
    let config = json!({"url": r.url("/hang"), "allow_private_network": true, "timeout_ms": 500});
    let dest = build(config, signed(), None).await;
    let started = Instant::now();
    let out = dest.deliver(&one("slow", "{}")).await;
    let e = out.records[0].error().unwrap();
    assert_eq!(e.kind, ErrorKind::Timeout, "{e:?}");
    assert!(e.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn status_codes_are_classified() {
    let r = Receiver::start().await;
    let cases = [
        (401, ErrorKind::Unauthenticated, false),
        (403, ErrorKind::Forbidden, false),
        (404, ErrorKind::NotFound, false),
        (408, ErrorKind::Timeout, true),
        (409, ErrorKind::Conflict, false),
        (410, ErrorKind::Rejected, false),
        (413, ErrorKind::PayloadTooLarge, false),
        (422, ErrorKind::Rejected, false),
        (429, ErrorKind::RateLimited, true),
        (500, ErrorKind::Unavailable, true),
        (502, ErrorKind::Unavailable, true),
        (503, ErrorKind::Unavailable, true),
    ];
    r.script(cases.iter().map(|(s, _, _)| Scripted::status(*s)));
    let dest = build(local(&r, "/script"), signed(), None).await;
    for (status, kind, retryable) in cases {
        let out = dest.deliver(&one(&format!("s{status}"), "{}")).await;
        let rec = &out.records[0];
        let e = rec.error().unwrap_or_else(|| panic!("{status} must fail"));
        assert_eq!(
            (e.kind, e.is_retryable()),
            (kind, retryable),
            "HTTP {status}"
        );
        assert!(e.message.contains(&status.to_string()), "{e:?}");
        match &rec.outcome {
            courier_core::Outcome::Failed {
                response: Some(resp),
                ..
            } => {
                assert_eq!(resp.status, status);
                assert_eq!(
                    resp.body.as_deref(),
                    Some(format!("scripted {status}").as_str())
                );
            }
            other => panic!("the response must be kept: {other:?}"),
        }
    }
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let r = Receiver::start().await;
    let dest = build(local(&r, "/redirect"), signed(), None).await;
    let out = dest.deliver(&one("redir", "{}")).await;
    let e = out.records[0].error().unwrap();
    assert_eq!(e.kind, ErrorKind::Rejected);
    assert!(!e.is_retryable());
    assert!(
        e.message.contains("302") && e.message.contains("not followed"),
        "{e:?}"
    );
    assert!(
        e.hint.contains("https://elsewhere.example/hook") && !e.hint.contains("token=abc"),
        "{}",
        e.hint
    );
    assert_eq!(r.received().len(), 1);
}

#[tokio::test]
async fn the_response_body_is_kept_up_to_4_kib() {
    let r = Receiver::start().await;
    let dest = build(local(&r, "/big"), signed(), None).await;
    let out = dest.deliver(&one("big", "{}")).await;
    match &out.records[0].outcome {
        courier_core::Outcome::Delivered(d) => {
            assert_eq!(d.status, Some(200));
            assert_eq!(d.response_body.as_ref().map(String::len), Some(4096));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn private_addresses_are_refused_in_every_spelling() {
    let r = Receiver::start().await;
    let port = r.addr.port();
    for url in [
        format!("http://127.0.0.1:{port}/ok"),
        format!("http://2130706433:{port}/ok"),
        format!("http://0x7f000001:{port}/ok"),
        format!("http://127.1:{port}/ok"),
        format!("http://[::1]:{port}/ok"),
        format!("http://[::ffff:127.0.0.1]:{port}/ok"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://10.0.0.1/".to_string(),
        "http://100.64.0.1/".to_string(),
        "http://224.0.0.1/".to_string(),
        "http://0.0.0.0/".to_string(),
    ] {
        // Valid as a config: the host's policy decides, when the client is built.
        let spec = DestinationSpec {
            config: json!({"url": url}),
            ..Default::default()
        };
        assert!(Webhook.validate(&spec).is_empty(), "{url}");
        let dest = build_refusing_private(json!({"url": url})).await;
        let out = dest.deliver(&one("ssrf", "{}")).await;
        let e = out.records[0].error().unwrap();
        assert_eq!(e.kind, ErrorKind::InvalidConfig, "{url}: {e:?}");
        assert!(
            e.message.contains("refused by the SSRF guard")
                && !e.message.contains("guard; refused")
                && e.hint.contains("allow_private_network")
                && e.hint.contains("--allow-private-destinations"),
            "{url}: {e:?}"
        );
    }
    // A name that resolves to loopback passes validation but is refused at connection time,
    // before any request is sent.
    let dest = build_refusing_private(json!({"url": format!("http://localhost:{port}/ok")})).await;
    let out = dest.deliver(&one("ssrf", "{}")).await;
    let e = out.records[0].error().unwrap();
    assert_eq!(e.kind, ErrorKind::InvalidConfig, "{e:?}");
    assert!(e.message.contains("SSRF"), "{e:?}");
    assert!(
        r.received().is_empty(),
        "no request may reach a private address"
    );

    let steps = courier_runtime::run_test(
        &Webhook,
        &DestinationSpec {
            config: json!({"url": format!("http://localhost:{port}/ok")}),
            ..Default::default()
        },
        Duration::from_secs(10),
        &tokio::sync::mpsc::unbounded_channel().0,
    )
    .await;
    assert_eq!(steps.failed_step().unwrap().name, "dns");
    assert!(r.received().is_empty());
}

#[tokio::test]
async fn non_http_schemes_are_refused() {
    for url in [
        "ftp://example.com/x",
        "file:///etc/passwd",
        "gopher://x",
        "example.com/hook",
        "https://user:pw@example.com/",
    ] {
        let spec = DestinationSpec {
            config: json!({"url": url}),
            ..Default::default()
        };
        let errors = Webhook.validate(&spec);
        assert!(
            errors.iter().any(|e| e.path == "/config/url"),
            "{url}: {errors:?}"
        );
        assert!(
            errors.iter().all(|e| !e.message.contains("pw@")),
            "the URL is never echoed"
        );
    }
}

#[tokio::test]
async fn oversized_payloads_are_refused_before_any_request() {
    let r = Receiver::start().await;
    let dest = build(local(&r, "/ok"), signed(), Some(100)).await;
    let big = format!("{{\"x\":\"{}\"}}", "a".repeat(200));
    let out = dest.deliver(&one("huge", &big)).await;
    assert_eq!(
        out.records[0].error().unwrap().kind,
        ErrorKind::PayloadTooLarge
    );

    // In batch modes the encoded body is checked as a whole.
    let config = json!({"url": r.url("/ok"), "allow_private_network": true, "body": "json_array"});
    let dest = build(config, signed(), Some(100)).await;
    let records = (0..5)
        .map(|i| Record::new(format!("r{i}"), format!("{{\"i\":\"{}\"}}", "b".repeat(20))))
        .collect();
    let out = dest.deliver(&Batch::new("b-big", records)).await;
    assert!(
        out.records
            .iter()
            .all(|o| o.error().unwrap().kind == ErrorKind::PayloadTooLarge)
    );
    assert!(r.received().is_empty(), "no request may be sent");
}

#[tokio::test]
async fn batch_modes_send_one_request_with_the_batch_id() {
    let r = Receiver::start().await;
    let records: Vec<Record> = vec![
        Record::new("a", "{\"n\":1}"),
        Record::new("b", "not json"),
        Record::new("c", "[3]"),
    ];
    for (mode, expected, content_type) in [
        ("json_array", "[{\"n\":1},[3]]", "application/json"),
        ("ndjson", "{\"n\":1}\n[3]\n", "application/x-ndjson"),
    ] {
        let config = json!({"url": r.url("/ok"), "allow_private_network": true, "body": mode});
        let dest = build(config, signed(), None).await;
        let out = dest
            .deliver(&Batch::new(format!("batch-{mode}"), records.clone()))
            .await;
        assert!(out.records[0].is_delivered() && out.records[2].is_delivered());
        assert_eq!(
            out.records[1].error().unwrap().kind,
            ErrorKind::Rejected,
            "invalid JSON fails alone"
        );
        let got = r.received().pop().unwrap();
        assert_eq!(std::str::from_utf8(&got.body).unwrap(), expected);
        assert_eq!(got.headers["webhook-id"], format!("batch-{mode}").as_str());
        assert_eq!(got.headers["content-type"], content_type);
        assert!(got.signature_ok);
    }
}

#[tokio::test]
async fn envelope_headers_and_credentials_are_sent() {
    let r = Receiver::start().await;
    let config = json!({
        "url": r.url("/ok"), "allow_private_network": true, "method": "PUT",
        "headers": {"X-Source": "courier"}, "envelope": {"type": "contact.updated"}
    });
    for (auth, header, expected) in [
        (
            json!({"credentials": {"type": "basic", "username": "u", "password": "p"}}),
            "authorization",
            "Basic dTpw",
        ),
        (
            json!({"credentials": {"type": "bearer", "token": TOKEN}}),
            "authorization",
            &*format!("Bearer {TOKEN}"),
        ),
        (
            json!({"credentials": {"type": "api_key", "header": "X-API-Key", "value": "k1"}}),
            "x-api-key",
            "k1",
        ),
    ] {
        let dest = build(config.clone(), auth, None).await;
        assert!(dest.deliver(&one("env1", "{\"a\":1}")).await.records[0].is_delivered());
        let got = r.received().pop().unwrap();
        assert_eq!(got.headers[header], expected);
        assert_eq!(got.headers["x-source"], "courier");
        assert!(
            !got.headers.contains_key("webhook-signature"),
            "no secret, no signature"
        );
        assert_eq!(
            &got.body[..],
            br#"{"type":"contact.updated","id":"env1","data":{"a":1}}"#
        );
    }
}

#[tokio::test]
async fn reserved_headers_cannot_be_configured() {
    let spec = DestinationSpec {
        config: json!({"url": "https://example.com/", "headers": {"Webhook-Signature": "x", "Authorization": "y", "bad header": "z"}}),
        ..Default::default()
    };
    let paths: Vec<String> = Webhook
        .validate(&spec)
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert!(paths.contains(&"/config/headers/Webhook-Signature".to_string()));
}

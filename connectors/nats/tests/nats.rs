//! NATS against nats-servers of the tests' own: messages read back byte for byte with their
//! headers, a retried record stored once, records that cannot be published failing alone, the
//! connection test failing at the step of what is wrong, and each kind of credential.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use courier_connector_nats::Nats;
use courier_core::{Batch, DynConnector, ErrorKind, Record, StepStatus, TestReport};
use courier_testbed::brokers::{self, OwnBroker, PASSWORD, Recipe, USERNAME, nats};
use futures::StreamExt;
use serde_json::json;

fn step<'r>(report: &'r TestReport, name: &str) -> &'r courier_core::StepReport {
    report
        .steps
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no step {name}: {report:#?}"))
}

#[tokio::test]
async fn records_arrive_byte_for_byte_with_their_headers() {
    let broker = common::broker();
    let port = broker.port();
    common::create_stream(port, "ORDERS", &["orders.>"], None).await;
    let mut config = common::config(port, "orders.{region}");
    config["headers"] = json!({"Customer": "customer.id", "Kind": "{region}-order"});
    let destination = Nats
        .build(&common::spec(config, common::auth()))
        .await
        .unwrap();
    let records = common::records("rb", 50);
    let out = destination
        .deliver(&Batch::new("b1", records.clone()))
        .await;
    assert_eq!(out.delivered_count(), 50, "{out:?}");

    let stored = common::read_stream(port, "ORDERS").await;
    assert_eq!(stored.len(), 50);
    for (record, message) in records.iter().zip(&stored) {
        let i: usize = record.id.trim_start_matches("rb-").parse().unwrap();
        let region = if i.is_multiple_of(2) { "eu" } else { "us" };
        assert_eq!(
            message.payload, record.payload,
            "record {} byte for byte",
            record.id
        );
        assert_eq!(message.subject, format!("orders.{region}"));
        assert_eq!(message.header("Nats-Msg-Id"), Some(record.id.as_str()));
        assert_eq!(message.header("courier_event_type"), Some("order.created"));
        let event_id = format!("evt_rb_{i}");
        assert_eq!(message.header("courier_event_id"), Some(event_id.as_str()));
        let customer = format!("c{i}");
        assert_eq!(message.header("Customer"), Some(customer.as_str()));
        let kind = format!("{region}-order");
        assert_eq!(message.header("Kind"), Some(kind.as_str()));
    }
}

#[tokio::test]
async fn a_retried_record_is_stored_once() {
    let broker = common::broker();
    let port = broker.port();
    common::create_stream(port, "ORDERS", &["orders.>"], None).await;
    let destination = Nats
        .build(&common::spec(
            common::config(port, "orders.created"),
            common::auth(),
        ))
        .await
        .unwrap();
    let records = common::records("dedup", 20);
    let first = destination
        .deliver(&Batch::new("b1", records.clone()))
        .await;
    assert_eq!(first.delivered_count(), 20, "{first:?}");
    // The same records again (a retry of the same batch, then inside another batch): each is
    // acknowledged, and the stream keeps one copy by its Nats-Msg-Id.
    let again = destination
        .deliver(&Batch::new("b1", records.clone()))
        .await;
    assert_eq!(again.delivered_count(), 20, "{again:?}");
    let mut mixed = records[..5].to_vec();
    mixed.extend(common::records("fresh", 3));
    let third = destination.deliver(&Batch::new("b2", mixed)).await;
    assert_eq!(third.delivered_count(), 8, "{third:?}");
    assert_eq!(common::stream_count(port, "ORDERS").await, 23);
}

#[tokio::test]
async fn records_too_large_fail_alone() {
    // A server taking 64 KiB messages; a stream taking 4 KiB ones on `small.>`.
    fn small_payload(dir: &Path, port: u16) -> Command {
        let config = format!(
            "max_payload: 65536\n{}",
            nats::config(dir, port, &nats::test_user())
        );
        nats::command_with(dir, &config)
    }
    let broker = OwnBroker::start(Recipe {
        name: "nats-server (64 KiB max_payload)",
        command: small_payload,
        ..nats::NATS
    });
    let port = broker.port();
    common::create_stream(port, "BIG", &["big.>"], None).await;
    common::create_stream(port, "SMALL", &["small.>"], Some(4096)).await;
    let padded = |id: &str, bytes: usize| {
        Record::new(
            id,
            format!(r#"{{"region":"x","pad":"{}"}}"#, "x".repeat(bytes)),
        )
    };

    // Over the server's max_payload: refused before it is sent.
    let destination = Nats
        .build(&common::spec(
            common::config(port, "big.fixed"),
            common::auth(),
        ))
        .await
        .unwrap();
    let batch = Batch::new(
        "b1",
        vec![
            padded("ok-1", 10),
            padded("huge", 70 * 1024),
            padded("ok-2", 10),
        ],
    );
    let out = destination.deliver(&batch).await;
    assert!(
        out.records[0].is_delivered() && out.records[2].is_delivered(),
        "{out:?}"
    );
    let error = out.records[1].error().expect("the large record fails");
    assert_eq!(error.kind, ErrorKind::PayloadTooLarge, "{error:?}");
    assert!(error.message.contains("64 KiB"), "{error:?}");

    // Over a fixed subject's stream max_msg_size: refused before it is sent.
    let destination = Nats
        .build(&common::spec(
            common::config(port, "small.fixed"),
            common::auth(),
        ))
        .await
        .unwrap();
    let batch = Batch::new("b2", vec![padded("s-1", 10), padded("s-big", 8 * 1024)]);
    let out = destination.deliver(&batch).await;
    assert!(out.records[0].is_delivered(), "{out:?}");
    assert_eq!(
        out.records[1].error().unwrap().kind,
        ErrorKind::PayloadTooLarge
    );

    // A template's stream refuses it itself: that record alone fails.
    let destination = Nats
        .build(&common::spec(
            common::config(port, "small.{region}"),
            common::auth(),
        ))
        .await
        .unwrap();
    let batch = Batch::new(
        "b3",
        vec![
            padded("t-1", 10),
            padded("t-big", 8 * 1024),
            padded("t-2", 10),
        ],
    );
    let out = destination.deliver(&batch).await;
    assert!(
        out.records[0].is_delivered() && out.records[2].is_delivered(),
        "{out:?}"
    );
    let error = out.records[1].error().unwrap();
    assert_eq!(error.kind, ErrorKind::PayloadTooLarge, "{error:?}");
    assert!(!error.is_retryable());
    assert_eq!(common::stream_count(port, "SMALL").await, 3);
    assert_eq!(common::stream_count(port, "BIG").await, 2);
}

#[tokio::test]
async fn records_whose_subject_cannot_be_published_fail_alone() {
    let broker = common::broker();
    let port = broker.port();
    common::create_stream(port, "ORDERS", &["orders.>"], None).await;
    let destination = Nats
        .build(&common::spec(
            common::config(port, "orders.{region}"),
            common::auth(),
        ))
        .await
        .unwrap();
    let batch = Batch::new(
        "b1",
        vec![
            Record::new("ok", r#"{"region":"eu"}"#),
            Record::new("space", r#"{"region":"e u"}"#),
            Record::new("wildcard", r#"{"region":"*"}"#),
            Record::new("missing", r#"{"other":1}"#),
            Record::new("dots", r#"{"region":"eu..x"}"#),
        ],
    );
    let out = destination.deliver(&batch).await;
    assert!(out.records[0].is_delivered(), "{out:?}");
    for r in &out.records[1..] {
        let e = r
            .error()
            .unwrap_or_else(|| panic!("{} must fail", r.record_id));
        assert_eq!(e.kind, ErrorKind::Rejected, "{e:?}");
    }
    assert_eq!(common::stream_count(port, "ORDERS").await, 1);
}

#[tokio::test]
async fn a_good_config_passes_every_step() {
    let broker = common::broker();
    let port = broker.port();
    common::create_stream(port, "ORDERS", &["orders.>"], None).await;
    for subject in ["orders.created", "orders.{region}"] {
        let report = common::test_report(common::config(port, subject), common::auth()).await;
        assert!(report.success, "{report:#?}");
        for name in ["connection", "authentication", "stream", "permission"] {
            assert_eq!(
                step(&report, name).status,
                StepStatus::Passed,
                "{report:#?}"
            );
        }
        assert!(
            step(&report, "stream").message.contains("ORDERS"),
            "{report:#?}"
        );
        assert!(
            step(&report, "permission")
                .message
                .contains("nothing was stored"),
            "{report:#?}"
        );
    }
    // The test publishes stored nothing.
    assert_eq!(common::stream_count(port, "ORDERS").await, 0);
}

#[tokio::test]
async fn wrong_credentials_fail_at_authentication() {
    let broker = common::broker();
    let port = broker.port();
    let report = common::test_report(
        common::config(port, "orders.created"),
        json!({"username": USERNAME, "password": "wrong-password"}),
    )
    .await;
    assert_eq!(step(&report, "connection").status, StepStatus::Passed);
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "authentication", "{report:#?}");
    assert_eq!(failed.error_kind, Some(ErrorKind::Unauthenticated));
    assert!(
        failed.message.contains("Authorization Violation"),
        "{failed:?}"
    );
    assert!(
        failed
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("auth_config"))
    );
    for later in ["stream", "permission"] {
        assert_eq!(step(&report, later).status, StepStatus::Skipped);
    }
}

#[tokio::test]
async fn a_missing_stream_fails_at_the_stream_step() {
    let broker = common::broker();
    let port = broker.port();
    common::create_stream(port, "OTHER", &["other.>"], None).await;
    for subject in ["orders.created", "orders.{region}"] {
        let report = common::test_report(common::config(port, subject), common::auth()).await;
        assert_eq!(step(&report, "authentication").status, StepStatus::Passed);
        let failed = report.failed_step().expect("a failed step");
        assert_eq!(failed.name, "stream", "{report:#?}");
        assert_eq!(failed.error_kind, Some(ErrorKind::NotFound));
        assert!(
            failed.hint.as_deref().unwrap().contains("create a stream"),
            "{failed:?}"
        );
    }
    // Delivering fails the same way, for each record.
    let destination = Nats
        .build(&common::spec(
            common::config(port, "orders.created"),
            common::auth(),
        ))
        .await
        .unwrap();
    let out = destination
        .deliver(&Batch::new("b1", common::records("m", 3)))
        .await;
    for r in &out.records {
        assert_eq!(r.error().unwrap().kind, ErrorKind::NotFound, "{out:?}");
    }
}

/// A server whose test user may publish only to `allowed.>` (and the JetStream API).
fn restricted(dir: &Path, port: u16) -> Command {
    let user = format!(
        "    {{user: \"{USERNAME}\", password: \"{PASSWORD}\", permissions: {{publish: {{allow: [\"allowed.>\", \"$JS.API.>\"]}}, subscribe: {{allow: [\"_INBOX.>\"]}}}}}}"
    );
    nats::command_with(dir, &nats::config(dir, port, &user))
}

#[tokio::test]
async fn a_subject_the_user_may_not_publish_to_is_forbidden() {
    let broker = OwnBroker::start(Recipe {
        name: "nats-server (restricted user)",
        command: restricted,
        ..nats::NATS
    });
    let port = broker.port();
    common::create_stream(port, "ALL", &["allowed.>", "denied.>"], None).await;
    let report = common::test_report(common::config(port, "denied.x"), common::auth()).await;
    assert_eq!(
        step(&report, "stream").status,
        StepStatus::Passed,
        "{report:#?}"
    );
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "permission", "{report:#?}");
    assert_eq!(failed.error_kind, Some(ErrorKind::Forbidden));
    assert!(
        failed.duration_ms < 4000,
        "the refusal is reported at once: {failed:?}"
    );

    let destination = Nats
        .build(&common::spec(
            common::config(port, "{area}.x"),
            common::auth(),
        ))
        .await
        .unwrap();
    let batch = Batch::new(
        "b1",
        vec![
            Record::new("a1", r#"{"area":"allowed"}"#),
            Record::new("d1", r#"{"area":"denied"}"#),
            Record::new("a2", r#"{"area":"allowed"}"#),
        ],
    );
    let out = destination.deliver(&batch).await;
    assert!(
        out.records[0].is_delivered() && out.records[2].is_delivered(),
        "{out:?}"
    );
    let e = out.records[1].error().unwrap();
    assert_eq!(e.kind, ErrorKind::Forbidden, "{e:?}");
}

#[tokio::test]
async fn a_fixed_permission_is_not_held_against_later_records() {
    let mut broker = OwnBroker::start(Recipe {
        name: "nats-server (restricted user)",
        command: restricted,
        ..nats::NATS
    });
    let port = broker.port();
    let destination = Nats
        .build(&common::spec(
            common::config(port, "denied.x"),
            common::auth(),
        ))
        .await
        .unwrap();
    let out = destination
        .deliver(&Batch::new("b1", common::records("f", 1)))
        .await;
    let e = out.records[0].error().unwrap();
    assert_eq!(e.kind, ErrorKind::Forbidden, "{e:?}");

    // The operator lifts the restriction. No stream captures denied.x, so the next records
    // fail for that reason, not for a refusal that no longer holds.
    broker.restart_as(nats::NATS);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let e = loop {
        let out = destination
            .deliver(&Batch::new("b2", common::records("g", 1)))
            .await;
        let e = out.records[0]
            .error()
            .expect("no stream captures denied.x")
            .clone();
        if e.kind != ErrorKind::Unavailable || std::time::Instant::now() > deadline {
            break e;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(e.kind, ErrorKind::NotFound, "{e:?}");
}

#[tokio::test]
async fn a_server_name_that_does_not_resolve_fails_the_connection() {
    let broker = common::broker();
    let config = json!({
        "servers": [nats::url(broker.port()), "nats://nats-server.invalid:4222"],
        "subject_template": "orders.created",
    });
    let destination = Nats
        .build(&common::spec(config, common::auth()))
        .await
        .unwrap();
    let out = destination
        .deliver(&Batch::new("b", common::records("n", 1)))
        .await;
    // The client would resolve the name itself, unchecked, had the check skipped it.
    let e = out.records[0].error().expect("the connection is refused");
    assert_eq!(e.kind, ErrorKind::Unavailable, "{e:?}");
    assert!(e.is_retryable());
    assert!(
        e.message.contains("nats-server.invalid") && e.message.contains("config.servers[1]"),
        "{e:?}"
    );
}

#[tokio::test]
async fn core_nats_publishes_to_subscribers() {
    let broker = common::broker();
    let port = broker.port();
    let listener = common::client(port).await;
    let mut subscription = listener.subscribe("audit.>").await.unwrap();
    listener.flush().await.unwrap();
    let mut config = common::config(port, "audit.{region}");
    config["jetstream"] = json!(false);
    config["headers"] = json!({"Customer": "customer.id"});
    let report = common::test_report(config.clone(), common::auth()).await;
    assert!(report.success, "{report:#?}");
    assert_eq!(step(&report, "stream").status, StepStatus::Skipped);
    assert_eq!(step(&report, "permission").status, StepStatus::Skipped);

    let destination = Nats
        .build(&common::spec(config, common::auth()))
        .await
        .unwrap();
    let records = common::records("core", 10);
    let out = destination
        .deliver(&Batch::new("b1", records.clone()))
        .await;
    assert_eq!(out.delivered_count(), 10, "{out:?}");
    let received: Vec<async_nats::Message> = (&mut subscription).take(10).collect::<Vec<_>>().await;
    for (record, message) in records.iter().zip(&received) {
        assert_eq!(message.payload, record.payload);
        let headers = message.headers.as_ref().expect("headers");
        assert_eq!(
            headers.get("courier_event_type").unwrap().as_str(),
            "order.created"
        );
        assert_eq!(headers.get("Nats-Msg-Id").unwrap().as_str(), record.id);
        assert!(headers.get("Customer").is_some());
    }
}

/// A token the token server accepts (test only).
const TOKEN: &str = "broker-token-3a9d";
/// A user nkey made for these tests only: its seed and public key.
const NKEY_SEED: &str = "SUAKURQWRNFQCUYW4DWSDHMUC5ASULTJYERNAEDAMVI2OWTIA57WADLCPA";
const NKEY_PUBLIC: &str = "UD7VO5LMD3VHY2ZXAKBLYCN4TMIJNKLBQCLGVOHX2W2ANTIX5YXLACZB";

fn token_server(dir: &Path, port: u16) -> Command {
    let config = format!(
        "listen: 127.0.0.1:{port}\njetstream {{\n  store_dir: \"{}\"\n}}\nauthorization {{\n  token: \"{TOKEN}\"\n}}\n",
        dir.join("jetstream").display()
    );
    nats::command_with(dir, &config)
}

fn nkey_server(dir: &Path, port: u16) -> Command {
    let user = format!("    {{nkey: \"{NKEY_PUBLIC}\"}}");
    nats::command_with(dir, &nats::config(dir, port, &user))
}

#[tokio::test]
async fn tokens_and_nkeys_sign_in() {
    for (recipe, good, bad) in [
        (
            Recipe {
                name: "nats-server (token)",
                command: token_server,
                ..nats::NATS
            },
            json!({ "token": TOKEN }),
            json!({ "token": "not-the-token" }),
        ),
        (
            Recipe {
                name: "nats-server (nkey)",
                command: nkey_server,
                ..nats::NATS
            },
            json!({ "nkey_seed": NKEY_SEED }),
            // Another user's seed: a valid key the server does not know.
            json!({ "nkey_seed": "SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY" }),
        ),
    ] {
        let broker = OwnBroker::start(recipe);
        let port = broker.port();
        let config = common::config(port, "signed.in");
        let report = common::test_report(config.clone(), good.clone()).await;
        // Signed in, the stream step is reached (there is none).
        assert_eq!(
            step(&report, "authentication").status,
            StepStatus::Passed,
            "{report:#?}"
        );
        assert_eq!(report.failed_step().unwrap().name, "stream");
        let report = common::test_report(config.clone(), bad.clone()).await;
        let failed = report.failed_step().expect("a failed step");
        assert_eq!(failed.name, "authentication", "{report:#?}");
        assert_eq!(failed.error_kind, Some(ErrorKind::Unauthenticated));
        let destination = Nats.build(&common::spec(config, bad)).await.unwrap();
        let out = destination
            .deliver(&Batch::new("b", common::records("x", 1)))
            .await;
        let e = out.records[0].error().unwrap();
        assert_eq!(e.kind, ErrorKind::Unauthenticated, "{e:?}");
        assert!(!e.is_retryable());
    }
}

#[tokio::test]
async fn an_unreachable_server_fails_at_connection_and_is_retried() {
    let port = brokers::free_port();
    let config = common::config(port, "orders.created");
    let report = common::test_report(config.clone(), common::auth()).await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "connection", "{report:#?}");
    assert_eq!(failed.error_kind, Some(ErrorKind::Unavailable));
    let destination = Nats
        .build(&common::spec(config, common::auth()))
        .await
        .unwrap();
    let out = destination
        .deliver(&Batch::new("b", common::records("u", 2)))
        .await;
    for r in &out.records {
        assert!(r.error().unwrap().is_retryable(), "{out:?}");
    }
}

#[tokio::test]
async fn private_servers_are_refused_unless_allowed() {
    let broker = common::broker();
    let mut spec = common::spec(
        common::config(broker.port(), "orders.created"),
        common::auth(),
    );
    spec.allow_private_network = false;
    let destination = Nats.build(&spec).await.unwrap();
    let out = destination
        .deliver(&Batch::new("b", common::records("p", 1)))
        .await;
    let e = out.records[0].error().unwrap();
    assert_eq!(e.kind, ErrorKind::InvalidConfig, "{e:?}");
    assert!(e.message.contains("loopback"), "{e:?}");
    let (events, _received) = tokio::sync::mpsc::unbounded_channel();
    let report = courier_runtime::run_test(&Nats, &spec, Duration::from_secs(30), &events).await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "connection", "{report:#?}");
    assert_eq!(failed.error_kind, Some(ErrorKind::InvalidConfig));
}

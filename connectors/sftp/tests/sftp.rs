//! SFTP behaviour against OpenSSH's sshd: files read back from the server's disk, retries that
//! replace, every key type, host key pinning, a connection cut in the middle of a file, reused
//! and replaced connections, directories, and connection-test failures that say which step.

mod support;

use std::io::Read;
use std::time::Duration;

use courier_conformance::helpers::{self, first_error, records, reference};
use courier_connector_sftp::{Sftp, SftpClient, temporary_path};
use courier_core::{
    Batch, Connector, DestinationSpec, DynConnector, Env, ErrorKind, Record, StepStatus, TestReport,
};
use serde_json::{Value, json};

fn spec(config: Value, auth: Value, cap: Option<u64>) -> DestinationSpec {
    helpers::spec_capped("dest_sftp", config, auth, cap)
}

async fn test_report(config: Value, auth: Value) -> TestReport {
    helpers::test_report(&Sftp, &spec(config, auth, None)).await
}

/// A typed client, so tests can see how many connections it opened.
async fn client(config: Value, auth: Value) -> SftpClient {
    Sftp.connect(
        serde_json::from_value(config).unwrap(),
        serde_json::from_value(auth).unwrap(),
        &Env {
            destination_id: "dest_sftp".into(),
            allow_private_network: true,
            ..Env::default()
        },
    )
    .await
    .unwrap()
}

fn step<'a>(report: &'a TestReport, name: &str) -> &'a courier_core::StepReport {
    report.steps.iter().find(|s| s.name == name).unwrap()
}

#[tokio::test]
async fn ndjson_file_reads_back_and_a_retried_batch_replaces_it() {
    let sshd = support::sshd();
    let dir = sshd.new_dir("replace");
    let dest = Sftp
        .build(&spec(sshd.config(&dir), sshd.password_auth(), None))
        .await
        .unwrap();
    let batch = Batch::new("batch-1", records(3));
    for _attempt in 0..2 {
        let out = dest.deliver(&batch).await;
        assert_eq!(out.delivered_count(), 3, "{out:?}");
        assert_eq!(
            reference(&out),
            format!("sftp://127.0.0.1:{}{dir}/batch-1.ndjson", sshd.port)
        );
    }
    let files = support::files(&dir);
    assert_eq!(
        support::names(&dir),
        ["batch-1.ndjson"],
        "one file, no leftovers"
    );
    let text = String::from_utf8(files[0].1.clone()).unwrap();
    let expected: String = records(3)
        .iter()
        .map(|r| format!("{}\n", String::from_utf8_lossy(&r.payload)))
        .collect();
    assert_eq!(text, expected);
}

#[tokio::test]
async fn csv_gzip_in_created_subdirectories() {
    let sshd = support::sshd();
    let dir = sshd.new_dir("csv");
    let mut config = sshd.config(&format!("{dir}/new/inbox"));
    config["file_name_template"] = json!("{yyyy}/{batch_id}.{ext}");
    config["format"] = json!("csv");
    config["columns"] = json!(["id", "email", "name"]);
    config["compression"] = json!("gzip");
    config["fsync"] = json!(true);

    // Without create_directories the missing directory is a clear not_found, and nothing is made.
    let dest = Sftp
        .build(&spec(config.clone(), sshd.password_auth(), None))
        .await
        .unwrap();
    let out = dest.deliver(&Batch::new("batch-csv", records(2))).await;
    let err = first_error(&out);
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    assert!(err.message.contains("/new/inbox/"), "{err}");
    assert!(support::names(&dir).is_empty());

    config["create_directories"] = json!(true);
    let dest = Sftp
        .build(&spec(config, sshd.password_auth(), None))
        .await
        .unwrap();
    let out = dest.deliver(&Batch::new("batch-csv", records(2))).await;
    assert_eq!(out.delivered_count(), 2, "{out:?}");
    let files = support::files(&dir);
    assert_eq!(files.len(), 1);
    assert!(
        files[0].0.starts_with("new/inbox/2") && files[0].0.ends_with("/batch-csv.csv.gz"),
        "{}",
        files[0].0
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(&files[0].1[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(
        text,
        "id,email,name\r\n0,u0@example.com,\"N, \"\"0\"\"\"\r\n1,u1@example.com,\"N, \"\"1\"\"\"\r\n"
    );
}

#[tokio::test]
async fn every_key_type_logs_in_and_delivers() {
    let sshd = support::sshd();
    let dir = sshd.new_dir("keys");
    let mut auths: Vec<(&str, Value)> = [
        "id_ed25519",
        "id_rsa",
        "id_rsa.pem",
        "id_ecdsa",
        "id_ecdsa.pem",
    ]
    .into_iter()
    .map(|name| (name, sshd.key_auth(name)))
    .collect();
    auths.push((
        "id_ed25519_encrypted",
        json!({"private_key": sshd.key("id_ed25519_encrypted"), "passphrase": sshd.passphrase}),
    ));
    for (name, auth) in auths {
        let report = test_report(sshd.config(&dir), auth.clone()).await;
        assert!(report.success, "{name}: {report:#?}");
        assert!(
            step(&report, "authentication")
                .message
                .contains("with a private key"),
            "{name}"
        );
        let dest = Sftp
            .build(&spec(sshd.config(&dir), auth, None))
            .await
            .unwrap();
        let out = dest
            .deliver(&Batch::new(format!("batch-{name}"), records(1)))
            .await;
        assert_eq!(out.delivered_count(), 1, "{name}: {out:?}");
    }
    assert_eq!(support::names(&dir).len(), 6, "{:?}", support::names(&dir));
}

#[tokio::test]
async fn refused_logins_fail_the_authentication_step_without_echoing_secrets() {
    let sshd = support::sshd();
    let dir = sshd.new_dir("refused");
    let cases = [
        (
            "PW-SENTINEL-wrong",
            json!({"password": "PW-SENTINEL-wrong"}),
        ),
        (
            "PASS-SENTINEL",
            json!({"private_key": sshd.key("id_ed25519_encrypted"), "passphrase": "PASS-SENTINEL"}),
        ),
        ("", sshd.key_auth("id_unauthorized")),
    ];
    for (sentinel, auth) in cases {
        let report = test_report(sshd.config(&dir), auth.clone()).await;
        let failed = report.failed_step().expect("a step fails");
        assert_eq!(failed.name, "authentication", "{report:#?}");
        assert_eq!(failed.error_kind, Some(ErrorKind::Unauthenticated));
        let shown = format!("{report:?} {}", serde_json::to_string(&report).unwrap());
        if !sentinel.is_empty() {
            assert!(!shown.contains(sentinel), "{shown}");
        }
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        let dest = Sftp
            .build(&spec(sshd.config(&dir), auth, None))
            .await
            .unwrap();
        let out = dest.deliver(&Batch::new("b", records(1))).await;
        assert_eq!(first_error(&out).kind, ErrorKind::Unauthenticated);
    }
    assert!(support::names(&dir).is_empty());
}

#[tokio::test]
async fn a_host_key_mismatch_is_refused_and_accept_new_pins_the_first_key() {
    let sshd = support::sshd();
    let dir = sshd.new_dir("hostkey");
    let wrong = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";
    for check in ["strict", "accept_new"] {
        let mut config = sshd.config(&dir);
        config["host_key_fingerprint"] = json!(wrong);
        config["host_key_check"] = json!(check);
        let report = test_report(config.clone(), sshd.password_auth()).await;
        let failed = report.failed_step().expect("the host key step fails");
        assert_eq!(failed.name, "host_key");
        assert_eq!(failed.error_kind, Some(ErrorKind::InvalidConfig));
        assert!(failed.message.contains(&sshd.fingerprint), "{failed:?}");
        assert_eq!(step(&report, "authentication").status, StepStatus::Skipped);
        let dest = Sftp
            .build(&spec(config, sshd.password_auth(), None))
            .await
            .unwrap();
        let out = dest.deliver(&Batch::new("b", records(1))).await;
        assert_eq!(first_error(&out).kind, ErrorKind::InvalidConfig);
    }
    assert!(
        support::names(&dir).is_empty(),
        "nothing written to an unverified host"
    );

    // accept_new without a fingerprint: the test prints the key seen so it can be pinned.
    let mut config = sshd.config(&dir);
    config
        .as_object_mut()
        .unwrap()
        .remove("host_key_fingerprint");
    config["host_key_check"] = json!("accept_new");
    let report = test_report(config.clone(), sshd.password_auth()).await;
    assert!(report.success, "{report:#?}");
    let message = &step(&report, "host_key").message;
    assert!(
        message.contains(&sshd.fingerprint) && message.contains("pinned"),
        "{message}"
    );
    // And strict without a fingerprint is refused when the config is built.
    config["host_key_check"] = json!("strict");
    let err = Sftp
        .build(&spec(config, sshd.password_auth(), None))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("/config/host_key_fingerprint"),
        "{err}"
    );
}

// On a single-threaded runtime the proxy below shares the only worker with the connector: if
// any libssh2 call blocked that thread, no byte would pass and the test would time out. So this
// also proves SSH work stays off the async workers.
#[tokio::test(flavor = "current_thread")]
async fn a_connection_cut_mid_file_leaves_no_final_file_and_the_retry_completes_it() {
    let sshd = support::sshd();
    let proxy = support::proxy::Proxy::start(sshd.port).await;
    let dir = sshd.new_dir("cut");
    let mut config = sshd.config(&dir);
    config["port"] = json!(proxy.port);
    let dest = Sftp
        .build(&spec(config, sshd.password_auth(), Some(16 << 20)))
        .await
        .unwrap();
    let big: Vec<Record> = (0..4000)
        .map(|i| {
            Record::new(
                format!("r{i}"),
                format!(r#"{{"i":{i},"pad":"{}"}}"#, "x".repeat(1000)),
            )
        })
        .collect();
    let batch = Batch::new("batch-cut", big);

    // The login takes a few KiB; the file is ~4 MiB, so the cut lands inside it.
    proxy.cut_after(1024 * 1024);
    let out = dest.deliver(&batch).await;
    let err = first_error(&out);
    assert!(err.is_retryable(), "{err}");
    let names = support::names(&dir);
    assert!(
        !names.contains(&"batch-cut.ndjson".to_string()),
        "no final file after a cut: {names:?}"
    );

    proxy.heal();
    let out = dest.deliver(&batch).await;
    assert_eq!(out.delivered_count(), 4000, "{:?}", out.records[0]);
    let files = support::files(&dir);
    assert_eq!(
        files.len(),
        1,
        "the partial temporary file was replaced: {names:?}"
    );
    assert_eq!(files[0].0, "batch-cut.ndjson");
    let lines = files[0]
        .1
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert_eq!(lines, 4000);
}

#[tokio::test(flavor = "current_thread")]
async fn connections_are_reused_and_replaced_when_broken() {
    let sshd = support::sshd();
    let proxy = support::proxy::Proxy::start(sshd.port).await;
    let dir = sshd.new_dir("reuse");
    let mut config = sshd.config(&dir);
    config["port"] = json!(proxy.port);
    let client = client(config, sshd.password_auth()).await;
    for i in 0..3 {
        let out = Sftp
            .deliver(&client, &Batch::new(format!("b{i}"), records(2)))
            .await;
        assert_eq!(out.delivered_count(), 2, "{out:?}");
    }
    assert_eq!(
        client.connections_opened(),
        1,
        "one login for three deliveries"
    );
    assert_eq!(proxy.accepted.load(std::sync::atomic::Ordering::SeqCst), 1);

    // The server side goes away (restart, idle timeout): the next delivery logs in again.
    proxy.drop_connections();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let out = Sftp.deliver(&client, &Batch::new("b3", records(2))).await;
    assert_eq!(out.delivered_count(), 2, "{out:?}");
    assert_eq!(client.connections_opened(), 2);
    assert_eq!(
        support::names(&dir),
        ["b0.ndjson", "b1.ndjson", "b2.ndjson", "b3.ndjson"]
    );
}

#[tokio::test]
async fn a_failed_rename_leaves_neither_final_nor_temporary_file() {
    let sshd = support::sshd();
    let dir = sshd.new_dir("rename");
    // A directory already holds the final name, so the rename cannot happen.
    let blocked = format!("{dir}/batch-r.ndjson");
    std::fs::create_dir(&blocked).unwrap();
    let dest = Sftp
        .build(&spec(sshd.config(&dir), sshd.password_auth(), None))
        .await
        .unwrap();
    let out = dest.deliver(&Batch::new("batch-r", records(2))).await;
    let err = first_error(&out);
    assert_eq!(err.kind, ErrorKind::Conflict, "{err}");
    assert!(std::path::Path::new(&blocked).is_dir());
    let temporary = temporary_path(&blocked);
    assert!(
        !std::path::Path::new(&temporary).exists(),
        "{temporary} was left behind"
    );
    assert!(support::names(&dir).is_empty());
}

#[tokio::test]
async fn over_cap_batches_write_nothing_or_split() {
    let sshd = support::sshd();
    let dir = sshd.new_dir("cap");
    let dest = Sftp
        .build(&spec(sshd.config(&dir), sshd.password_auth(), Some(200)))
        .await
        .unwrap();
    let out = dest.deliver(&Batch::new("batch-big", records(10))).await;
    assert!(out.records.iter().all(|r| {
        r.error()
            .is_some_and(|e| e.kind == ErrorKind::PayloadTooLarge)
    }));
    assert!(support::names(&dir).is_empty());

    let mut config = sshd.config(&dir);
    config["split_oversized"] = json!(true);
    config["payload_cap_bytes"] = json!(200);
    let dest = Sftp
        .build(&spec(config, sshd.password_auth(), None))
        .await
        .unwrap();
    let out = dest.deliver(&Batch::new("batch-big", records(10))).await;
    assert_eq!(out.delivered_count(), 10);
    let names = support::names(&dir);
    assert!(
        names.len() > 1 && names.iter().all(|n| n.starts_with("batch-big-part-")),
        "{names:?}"
    );
}

#[tokio::test]
async fn connection_test_failures_name_their_step() {
    let sshd = support::sshd();
    let dir = sshd.new_dir("steps");

    let report = test_report(sshd.config(&dir), sshd.password_auth()).await;
    assert!(report.success, "{report:#?}");
    let names: Vec<&str> = report.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "validate",
            "build",
            "tcp_connect",
            "ssh_handshake",
            "host_key",
            "authentication",
            "directory"
        ]
    );
    assert!(step(&report, "ssh_handshake").message.contains("OpenSSH"));
    assert!(
        step(&report, "directory")
            .message
            .contains("wrote and removed a probe file")
    );
    assert!(support::names(&dir).is_empty(), "the probe file is removed");

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = sshd.config(&dir);
    config["port"] = json!(closed);
    let report = test_report(config, sshd.password_auth()).await;
    let failed = report.failed_step().unwrap();
    assert_eq!(
        (failed.name.as_str(), failed.error_kind.unwrap()),
        ("tcp_connect", ErrorKind::Unavailable)
    );

    let missing = format!("{dir}/missing");
    let report = test_report(sshd.config(&missing), sshd.password_auth()).await;
    let failed = report.failed_step().unwrap();
    assert_eq!(
        (failed.name.as_str(), failed.error_kind.unwrap()),
        ("directory", ErrorKind::NotFound)
    );

    let mut config = sshd.config(&missing);
    config["create_directories"] = json!(true);
    let report = test_report(config, sshd.password_auth()).await;
    assert!(report.success, "{report:#?}");
    assert!(std::path::Path::new(&missing).is_dir());
}

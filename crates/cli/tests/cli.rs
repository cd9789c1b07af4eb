//! Runs the built `courier` binary against a real local HTTP receiver.

use std::net::SocketAddr;
use std::process::Output;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};

const SENTINEL: &str = "sentinel-token-9d2b77";

type Log = Arc<Mutex<Vec<(String, Bytes)>>>;

async fn receiver() -> (SocketAddr, Log) {
    let log: Log = Arc::default();
    async fn handle(
        State(log): State<Log>,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        log.lock().unwrap().push((uri.path().to_string(), body));
        let authed = headers.get("authorization").and_then(|v| v.to_str().ok())
            == Some(&format!("Bearer {SENTINEL}"));
        match uri.path() {
            "/ok" if authed => StatusCode::OK,
            "/ok" => StatusCode::UNAUTHORIZED,
            "/reject" => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::NOT_FOUND,
        }
    }
    let app = Router::new().fallback(handle).with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, log)
}

async fn courier(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(args)
        .env("COURIER_LOG", "trace")
        .output()
        .await
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn config(addr: SocketAddr, path: &str) -> String {
    format!(r#"{{"url":"http://{addr}{path}","allow_private_network":true,"timeout_ms":3000}}"#)
}

fn auth(token: &str) -> String {
    format!(
        r#"{{"credentials":{{"type":"bearer","token":"{token}"}},"signing_secret":"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"}}"#
    )
}

fn assert_clean_error(o: &Output, code: i32, needle: &str) {
    let (out, err) = text(o);
    assert_eq!(o.status.code(), Some(code), "stdout: {out}\nstderr: {err}");
    assert!(err.contains(needle), "stderr lacks {needle:?}: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
}

#[tokio::test]
async fn catalog_prints_the_document() {
    let o = courier(&["catalog"]).await;
    assert!(o.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let types: Vec<&str> = doc["connectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"webhook"));

    let o = courier(&["catalog", "--type", "webhook"]).await;
    let entry: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        entry["config_schema"]["required"],
        serde_json::json!(["url"])
    );

    assert_clean_error(
        &courier(&["catalog", "--type", "nope"]).await,
        2,
        "unknown destination type `nope`",
    );
}

#[tokio::test]
async fn bad_input_is_one_clear_error_with_exit_2() {
    let o = courier(&["test", "--type", "webhook", "--config", "{not json"]).await;
    assert_clean_error(&o, 2, "--config is not valid JSON");
    let o = courier(&[
        "test",
        "--type",
        "webhook",
        "--config",
        "@/nonexistent/file.json",
    ])
    .await;
    assert_clean_error(&o, 2, "--config: cannot read /nonexistent/file.json");
    let o = courier(&["test", "--type", "s3x", "--config", "{}"]).await;
    assert_clean_error(&o, 2, "unknown destination type `s3x`");
    let o = courier(&[
        "test",
        "--type",
        "webhook",
        "--config",
        r#"{"url":"ftp://x","bogus":1}"#,
    ])
    .await;
    assert_clean_error(&o, 2, "/config/url: must be an absolute http(s) URL");
    assert!(text(&o).1.contains("/config/bogus: unknown field"));
    let o = courier(&[
        "deliver",
        "--type",
        "webhook",
        "--config",
        r#"{"url":"http://x"}"#,
        "--input",
        "/x",
        "--batch-size",
        "0",
    ])
    .await;
    assert_eq!(o.status.code(), Some(2));
}

#[tokio::test]
async fn test_prints_steps_and_exit_code_follows_the_result() {
    let (addr, _) = receiver().await;
    let o = courier(&[
        "test",
        "--type",
        "webhook",
        "--config",
        &config(addr, "/ok"),
        "--auth",
        &auth(SENTINEL),
    ])
    .await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    for step in [
        "validate",
        "build",
        "connect",
        "dns",
        "tls",
        "request",
        "authentication",
    ] {
        assert!(out.contains(step), "{step} missing from {out}");
    }
    assert!(out.contains("Connection test passed"));

    let o = courier(&[
        "test",
        "--json",
        "--type",
        "webhook",
        "--config",
        &config(addr, "/ok"),
        "--auth",
        &auth("wrong"),
    ])
    .await;
    assert_eq!(o.status.code(), Some(1));
    let last: serde_json::Value = serde_json::from_str(text(&o).0.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "done");
    assert_eq!(last["success"], false);
    let failed: Vec<_> = last["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "failed")
        .collect();
    assert_eq!(failed[0]["name"], "authentication");
}

#[tokio::test]
async fn fields_prints_json() {
    let o = courier(&["fields", "--type", "webhook", "--config", r#"{"url":"https://example.com/h","schema":{"properties":{"email":{"type":"string","description":"e"}},"required":["email"]}}"#]).await;
    assert!(o.status.success(), "{:?}", text(&o));
    let fields: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(fields[0]["name"], "email");
    assert_eq!(fields[0]["required"], true);
}

#[tokio::test]
async fn deliver_sends_each_line_and_summarises() {
    let (addr, log) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, "{\"a\":1}\n\n{\"b\": [2, 3]}\r\n{\"c\":\"ü\"}\n").unwrap();
    let input = input.to_str().unwrap();
    let o = courier(&[
        "deliver",
        "--type",
        "webhook",
        "--config",
        &config(addr, "/ok"),
        "--auth",
        &auth(SENTINEL),
        "--input",
        input,
        "--batch-size",
        "2",
    ])
    .await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (summary["delivered"].as_u64(), summary["failed"].as_u64()),
        (Some(3), Some(0))
    );
    let mut bodies: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| String::from_utf8(b.to_vec()).unwrap())
        .collect();
    bodies.sort();
    assert_eq!(bodies, ["{\"a\":1}", "{\"b\": [2, 3]}", "{\"c\":\"ü\"}"]);

    let o = courier(&[
        "deliver",
        "--type",
        "webhook",
        "--config",
        &config(addr, "/reject"),
        "--input",
        input,
    ])
    .await;
    assert_eq!(o.status.code(), Some(1));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["failed"], 3);
    assert_eq!(summary["failures"][0]["line"], 1);
    assert_eq!(summary["failures"][0]["kind"], "rejected");
    assert_eq!(summary["failures"][0]["status"], 422);
    assert_eq!(summary["failures"][0]["attempts"], 1);
}

#[tokio::test]
async fn malformed_input_line_delivers_nothing() {
    let (addr, log) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.ndjson");
    std::fs::write(&input, "{\"ok\":1}\n{broken\n").unwrap();
    let o = courier(&[
        "deliver",
        "--type",
        "webhook",
        "--config",
        &config(addr, "/ok"),
        "--input",
        input.to_str().unwrap(),
    ])
    .await;
    assert_clean_error(&o, 2, "bad.ndjson:2: not valid JSON");
    assert!(log.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_secret_never_appears_in_any_output() {
    let (addr, _) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, "{\"a\":1}\n").unwrap();
    let input = input.to_str().unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let runs = [
        courier(&[
            "test",
            "--type",
            "webhook",
            "--config",
            &config(addr, "/ok"),
            "--auth",
            &auth(SENTINEL),
        ])
        .await,
        courier(&[
            "test",
            "--json",
            "--type",
            "webhook",
            "--config",
            &config(addr, "/reject"),
            "--auth",
            &auth(SENTINEL),
        ])
        .await,
        courier(&[
            "deliver",
            "--type",
            "webhook",
            "--config",
            &config(addr, "/reject"),
            "--auth",
            &auth(SENTINEL),
            "--input",
            input,
        ])
        .await,
        courier(&[
            "deliver",
            "--type",
            "webhook",
            "--config",
            &config(closed, "/ok"),
            "--auth",
            &auth(SENTINEL),
            "--input",
            input,
            "--policy",
            r#"{"retry_max_attempts":1}"#,
        ])
        .await,
        courier(&[
            "test",
            "--type",
            "webhook",
            "--config",
            &config(addr, "/ok"),
            "--auth",
            &format!(r#"{{"credentials":{{"type":"bearer","token":["{SENTINEL}"]}}}}"#),
        ])
        .await,
    ];
    for o in &runs {
        let (out, err) = text(o);
        assert!(
            !out.contains(SENTINEL) && !err.contains(SENTINEL),
            "secret leaked:\n{out}\n{err}"
        );
    }
    assert!(
        !text(&runs[0]).1.is_empty(),
        "trace logging was on, so stderr must have log lines to scan"
    );
}
